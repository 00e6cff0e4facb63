"""RELIABILITY 14: two overlapping ingests plus a reader: runs serialize, the reader never fails."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from conftest import distinct_pages, has_documents_table, ingest_command, ingest_env, write_warc

from flows.runtime.runlock import RunLock, RunLockBusy, current_holder
from warehouse.db import Warehouse, WarehouseBusy

PAGES = 150
BATCH = 25
QUERIES = [
    "SELECT count(*) FROM documents",
    "SELECT status, count(*) FROM runs GROUP BY status",
    "SELECT count(*), sum(reports) FROM stories",
    "SELECT outcome, count(*) FROM fetches GROUP BY outcome",
]


def test_run_lock_waits_then_reports_the_holder(tmp_path: Path) -> None:
    with RunLock(tmp_path, "first", wait_seconds=1):
        holder = current_holder(tmp_path)
        assert holder is not None and holder.run_id == "first"
        started = time.monotonic()
        with pytest.raises(RunLockBusy, match=r"run first \(pid \d+"), RunLock(tmp_path, "b", 0.3):
            pass
        assert 0.3 <= time.monotonic() - started < 2
    assert current_holder(tmp_path) is None  # released: the next run gets it at once
    with RunLock(tmp_path, "second", wait_seconds=0) as lock:
        assert lock.waited < 0.1


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_overlapping_runs_serialize_and_the_reader_never_fails(tmp_path: Path) -> None:
    home = tmp_path / "home"
    warcs = [
        write_warc(tmp_path / "a.warc.gz", distinct_pages(PAGES, "a.example.com")),
        write_warc(tmp_path / "b.warc.gz", distinct_pages(PAGES, "b.example.com")),
    ]
    path = home / "lake"  # the default warehouse
    procs = []
    for name, warc in zip(("first", "second"), warcs, strict=True):
        procs.append(
            subprocess.Popen(
                ingest_command(name, BATCH, warc),
                env=ingest_env(home),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
        time.sleep(1.0)  # the second is "scheduled" while the first runs
    warehouse = Warehouse(path, lock_wait_seconds=30)
    answered = lock_errors = 0
    waits: list[float] = []
    try:
        deadline = time.monotonic() + 60
        while not has_documents_table(warehouse) and time.monotonic() < deadline:
            time.sleep(0.05)
        i = 0
        while any(p.poll() is None for p in procs):
            started = time.perf_counter()
            try:
                warehouse.query(QUERIES[i % len(QUERIES)])
                answered += 1
                waits.append(time.perf_counter() - started)
            except WarehouseBusy:
                lock_errors += 1
            i += 1
            time.sleep(0.05)
        outputs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
    _, runs = Warehouse(path).query(
        "SELECT run_id, status, started_at, finished_at, lock_wait_seconds FROM runs"
        " ORDER BY started_at"
    )
    assert [r[0] for r in runs] == ["first", "second"] and {r[1] for r in runs} == {"completed"}
    first, second = runs
    overlap = (first[3] - second[2]).total_seconds()
    _, docs = Warehouse(path).query("SELECT count(*) FROM documents")
    print(f"[figure] overlapping runs: second waited {second[4]:.1f} s for the writer lock;"
          f" write windows overlap {max(0.0, overlap):.2f} s")  # fmt: skip
    print(f"[figure] reader: {answered} queries answered, lock errors seen by a user:"
          f" {lock_errors}, longest wait {max(waits, default=0) * 1000:.0f} ms")  # fmt: skip
    assert overlap <= 0, "the two runs wrote at the same time"
    assert second[4] > 0.5, "the second run did not wait: the runs did not overlap"
    assert lock_errors == 0 and answered >= 10
    assert docs[0][0] == 2 * PAGES
