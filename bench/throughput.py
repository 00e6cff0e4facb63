"""Throughput: full ingest on both cores vs a bare single-core trafilatura loop, same run.

Replays the CCTV WARC twice: once through `trafilatura.extract(body)` in a plain loop on one
core (reading the WARC included), once through crwatch's ingest (WARC replay, extraction with
metadata and language in the worker pool, dedup, relevance, DuckDB load) into a fresh warehouse.
Prints pages/s for both and their ratio; the ratio is what to compare across machines.
Shared 2-core machines are noisy (a single pair of passes has swung from 1.35x to 1.63x), so
the two passes alternate `--repeat` times and the median ratio is the figure, with its range.

    .venv/bin/python bench/throughput.py [--repeat 3] [--limit N] [--workers N] [--warc FILE]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trafilatura
from warcio.archiveiterator import ArchiveIterator

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from flows.ingest import run_ingest  # noqa: E402
from flows.settings import load_settings  # noqa: E402

DEFAULT_WARC = REPO.parent / "shared" / "corpus" / "news" / "cctv_zh" / "replay.warc.gz"


def bare_loop(warc: Path, limit: int | None) -> tuple[int, float]:
    """Read response records and run `trafilatura.extract` on each; return (pages, seconds)."""
    started = time.perf_counter()
    pages = 0
    with warc.open("rb") as handle:
        records = (r for r in ArchiveIterator(handle) if r.rec_type == "response")
        for record in itertools.islice(records, limit):
            trafilatura.extract(record.content_stream().read())
            pages += 1
    return pages, time.perf_counter() - started


def full_ingest(warc: Path, limit: int | None, workers: int) -> tuple[int, float, dict[str, int]]:
    """Run crwatch's ingest on the file (or its first `limit` records) into a fresh warehouse."""
    with tempfile.TemporaryDirectory(prefix="crwatch-bench-") as home:
        source = warc
        if limit is not None:
            source = Path(home) / "subset.warc.gz"
            _copy_records(warc, source, limit)
        settings = load_settings(
            environ={"CRWATCH_HOME": home},
            overrides={"workers": workers, "progress": False},
        )
        started = time.perf_counter()
        summary = run_ingest(settings, [source], seeds=False, run_id="bench")
        seconds = time.perf_counter() - started
        return summary.items_seen, seconds, summary.counts()


def _copy_records(source: Path, target: Path, limit: int) -> None:
    """Copy the first `limit` response records byte for byte (each is one gzip member)."""
    with source.open("rb") as handle:
        iterator = ArchiveIterator(handle)
        offsets = []
        for record in iterator:
            if record.rec_type == "response":
                offsets.append(iterator.get_record_offset())
                if len(offsets) > limit:
                    break
    with source.open("rb") as handle, target.open("wb") as out:
        end = offsets[limit] if len(offsets) > limit else None
        handle.seek(offsets[0])
        out.write(handle.read() if end is None else handle.read(end - offsets[0]))


def main() -> None:
    """Run both passes `--repeat` times, alternating, and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warc", type=Path, default=DEFAULT_WARC)
    parser.add_argument("--limit", type=int, default=None, help="only the first N pages")
    parser.add_argument("--workers", type=int, default=0, help="0 = one per core")
    parser.add_argument("--repeat", type=int, default=3, help="alternating pairs of passes")
    args = parser.parse_args()
    if not args.warc.exists():
        sys.exit(f"WARC not found: {args.warc} (needs ../shared/corpus beside the repo)")

    ratios, bare_rates, full_rates = [], [], []
    for round_no in range(1, args.repeat + 1):
        bare_pages, bare_seconds = bare_loop(args.warc, args.limit)
        full_pages, full_seconds, counts = full_ingest(args.warc, args.limit, args.workers)
        bare_rates.append(bare_pages / bare_seconds)
        full_rates.append(full_pages / full_seconds)
        ratios.append(full_rates[-1] / bare_rates[-1])
        print(
            f"round {round_no}: bare {bare_rates[-1]:6.1f} pages/s, full ingest"
            f" {full_rates[-1]:6.1f} pages/s, ratio {ratios[-1]:.2f}x",
            flush=True,
        )
    workers = args.workers or "all"
    print(f"warc: {args.warc.name}  pages: {bare_pages}  rounds: {args.repeat}")
    print(
        f"bare trafilatura.extract, 1 core : {statistics.median(bare_rates):7.1f} pages/s (median)"
    )
    print(
        f"crwatch full ingest, {workers} cores  : {statistics.median(full_rates):7.1f} pages/s"
        " (median)"
    )
    print(
        f"ratio full / bare                : {statistics.median(ratios):7.2f}x median"
        f" (range {min(ratios):.2f}-{max(ratios):.2f}; target >= 1.5x)"
    )
    print(
        f"ingest counts: new {counts['docs_new']}, duplicate {counts['docs_duplicate']},"
        f" failed {counts['docs_failed']}, core {counts['relevant_core']},"
        f" related {counts['relevant_related']}"
    )


if __name__ == "__main__":
    main()
