"""Housekeeping: CHECKPOINT, backups that restore, archive retention, crash marking, status."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from conftest import sample_pages, write_warc

from flows.cli.app import main
from flows.runtime.runlock import RunLock
from flows.settings import load_settings
from warehouse.db import Warehouse
from warehouse.maintenance import backup, checkpoint, folder_size, prune_archive
from warehouse.runs import finish_run, mark_crashed, start_run


def _warehouse(tmp_path: Path) -> Warehouse:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    warehouse.migrate()
    with warehouse.writer() as con:
        con.execute(
            "INSERT INTO sources VALUES ('s', 'warc', NULL, NULL, now(), now()),"
            " ('it''s', 'warc', NULL, NULL, now(), now())"
        )
    return warehouse


def test_checkpoint_reports_sizes(tmp_path: Path) -> None:
    report = checkpoint(_warehouse(tmp_path))
    assert report.bytes_after > 0 and report.bytes_before >= 0


def test_backup_exports_a_database_that_imports_back(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path)
    start_run(warehouse, "r1", "ingest", {"replay": ["x'; DROP TABLE runs; --"]})
    folder = tmp_path / "it's backups"
    first = backup(warehouse, folder)
    second = backup(warehouse, folder)
    assert first.folder != second.folder and first.folder.parent == folder.resolve()
    assert first.files >= 3 and first.bytes > 0
    assert (first.folder / "schema.sql").exists()
    restored = duckdb.connect(str(tmp_path / "restored.duckdb"))
    try:
        path = str(first.folder).replace("'", "''")
        restored.execute(f"IMPORT DATABASE '{path}'")
        assert restored.execute("SELECT count(*) FROM sources").fetchone() == (2,)
        assert restored.execute("SELECT run_id FROM runs").fetchall() == [("r1",)]
    finally:
        restored.close()


def test_prune_archive_keeps_recent_and_the_newest(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    now = datetime(2026, 12, 1, tzinfo=UTC)
    old = archive / "crwatch-20260101.warc.gz"
    recent = archive / "crwatch-20261125.warc.gz"
    by_mtime = archive / "imported.warc"
    other = archive / "notes.txt"
    for path in (old, recent, by_mtime, other):
        path.write_bytes(b"x" * 10)
    stale = now.timestamp() - 200 * 86400
    os.utime(by_mtime, (stale, stale))
    os.utime(other, (stale, stale))
    report = prune_archive(archive, 30, now=now)
    assert sorted(p.name for p in report.deleted) == ["crwatch-20260101.warc.gz", "imported.warc"]
    assert report.bytes == 20 and report.kept == 1
    assert recent.exists() and other.exists()
    # Only old files left: the newest one (still being appended to) is never deleted.
    only_old = tmp_path / "only-old"
    only_old.mkdir()
    for day in ("20250101", "20250102"):
        (only_old / f"crwatch-{day}.warc.gz").write_bytes(b"y")
    report = prune_archive(only_old, 30, now=now)
    assert [p.name for p in report.deleted] == ["crwatch-20250101.warc.gz"]
    assert (only_old / "crwatch-20250102.warc.gz").exists()
    assert prune_archive(only_old, 0, now=now).deleted == []
    assert folder_size(only_old) == 1


def test_mark_crashed_closes_only_orphaned_rows(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path)
    start_run(warehouse, "dead", "ingest", {})
    start_run(warehouse, "done", "ingest", {})
    finish_run(warehouse, "done", "completed", {"items_seen": 3}, 1.0)
    start_run(warehouse, "digest-run", "digest", {})
    start_run(warehouse, "me", "ingest", {})
    assert mark_crashed(warehouse, "ingest", "me") == ["dead"]
    _, rows = warehouse.query("SELECT run_id, status, pid IS NOT NULL FROM runs ORDER BY run_id")
    assert rows == [
        ("dead", "crashed", True),
        ("digest-run", "running", True),
        ("done", "completed", True),
        ("me", "running", True),
    ]


@pytest.mark.usefixtures("crwatch_home")
def test_cli_status_backup_maintain(tmp_path: Path) -> None:
    from flows.ingest.flow import run_ingest

    settings = load_settings(overrides={"workers": 1})
    warc = write_warc(tmp_path / "a.warc.gz", sample_pages(3))
    run_ingest(settings, [warc], seeds=False, run_id="first-run")
    start_run(Warehouse(settings.warehouse), "ghost-run-0001", "ingest", {})  # died, unmarked
    runner = CliRunner()
    result = runner.invoke(main, ["status"])
    assert result.exit_code == 0, result.output
    for expected in ("ingest lock: free", "serve not running", "crashed?", "failing sources",
                     "archive:", "KB", "Parquet files", "snapshots",
                     "documents:   3 (0 seed), stories 3",
                     "search:      3 documents indexed"):  # fmt: skip
        assert expected in result.output, result.output

    with RunLock(settings.home, "holder-run", 1):
        result = runner.invoke(main, ["status"])
        assert "run holder-run (pid" in result.output
        started = time.monotonic()
        result = runner.invoke(main, ["maintain"], env={"CRWATCH_LOCK_WAIT_SECONDS": "0.2"})
        assert result.exit_code != 0 and "holder-run" in result.output
        assert time.monotonic() - started < 10

    settings.archive_dir.mkdir(parents=True, exist_ok=True)
    (settings.archive_dir / "crwatch-20200101.warc.gz").write_bytes(b"old")
    (settings.archive_dir / "crwatch-20200102.warc.gz").write_bytes(b"newest")
    result = runner.invoke(main, ["maintain", "--retention-days", "30"])
    assert result.exit_code == 0, result.output
    assert "deleted 1 WARC file(s)" in result.output and "warehouse:" in result.output
    assert "facts: 3 documents, 3 stories recomputed" in result.output

    result = runner.invoke(main, ["backup", str(tmp_path / "bk")])
    assert result.exit_code == 0, result.output
    assert "backup:" in result.output and len(list((tmp_path / "bk").iterdir())) == 1


@pytest.mark.usefixtures("prefect_harness", "crwatch_home")
def test_maintain_flow_checkpoints_and_prunes(monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.ops.maintain import maintain_flow

    monkeypatch.setenv("CRWATCH_ARCHIVE_RETENTION_DAYS", "30")
    settings = load_settings()
    Warehouse(settings.warehouse).migrate()
    settings.archive_dir.mkdir(parents=True)
    for day in ("20200101", "20200102"):
        (settings.archive_dir / f"crwatch-{day}.warc.gz").write_bytes(b"w")
    report = maintain_flow()
    assert report["checkpoint"]["bytes_after"] > 0
    assert [Path(p).name for p in report["pruned"]] == ["crwatch-20200101.warc.gz"]
