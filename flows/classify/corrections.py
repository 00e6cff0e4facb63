"""Analyst corrections, training and evaluation (`crwatch label`, `crwatch train`, `crwatch eval`).

- `parse_correction` / `read_corrections_file`: one correction from command-line values or a
  JSON Lines file (the labels format of ../shared/corpus/LABELING.md: `id`, `relevance`,
  `topics`, `stance`, `note`; `doc_id` is accepted for `id`). Every row is checked (level,
  topics, stance, their consistency) before anything is stored: a bad file stores nothing and
  the error names the line.
- `export_labels`: the corrections in force in the labels format, with the document's title and
  text (`text`, `full_title`) so `crwatch train` needs no corpus to read them.
- `train`: fits the learned layer (extractors/classify/learned.py) on labels files, cross-validates
  rules vs the combination by outlet, and writes the model file; it is enabled only when the
  combination beat the rules.
- `evaluate_corrections`: the current classifier against the corrections in force, P/R/F1 of
  relevant per language.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from extractors.classify.classifier import LEVELS, RELEVANT_LEVELS, classify
from extractors.classify.stance import STANCES
from extractors.classify.topics import TOPICS
from flows.errors import LabelError as LabelError  # defined in flows.errors; kept here
from warehouse.corrections import Correction, add_corrections, corrections_in_force
from warehouse.db import Warehouse


def parse_correction(
    doc_id: str,
    relevance: str,
    topics: Sequence[str] | str | None,
    stance: str | None,
    note: str | None,
    author: str,
    now: datetime | None = None,
    where: str = "",
) -> Correction:
    """Check one correction's values and build it (`where` prefixes error messages)."""
    at = f"{where}: " if where else ""
    if not isinstance(doc_id, str) or not doc_id.strip():
        raise LabelError(f"{at}a document id is required")
    if relevance not in LEVELS:
        raise LabelError(f"{at}relevance must be one of {', '.join(LEVELS)}, not {relevance!r}")
    if isinstance(topics, str):
        topics = [t.strip() for t in topics.split(",") if t.strip()]
    topic_list = list(topics or [])
    if any(not isinstance(t, str) for t in topic_list):
        raise LabelError(f"{at}topics must be strings")
    bad = [t for t in topic_list if t not in TOPICS]
    if bad:
        raise LabelError(f"{at}unknown topic(s) {', '.join(bad)}; topics are {', '.join(TOPICS)}")
    if stance is not None and stance not in STANCES:
        raise LabelError(f"{at}stance must be one of {', '.join(STANCES)}, not {stance!r}")
    if relevance in RELEVANT_LEVELS:
        stance = stance or "neutral"
    elif topic_list or stance:
        raise LabelError(
            f"{at}topics and stance are only for core/related items (LABELING.md); "
            f"{relevance!r} takes neither"
        )
    if note is not None and not isinstance(note, str):
        raise LabelError(f"{at}note must be a string")
    return Correction(
        doc_id=doc_id.strip(),
        relevance_level=relevance,
        topics=tuple(sorted(set(topic_list))),
        stance=stance,
        note=note,
        author=author,
        created_at=now or datetime.now(UTC),
    )


