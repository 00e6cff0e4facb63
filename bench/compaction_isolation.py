"""What running the lake compaction in a child process costs: `crwatch maintain`'s compaction
step timed in-process (as before) and in its child (`warehouse.compaction`), alternately.

Builds the lake of `tests/test_lake.py::test_sql_as_of_a_run_and_maintain_keep_history_and_
bound_files` (two ingest runs of 30 and 20 distinct pages, batches of 20; `--runs`/`--pages` for
a bigger one), then for each round copies it twice and times `warehouse.maintenance.checkpoint`
(7 days of snapshots kept, as maintain does) on one copy with the calls run in this process, on
the other with the calls run in the child. The in-process variant has the lake already attached,
as maintain has after its facts rebuild; the child pays its interpreter, imports, LOAD and ATTACH.
Prints each round, the medians and their difference.

    .venv/bin/python bench/compaction_isolation.py [--rounds 5] [--runs 2] [--pages 30,20]
"""

from __future__ import annotations

import argparse
import os
import shutil
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
from flows.settings import load_settings  # noqa: E402
from warehouse import compaction, maintenance  # noqa: E402
from warehouse.compaction import CALLS, CompactionResult  # noqa: E402
from warehouse.db import LAKE_ALIAS, Warehouse  # noqa: E402


def in_process(
    warehouse: Warehouse, keep_days: float, grace: timedelta, timeout: timedelta
) -> CompactionResult:
    """The calls on this process's own connection: what `compact_lake` did before the child."""
    con = warehouse._open(read_only=False)
    try:
        con.execute(f"SET threads TO {os.cpu_count() or 1}")
        values = {
            "keep_ms": int(keep_days * 86_400_000),
            "grace_ms": int(grace.total_seconds() * 1000),
        }
        expired = 0
        for call in CALLS:
            rows = compaction.execute(con, call, [values[call.argument]] if call.argument else [])
            if call.name == "ducklake_expire_snapshots":
                expired = len(rows)
        row = con.execute(f"SELECT count(*) FROM ducklake_snapshots('{LAKE_ALIAS}')").fetchone()
    finally:
        con.close()
    return CompactionResult(expired, int(row[0]) if row else 0, tuple(c.name for c in CALLS))


def _time(lake: Path, isolated: bool) -> tuple[float, int, int]:
    warehouse = Warehouse(lake)
    warehouse.open_writer_instance()  # maintain has attached the lake (migrate, facts rebuild)
    setattr(maintenance, "compact", compaction.compact if isolated else in_process)  # noqa: B010
    started = time.perf_counter()
    report = maintenance.checkpoint(warehouse, keep_days=7)
    seconds = time.perf_counter() - started
    return seconds, report.files_before, report.files_after


def main() -> None:
    """Build the lake, time both variants alternately, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=2, help="ingest runs into the lake")
    parser.add_argument("--pages", default="30,20", help="pages per run, cycled over the runs")
    args = parser.parse_args()
    pages = [int(p) for p in args.pages.split(",")]
    with tempfile.TemporaryDirectory(prefix="crwatch-compaction-") as folder:
        root = Path(folder)
        settings = load_settings(
            environ={"CRWATCH_HOME": str(root / "home")},
            overrides={"workers": 1, "batch_size": 20, "progress": False, "live": False},
        )
        for run in range(args.runs):
            count = pages[run % len(pages)]
            warc = write_warc(root / f"run-{run}.warc.gz",
                              distinct_pages(count, f"run{run}.example.com"))  # fmt: skip
            run_ingest(settings, [warc], seeds=False, run_id=f"bench-{run:03d}")
        source = settings.warehouse
        times: dict[bool, list[float]] = {False: [], True: []}
        for n in range(args.rounds):
            for isolated in (False, True) if n % 2 == 0 else (True, False):
                copy = root / f"lake-{n}-{int(isolated)}"
                shutil.copytree(source, copy)
                seconds, before, after = _time(copy, isolated)
                times[isolated].append(seconds)
                label = "child     " if isolated else "in-process"
                print(f"round {n + 1} {label} {seconds:6.3f} s  files {before} -> {after}",
                      flush=True)  # fmt: skip
        inside, child = statistics.median(times[False]), statistics.median(times[True])
        print(f"\nmedian of {args.rounds}: in-process {inside:.3f} s, child {child:.3f} s,"
              f" difference {child - inside:+.3f} s ({child / inside:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
