"""Scaling of extractors.dedup.neardup: cost per document at 10k and 100k documents, and memory.

Run: .venv/bin/python bench/dedup_scale.py [--sizes 10000 100000] [--seed 3]

Documents are composed from real corpus sentences (zh CCTV, ru Telegram, en full texts; 45/45/10)
so that every one is distinct, in a date-ordered stream over one year; 5% are edited copies (2%
word edits) of a recent document, so matches happen as in a real feed. Each size runs in its own
process (clean memory figures). Per document we time what the pipeline does: `signatures()` in
batches of 1,000, then `match()` and `add()` one by one. Also timed: `NearDupIndex.from_rows`
over all stored rows (a restart). Reported: µs per document (total and the last 10% of the
stream, where the index is fullest), the ratio of the largest size to the smallest (target
<= 1.3), the process's peak RSS (corpus and documents included) and the RSS that rebuilding the
index from the stored rows added (the index alone).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import re
import resource
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from bench.dedup_eval import Editor, corpus_available, load_en, load_ru, load_zh  # noqa: E402
from extractors.dedup.neardup import NearDupIndex, SignatureRow, signatures  # noqa: E402

BATCH = 1000
LANG_SHARE = (("zh", 0.45), ("ru", 0.45), ("en", 0.10))
COPY_SHARE = 0.05
_SENTENCE = {"zh": re.compile(r"(?<=[。！？])"), "ru": re.compile(r"(?<=[.!?])\s+|\n+")}


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def sentences() -> dict[str, list[str]]:
    """Corpus sentences (20–400 characters) per language."""
    out: dict[str, list[str]] = {}
    for lang, docs in (("zh", load_zh()), ("ru", load_ru()), ("en", load_en())):
        splitter = _SENTENCE["zh" if lang == "zh" else "ru"]
        out[lang] = [
            s.strip() for d in docs for s in splitter.split(d.text) if 20 <= len(s.strip()) <= 400
        ]
    return out


def make_stream(count: int, seed: int) -> list[tuple[str, str, date]]:
    """`count` distinct documents (id, text, day) in date order, 5% edited copies."""
    rng = random.Random(seed)
    pool = sentences()
    editor = Editor(rng)
    for lang, items in pool.items():
        editor.learn(lang, items[:2000])
    langs = [lang for lang, _ in LANG_SHARE]
    weights = [w for _, w in LANG_SHARE]
    start = date(2024, 1, 1)
    docs: list[tuple[str, str, date]] = []
    doc_langs: list[str] = []
    for i in range(count):
        day = start + timedelta(days=365 * i // count)
        if i > 100 and rng.random() < COPY_SHARE:
            j = rng.randrange(max(0, i - 500), i)
            text = editor.edit(docs[j][1], doc_langs[j], "word", 0.02)
            lang = doc_langs[j]
            day = docs[j][2] + timedelta(days=rng.randint(0, 1))
        else:
            lang = rng.choices(langs, weights)[0]
            parts = rng.sample(pool[lang], rng.randint(3, 8))
            text = ("" if lang == "zh" else " ").join(parts)
        docs.append((f"doc{i}", text, day))
        doc_langs.append(lang)
    return docs


def run(count: int, seed: int) -> dict[str, Any]:
    """Stream `count` documents through signature, match, add; then rebuild from rows."""
    docs = make_stream(count, seed)
    index = NearDupIndex()
    rows: list[SignatureRow] = []
    t_sig = t_match = t_add = 0.0
    tail_start = count - count // 10
    tail = 0.0
    matched = 0
    for start in range(0, count, BATCH):
        batch = docs[start : start + BATCH]
        t0 = time.perf_counter()
        sigs = signatures([text for _, text, _ in batch])
        t1 = time.perf_counter()
        t_sig += t1 - t0
        batch_match = batch_add = 0.0
        for (doc_id, _, day), sig in zip(batch, sigs, strict=True):
            t2 = time.perf_counter()
            matched += index.match(doc_id, sig, day).doc_id is not None
            t3 = time.perf_counter()
            index.add(doc_id, sig, day)
            t4 = time.perf_counter()
            batch_match += t3 - t2
            batch_add += t4 - t3
            rows.append(sig.row(doc_id, day))
        t_match += batch_match
        t_add += batch_add
        if start >= tail_start:
            tail += (t1 - t0) + batch_match + batch_add
    del index
    gc.collect()
    rss_before = _rss_mb()
    t5 = time.perf_counter()
    rebuilt = NearDupIndex.from_rows(rows)
    t_rebuild = time.perf_counter() - t5
    rss_index = _rss_mb() - rss_before
    tail_docs = count - (tail_start // BATCH) * BATCH
    return {
        "docs": count,
        "matched": matched,
        "us_signature": 1e6 * t_sig / count,
        "us_match": 1e6 * t_match / count,
        "us_add": 1e6 * t_add / count,
        "us_total": 1e6 * (t_sig + t_match + t_add) / count,
        "us_total_last_10pct": 1e6 * tail / tail_docs,
        "rebuild_s": t_rebuild,
        "rebuilt_docs": len(rebuilt),
        "rss_index_mb": rss_index,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    """Run each size in a fresh process and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not corpus_available():
        print("corpus not found (needs ../shared/corpus)", file=sys.stderr)
        return 2
    if args.child:
        print(json.dumps(run(args.child, args.seed)))
        return 0
    results = []
    for size in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(size), "--seed", str(args.seed)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    header = ("docs", "sig µs", "match µs", "add µs", "total µs", "last10% µs", "matched",
              "rebuild s", "index MB", "peak MB")  # fmt: skip
    keys = ("docs", "us_signature", "us_match", "us_add", "us_total", "us_total_last_10pct",
            "matched", "rebuild_s", "rss_index_mb", "peak_rss_mb")  # fmt: skip
    print(" ".join(f"{h:>10}" for h in header))
    for r in results:
        print(" ".join(f"{r[k]:>10.2f}" if k == "rebuild_s" else f"{r[k]:>10.0f}" for k in keys))
    if len(results) > 1:
        small, large = results[0], results[-1]
        print(f"per-document cost {large['docs']} / {small['docs']}: "
              f"{large['us_total'] / small['us_total']:.2f} (target <= 1.3); last 10% of "
              f"{large['docs']} / all of {small['docs']}: "
              f"{large['us_total_last_10pct'] / small['us_total']:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
