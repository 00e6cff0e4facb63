"""End-to-end evaluation of the classifier on ../shared/corpus/labels_dev.jsonl.

Run: .venv/bin/python bench/classify_eval.py [--split all|tune|holdout] [--cli] [--json FILE]
     .venv/bin/python bench/classify_eval.py --speed-only   (throughput; CRWATCH_BENCH_CODE=DIR
       measures the extractors/ and seeds/ in DIR instead, e.g. an older commit's `git archive`)
     .venv/bin/python bench/classify_eval.py --cv [--labels dev|train|both] [--k 5]
     .venv/bin/python bench/classify_eval.py --labels train --no-cv-folds  (one pass, no folds)

`--cv` is the figure that counts (issue 13): grouped k-fold over the reviewed items of
labels_dev.jsonl + labels_train.jsonl (bench/labelled.py joins every kind of id), groups = outlets,
per language (zh, ru, en, European group) and per kind (short item vs full text), pooled over the
test folds with the spread over folds; rules, the learned model and their combination side by
side (bench/cv_eval.py). `--labels X --no-cv-folds` judges the chosen items in one pass.

Every labelled item (texts joined from the corpus files) goes through the same code as
`crwatch classify` (`flows.classify.items.classify_lines`; with `--cli` through the installed
command itself). Per language (zh, ru, en) and overall it prints:

- relevance: precision, recall and F1 of relevant (core + related) against the rest, level
  accuracy, and the 4x4 confusion matrix (rows = label, columns = judgement);
- calibration of the score: Brier score of `score` as the probability of "relevant", and the
  share of relevant items per score band;
- topics on the items labelled relevant: micro- and macro-F1 (an item the classifier does not
  find relevant gets no topics, so relevance misses count as topic misses);
- stance on the items labelled relevant: accuracy (no stance, for an item judged not relevant,
  counts as `neutral`);
- throughput: classification alone (documents/s, one process, real CCTV and Telegram texts)
  next to text extraction on CCTV pages in the same run, as the ratio that says whether the
  classifier could become the pipeline's bottleneck.

`evaluate()` returns the figures for tests. `holdout` is a fixed 30% of the items by a hash of
the id: vocabularies are tuned on the rest.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from itertools import pairwise
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))
# Throughput of another version of the classifier, for a before/after in one run:
# CRWATCH_BENCH_CODE=DIR, DIR holding that version's extractors/ and seeds/ (`git archive`).
_OTHER_CODE = os.environ.get("CRWATCH_BENCH_CODE")
if _OTHER_CODE:
    sys.path.insert(0, str(Path(_OTHER_CODE).resolve()))

from bench.relevance_eval import (  # noqa: E402
    CCTV,
    LABELS,
    RELEVANT,
    TELEGRAM,
    corpus_available,
    in_holdout,
    load_items,
)
from extractors.classify.classifier import LEVELS  # noqa: E402
from extractors.classify.stance import STANCES  # noqa: E402
from extractors.classify.topics import TOPICS  # noqa: E402
from flows.settings import load_settings  # noqa: E402

if _OTHER_CODE:  # the other tree finds the corpus next to this checkout
    import extractors.classify.labelled as _labelled

    _labelled.CORPUS = ROOT.parent / "shared" / "corpus"

LANGS = ("zh", "ru", "en")
TARGETS = {"relevance_f1": 0.90, "topic_micro_f1": 0.80, "stance_accuracy": 0.80}
# The score bands of the four levels (extractors.classify.relevance): score >= 0.5 means relevant.
_BANDS = (0.0, 0.2, 0.5, 0.75, 1.0001)
CCTV_WARC = CCTV.parent / "replay.warc.gz"

__all__ = ["LABELS", "corpus_available", "evaluate", "items_jsonl"]


def items_jsonl(split: str = "all") -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The labelled items as `crwatch classify` input lines, and the gold rows by id."""
    gold = {
        r["id"]: r
        for r in (json.loads(x) for x in LABELS.read_text(encoding="utf-8").splitlines() if x)
    }
    lines: list[str] = []
    chosen: dict[str, dict[str, Any]] = {}
    for item in load_items():
        if split != "all" and in_holdout(item.id) != (split == "holdout"):
            continue
        record = {"id": item.id, "title": item.title, "text": item.text, "lang": item.lang}
        lines.append(json.dumps(record, ensure_ascii=False))
        chosen[item.id] = gold[item.id]
    return lines, chosen


