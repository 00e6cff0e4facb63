"""Housekeeping for long unattended operation: compaction, backups, archive retention.

Run by `crwatch maintain` and `crwatch backup`; the CLI holds the ingest writer lock around
them, so they never interleave with an ingest's batches.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from warehouse.db import Warehouse

# crwatch's archive names its WARC files by day (e.g. crwatch-20261201.warc.gz); others by mtime.
_DAY_IN_NAME = re.compile(r"(?<!\d)(20\d{2})-?(\d{2})-?(\d{2})(?!\d)")
_WARC_NAME = re.compile(r"\.w?arc(\.gz)?$", re.IGNORECASE)


@dataclass(frozen=True)
class CheckpointReport:
    """File size before and after a CHECKPOINT."""

    bytes_before: int
    bytes_after: int
    seconds: float


@dataclass(frozen=True)
class BackupReport:
    """Where a backup went and how big it is."""

    folder: Path
    files: int
    bytes: int
    seconds: float


@dataclass
class PruneReport:
    """WARC files deleted by retention, and how many were kept."""

    deleted: list[Path] = field(default_factory=list)
    bytes: int = 0
    kept: int = 0


def _size(path: Path) -> int:
    wal = path.with_name(path.name + ".wal")
    return sum(p.stat().st_size for p in (path, wal) if p.exists())


def rebuild_derived(warehouse: Warehouse) -> dict[str, float]:
    """Recompute the derived fact tables from the base tables (`warehouse.facts`).

    They are kept current on every write; the rebuild is a safety net and lays their rows out
    in day order again after replays of old archives (which lets queries skip row groups).
    """
    import os

    from warehouse.facts import rebuild_facts

    with warehouse.writer() as con:
        con.execute(f"SET threads TO {os.cpu_count() or 1}")
        return rebuild_facts(con)


def checkpoint(warehouse: Warehouse) -> CheckpointReport:
    """Fold the write-ahead log into the file and reclaim free blocks (CHECKPOINT)."""
    started = time.perf_counter()
    before = _size(warehouse.path)
    con = warehouse._open(read_only=False)
    try:
        con.execute("FORCE CHECKPOINT")
    finally:
        con.close()
    return CheckpointReport(before, _size(warehouse.path), time.perf_counter() - started)


def backup(warehouse: Warehouse, folder: Path) -> BackupReport:
    """EXPORT DATABASE (schema + one Parquet file per table) into a new timestamped folder."""
    started = time.perf_counter()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = Path(folder).resolve() / f"crwatch-{stamp}"
    suffix = 1
    while target.exists():
        suffix += 1
        target = target.with_name(f"crwatch-{stamp}-{suffix}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with warehouse.reader() as con:
        # A read-only connection sees one consistent snapshot for the whole export.
        con.execute(f"EXPORT DATABASE '{_sql_path(target)}' (FORMAT parquet)")
    files = [p for p in target.rglob("*") if p.is_file()]
    return BackupReport(
        target, len(files), sum(p.stat().st_size for p in files), time.perf_counter() - started
    )


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _warc_day(path: Path) -> datetime:
    """The day a WARC file covers: from its name when it carries one, else its mtime."""
    match = _DAY_IN_NAME.search(path.name)
    if match:
        try:
            year, month, day = (int(g) for g in match.groups())
            return datetime(year, month, day, tzinfo=UTC)
        except ValueError:
            pass
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def prune_archive(archive_dir: Path, days: int, now: datetime | None = None) -> PruneReport:
    """Delete WARC files older than `days`; the newest file (being appended to) is always kept."""
    report = PruneReport()
    if days <= 0 or not archive_dir.is_dir():
        return report
    warcs = sorted(
        (p for p in archive_dir.rglob("*") if p.is_file() and _WARC_NAME.search(p.name)),
        key=lambda p: (_warc_day(p), p.stat().st_mtime),
    )
    if not warcs:
        return report
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    newest = warcs[-1]
    for path in warcs:
        if path != newest and _warc_day(path) < cutoff:
            size = path.stat().st_size
            path.unlink()
            report.deleted.append(path)
            report.bytes += size
        else:
            report.kept += 1
    return report


def folder_size(path: Path) -> int:
    """Total bytes of the files under a folder (0 when it does not exist)."""
    if not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
