"""CPU per page of each per-page stage of a replay, against the bare `trafilatura.extract` loop.

Where a worker's and the main process's CPU goes, measured in one process with CPU clocks
(`time.process_time`), so other load on a shared machine inflates all figures alike: WARC
reading, pickling a page to a worker and its result back, each step of `extract_page`
(decode, parse, metadata, pruning, trafilatura's fast pass, the full cascade for apparent
misses, language), the analysis (classification, near-duplicate signature), and the bare
loop's `trafilatura.extract(body)` on the same pages. The bare loop runs last, on the pages
already in memory (its own WARC reading is the "WARC read" line).

    .venv/bin/python bench/throughput_stages.py [--warc FILE] [--limit N]
"""

from __future__ import annotations

import argparse
import functools
import os
import pickle
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEFAULT_WARC = REPO.parent / "shared" / "corpus" / "news" / "cctv_zh" / "replay.warc.gz"


def _timed(spent: dict[str, float], calls: Counter[str], label: str, fn: Callable[..., Any]) -> Any:
    """`fn`, adding its CPU seconds to `spent[label]` on every call."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[label] += time.process_time() - started
            calls[label] += 1

    return wrapper


def main() -> None:
    """Time every stage over the replay's pages and print milliseconds of CPU per page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warc", type=Path, default=DEFAULT_WARC)
    parser.add_argument("--limit", type=int, default=None, help="first N page records only")
    args = parser.parse_args()
    if not args.warc.exists():
        sys.exit(f"WARC not found: {args.warc} (needs ../shared/corpus beside the repo)")

    import trafilatura

    import extractors.classify.analysis as analysis
    import extractors.page.extract as extract
    from extractors.acquire.warc import iter_warc
    from extractors.classify.classifier import classify
    from extractors.page.language import identify_language
    from extractors.records import ExtractedDoc, RawPage

    identify_language("warm-up text for the language model")  # a worker does this at start
    classify("warm-up", "中国 俄罗斯", "zh")

    spent: dict[str, float] = defaultdict(float)  # CPU seconds per stage
    calls: Counter[str] = Counter()
    clock = time.process_time
    started = clock()
    pages: list[RawPage] = []
    for item in iter_warc(args.warc):
        if isinstance(item, RawPage):
            pages.append(item)
            if args.limit is not None and len(pages) >= args.limit:
                break
    spent["main: WARC read"] = clock() - started

    started = clock()
    sent = [pickle.dumps((n, p), pickle.HIGHEST_PROTOCOL) for n, p in enumerate(pages)]
    received = [pickle.loads(blob) for blob in sent]
    spent["main+worker: page pickled, unpickled"] = clock() - started
    del received

    for name in ("decode_html", "parse_html", "extract_metadata", "prune_tree",
                 "paragraph_chars", "strip_headline", "identify_language"):  # fmt: skip
        setattr(extract, name, _timed(spent, calls, f"worker: {name}", getattr(extract, name)))
    trafilatura_text = extract._trafilatura_text

    def both_passes(tree: Any, url: str | None, fast: bool) -> str:
        label = "worker: trafilatura fast pass" if fast else "worker: trafilatura full cascade"
        return str(_timed(spent, calls, label, trafilatura_text)(tree, url, fast))

    extract._trafilatura_text = both_passes
    # extractors.classify.analysis calls these by the names it imported them under.
    for name, label in (("classify", "worker: classify"), ("signature", "worker: signature")):
        setattr(analysis, name, _timed(spent, calls, label, getattr(analysis, name)))

    limits = extract.ExtractionLimits()
    started = clock()
    outcomes = [analysis.extract_and_analyse(page, limits) for page in pages]
    worker_total = clock() - started

    started = clock()
    returned = [pickle.loads(pickle.dumps(o, pickle.HIGHEST_PROTOCOL)) for o in outcomes]
    spent["main+worker: result pickled, unpickled"] = clock() - started
    del returned

    started = clock()
    for page in pages:
        trafilatura.extract(page.body)
    bare = clock() - started

    count = len(pages)
    docs = sum(isinstance(o, ExtractedDoc) for o in outcomes)
    load = os.getloadavg()[0]
    print(f"warc: {args.warc.name}  pages: {count}  documents: {docs}  load: {load:.1f}")
    for label, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        note = f"  ({calls[label]} calls)" if calls[label] and calls[label] != count else ""
        print(f"  {label:42s} {1000 * seconds / count:6.2f} ms/page{note}")
    whole = "worker: extract_and_analyse, all of it"
    print(f"  {whole:42s} {1000 * worker_total / count:6.2f} ms/page")
    print(f"  {'bare trafilatura.extract(body)':42s} {1000 * bare / count:6.2f} ms/page")
    print(f"worker CPU per page / bare loop CPU per page: {worker_total / bare:.2f}")


if __name__ == "__main__":
    main()
