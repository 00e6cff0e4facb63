"""Lake file count under a 30-minute schedule: N simulated runs, then `crwatch maintain`.

Each simulated run ingests its own small WARC (distinct pages, two batches) through the real
ingest (`flows.ingest.flow.run_ingest`, no Prefect) into one lake, as the half-hourly schedule does
in a day. Then the lake is compacted as `crwatch maintain` does (`warehouse.maintenance.
checkpoint`): first with the defaults (snapshots kept 7 days; the files it merges away are
deleted by the next maintain), then that next maintain, and last with no history kept. Prints
Parquet files on disk, files the newest snapshot reads, catalog size, snapshots, and a count
query's time before and after.

    .venv/bin/python bench/lake_files.py [--runs 48] [--pages 40] [--batch 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the test suite's WARC and page builders

from conftest import distinct_pages, write_warc  # noqa: E402

from flows.ingest.flow import run_ingest  # noqa: E402
from flows.settings import load_settings, open_warehouse  # noqa: E402
from warehouse.db import Warehouse  # noqa: E402
from warehouse.maintenance import checkpoint, live_files  # noqa: E402


def _files(warehouse: Warehouse) -> int:
    return sum(1 for _ in Path(warehouse.data_path).rglob("*.parquet"))


def _catalog_kb(warehouse: Warehouse) -> float:
    file = warehouse.catalog_file
    assert file is not None
    return sum(p.stat().st_size for p in file.parent.glob(file.name + "*")) / 1024


def _query_seconds(warehouse: Warehouse) -> float:
    times = []
    for _ in range(5):
        started = time.perf_counter()
        warehouse.query(
            "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM document_facts),"
            " (SELECT sum(documents) FROM day_facts), (SELECT count(*) FROM fetches)"
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _line(label: str, warehouse: Warehouse) -> None:
    _, snaps = warehouse.query("SELECT count(*) FROM ducklake_snapshots('lake')")
    print(f"{label:<44} files {_files(warehouse):>5}  live {live_files(warehouse):>4}"
          f"  catalog {_catalog_kb(warehouse):>7.0f} KB  snapshots {snaps[0][0]:>5}"
          f"  query {_query_seconds(warehouse) * 1000:>5.0f} ms", flush=True)  # fmt: skip


def main() -> None:
    """Simulate the runs, compact, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=48)
    parser.add_argument("--pages", type=int, default=40, help="pages per run")
    parser.add_argument("--batch", type=int, default=20, help="pages per batch (transaction)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crwatch-lake-files-") as folder:
        root = Path(folder)
        settings = load_settings(
            environ={"CRWATCH_HOME": str(root / "home")},
            overrides={"workers": 1, "batch_size": args.batch, "progress": False, "live": False},
        )
        warehouse = open_warehouse(settings)
        started = time.perf_counter()
        for run in range(args.runs):
            warc = write_warc(root / f"run-{run}.warc.gz",
                              distinct_pages(args.pages, f"run{run}.example.com"))  # fmt: skip
            run_ingest(settings, [warc], seeds=False, run_id=f"sim-{run:03d}")
            if (run + 1) % 12 == 0:
                print(f"  {run + 1} runs ({time.perf_counter() - started:.0f} s)", flush=True)
        print(f"\n{args.runs} runs of {args.pages} pages ({args.batch} per batch) into"
              f" {warehouse.describe()}\n")  # fmt: skip
        _line(f"after {args.runs} runs", warehouse)
        report = checkpoint(warehouse, keep_days=7)
        _line(f"maintain (7 days kept), {report.seconds:.1f} s", warehouse)
        report = checkpoint(warehouse, keep_days=7, grace=timedelta(0))
        _line("the next maintain (merged-away files gone)", warehouse)
        checkpoint(warehouse, keep_days=0, grace=timedelta(0))
        report = checkpoint(warehouse, keep_days=0, grace=timedelta(0))
        _line("two maintains keeping no history", warehouse)
        _, docs = warehouse.query("SELECT count(*), count(DISTINCT doc_id) FROM documents")
        print(f"\ndocuments {docs[0][0]:,} (distinct {docs[0][1]:,}) of"
              f" {args.runs * args.pages:,} pages")  # fmt: skip


if __name__ == "__main__":
    main()
