"""Housekeeping for long unattended operation: compaction, backups, archive retention.

Run by `crwatch maintain` and `crwatch backup`; the CLI holds the ingest writer lock around
them, so they never interleave with an ingest's batches.

On the lake every committed batch adds a few small Parquet files (and delete files where facts
were replaced), and every commit is a snapshot. `checkpoint` expires snapshots older than the
retention, deletes the files that the previous maintain merged away (a query that began before
that merge may have been reading them), rewrites files that are mostly deleted rows and merges
adjacent small files. Readers are never blocked by it. Those DuckLake calls run in a short-lived
child process (`warehouse.compaction`), so a native crash in one is a `CompactionFailed` error
for the caller, never the end of the calling process.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from warehouse.compaction import DEFAULT_TIMEOUT, compact
from warehouse.db import Warehouse

# crwatch's archive names its WARC files by day (e.g. crwatch-20261201.warc.gz); others by mtime.
_DAY_IN_NAME = re.compile(r"(?<!\d)(20\d{2})-?(\d{2})-?(\d{2})(?!\d)")
_WARC_NAME = re.compile(r"\.w?arc(\.gz)?$", re.IGNORECASE)


CLEANUP_GRACE = timedelta(hours=1)  # files unused for this long are deleted from a lake


@dataclass(frozen=True)
class CheckpointReport:
    """Size before and after compaction; for a lake also its files and snapshots."""

    bytes_before: int
    bytes_after: int
    seconds: float
    files_before: int = 0  # Parquet files on disk (lake only)
    files_after: int = 0
    live_files: int = 0  # files the newest snapshot reads (data + delete files)
    snapshots_expired: int = 0
    snapshots_kept: int = 0


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
    from warehouse.facts import rebuild_facts

    with warehouse.writer() as con:
        con.execute(f"SET threads TO {os.cpu_count() or 1}")
        return rebuild_facts(con)


def checkpoint(
    warehouse: Warehouse,
    keep_days: float = 7.0,
    grace: timedelta = CLEANUP_GRACE,
    timeout: timedelta = DEFAULT_TIMEOUT,
) -> CheckpointReport:
    """Compact the warehouse: CHECKPOINT a DuckDB file, or expire and merge on a lake.

    On the lake a crashed, failed or stuck compaction (bounded by `timeout`) raises
    CompactionFailed; what it committed before stays, the rest is as before.
    """
    if warehouse.is_lake:
        return compact_lake(warehouse, keep_days, grace, timeout)
    started = time.perf_counter()
    before = _size(warehouse.path)
    con = warehouse._open(read_only=False)
    try:
        con.execute("FORCE CHECKPOINT")
    finally:
        con.close()
    return CheckpointReport(before, _size(warehouse.path), time.perf_counter() - started)


def _lake_files(warehouse: Warehouse) -> tuple[int, int]:
    """(Parquet files, bytes) under a local lake's data folder; (0, 0) for remote storage."""
    if "://" in warehouse.data_path:
        return 0, 0
    files = [p for p in Path(warehouse.data_path).rglob("*.parquet") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def _catalog_size(warehouse: Warehouse) -> int:
    file = warehouse.catalog_file
    if file is None:
        return 0
    return sum(p.stat().st_size for p in file.parent.glob(file.name + "*") if p.is_file())


def live_files(warehouse: Warehouse) -> int:
    """Data and delete files that the newest snapshot of a lake reads."""
    from warehouse.db import LAKE_ALIAS

    meta = f"__ducklake_metadata_{LAKE_ALIAS}"
    with warehouse.reader() as con:
        row = con.execute(
            f"SELECT (SELECT count(*) FROM {meta}.ducklake_data_file WHERE end_snapshot IS NULL)"
            f" + (SELECT count(*) FROM {meta}.ducklake_delete_file WHERE end_snapshot IS NULL)"
        ).fetchone()
    return int(row[0]) if row else 0


def compact_lake(
    warehouse: Warehouse,
    keep_days: float = 7.0,
    grace: timedelta = CLEANUP_GRACE,
    timeout: timedelta = DEFAULT_TIMEOUT,
) -> CheckpointReport:
    """Expire old snapshots, rewrite and merge small files, delete files unused for `grace`.

    The DuckLake calls run in a child process (`warehouse.compaction`): a native crash in one
    raises CompactionFailed here instead of ending this process.
    """
    started = time.perf_counter()
    files_before, bytes_before = _lake_files(warehouse)
    bytes_before += _catalog_size(warehouse)
    done = compact(warehouse, keep_days, grace, timeout)
    files_after, bytes_after = _lake_files(warehouse)
    return CheckpointReport(
        bytes_before=bytes_before,
        bytes_after=bytes_after + _catalog_size(warehouse),
        seconds=time.perf_counter() - started,
        files_before=files_before,
        files_after=files_after,
        live_files=live_files(warehouse),
        snapshots_expired=done.snapshots_expired,
        snapshots_kept=done.snapshots_kept,
    )


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
        # A read-only connection sees one consistent snapshot for the whole export (on the
        # lake: the snapshot its transaction began with).
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
