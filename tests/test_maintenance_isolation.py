"""Lake compaction in a child process: a crash or a hang there is a reported error, never the
end of `crwatch maintain` (or of pytest), and the lake keeps every committed row."""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import sample_pages, write_warc

from flows.cli.app import main
from flows.settings import Settings, load_settings
from warehouse import compaction
from warehouse.compaction import CALLS, CompactionFailed, compact
from warehouse.db import Warehouse
from warehouse.maintenance import checkpoint

MISBEHAVING = Path(__file__).with_name("compaction_child.py")
REAL_CHILD = compaction.CHILD_COMMAND
COUNTS = (
    "SELECT count(*) FROM documents",
    "SELECT count(*) FROM fetches",
    "SELECT count(*) FROM classifications",
    "SELECT count(*) FROM document_facts",
    "SELECT count(*), coalesce(sum(reports), 0) FROM story_facts",
    "SELECT count(*) FROM runs",
)


def _lake(tmp_path: Path, pages: int = 6) -> tuple[Settings, Warehouse]:
    """A lake with two ingest runs in it (several snapshots and small files to compact)."""
    from flows.ingest.flow import run_ingest

    settings = load_settings(overrides={"workers": 1, "progress": False})
    pages_list = sample_pages(pages)
    half = len(pages_list) // 2
    for n, chunk in enumerate((pages_list[:half], pages_list[half:])):
        warc = write_warc(tmp_path / f"{n}.warc.gz", chunk)
        run_ingest(settings, [warc], seeds=False, run_id=f"run-{n}")
    warehouse = Warehouse(settings.warehouse)
    assert warehouse.is_lake
    return settings, warehouse


def _counts(warehouse: Warehouse) -> list[tuple[object, ...]]:
    return [warehouse.query(sql)[1][0] for sql in COUNTS]


def _misbehave(monkeypatch: pytest.MonkeyPatch, mode: str, call: str) -> None:
    monkeypatch.setattr(compaction, "CHILD_COMMAND", (sys.executable, str(MISBEHAVING), mode, call))


def _children_left() -> list[str]:
    """Command lines of live processes running the misbehaving child."""
    left = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(MISBEHAVING) in text:
            left.append(text)
    return left


@pytest.mark.usefixtures("crwatch_home")
def test_the_child_runs_every_call_and_compacts(tmp_path: Path) -> None:
    _, warehouse = _lake(tmp_path)
    before = _counts(warehouse)
    done = compact(warehouse, keep_days=7, grace=timedelta(0))
    assert done.calls == tuple(call.name for call in CALLS)
    assert done.snapshots_expired == 0 and done.snapshots_kept > 2
    assert _counts(warehouse) == before


@pytest.mark.usefixtures("crwatch_home")
def test_a_crash_in_compaction_is_a_failed_step_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, warehouse = _lake(tmp_path)
    before = _counts(warehouse)
    settings.archive_dir.mkdir(parents=True, exist_ok=True)
    (settings.archive_dir / "crwatch-20200101.warc.gz").write_bytes(b"old")
    (settings.archive_dir / "crwatch-20200102.warc.gz").write_bytes(b"newest, always kept")
    _misbehave(monkeypatch, "segv", "ducklake_rewrite_data_files")

    result = CliRunner().invoke(main, ["maintain", "--retention-days", "30"])

    assert result.exit_code == 1, result.output
    assert (
        "compaction FAILED: DuckLake compaction crashed (SIGSEGV) in ducklake_rewrite_data_files;"
        " the lake is unchanged since the last committed call (ducklake_flush_inlined_data);"
        " run `crwatch maintain` again" in " ".join(result.output.split())
    ), result.output
    assert "1 step(s) failed (compaction); the other steps ran" in result.output
    # The steps before and after the compaction ran.
    assert "facts: 6 documents" in result.output, result.output
    assert "deleted 1 WARC file(s)" in result.output, result.output
    assert not (settings.archive_dir / "crwatch-20200101.warc.gz").exists()
    assert _counts(warehouse) == before

    # The real child then compacts the same lake and removes what the crashed call wrote.
    monkeypatch.setattr(compaction, "CHILD_COMMAND", REAL_CHILD)
    again = CliRunner().invoke(main, ["maintain"])
    assert again.exit_code == 0, again.output
    checkpoint(warehouse, keep_days=0, grace=timedelta(0))
    report = checkpoint(warehouse, keep_days=0, grace=timedelta(0))
    assert report.files_after == report.live_files, "the crashed call left files behind"
    assert _counts(warehouse) == before


@pytest.mark.usefixtures("crwatch_home")
def test_a_hung_compaction_is_killed_at_the_bound_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, warehouse = _lake(tmp_path)
    before = _counts(warehouse)
    _misbehave(monkeypatch, "hang", "ducklake_expire_snapshots")
    started = time.monotonic()
    with pytest.raises(CompactionFailed) as failed:
        checkpoint(warehouse, keep_days=7, grace=timedelta(0), timeout=timedelta(seconds=4))
    elapsed = time.monotonic() - started
    message = str(failed.value)
    assert "did not finish within 4 s and was killed (in ducklake_expire_snapshots)" in message
    assert "run `crwatch maintain` again" in message
    assert failed.value.call == "ducklake_expire_snapshots"
    assert 4 <= elapsed < 30, f"the bound was 4 s, the call took {elapsed:.1f} s"
    assert _children_left() == []
    assert _counts(warehouse) == before


def test_a_failing_child_names_the_call_and_the_database_error() -> None:
    out = (
        '{"start": "ducklake_expire_snapshots"}\n{"done": "ducklake_expire_snapshots"}\n'
        '{"start": "ducklake_cleanup_old_files"}\n'
        '{"failed": "ducklake_cleanup_old_files", "error": "IO Error: disk full"}\n'
    )
    with pytest.raises(CompactionFailed) as failed:
        compaction._outcome(1, out, "", timed_out=False, limit=60)
    assert str(failed.value) == (
        "DuckLake compaction failed in ducklake_cleanup_old_files: IO Error: disk full; the lake"
        " is unchanged since the last committed call (ducklake_expire_snapshots); run"
        " `crwatch maintain` again"
    )
    with pytest.raises(CompactionFailed, match="failed opening the lake: ImportError: no duckdb"):
        compaction._outcome(1, "", "Traceback ...\nImportError: no duckdb\n", False, 60)


@pytest.mark.usefixtures("prefect_harness", "crwatch_home")
def test_the_maintain_flow_ends_failed_after_every_step_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.errors import MaintenanceFailed
    from flows.ops.maintain import maintain_flow

    monkeypatch.setenv("CRWATCH_ARCHIVE_RETENTION_DAYS", "30")
    settings, warehouse = _lake(tmp_path, pages=3)
    before = _counts(warehouse)
    settings.archive_dir.mkdir(parents=True, exist_ok=True)
    for day in ("20200101", "20200102"):
        (settings.archive_dir / f"crwatch-{day}.warc.gz").write_bytes(b"w")
    _misbehave(monkeypatch, "segv", "ducklake_merge_adjacent_files")
    with pytest.raises(MaintenanceFailed, match=r"compaction: DuckLake compaction crashed"
                       r" \(SIGSEGV\) in ducklake_merge_adjacent_files"):  # fmt: skip
        maintain_flow()
    assert not (settings.archive_dir / "crwatch-20200101.warc.gz").exists()
    assert _counts(warehouse) == before
