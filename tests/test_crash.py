"""RELIABILITY 13: kill -9 an ingest at random points, re-run, compare with a clean ingest.

Runs on the default warehouse, the lake: a batch is one lake transaction (Parquet files written
first, then one catalog commit), so a kill leaves whole batches and at most unreferenced files.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import distinct_pages, ingest_command, ingest_env, write_warc

from warehouse.db import Warehouse

PAGES = 480
BATCH = 20
KILLS = 5
SEED = 13  # fixed, so a failure can be replayed: the kill times are printed too


def _snapshot(path: Path) -> dict[str, object]:
    warehouse = Warehouse(path, lock_wait_seconds=30)
    empty = {"fetches": 0, "locators": set(), "documents": set(), "half": 0, "dups": 0}
    if not warehouse.exists():
        return empty  # not created yet (the lake's catalog appears with the first migration)
    _, tables = warehouse.query(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'fetches'"
    )
    if tables[0][0] == 0:
        return empty  # killed before the first migration committed: the next run applies it
    _, fetches = warehouse.query("SELECT locator, outcome, doc_id FROM fetches")
    _, docs = warehouse.query("SELECT canonical_url, content_hash, doc_id FROM documents")
    # A batch is one transaction: a stored document without its fetch row, judgement or
    # signature (or a 'new' fetch row without its document) would be a half-written batch.
    _, half = warehouse.query(
        "SELECT (SELECT count(*) FROM documents d WHERE NOT EXISTS (SELECT 1 FROM fetches f"
        "  WHERE f.doc_id = d.doc_id))"
        " + (SELECT count(*) FROM documents d WHERE NOT EXISTS (SELECT 1 FROM classifications c"
        "  WHERE c.doc_id = d.doc_id))"
        " + (SELECT count(*) FROM documents d WHERE NOT EXISTS (SELECT 1 FROM document_signatures"
        "  s WHERE s.doc_id = d.doc_id))"
        " + (SELECT count(*) FROM fetches f WHERE outcome = 'new' AND NOT EXISTS"
        "  (SELECT 1 FROM documents d WHERE d.doc_id = f.doc_id))"
    )
    _, dups = warehouse.query(
        "SELECT (SELECT count(*) - count(DISTINCT locator) FROM fetches)"
        " + (SELECT count(*) - count(DISTINCT canonical_url) FROM documents)"
        " + (SELECT count(*) - count(DISTINCT content_hash) FROM documents)"
        " + (SELECT count(*) - count(DISTINCT (doc_id, classifier_version)) FROM classifications)"
    )
    return {
        "fetches": len(fetches),
        "locators": {row[0] for row in fetches},
        "documents": {(row[0], row[1]) for row in docs},
        "half": int(half[0][0]),
        "dups": int(dups[0][0]),
    }


def _run(home: Path, run_id: str, warc: Path, timeout: float = 120) -> float:
    started = time.monotonic()
    done = subprocess.run(
        ingest_command(run_id, BATCH, warc), env=ingest_env(home), capture_output=True,
        text=True, timeout=timeout,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return time.monotonic() - started


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_kill_9_at_random_points_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    warc = write_warc(tmp_path / "load.warc.gz", distinct_pages(PAGES))
    reference_home, home = tmp_path / "reference", tmp_path / "home"
    reference_seconds = _run(reference_home, "reference", warc)
    reference = _snapshot(reference_home / "lake")
    assert reference["fetches"] == PAGES and reference["half"] == 0

    rng = random.Random(SEED)
    kill_times: list[float] = []
    committed: list[int] = []
    killed_runs: list[str] = []
    for attempt in range(KILLS):
        run_id = f"killed-{attempt}"
        before = committed[-1] if committed else 0
        started = time.monotonic()
        proc = subprocess.Popen(
            ingest_command(run_id, BATCH, warc),
            env={**ingest_env(home), "CRWATCH_TEST_PROGRESS": "1"},
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            start_new_session=True,
        )  # fmt: skip
        if attempt < 2:
            # Early: during start-up, migrations, the lock, the first extractions.
            time.sleep(rng.uniform(0.5, 4.0))
        else:
            # Mid-stream: after a random number of the items still to store were read (the
            # writer thread is then committing, or about to commit, a batch).
            # Items already stored are read (and skipped) first: they print lines too.
            remaining = PAGES - before
            target = before + rng.randint(BATCH, max(BATCH, remaining - 2 * BATCH))
            assert proc.stdout is not None
            read = 0
            while read < target and proc.stdout.readline():
                read += 1
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the run and its extraction workers, at once
            proc.wait()
            killed_runs.append(run_id)
        kill_times.append(round(time.monotonic() - started, 2))
        proc.communicate()  # reap it and close its pipe
        state = _snapshot(home / "lake")
        committed.append(int(str(state["fetches"])))
        assert state["half"] == 0, f"half-written batch after kill {attempt}"
        assert state["dups"] == 0, f"duplicates after kill {attempt}"
        # Batches commit in order, one transaction each: what survives is whole batches.
        assert int(str(state["fetches"])) % BATCH == 0 or state["fetches"] == PAGES

    recovery_seconds = _run(home, "recovery", warc)
    final = _snapshot(home / "lake")
    reference_locators = reference["locators"]
    reference_documents = reference["documents"]
    assert isinstance(reference_locators, set) and isinstance(reference_documents, set)
    rows_lost = len(reference_locators - final["locators"]) + len(  # type: ignore[operator]
        reference_documents - final["documents"]  # type: ignore[operator]
    )
    extra = len(final["locators"] - reference_locators)  # type: ignore[operator]
    duplicates = int(str(final["dups"]))
    _, runs = Warehouse(home / "lake").query(
        "SELECT run_id, status, error FROM runs ORDER BY started_at"
    )
    statuses = {row[0]: row[1] for row in runs}
    print(f"[figure] kill -9 at {kill_times} s (reference run {reference_seconds:.1f} s);"
          f" fetch rows committed at each kill: {committed}")  # fmt: skip
    print(f"[figure] rows lost: {rows_lost}; duplicates: {duplicates}; extra rows: {extra};"
          f" half batches: {final['half']}")  # fmt: skip
    print(f"[figure] recovery seconds (re-run to a complete warehouse): {recovery_seconds:.1f}")
    print(f"[figure] runs: {statuses}")
    assert rows_lost == 0 and duplicates == 0 and extra == 0 and final["half"] == 0
    assert final["fetches"] == PAGES
    assert statuses["recovery"] == "completed"
    assert "running" not in statuses.values()
    # Every killed run that got as far as opening its row is shown as crashed, with a reason.
    for run_id in killed_runs:
        assert statuses.get(run_id, "crashed") == "crashed", statuses
    crashed = [row for row in runs if row[1] == "crashed"]
    assert all("killed" in str(row[2]) for row in crashed)
    assert len(crashed) >= 3, "kills did not land after the runs opened their rows"
    assert len(set(committed)) >= 3, f"kills did not land between batches: {committed}"


def test_a_lake_catalog_left_empty_is_initialised(crwatch_home: Path) -> None:
    from flows.ingest.flow import run_ingest
    from flows.settings import load_settings

    settings = load_settings(overrides={"workers": 1, "progress": False})
    (settings.warehouse).mkdir(parents=True)
    (settings.warehouse / "catalog.sqlite").write_bytes(b"")  # killed as SQLite created it
    assert run_ingest(settings, [], seeds=True, run_id="after-crash").docs_new > 0
    _, rows = Warehouse(settings.warehouse).query("SELECT status FROM runs")
    assert rows == [("completed",)]


def test_a_warehouse_file_left_half_created_is_set_aside_and_recreated(crwatch_home: Path) -> None:
    from flows.ingest.flow import run_ingest
    from flows.settings import load_settings

    settings = load_settings(
        overrides={"workers": 1, "progress": False, "warehouse": str(crwatch_home / "w.duckdb")}
    )
    settings.warehouse.parent.mkdir(parents=True)
    settings.warehouse.write_bytes(b"")  # kill -9 between DuckDB creating the file and its header
    summary = run_ingest(settings, [], seeds=True, run_id="after-crash")
    assert summary.docs_new > 0
    aside = list(settings.warehouse.parent.glob("w.duckdb.stillborn-*"))
    assert len(aside) == 1 and aside[0].stat().st_size == 0
    _, rows = Warehouse(settings.warehouse).query("SELECT status FROM runs")
    assert rows == [("completed",)]
