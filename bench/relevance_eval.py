"""Evaluate extractors.classify.relevance on ../shared/corpus/labels_dev.jsonl (zh CCTV, ru
Telegram, en).

Run: .venv/bin/python bench/relevance_eval.py [--errors] [--split all|tune|holdout]

Prints, per language, precision/recall/F1 of "relevant" (core + related) against the rest, the
4x4 confusion matrix (rows = label, columns = judgement) and documents per second, then a
throughput figure on ~3 KB texts. `evaluate()` returns the same figures for tests.

`holdout` is a fixed pseudo-random 30% of the labelled items (by a hash of the id): tune rules
on `tune`, look at `holdout` only to check that the rules generalise.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from extractors.classify.relevance import LEVELS, judge_relevance  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
LABELS = CORPUS / "labels_dev.jsonl"
CCTV = CORPUS / "news" / "cctv_zh" / "stories.jsonl.gz"
TELEGRAM = CORPUS / "news" / "ru_telegram" / "posts.jsonl.gz"
HEADLINES = CORPUS / "news" / "en_headlines" / "headlines.jsonl.gz"
RELEVANT = frozenset({"core", "related"})
HOLDOUT_PERCENT = 30


@dataclass(frozen=True, slots=True)
class Item:
    """One labelled document joined with its text."""

    id: str
    lang: str
    title: str | None
    text: str
    label: str
    note: str


def corpus_available() -> bool:
    """True when the labels and the three news files are present."""
    return all(p.exists() for p in (LABELS, CCTV, TELEGRAM, HEADLINES))


def _jsonl_gz(path: Path) -> Iterator[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def in_holdout(item_id: str) -> bool:
    """Stable pseudo-random 30% split by id."""
    return int(hashlib.sha1(item_id.encode()).hexdigest()[:8], 16) % 100 < HOLDOUT_PERCENT


def load_items() -> list[Item]:
    """Join labels_dev.jsonl with the texts (zh html_file, ru channel:id, en source:date:title)."""
    labels = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines() if line]
    wanted = {row["id"] for row in labels}
    texts: dict[str, tuple[str | None, str]] = {}
    for row in _jsonl_gz(CCTV):
        if row["html_file"] in wanted:
            texts[row["html_file"]] = (row["title"], row["text"])
    for row in _jsonl_gz(TELEGRAM):
        key = f"ru:{row['channel']}:{row['message_id']}"
        if key in wanted:
            texts[key] = (None, row["text"] or "")
    for row in _jsonl_gz(HEADLINES):
        key = f"en:{row['source']}:{row['date']}:{row['title'][:60]}"
        if key in wanted and key not in texts:
            texts[key] = (row["title"], row["title"])  # headlines: the text is the title
    missing = wanted - texts.keys()
    if missing:
        raise RuntimeError(
            f"{len(missing)} labelled ids not found in the corpus, e.g. {min(missing)}"
        )
    return [
        Item(r["id"], r["lang"], texts[r["id"]][0], texts[r["id"]][1], r["relevance"], r["note"])
        for r in labels
    ]


def _metrics(pairs: list[tuple[str, str]], seconds: float) -> dict[str, Any]:
    """Relevant-vs-rest precision/recall/F1, level accuracy and the confusion matrix."""
    tp = sum(1 for gold, got in pairs if gold in RELEVANT and got in RELEVANT)
    fp = sum(1 for gold, got in pairs if gold not in RELEVANT and got in RELEVANT)
    fn = sum(1 for gold, got in pairs if gold in RELEVANT and got not in RELEVANT)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    confusion = {gold: {got: 0 for got in LEVELS} for gold in LEVELS}
    for gold, got in pairs:
        confusion[gold][got] += 1
    return {
        "n": len(pairs),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "level_accuracy": sum(g == j for g, j in pairs) / len(pairs) if pairs else 0.0,
        "confusion": confusion,
        "docs_per_s": len(pairs) / seconds if seconds > 0 else float("inf"),
    }


def evaluate(items: Iterable[Item] | None = None, split: str = "all") -> dict[str, dict[str, Any]]:
    """Judge every item and return metrics per language (plus "all")."""
    chosen = list(items) if items is not None else load_items()
    if split == "tune":
        chosen = [i for i in chosen if not in_holdout(i.id)]
    elif split == "holdout":
        chosen = [i for i in chosen if in_holdout(i.id)]
    results: dict[str, dict[str, Any]] = {}
    everything: list[tuple[str, str]] = []
    total_seconds = 0.0
    judge_relevance(None, "warm-up", "en")  # taxonomy loading and compiling is not per document
    for lang in sorted({i.lang for i in chosen}):
        group = [i for i in chosen if i.lang == lang]
        start = time.perf_counter()
        got = [judge_relevance(i.title, i.text, i.lang).level for i in group]
        seconds = time.perf_counter() - start
        pairs = [(i.label, g) for i, g in zip(group, got, strict=True)]
        results[lang] = _metrics(pairs, seconds)
        everything += pairs
        total_seconds += seconds
    results["all"] = _metrics(everything, total_seconds)
    return results


def errors(items: Iterable[Item]) -> list[tuple[Item, str, tuple[str, ...]]]:
    """Items whose relevant/not-relevant decision is wrong, with the judgement's evidence."""
    out = []
    for item in items:
        j = judge_relevance(item.title, item.text, item.lang)
        if (item.label in RELEVANT) != (j.level in RELEVANT):
            out.append((item, j.level, j.evidence))
    return out