def read_label_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a labels JSON Lines file; LabelError naming the first bad line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise LabelError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise LabelError(f"{path} is not UTF-8 text") from exc
    rows: list[dict[str, Any]] = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LabelError(f"{path}:{n}: not JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise LabelError(f"{path}:{n}: expected a JSON object")
        if "id" not in row and "doc_id" in row:
            row["id"] = row["doc_id"]
        if not isinstance(row.get("id"), str) or "relevance" not in row:
            raise LabelError(f"{path}:{n}: `id` (a string) and `relevance` are required")
        row["_line"] = n
        rows.append(row)
    if not rows:
        raise LabelError(f"{path} holds no labels")
    return rows


def read_corrections_file(path: Path, author: str, now: datetime | None = None) -> list[Correction]:
    """Every correction of a labels file, all checked; LabelError on the first bad one."""
    at = now or datetime.now(UTC)
    return [
        parse_correction(
            row["id"],
            row["relevance"],
            row.get("topics"),
            row.get("stance"),
            row.get("note"),
            author,
            at,
            where=f"{path}:{row['_line']}",
        )
        for row in read_label_rows(path)
    ]


def store(warehouse: Warehouse, corrections: Sequence[Correction]) -> int:
    """Store corrections (after bringing the schema up to date); see add_corrections."""
    warehouse.migrate()
    return add_corrections(warehouse, corrections)


def export_labels(warehouse: Warehouse, path: Path) -> int:
    """Write the corrections in force as a labels file (with texts); returns the rows written."""
    warehouse.migrate()
    rows = corrections_in_force(warehouse)
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open("w", encoding="utf-8") as fh:
        for r in rows:
            title = r["title"] or ""
            date = r["date"]
            record = {
                "id": r["doc_id"],
                "lang": r["lang"],
                "date": date.date().isoformat() if isinstance(date, datetime) else date,
                "title": (title or r["text"])[:80],
                "relevance": r["relevance_level"],
                "topics": list(r["topics"] or []),
                "stance": r["stance"],
                "note": r["note"] or "",
                "author": r["author"],
                "corrected_at": r["created_at"].isoformat(),
                "full_title": r["title"],
                "text": r["text"],
            }
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    tmp.replace(path)  # a half-written export never replaces a good one
    return len(rows)


@dataclass(frozen=True, slots=True)
class Scores:
    """Relevant-vs-rest precision, recall and F1 over some items."""

    n: int
    relevant: int
    precision: float | None
    recall: float | None
    f1: float | None


def _scores(pairs: Iterable[tuple[bool, bool]]) -> Scores:
    got = list(pairs)
    tp = sum(g and j for g, j in got)
    fp = sum(j and not g for g, j in got)
    fn = sum(g and not j for g, j in got)
    return Scores(
        n=len(got),
        relevant=sum(g for g, _ in got),
        precision=tp / (tp + fp) if tp + fp else None,
        recall=tp / (tp + fn) if tp + fn else None,
        f1=2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
    )


def evaluate_corrections(warehouse: Warehouse) -> dict[str, Any]:
    """The current classifier vs the corrections in force: scores per language and overall."""
    warehouse.migrate()
    rows = corrections_in_force(warehouse)
    by_lang: dict[str, list[tuple[bool, bool]]] = {}
    levels_agree = 0
    for r in rows:
        judged = classify(r["title"], r["text"], r["lang"])
        gold = r["relevance_level"] in RELEVANT_LEVELS
        by_lang.setdefault(r["lang"] or "?", []).append((gold, judged.relevant))
        levels_agree += judged.level == r["relevance_level"]
    every = [p for pairs in by_lang.values() for p in pairs]
    return {
        "corrections": len(rows),
        "level_agreement": levels_agree / len(rows) if rows else None,
        "by_language": {lang: _scores(p) for lang, p in sorted(by_lang.items())},
        "all": _scores(every),
    }


def train(
    label_files: Sequence[Path],
    output: Path,
    corpus: Path | None = None,
    warehouse: Warehouse | None = None,
    k: int = 5,
) -> dict[str, Any]:
    """Fit the learned layer on labels files and write the model file; see extractors/learned.

    Texts come from each row (`text`), else the warehouse (a document id), else the corpus.
    The rules and the combination are cross-validated by outlet first: the model file is
    written with `enabled` true only when the combination's relevance F1 beat the rules'.
    """
    from extractors.classify import labelled
    from extractors.classify.classifier import classify_rules
    from extractors.classify.learned import adjust_level, features, fit, parse_model

    rows: list[tuple[str, dict[str, Any]]] = []
    for path in label_files:
        for row in read_label_rows(path):
            parse_correction(
                row["id"], row["relevance"], row.get("topics"), row.get("stance"), None, "train",
                where=f"{path}:{row['_line']}",
            )  # fmt: skip
            rows.append((path.stem, row))
    if warehouse is not None and warehouse.path.exists():
        need = [r["id"] for _, r in rows if not isinstance(r.get("text"), str)]
        if need:
            _, found = warehouse.query(
                "SELECT doc_id, title, text, source FROM documents WHERE list_contains(?, doc_id)",
                [need],
            )
            stored = {d: (t, x, s) for d, t, x, s in found}
            for _, r in rows:
                if r["id"] in stored and not isinstance(r.get("text"), str):
                    title, text, source = stored[r["id"]]
                    r.update(full_title=title, text=text, group=source)
    try:
        items = labelled.join(rows, corpus or labelled.CORPUS)
    except LookupError as exc:
        raise LabelError(str(exc)) from exc
    judged = [classify_rules(i.title, i.text, i.lang) for i in items]
    xs = [
        features(i.title, i.text, i.lang, c.level, c.score)
        for i, c in zip(items, judged, strict=True)
    ]
    ys = [i.relevance in RELEVANT_LEVELS for i in items]
    # Cross-validation by outlet: rules alone vs the combination, relevance F1.
    assignment = labelled.folds(items, k)
    rules_pairs: list[tuple[bool, bool]] = []
    combined_pairs: list[tuple[bool, bool]] = []
    for f in range(k):
        train_idx = [n for n, a in enumerate(assignment) if a != f]
        test_idx = [n for n, a in enumerate(assignment) if a == f]
        if not test_idx or len({ys[n] for n in train_idx}) < 2:
            continue
        data = fit([xs[n] for n in train_idx], [ys[n] for n in train_idx])
        model = parse_model(data, json.dumps(data).encode())
        for n in test_idx:
            rules_pairs.append((ys[n], judged[n].relevant))
            level = adjust_level(judged[n].level, model.probability(xs[n]))
            combined_pairs.append((ys[n], level in RELEVANT_LEVELS))
    if len(set(ys)) < 2:
        raise LabelError("the labels need both relevant and not relevant items to train on")
    rules_f1 = _scores(rules_pairs).f1 or 0.0
    combined_f1 = _scores(combined_pairs).f1 or 0.0
    data = fit(xs, ys)
    data["enabled"] = combined_f1 > rules_f1
    data["cv"] = {"k": k, "rules_f1": round(rules_f1, 4), "combined_f1": round(combined_f1, 4)}
    data["labels"] = [p.name for p in label_files]
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(output)
    return {"items": len(items), "relevant": sum(ys), "output": str(output), **data["cv"],
            "enabled": data["enabled"]}  # fmt: skip