def _classify_in_process(lines: list[str]) -> list[dict[str, Any]]:
    from flows.classify.items import classify_lines

    return list(classify_lines(lines, load_settings()))


def _classify_cli(lines: list[str]) -> list[dict[str, Any]]:
    """Run the installed `crwatch classify` on the lines (what an analyst runs)."""
    exe = Path(sys.executable).with_name("crwatch")
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp, "items.jsonl"), Path(tmp, "out.jsonl")
        src.write_text("\n".join(lines) + "\n", encoding="utf-8")
        subprocess.run(
            [str(exe), "classify", "--input", str(src), "--output", str(dst)],
            check=True,
            env={**os.environ, "CRWATCH_HOME": tmp},
        )
        return [json.loads(x) for x in dst.read_text(encoding="utf-8").splitlines() if x]


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def _metrics(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """All figures over (gold, output) pairs."""
    levels = [(g["relevance"], o.get("relevance", "none")) for g, o in pairs]
    tp = sum(g in RELEVANT and j in RELEVANT for g, j in levels)
    fp = sum(g not in RELEVANT and j in RELEVANT for g, j in levels)
    fn = sum(g in RELEVANT and j not in RELEVANT for g, j in levels)
    confusion = {g: dict.fromkeys(LEVELS, 0) for g in LEVELS}
    for g, j in levels:
        confusion[g][j] += 1
    scored = [(float(o.get("score", 0.0)), g["relevance"] in RELEVANT) for g, o in pairs]
    bands = []
    for low, high in pairwise(_BANDS):
        inside = [rel for s, rel in scored if low <= s < high]
        bands.append({"band": f"{low:.1f}-{min(high, 1.0):.1f}", "n": len(inside),
                      "relevant_share": sum(inside) / len(inside) if inside else None})  # fmt: skip

    relevant = [(g, o) for g, o in pairs if g["relevance"] in RELEVANT]
    counts = {t: [0, 0, 0] for t in TOPICS}
    for g, o in relevant:
        gold_t, got_t = set(g["topics"]), set(o.get("topics") or ())
        for t in TOPICS:
            counts[t][0] += t in got_t and t in gold_t
            counts[t][1] += t in got_t and t not in gold_t
            counts[t][2] += t in gold_t and t not in got_t
    used = [t for t in TOPICS if counts[t][0] + counts[t][2]]
    stance_pairs = [(g["stance"], o.get("stance") or "neutral") for g, o in relevant]
    stance_confusion = {s: dict.fromkeys(STANCES, 0) for s in STANCES}
    for g_s, o_s in stance_pairs:
        stance_confusion[g_s][o_s] += 1
    return {
        "n": len(pairs),
        "errors": sum("error_kind" in o for _, o in pairs),
        "relevance_precision": tp / (tp + fp) if tp + fp else 0.0,
        "relevance_recall": tp / (tp + fn) if tp + fn else 0.0,
        "relevance_f1": _f1(tp, fp, fn),
        "level_accuracy": sum(g == j for g, j in levels) / len(levels) if levels else 0.0,
        "confusion": confusion,
        "brier": sum((s - rel) ** 2 for s, rel in scored) / len(scored) if scored else 0.0,
        "score_bands": bands,
        "n_relevant": len(relevant),
        "topic_micro_f1": _f1(*(sum(c[k] for c in counts.values()) for k in range(3))),
        "topic_macro_f1": sum(_f1(*counts[t]) for t in used) / len(used) if used else 0.0,
        "topic_f1": {t: round(_f1(*counts[t]), 3) for t in used},
        "stance_accuracy": (
            sum(g == o for g, o in stance_pairs) / len(stance_pairs) if stance_pairs else 0.0
        ),
        "stance_confusion": stance_confusion,
    }


def evaluate(split: str = "all", via_cli: bool = False) -> dict[str, dict[str, Any]]:
    """Classify the labelled items and return the metrics per language and for "all"."""
    lines, gold = items_jsonl(split)
    started = time.perf_counter()
    outputs = _classify_cli(lines) if via_cli else _classify_in_process(lines)
    seconds = time.perf_counter() - started
    if len(outputs) != len(lines):
        raise RuntimeError(f"{len(lines)} items in, {len(outputs)} results out")
    pairs = [(gold[o["id"]], o) for o in outputs]
    result = {lang: _metrics([(g, o) for g, o in pairs if g["lang"] == lang]) for lang in LANGS}
    result["all"] = _metrics(pairs)
    result["all"]["seconds"] = seconds
    return result


def _texts(limit: int, min_chars: int) -> list[tuple[str | None, str, str]]:
    """Real zh and ru documents (title, text, lang) of at least `min_chars`, for throughput."""
    out: list[tuple[str | None, str, str]] = []
    for path, lang, title_key in ((CCTV, "zh", "title"), (TELEGRAM, "ru", None)):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            taken = 0
            for line in fh:
                row = json.loads(line)
                if len(row.get("text") or "") >= min_chars:
                    out.append((row.get(title_key) if title_key else None, row["text"], lang))
                    taken += 1
                    if taken >= limit:
                        break
    return out


def throughput(n_texts: int = 1500, n_pages: int = 150) -> dict[str, float]:
    """Classification documents/s vs extraction pages/s on one core, measured in one run."""
    from extractors.acquire.warc import iter_warc
    from extractors.classify.classifier import classify
    from extractors.page.extract import ExtractionLimits, extract_page
    from extractors.records import RawPage

    def rate(texts: list[tuple[str | None, str, str]]) -> float:
        for title, text, lang in texts[:20]:  # warm-up: vocabularies load, regexes compile
            classify(title, text, lang)
        started = time.process_time()
        for title, text, lang in texts:
            classify(title, text, lang)
        return len(texts) / (time.process_time() - started)

    texts = _texts(n_texts // 2, 200)
    long_texts = _texts(n_texts // 6, 2000)
    docs_per_s = rate(texts)
    long_per_s = rate(long_texts)
    full_texts = _full_texts(n_texts // 6)
    full_per_s = rate(full_texts) if full_texts else 0.0

    pages = []
    for record in iter_warc(CCTV_WARC):
        if isinstance(record, RawPage):
            pages.append(record)
            if len(pages) >= n_pages:
                break
    limits = ExtractionLimits()
    extract_page(pages[0], limits)
    started = time.process_time()
    for page in pages:
        extract_page(page, limits)
    extract_s = time.process_time() - started
    pages_per_s = len(pages) / extract_s
    return {
        "classify_docs_per_s": docs_per_s,
        "classify_mean_chars": sum(len(t) for _, t, _ in texts) / len(texts),
        "classify_long_docs_per_s": long_per_s,
        "classify_long_mean_chars": sum(len(t) for _, t, _ in long_texts) / len(long_texts),
        "classify_full_docs_per_s": full_per_s,
        "classify_full_mean_chars": (
            sum(len(t) for _, t, _ in full_texts) / len(full_texts) if full_texts else 0.0
        ),
        "extract_pages_per_s": pages_per_s,
        "ratio": long_per_s / pages_per_s,
        "full_share_of_extraction": pages_per_s / full_per_s if full_per_s else float("nan"),
        **_news_page_extraction(limits, full_per_s),
    }


def _news_page_extraction(limits: Any, full_per_s: float) -> dict[str, float]:
    """Extraction on real news article pages (fundus: 181 publishers, 41 countries), whose
    length is that of the full-text articles, next to classifying such articles."""
    from extractors.classify.labelled import CORPUS
    from extractors.page.extract import extract_page
    from extractors.records import ExtractedDoc, Provenance, RawPage

    root = CORPUS / "extraction" / "fundus_testdata"
    index = root / "fundus_index.jsonl"
    if not index.exists() or not full_per_s:
        return {}
    pages = []
    for line in index.read_text(encoding="utf-8").splitlines()[:120]:
        row = json.loads(line)
        body = gzip.decompress((root / row["html_file"]).read_bytes())
        provenance = Provenance(source="bench", origin="file", locator=row["html_file"])
        pages.append(RawPage(url=row["url"], body=body, provenance=provenance,
                             content_type="text/html"))  # fmt: skip
    extract_page(pages[0], limits)
    started = time.process_time()
    chars = 0
    docs = []
    for page in pages:
        doc = extract_page(page, limits)
        chars += len(getattr(doc, "text", "") or "")
        if isinstance(doc, ExtractedDoc) and doc.text:
            docs.append((doc.title, doc.text, doc.lang))
    extract_seconds = time.process_time() - started
    per_s = len(pages) / extract_seconds
    # The same documents classified: the cost per document of the pages themselves (most of
    # them name neither side; the full-text set above is the costliest kind, every sentence read).
    from extractors.classify.classifier import classify

    classify(*docs[0])
    started = time.process_time()
    for title, text, lang in docs:
        classify(title, text, lang)
    classify_seconds = time.process_time() - started
    return {
        "extract_news_pages_per_s": per_s,
        "extract_news_mean_chars": chars / len(pages),
        "full_share_of_news_extraction": per_s / full_per_s,
        "same_pages_classify_share": classify_seconds / extract_seconds,
    }


def _full_texts(limit: int) -> list[tuple[str | None, str, str]]:
    """Full-text articles naming both sides (RT Russian, allsides English), for throughput."""
    from extractors.classify.labelled import CORPUS

    out: list[tuple[str | None, str, str]] = []
    sets = (("news/ru_fulltext/rt_ng/russia_today.jsonl.gz", "ru"),
            ("news/en_fulltext/allsides/articles_china_or_russia.jsonl.gz", "en"))  # fmt: skip
    for rel, lang in sets:
        path = CORPUS / rel
        if not path.exists():
            continue
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            taken = 0
            for line in fh:
                row = json.loads(line)
                if row.get("mentions_both") and len(row.get("text") or "") >= 3000:
                    out.append((row.get("title"), row["text"], lang))
                    taken += 1
                    if taken >= limit // 2:
                        break
    return out


def _print(result: dict[str, dict[str, Any]]) -> None:
    for lang in (*LANGS, "all"):
        m = result[lang]
        flags = {k: "ok" if m[k] >= v else "BELOW" for k, v in TARGETS.items()}
        print(
            f"{lang:>3}  n={m['n']:>3}  relevance P={m['relevance_precision']:.3f}"
            f" R={m['relevance_recall']:.3f} F1={m['relevance_f1']:.3f} ({flags['relevance_f1']})"
            f"  level-acc={m['level_accuracy']:.3f}  brier={m['brier']:.3f}"
        )
        print(
            f"     relevant n={m['n_relevant']:>3}  topic micro-F1={m['topic_micro_f1']:.3f}"
            f" ({flags['topic_micro_f1']}) macro-F1={m['topic_macro_f1']:.3f}"
            f"  stance acc={m['stance_accuracy']:.3f} ({flags['stance_accuracy']})"
        )
        print("     " + "  ".join(f"{t}={f:.2f}" for t, f in m["topic_f1"].items()))
        print(f"     {'label/judged':>12}" + "".join(f"{x:>9}" for x in LEVELS))
        for gold in LEVELS:
            row = m["confusion"][gold]
            print(f"     {gold:>12}" + "".join(f"{row[x]:>9}" for x in LEVELS))
        if m["errors"]:
            print(f"     {m['errors']} item(s) came back as errors")
    bands = result["all"]["score_bands"]
    print(
        "calibration (all): "
        + "  ".join(
            f"{b['band']}: n={b['n']} rel={b['relevant_share']:.2f}"
            if b["relevant_share"] is not None
            else f"{b['band']}: n=0"
            for b in bands
        )
    )


def predictors() -> dict[str, Any]:
    """The predictors compared in the cross-validation (rules, and the learned layer if any)."""
    from bench.cv_eval import rules_predictor

    found: dict[str, Any] = {"rules": rules_predictor}
    try:
        from extractors.classify.crossval import cv_predictors
    except ImportError:  # the learned layer is optional (scikit-learn)
        return found
    found.update(cv_predictors())
    return found


def run_cv(labels: str = "both", k: int = 5, only: str | None = None) -> dict[str, Any]:
    """Cross-validated figures per predictor (see bench/cv_eval.py)."""
    from bench import labelled
    from bench.cv_eval import cross_validate

    splits = ("dev", "train") if labels == "both" else (labels,)
    items = labelled.load(splits)
    results = {}
    for name, predictor in predictors().items():
        if only and name != only:
            continue
        results[name] = cross_validate(items, predictor, k)
    return results


def run_plain(labels: str) -> dict[str, Any]:
    """One pass of the rules over the chosen label file(s), no folds (the "before" figures)."""
    from bench import labelled
    from bench.cv_eval import breakdown, rules_predictor

    splits = ("dev", "train") if labels == "both" else (labels,)
    items = labelled.load(splits)
    outputs = rules_predictor([], items)
    return {"pooled": breakdown(list(zip(items, outputs, strict=True))), "spread": {}, "k": 1}


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cv", action="store_true", help="grouped k-fold over dev + train")
    parser.add_argument("--labels", choices=["dev", "train", "both"], default=None)
    parser.add_argument("--k", type=int, default=5, help="folds of --cv")
    parser.add_argument("--only", help="--cv: only this predictor (rules, model, combined)")
    parser.add_argument("--no-cv-folds", action="store_true", help="--labels: one pass")
    parser.add_argument("--split", choices=["all", "tune", "holdout"], default="all")
    parser.add_argument("--cli", action="store_true", help="run the crwatch command itself")
    parser.add_argument("--no-speed", action="store_true", help="skip the throughput figure")
    parser.add_argument("--speed-only", action="store_true", help="only the throughput figure")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.cv or args.labels:
        from bench import labelled
        from bench.cv_eval import report

        labels = args.labels or "both"
        if not labelled.available(("dev", "train") if labels == "both" else (labels,)):
            print("../shared/corpus (labels and the texts they join on) is not available",
                  file=sys.stderr)  # fmt: skip
            return 2
        if args.cv and not args.no_cv_folds:
            results = run_cv(labels, args.k, args.only)
            for name, res in results.items():
                print(report(res, f"{name} on labels {labels}"))
            if args.json:
                dump = {
                    n: {"pooled": r["pooled"], "spread": r["spread"]} for n, r in results.items()
                }
                args.json.write_text(json.dumps(dump, indent=2), encoding="utf-8")
        else:
            res = run_plain(labels)
            print(report(res, f"rules on labels {labels}, one pass"))
        return 0
    if not corpus_available():
        print("../shared/corpus is not available", file=sys.stderr)
        return 2
    result: dict[str, Any] = {}
    if not args.speed_only:
        result = evaluate(args.split, args.cli)
        how = "crwatch classify" if args.cli else "in-process"
        print(f"== {args.split} ({LABELS.name}, via {how})")
        _print(result)
    if _OTHER_CODE:
        from extractors.classify import classifier as used

        print(f"== classifier code: {Path(used.__file__).parent.parent}")
    if not args.no_speed:
        speed = throughput()
        result["throughput"] = speed
        print(
            f"== throughput (one core, CPU time): classification"
            f" {speed['classify_docs_per_s']:,.0f} docs/s on real zh+ru texts"
            f" (mean {speed['classify_mean_chars']:,.0f} chars),"
            f" {speed['classify_long_docs_per_s']:,.0f} docs/s on long ones"
            f" (mean {speed['classify_long_mean_chars']:,.0f} chars); extraction"
            f" {speed['extract_pages_per_s']:,.0f} pages/s on CCTV pages;"
            f" classification of long texts is {speed['ratio']:.0f}x faster;"
            f" full-text articles naming both sides (mean {speed['classify_full_mean_chars']:,.0f}"
            f" chars) {speed['classify_full_docs_per_s']:,.0f} docs/s ="
            f" {100 * speed['full_share_of_extraction']:.1f}% of a CCTV page's extraction time"
        )
        if "extract_news_pages_per_s" in speed:
            print(
                f"   extraction of real news article pages (fundus, text mean"
                f" {speed['extract_news_mean_chars']:,.0f} chars):"
                f" {speed['extract_news_pages_per_s']:,.0f} pages/s; classifying a full-text"
                f" article costs {100 * speed['full_share_of_news_extraction']:.1f}% of that;"
                f" classifying those pages' own documents costs"
                f" {100 * speed['same_pages_classify_share']:.1f}% of their extraction"
            )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
