"""Every attempt is visible: failures before the first write, busy warehouses, partial runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli.app import main
from flows.runtime.attempts import append_attempt, drain_journal, read_attempts
from flows.settings import load_settings
from warehouse.db import Warehouse, WarehouseBusy
from warehouse.runs import mark_crashed_if_dead, start_run

HOLD_SCRIPT = (
    "import duckdb, sys, time\n"
    "con = duckdb.connect(sys.argv[1])\n"
    "print('held', flush=True)\n"
    "time.sleep(120)\n"
)


def _flat(text: str) -> str:
    """Terminal output with rich's line folding undone."""
    return " ".join(text.split())


def _hold_warehouse(path: Path) -> subprocess.Popen[str]:
    """Another process holding the DuckDB file open for writing (nobody else can open it)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_SCRIPT, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


@pytest.mark.usefixtures("crwatch_home")
def test_an_ingest_failing_on_a_busy_warehouse_shows_in_status_with_its_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flows.ingest.flow import run_ingest

    monkeypatch.setenv("CRWATCH_LOCK_WAIT_SECONDS", "1")
    # A single-file warehouse (still a setting): another process holding the file for writing
    # is what makes it refuse; a lake has no such lock.
    monkeypatch.setenv("CRWATCH_WAREHOUSE", str(load_settings().home / "crwatch.duckdb"))
    settings = load_settings(overrides={"workers": 1, "progress": False})
    Warehouse(settings.warehouse).migrate()
    holder = _hold_warehouse(settings.warehouse)
    runner = CliRunner()
    try:
        with pytest.raises(WarehouseBusy):
            run_ingest(settings, [], seeds=True, run_id="blocked-by-a-writer-0001")
        # The warehouse could not take the runs row: the attempt is in the journal.
        [entry] = read_attempts(settings.home)
        assert entry["status"] == "failed" and entry["error_kind"] == "warehouse_busy"
        assert "locked by another process" in entry["error"]
        # While the other process still holds the file, status cannot read `runs` and shows
        # the attempt from the journal.
        result = runner.invoke(main, ["status"])
        for expected in ("failed or skipped in the last 24 h:", "er-0001", "warehouse_busy",
                         "locked by another process", "runs not read", "shown from"):  # fmt: skip
            assert expected in _flat(result.output), result.output
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
    result = runner.invoke(main, ["status"])
    assert result.exit_code == 0, result.output
    assert "warehouse_busy" in result.output and "er-0001" in result.output
    # The next ingest that can write copies the attempt into runs and empties the journal.
    run_ingest(settings, [], seeds=True, run_id="next-run")
    assert read_attempts(settings.home) == []
    _, rows = Warehouse(settings.warehouse).query(
        "SELECT run_id, status, error_kind FROM runs ORDER BY started_at"
    )
    assert rows == [
        ("blocked-by-a-writer-0001", "failed", "warehouse_busy"),
        ("next-run", "completed", None),
    ]
    result = runner.invoke(main, ["status"])
    assert result.output.count("warehouse_busy") == 1, result.output


@pytest.mark.usefixtures("crwatch_home")
def test_a_run_that_fails_after_a_committed_batch_reports_what_it_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import flows.ingest.pipeline
    from flows.ingest.flow import run_ingest

    settings = load_settings(overrides={"workers": 1, "progress": False, "batch_size": 2})
    real = flows.ingest.pipeline.refresh_facts
    calls = {"n": 0}

    def fail_second_batch(con: object, doc_ids: list[str]) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        real(con, doc_ids)  # type: ignore[arg-type]

    monkeypatch.setattr(flows.ingest.pipeline, "refresh_facts", fail_second_batch)
    with pytest.raises(OSError):
        run_ingest(settings, [], seeds=True, run_id="half-run")
    warehouse = Warehouse(settings.warehouse)
    _, rows = warehouse.query(
        "SELECT status, error_kind, error, items_seen, docs_new FROM runs WHERE run_id = 'half-run'"
    )
    _, stored = warehouse.query("SELECT count(*) FROM documents")
    status, kind, error, items, new = rows[0]
    assert (status, kind) == ("failed", "os_error") and "No space left" in error
    # The first batch (2 seed documents) was committed and is counted; the failed one is not.
    assert stored[0][0] == 2 and new == 2 and items == 2


def test_journal_entries_move_into_runs_once(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    warehouse.migrate()
    entry = {
        "run_id": "j1", "flow": "ingest", "started_at": "2026-12-05T10:00:00+00:00",
        "finished_at": "2026-12-05T10:00:31+00:00", "status": "failed",
        "error_kind": "warehouse_busy", "error": "WarehouseBusy: locked", "pid": 1,
        "host": "h", "params": {"seeds": True}, "seconds": 31.0,
    }  # fmt: skip
    append_attempt(tmp_path, entry)
    with (tmp_path / "attempts.jsonl").open("a") as handle:
        handle.write("not json\n")
    assert drain_journal(tmp_path, warehouse) == ["j1"]
    append_attempt(tmp_path, entry)
    assert drain_journal(tmp_path, warehouse) == []  # already there: not twice
    _, rows = warehouse.query("SELECT run_id, status, error_kind, params FROM runs")
    assert rows == [("j1", "failed", "warehouse_busy", '{"seeds": true}')]
    assert (tmp_path / "attempts.jsonl").read_text() == "not json\n"
    # A run that opened its row but could only journal its end: the journal closes the row.
    start_run(warehouse, "j2", "ingest", {})
    append_attempt(tmp_path, {**entry, "run_id": "j2", "status": "completed", "error": None,
                              "error_kind": None, "counts": {"docs_new": 7}})  # fmt: skip
    assert drain_journal(tmp_path, warehouse) == ["j2"]
    _, rows = warehouse.query("SELECT status, docs_new, seconds FROM runs WHERE run_id = 'j2'")
    assert rows == [("completed", 7, 31.0)]


def test_rows_of_dead_processes_are_marked_crashed_without_the_lock(tmp_path: Path) -> None:
    import socket

    warehouse = Warehouse(tmp_path / "w.duckdb")
    warehouse.migrate()
    start_run(warehouse, "dead-run", "ingest", {})
    start_run(warehouse, "live-run", "digest", {})
    with warehouse.writer() as con:
        con.execute("UPDATE runs SET pid = 999999999 WHERE run_id = 'dead-run'")
    marked = mark_crashed_if_dead(
        warehouse, socket.gethostname(), lambda pid: pid != 999999999, "serve died"
    )
    assert marked == ["dead-run"]
    _, rows = warehouse.query("SELECT run_id, status, error_kind FROM runs ORDER BY run_id")
    assert rows == [("dead-run", "crashed", "killed"), ("live-run", "running", None)]
