"""Orchestration overhead: the Prefect ingest flow vs the same work as plain function calls.

Replays the same 200 pages (the first 200 CCTV pages of ../shared/corpus, or generated pages when
the corpus is absent) into a fresh warehouse each time, alternating:

    plain    `run_ingest(settings, [warc], ...)` with no Prefect at all (`run_task=None`)
    prefect  `ingest_flow(replay=[warc])`: a flow run, its tasks, state reports to the API

Both include starting the extraction pool and the search-index update. The Prefect API is
started once before timing (a warm-up flow run), as it is under `crwatch serve`; the cold
start of the temporary server is printed separately. Target: overhead <= 25 %. With `--dask`
the flow is also timed with `runner = "dask"` (a local cluster of `--dask-workers`), for
docs/SCALING.md.

    .venv/bin/python bench/orchestration_overhead.py [--pages 200] [--repeat 3] [--dask]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CORPUS_WARC = REPO.parent / "shared" / "corpus" / "news" / "cctv_zh" / "replay.warc.gz"


def _generated_warc(target: Path, pages: int) -> None:
    """Distinct three-paragraph article pages, when the corpus is not there."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with target.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for i in range(pages):
            body = "".join(
                f"<p>Report {i}, part {k}: Xi Jinping and Vladimir Putin discussed trade, energy"
                f" and security cooperation between China and Russia (code {i * 7919 + k}).</p>"
                for k in range(4)
            )
            html = f"<html><head><title>Report {i}</title></head><body><article><h1>Report {i}"
            html += f"</h1>{body}</article></body></html>"
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                       protocol="HTTP/1.1")  # fmt: skip
            record = writer.create_warc_record(
                f"https://bench.example.com/{i}.html", "response",
                payload=io.BytesIO(html.encode()), http_headers=headers,
            )  # fmt: skip
            writer.write_record(record)


def _settings(home: Path, runner: str, workers: int) -> object:
    from flows.settings import load_settings

    os.environ["CRWATCH_HOME"] = str(home)  # the flow reads its settings from the environment
    os.environ["CRWATCH_RUNNER"] = runner
    os.environ["CRWATCH_WORKERS"] = str(workers)
    os.environ["CRWATCH_PROGRESS"] = "false"
    return load_settings()


def time_plain(warc: Path, scratch: Path, tag: str, workers: int) -> float:
    """Seconds for `run_ingest` as plain functions into a fresh warehouse."""
    from flows.ingest.flow import run_ingest
    from flows.settings import Settings

    settings = _settings(scratch / f"plain-{tag}", "threads", workers)
    assert isinstance(settings, Settings)
    started = time.perf_counter()
    summary = run_ingest(settings, [warc], seeds=False, run_id=f"plain-{tag}")
    seconds = time.perf_counter() - started
    assert summary.items_seen > 0
    return seconds


def time_flow(warc: Path, scratch: Path, tag: str, workers: int, runner: str = "threads") -> float:
    """Seconds for one `ingest` flow run into a fresh warehouse."""
    from flows.ingest.flow import ingest_flow

    _settings(scratch / f"flow-{runner}-{tag}", runner, workers)
    started = time.perf_counter()
    summary = ingest_flow(replay=[str(warc)], seeds=False)
    seconds = time.perf_counter() - started
    assert summary["items_seen"] > 0
    return seconds


def main() -> None:
    """Alternate plain and flow runs `--repeat` times; print medians and the overhead."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0, help="extraction processes; 0 = cores")
    parser.add_argument("--dask", action="store_true", help="also time runner = dask")
    parser.add_argument("--dask-workers", type=int, default=2)
    args = parser.parse_args()

    from bench.throughput import _copy_records
    from flows.runtime.environment import configure_prefect
    from flows.settings import load_settings

    with tempfile.TemporaryDirectory(prefix="crwatch-overhead-") as tmp:
        scratch = Path(tmp)
        warc = scratch / "pages.warc.gz"
        if CORPUS_WARC.exists():
            _copy_records(CORPUS_WARC, warc, args.pages)
            origin = f"first {args.pages} pages of {CORPUS_WARC.name} (CCTV)"
        else:
            _generated_warc(warc, args.pages)
            origin = f"{args.pages} generated pages (corpus absent)"
        os.environ["PREFECT_HOME"] = str(scratch / "prefect")
        os.environ["CRWATCH_DASK_WORKERS"] = str(args.dask_workers)
        configure_prefect(load_settings(environ={"CRWATCH_HOME": str(scratch / "warmup")}))
        cold_started = time.perf_counter()
        time_flow(warc, scratch, "warmup", args.workers)
        cold = time.perf_counter() - cold_started

        plain: list[float] = []
        flow: list[float] = []
        dask: list[float] = []
        for i in range(args.repeat):
            plain.append(time_plain(warc, scratch, str(i), args.workers))
            flow.append(time_flow(warc, scratch, str(i), args.workers))
            if args.dask:
                dask.append(time_flow(warc, scratch, str(i), args.workers, runner="dask"))
            on_dask = f", prefect flow on dask {dask[-1]:.2f} s" if dask else ""
            print(f"  pass {i + 1}: plain {plain[-1]:.2f} s, prefect flow {flow[-1]:.2f} s"
                  f"{on_dask}", flush=True)  # fmt: skip

    med_plain, med_flow = statistics.median(plain), statistics.median(flow)
    overheads = [100 * (f - p) / p for p, f in zip(plain, flow, strict=True)]
    print(f"input: {origin}; {args.repeat} alternating passes; extraction workers:"
          f" {args.workers or os.cpu_count()}")  # fmt: skip
    print(f"first flow run in a fresh process (temporary Prefect server start included):"
          f" {cold:.2f} s")  # fmt: skip
    print(f"plain functions: median {med_plain:.2f} s (range {min(plain):.2f}-{max(plain):.2f})")
    print(f"prefect flow:    median {med_flow:.2f} s (range {min(flow):.2f}-{max(flow):.2f})")
    print(f"prefect overhead: median {statistics.median(overheads):+.1f} % (range"
          f" {min(overheads):+.1f} to {max(overheads):+.1f} %; target <= 25 %)")  # fmt: skip
    if dask:
        med_dask = statistics.median(dask)
        print(f"prefect flow on dask ({args.dask_workers} local workers): median {med_dask:.2f} s"
              f" ({med_dask / med_flow:.2f}x the default runner)")  # fmt: skip


if __name__ == "__main__":
    main()