Doc = tuple[str | None, str, str]  # title, text, lang


def natural_texts(limit: int = 3000, low: int = 2000, high: int = 4500) -> list[Doc]:
    """Real zh stories and ru posts as they are, keeping those of `low`..`high` UTF-8 bytes."""
    docs: list[Doc] = []
    for path, lang in ((CCTV, "zh"), (TELEGRAM, "ru")):
        taken = 0
        for row in _jsonl_gz(path):
            text = row["text"] or ""
            if low <= len(text.encode()) <= high:
                docs.append((row.get("title"), text, lang))
                taken += 1
                if taken >= limit:
                    break
    return docs


def packed_texts(limit: int = 3000, size: int = 3000, unit: str = "bytes") -> list[Doc]:
    """Consecutive zh stories / ru posts packed into texts of `size` bytes (or characters).

    A harder case than real documents: a pack of several CCTV stories much more often names
    both sides somewhere, so more texts need the full analysis.
    """
    docs: list[Doc] = []
    for path, lang in ((CCTV, "zh"), (TELEGRAM, "ru")):
        buf: list[str] = []
        taken = 0
        for row in _jsonl_gz(path):
            buf.append(row["text"] or "")
            joined = "\n\n".join(buf)
            if unit == "bytes":
                joined = joined.encode()[:size].decode(errors="ignore")
            if len(joined if unit != "bytes" else joined.encode()) >= size - 4:
                docs.append((row.get("title"), joined[:size], lang))
                buf = []
                taken += 1
                if taken >= limit:
                    break
    return docs


def throughput(docs: list[Doc], repeats: int = 3) -> float:
    """Documents judged per second over `docs` (best of `repeats` runs, after a warm-up)."""
    judge_relevance(None, "warm-up", "en")
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for title, text, lang in docs:
            judge_relevance(title, text, lang)
        best = max(best, len(docs) / (time.perf_counter() - start))
    return best


def _print(results: dict[str, dict[str, Any]], heading: str) -> None:
    print(f"\n== {heading}")
    for lang, m in results.items():
        print(
            f"{lang:>3}  n={m['n']:3d}  P={m['precision']:.3f}  R={m['recall']:.3f}  "
            f"F1={m['f1']:.3f}  level-acc={m['level_accuracy']:.3f}  {m['docs_per_s']:,.0f} docs/s"
        )
        if lang == "all":
            continue
        print("       label\\judged " + " ".join(f"{g:>8}" for g in LEVELS))
        for gold in LEVELS:
            row = " ".join(f"{m['confusion'][gold][got]:8d}" for got in LEVELS)
            print(f"       {gold:>12} {row}")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=["all", "tune", "holdout", "each"], default="each")
    ap.add_argument("--errors", action="store_true", help="list misjudged items (tune split)")
    args = ap.parse_args(argv)
    if not corpus_available():
        print(f"corpus not found at {CORPUS}", file=sys.stderr)
        return 2
    items = load_items()
    splits = ["all", "tune", "holdout"] if args.split == "each" else [args.split]
    for split in splits:
        _print(evaluate(items, split), f"{split} ({LABELS.name})")
    if args.errors:
        print("\n== errors (tune split)")
        for item, got, evidence in errors(i for i in items if not in_holdout(i.id)):
            print(f"[{item.lang}] {item.label:>7} -> {got:<7} {item.id[:50]} | {item.note}")
            for e in evidence:
                print(f"        · {e[:160]}")
    print("\n== throughput (one process, best of 3)")
    for name, docs in (
        ("real documents of 2-4.5 KB", natural_texts()),
        ("packed texts of 3 KB", packed_texts()),
        ("packed texts of 3,000 characters", packed_texts(unit="chars")),
    ):
        sizes = sum(len(t.encode()) for _, t, _ in docs) / max(len(docs), 1)
        print(
            f"{throughput(docs):8,.0f} docs/s  {name}: {len(docs)} zh+ru texts, "
            f"mean {sizes / 1000:.1f} KB"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
