"""Cross-validated figures of the classifier over the reviewed items (dev + train), by outlet.

Used by `bench/classify_eval.py --cv` and by the tests' pinned floors. The folds come from
`bench.labelled.folds` (groups = outlets; no outlet in two folds). A *predictor* is a function
`(train_items, test_items) -> outputs` (one dict per test item with `relevance`, `topics`,
`stance`); the rules ignore their training items, a learned model fits on them. Every figure is
computed on the test folds only: the out-of-fold outputs are pooled for the headline figures,
and the per-fold figures give the spread (min–max over the folds that hold relevant items).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bench.labelled import LANG_GROUPS, Labelled, folds

Output = dict[str, Any]
Predictor = Callable[[list[Labelled], list[Labelled]], list[Output]]
RELEVANT = frozenset({"core", "related"})
TARGETS = {
    "f1_zh": 0.92, "f1_ru": 0.92, "f1_en": 0.92, "f1_eu": 0.85, "full_precision": 0.90,
    "topic_micro_f1": 0.85, "stance_accuracy": 0.85,
}  # fmt: skip
NONE_RELEVANT_MAX = 0.02


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def metrics(pairs: Sequence[tuple[Labelled, Output]]) -> dict[str, Any]:
    """Relevance P/R/F1, topic micro-F1, stance accuracy and the none-judged-relevant share."""
    tp = sum(g.relevant and o["relevance"] in RELEVANT for g, o in pairs)
    fp = sum(not g.relevant and o["relevance"] in RELEVANT for g, o in pairs)
    fn = sum(g.relevant and o["relevance"] not in RELEVANT for g, o in pairs)
    nones = [o for g, o in pairs if g.relevance == "none"]
    relevant = [(g, o) for g, o in pairs if g.relevant]
    t_tp = t_fp = t_fn = 0
    for g, o in relevant:
        gold, got = set(g.topics), set(o.get("topics") or ())
        t_tp += len(gold & got)
        t_fp += len(got - gold)
        t_fn += len(gold - got)
    stance_ok = sum((o.get("stance") or "neutral") == g.stance for g, o in relevant)
    return {
        "n": len(pairs),
        "n_relevant": len(relevant),
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "f1": _f1(tp, fp, fn) if tp + fp + fn else None,
        "topic_micro_f1": _f1(t_tp, t_fp, t_fn) if relevant else None,
        "stance_accuracy": stance_ok / len(relevant) if relevant else None,
        "n_none": len(nones),
        "none_judged_relevant": (
            sum(o["relevance"] in RELEVANT for o in nones) / len(nones) if nones else None
        ),
    }


def breakdown(pairs: Sequence[tuple[Labelled, Output]]) -> dict[str, dict[str, Any]]:
    """`metrics` overall, per language group, per kind and per language group x kind."""
    out = {"all": metrics(pairs)}
    for lg in LANG_GROUPS:
        out[lg] = metrics([(g, o) for g, o in pairs if g.langgroup == lg])
        for kind in ("short", "full"):
            sub = [(g, o) for g, o in pairs if g.langgroup == lg and g.kind == kind]
            if sub:
                out[f"{lg}/{kind}"] = metrics(sub)
    for kind in ("short", "full"):
        out[kind] = metrics([(g, o) for g, o in pairs if g.kind == kind])
    return out


def cross_validate(items: list[Labelled], predictor: Predictor, k: int = 5) -> dict[str, Any]:
    """Pooled out-of-fold figures plus the per-fold spread of each figure."""
    assignment = folds(items, k)
    pairs: list[tuple[Labelled, Output]] = []
    per_fold: list[dict[str, dict[str, Any]]] = []
    for f in range(k):
        train = [it for it, a in zip(items, assignment, strict=True) if a != f]
        test = [it for it, a in zip(items, assignment, strict=True) if a == f]
        if not test:
            continue
        outputs = predictor(train, test)
        fold_pairs = list(zip(test, outputs, strict=True))
        pairs += fold_pairs
        per_fold.append(breakdown(fold_pairs))
    pooled = breakdown(pairs)
    spread: dict[str, dict[str, tuple[float, float]]] = {}
    for key in pooled:
        spread[key] = {}
        for figure in ("f1", "precision", "topic_micro_f1", "stance_accuracy"):
            values = [
                fm[key][figure]
                for fm in per_fold
                if key in fm and fm[key][figure] is not None and fm[key]["n_relevant"]
            ]
            if values:
                spread[key][figure] = (min(values), max(values))
    return {"pooled": pooled, "spread": spread, "k": k, "pairs": pairs}


def targets_met(pooled: dict[str, dict[str, Any]]) -> dict[str, bool]:
    """Each target of issue 13 on the pooled figures."""
    got = {
        "f1_zh": pooled["zh"]["f1"], "f1_ru": pooled["ru"]["f1"], "f1_en": pooled["en"]["f1"],
        "f1_eu": pooled["eu"]["f1"], "full_precision": pooled["full"]["precision"],
        "topic_micro_f1": pooled["all"]["topic_micro_f1"],
        "stance_accuracy": pooled["all"]["stance_accuracy"],
    }  # fmt: skip
    met = {k: (v or 0.0) >= TARGETS[k] for k, v in got.items()}
    met["none_judged_relevant"] = (
        pooled["all"]["none_judged_relevant"] or 0.0
    ) <= NONE_RELEVANT_MAX
    return met


def rules_predictor(train: list[Labelled], test: list[Labelled]) -> list[Output]:
    """The classifier as shipped (rules, plus the learned layer if enabled): training unused."""
    from extractors.classify.classifier import classify

    del train
    out = []
    for item in test:
        c = classify(item.title, item.text, item.lang)
        out.append({"relevance": c.level, "topics": list(c.topics), "stance": c.stance,
                    "score": c.score})  # fmt: skip
    return out


def pinned_figures(k: int = 5) -> dict[str, float | None]:
    """The figures the tests pin: cross-validated by outlet over dev + train, as the bench."""
    from bench import labelled

    pooled = cross_validate(labelled.load(), rules_predictor, k)["pooled"]
    figures: dict[str, float | None] = {}
    for key in ("all", *LANG_GROUPS):
        for figure in ("f1", "topic_micro_f1", "stance_accuracy"):
            figures[f"{key}.{figure}"] = pooled[key][figure]
    figures["full.precision"] = pooled["full"]["precision"]
    figures["all.none_judged_relevant"] = pooled["all"]["none_judged_relevant"]
    return figures


def _fmt(x: float | None) -> str:
    return "  -  " if x is None else f"{x:.3f}"


def report(result: dict[str, Any], title: str) -> str:
    """A plain-text table of the pooled figures with the fold spread."""
    pooled, spread = result["pooled"], result["spread"]
    how = (
        f"{result['k']}-fold, grouped by outlet; pooled over the test folds, F1 min–max over folds"
        if result["k"] > 1
        else "no folds"
    )
    lines = [f"== {title} ({how})"]
    lines.append(
        f"{'slice':<10}{'n':>5}{'rel':>5}  {'P':>6} {'R':>6} {'F1':>6} {'F1 folds':>13}"
        f"  {'topicF1':>7} {'stance':>6}  {'none→rel':>8}"
    )
    order = ["all", "short", "full"] + [
        k for lg in LANG_GROUPS for k in (lg, f"{lg}/short", f"{lg}/full") if k in pooled
    ]
    for key in order:
        m = pooled[key]
        lo_hi = spread.get(key, {}).get("f1")
        fold_txt = f"{lo_hi[0]:.2f}–{lo_hi[1]:.2f}" if lo_hi else "-"
        lines.append(
            f"{key:<10}{m['n']:>5}{m['n_relevant']:>5}  {_fmt(m['precision']):>6}"
            f" {_fmt(m['recall']):>6} {_fmt(m['f1']):>6} {fold_txt:>13}"
            f"  {_fmt(m['topic_micro_f1']):>7} {_fmt(m['stance_accuracy']):>6}"
            f"  {_fmt(m['none_judged_relevant']):>8}"
        )
    met = targets_met(pooled)
    lines.append("targets: " + "  ".join(f"{k}={'ok' if v else 'NOT MET'}" for k, v in met.items()))
    return "\n".join(lines)
