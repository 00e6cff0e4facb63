"""The CLI hands its state to flows explicitly; runs are recorded by one block."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from flows.cli import app as cli
from flows.settings import Settings
from warehouse.db import Warehouse
from warehouse.runs import recorded_run


def test_ingest_runner_option_reaches_the_flow_without_the_environment(
    crwatch_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRWATCH_RUNNER", raising=False)
    seen: list[Settings] = []

    def fake_run_ingest(settings: Settings, *args: Any) -> dict[str, Any]:
        seen.append(settings)
        return {"warehouse": str(settings.warehouse), "errors": {}, "by_source": {}, "live": {}}

    monkeypatch.setattr(cli, "_run_ingest", fake_run_ingest)
    monkeypatch.setattr(cli, "_print_summary", lambda summary: None)
    result = CliRunner().invoke(cli.main, ["ingest", "--seeds", "--runner", "dask"])
    assert result.exit_code == 0, result.output
    assert [s.runner for s in seen] == ["dask"]
    assert "CRWATCH_RUNNER" not in os.environ, "the option is not passed through the environment"


def test_recorded_run_closes_completed_or_failed_with_the_counts(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    warehouse.migrate()
    with recorded_run(warehouse, "ok", "reclassify", {"since": None}) as run:
        run.counts = {"items_seen": 3}
    with pytest.raises(OSError), recorded_run(warehouse, "bad", "digest", {}) as run:
        run.counts = {"items_seen": 1}
        raise OSError(28, "No space left on device")
    _, rows = warehouse.query(
        "SELECT run_id, flow, status, items_seen, error_kind, error, finished_at IS NOT NULL"
        " FROM runs ORDER BY run_id"
    )
    assert rows[0][:5] == ("bad", "digest", "failed", 1, "os_error")
    assert "No space left" in rows[0][5] and rows[0][6]
    assert rows[1] == ("ok", "reclassify", "completed", 3, None, None, True)


def test_what_dask_ships_with_each_batch_pickles() -> None:
    """Every `extract-batch` submitted to Dask carries the task and the flow run's context.

    The context holds `ingest_flow`, whose function Dask's cloudpickle takes by value with the
    module globals it names (the module's attribute is the Flow, not the function): a global
    such as the caller's ContextVar there fails every batch (tests/test_dask.py, slow).
    """
    from distributed.protocol.pickle import dumps, loads

    from flows.ingest.dask_pool import extract_batch
    from flows.ingest.flow import ingest_flow

    assert loads(dumps(ingest_flow)).name == "ingest"
    assert loads(dumps(extract_batch)).name == "extract-batch"
