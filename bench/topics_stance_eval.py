"""Evaluate extractors.classify.topics and extractors.classify.stance on the relevant items of
labels_dev.jsonl.

Run: .venv/bin/python bench/topics_stance_eval.py [--split all|tune|holdout|each] [--errors]

Per language, on items labelled core or related: topic micro-F1 and macro-F1 (gold topics vs
assigned), stance accuracy and the 3x3 confusion (rows = label, columns = judgement), docs/s;
then a throughput figure on ~3 KB texts. `evaluate()` returns the same figures for tests.
Tune on `tune`; `holdout` (a fixed 30% by a hash of the id) checks that the rules generalise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from bench.relevance_eval import (  # noqa: E402
    LABELS,
    RELEVANT,
    corpus_available,
    in_holdout,
    load_items,
    packed_texts,
)
from extractors.classify.stance import STANCES, judge_stance  # noqa: E402
from extractors.classify.topics import TOPICS, assign_topics, focus  # noqa: E402

# One relevant sample per language: the first scan of each language's patterns is slow.
_WARM_UP = (
    ("China and Russia deepen trade ties", "China and Russia deepen trade ties.", "en"),
    (None, "Россия и Китай укрепляют торговое сотрудничество.", "ru"),
    ("中俄深化经贸合作", "中俄两国深化经贸合作。", "zh"),
)


def _warm_up() -> None:
    """Load the cues and run each language once, so timings are per document."""
    for title, text, lang in _WARM_UP:
        assign_topics(title, text, lang)
        judge_stance(title, text, lang)


@dataclass(frozen=True, slots=True)
class Gold:
    """One relevant labelled document with its gold topics and stance."""

    id: str
    lang: str
    title: str | None
    text: str
    topics: frozenset[str]
    stance: str
    note: str


def load_gold() -> list[Gold]:
    """The core/related items of labels_dev.jsonl joined with their texts."""
    rows = {
        r["id"]: r
        for r in (json.loads(x) for x in LABELS.read_text(encoding="utf-8").splitlines() if x)
    }
    return [
        Gold(
            i.id,
            i.lang,
            i.title,
            i.text,
            frozenset(rows[i.id]["topics"]),
            rows[i.id]["stance"],
            i.note,
        )
        for i in load_items()
        if i.label in RELEVANT
    ]


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def _metrics(
    rows: list[tuple[frozenset[str], frozenset[str], str, str]], seconds: float
) -> dict[str, Any]:
    """Topic micro/macro F1, stance accuracy and confusion over (gold, got) rows."""
    counts = {t: [0, 0, 0] for t in TOPICS}  # tp, fp, fn
    for gold, got, _, _ in rows:
        for t in TOPICS:
            if t in got and t in gold:
                counts[t][0] += 1
            elif t in got:
                counts[t][1] += 1
            elif t in gold:
                counts[t][2] += 1
    tp, fp, fn = (sum(c[k] for c in counts.values()) for k in range(3))
    present = [t for t in TOPICS if counts[t][0] + counts[t][2]]  # topics the gold uses
    confusion = {g: dict.fromkeys(STANCES, 0) for g in STANCES}
    for _, _, gold_stance, got_stance in rows:
        confusion[gold_stance][got_stance] += 1
    n = len(rows)
    return {
        "n": n,
        "topic_micro_f1": _f1(tp, fp, fn),
        "topic_macro_f1": (sum(_f1(*counts[t]) for t in present) / len(present))
        if present
        else 0.0,
        "topic_f1": {t: _f1(*counts[t]) for t in present},
        "stance_accuracy": sum(g == j for _, _, g, j in rows) / n if n else 0.0,
        "stance_confusion": confusion,
        "docs_per_s": n / seconds if seconds > 0 else float("inf"),
    }


def evaluate(items: Iterable[Gold] | None = None, split: str = "all") -> dict[str, dict[str, Any]]:
    """Classify every relevant item and return metrics per language (plus "all")."""
    chosen = list(items) if items is not None else load_gold()
    if split == "tune":
        chosen = [i for i in chosen if not in_holdout(i.id)]
    elif split == "holdout":
        chosen = [i for i in chosen if in_holdout(i.id)]
    _warm_up()
    results: dict[str, dict[str, Any]] = {}
    everything: list[tuple[frozenset[str], frozenset[str], str, str]] = []
    total = 0.0
    for lang in sorted({i.lang for i in chosen}):
        group = [i for i in chosen if i.lang == lang]
        focus.cache_clear()  # time the full work, not cache hits of an earlier run
        start = time.perf_counter()
        got = [
            (assign_topics(i.title, i.text, i.lang), judge_stance(i.title, i.text, i.lang).stance)
            for i in group
        ]
        seconds = time.perf_counter() - start
        rows = [(i.topics, frozenset(t), i.stance, s) for i, (t, s) in zip(group, got, strict=True)]
        results[lang] = _metrics(rows, seconds)
        everything += rows
        total += seconds
    results["all"] = _metrics(everything, total)
    return results


def throughput(docs: list[tuple[str | None, str, str]], repeats: int = 3) -> float:
    """Documents per second for topics + stance together (best of `repeats`, cache cleared)."""
    _warm_up()
    best = 0.0
    for _ in range(repeats):
        focus.cache_clear()
        start = time.perf_counter()
        for title, text, lang in docs:
            assign_topics(title, text, lang)
            judge_stance(title, text, lang)
        best = max(best, len(docs) / (time.perf_counter() - start))
    return best


def _print(results: dict[str, dict[str, Any]], heading: str) -> None:
    print(f"\n== {heading}")
    for lang, m in results.items():
        print(
            f"{lang:>3}  n={m['n']:3d}  topic micro-F1={m['topic_micro_f1']:.3f}  "
            f"macro-F1={m['topic_macro_f1']:.3f}  stance acc={m['stance_accuracy']:.3f}  "
            f"{m['docs_per_s']:,.0f} docs/s"
        )
        if lang == "all":
            continue
        print("       " + "  ".join(f"{t}={f:.2f}" for t, f in m["topic_f1"].items()))
        print("       label\\judged " + " ".join(f"{s:>9}" for s in STANCES))
        for gold in STANCES:
            row = " ".join(f"{m['stance_confusion'][gold][s]:9d}" for s in STANCES)
            print(f"       {gold:>12} {row}")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--split", choices=["all", "tune", "holdout", "each"], default="each")
    ap.add_argument("--errors", action="store_true", help="list misjudged items (tune split)")
    args = ap.parse_args(argv)
    if not corpus_available():
        print("corpus not found beside the repository", file=sys.stderr)
        return 2
    gold = load_gold()
    splits = ["all", "tune", "holdout"] if args.split == "each" else [args.split]
    for split in splits:
        _print(evaluate(gold, split), f"{split} ({LABELS.name}, core + related)")
    if args.errors:
        print("\n== errors (tune split)")
        for g in gold:
            if in_holdout(g.id):
                continue
            topics = frozenset(assign_topics(g.title, g.text, g.lang))
            stance = judge_stance(g.title, g.text, g.lang)
            if topics != g.topics or stance.stance != g.stance:
                print(
                    f"[{g.lang}] {g.stance}->{stance.stance} "
                    f"+{sorted(topics - g.topics)} -{sorted(g.topics - topics)} | {g.note}"
                )
                for e in stance.evidence:
                    print(f"        · {e[:160]}")
    docs = packed_texts()
    sizes = sum(len(t.encode()) for _, t, _ in docs) / max(len(docs), 1)
    print(
        f"\n== throughput: {throughput(docs):,.0f} docs/s (topics + stance) on {len(docs)} "
        f"packed zh+ru texts, mean {sizes / 1000:.1f} KB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
