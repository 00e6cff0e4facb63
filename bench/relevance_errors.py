"""Relevance errors on the reviewed items (dev + train), with the sentences and signals behind them.

Run: .venv/bin/python bench/relevance_errors.py [--lang ru] [--kind full] [--fp|--fn]
     [--all-sentences]

For each item judged relevant but labelled not (false positive) or the reverse (false negative):
the label and the judgement, the label's note, and every sentence of the best story that has a
strength, with its strength and the signals that gave it. The rules have no fitted parameters,
so this is the same judgement as each test fold of `bench/classify_eval.py --cv --only rules`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.labelled import LABEL_FILES, load  # noqa: E402
from extractors.classify.classifier import classify  # noqa: E402
from extractors.classify.relevance import LEVELS, Signals, analyse  # noqa: E402

RELEVANT = {"core", "related"}


def _notes() -> dict[str, str]:
    out: dict[str, str] = {}
    for path in LABEL_FILES.values():
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    row = json.loads(line)
                    out[str(row["id"])] = row.get("note") or ""
    return out


def _flags(sig: Signals | None) -> str:
    if sig is None:
        return ""
    fields = [f for f in getattr(sig, "__slots__", ()) if f not in ("china", "russia")]
    on = []
    for f in fields:
        v = getattr(sig, f)
        if v is True:
            on.append(f)
        elif isinstance(v, int) and not isinstance(v, bool) and v:
            on.append(f"{f}={v}")
    side = ("C" if sig.china else "") + ("R" if sig.russia else "")
    return f"[{side}] " + " ".join(on)


def main() -> None:
    """Print the misjudged items."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lang", help="zh, ru, en or eu (the European group)")
    ap.add_argument("--kind", choices=("short", "full"))
    ap.add_argument("--fp", action="store_true", help="false positives only")
    ap.add_argument("--fn", action="store_true", help="false negatives only")
    ap.add_argument("--all-sentences", action="store_true", help="also strength-0 sentences")
    ap.add_argument("--width", type=int, default=220, help="characters per sentence shown")
    args = ap.parse_args()
    notes = _notes()
    n = 0
    for it in load():
        if args.lang and args.lang not in (it.lang, it.langgroup):
            continue
        if args.kind and it.kind != args.kind:
            continue
        c = classify(it.title, it.text, it.lang)
        got, gold = c.level in RELEVANT, it.relevant
        if got == gold:
            continue
        if (args.fp and not got) or (args.fn and got):
            continue
        n += 1
        what = "FP" if got else "FN"
        print(f"\n### {what} {it.id} [{it.kind}, {it.lang}, {it.group}] label={it.relevance} "
              f"judged={c.level} ({c.score:.2f})")  # fmt: skip
        print(f"  note: {notes.get(it.id, '')}")
        print(f"  title: {(it.title or '')[:160]!r}  ({len(it.text)} chars)")
        stories = analyse(it.title, it.text, it.lang)
        if not stories:
            continue
        best = max(stories, key=lambda s: (LEVELS.index(s.level), s.score))
        print(f"  story: level={best.level} n_body={best.n_sentences} of {len(stories)} stories")
        for s in best.sentences:
            if s.signals is None or (s.strength == 0 and not args.all_sentences):
                continue
            where = "T" if s.is_title else f"p{s.paragraph}"
            text = " ".join(s.text.split())[: args.width]
            print(f"   {s.strength} {where:>4} {_flags(s.signals)}\n        {text}")
    print(f"\n{n} errors")


if __name__ == "__main__":
    main()
