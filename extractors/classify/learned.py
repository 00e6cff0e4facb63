"""The learned relevance layer: logistic regression over the rules' own signals.

The rules (extractors/classify/relevance.py) say where the pair appears and how strongly; this layer
weighs those signals with weights learned from reviewed labels. Features (`features()`) are
the rules' level and score, the strengths of the title and the lead, how many sentences link
the two and how, the thread and its share of a long article, whether the pair is named as one
unit, as a list or with a relation word, how many stories, the language group and the length.
No words of the text: the layer can only re-weigh what the rules found, so it cannot learn an
item's vocabulary.

`crwatch train LABELS.jsonl` fits it with scikit-learn (deterministic: lbfgs, fixed C, no
random state involved) and writes `seeds/relevance_model.json`: the feature names, the
standardisation, the coefficients and the intercept, plus the training set's digest. Inference
is a dot product in plain Python (no scikit-learn needed at run time, nothing fetched); the
file's digest is part of the classifier version. The shipped file is used only when it is
enabled (`"enabled": true`, set by `crwatch train` when the model beat the rules in the
cross-validation it ran): the decision is recorded in the file.

How the judgement combines them (`adjust_level`): the rules' level stands unless the model is
confident the other way (probability below LOW or above HIGH), then the level moves to the
nearest level on the other side (related <-> passing).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from extractors.classify.relevance import LEVELS, Story, analyse
from extractors.vocabulary import MODEL_FILE, vocabulary_file

MODEL_FORMAT = "crwatch-relevance-logreg-1"
LOW, HIGH = 0.2, 0.8  # the model overrides the rules only beyond these probabilities
_C = 1.0  # inverse regularisation strength
_EU = frozenset({"de", "fr", "pl", "it", "uk", "es", "el"})
FEATURES: tuple[str, ...] = (
    "level_none", "level_passing", "level_related", "level_core", "score",
    "title_strength", "lead_strength", "n_strong", "n_mid", "n_weak", "linked_share",
    "thread", "long", "log_sentences", "n_stories", "pair_unit", "pair_list",
    "relation_near_pair", "leader", "third_first", "others",
    "lang_zh", "lang_ru", "lang_en", "lang_eu",
)  # fmt: skip


def _best(stories: list[Story]) -> Story | None:
    return max(stories, key=lambda s: (LEVELS.index(s.level), s.score)) if stories else None


def features(
    title: str | None, text: str, lang: str | None, level: str, score: float
) -> list[float]:
    """The feature vector of one document (see FEATURES), given the rules' level and score."""
    stories = analyse(title, text, lang) if level != "none" else []
    best = _best(stories)
    sents = best.sentences if best else ()
    titles = [s for s in sents if s.is_title] or list(sents[:1])
    body = [s for s in sents if not s.is_title]
    linked = [s for s in body if s.strength >= 2]
    per_para: dict[int, int] = {}
    for s in linked:
        per_para[s.paragraph] = per_para.get(s.paragraph, 0) + 1
    thread = max((n + per_para.get(p + 1, 0) for p, n in per_para.items()), default=0)
    n_body = best.n_sentences if best else 0
    sigs = [s.signals for s in sents if s.signals is not None and s.strength > 0]
    code = (lang or "").lower()[:2]
    group = "eu" if code in _EU else code
    return [
        float(level == "none"), float(level == "passing"), float(level == "related"),
        float(level == "core"), float(score),
        max((s.strength for s in titles), default=0) / 3.0,
        max((s.strength for s in body[:2]), default=0) / 3.0,
        math.log1p(sum(s.strength == 3 for s in body)),
        math.log1p(sum(s.strength == 2 for s in body)),
        math.log1p(sum(s.strength == 1 for s in body)),
        len(linked) / max(n_body, 1),
        min(thread, 5) / 5.0,
        float(n_body >= 15),
        math.log1p(n_body),
        math.log1p(len(stories)),
        float(any(g.pair for g in sigs)),
        float(any(g.pair_list for g in sigs)),
        float(any(g.relation_near_pair for g in sigs)),
        float(any(g.leader for g in sigs)),
        float(any(g.third_first for g in sigs)),
        math.log1p(max((g.others for g in sigs), default=0)),
        float(group == "zh"), float(group == "ru"), float(group == "en"), float(group == "eu"),
    ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Model:
    """A fitted logistic regression over standardised features."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    enabled: bool
    digest: str  # of the file's content

    def probability(self, x: Sequence[float]) -> float:
        """P(relevant) of one feature vector."""
        z = self.intercept + sum(
            c * (v - m) / s for c, v, m, s in zip(self.coef, x, self.mean, self.scale, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


def fit(xs: list[list[float]], ys: list[bool]) -> dict[str, Any]:
    """Fit the model (deterministic) and return it as the JSON-ready dict of the model file."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(xs, dtype=float)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    clf = LogisticRegression(C=_C, class_weight="balanced", max_iter=5000, solver="lbfgs")
    clf.fit((x - mean) / scale, np.asarray(ys, dtype=int))
    return {
        "format": MODEL_FORMAT,
        "features": list(FEATURES),
        "mean": [round(float(v), 8) for v in mean],
        "scale": [round(float(v), 8) for v in scale],
        "coef": [round(float(v), 8) for v in clf.coef_[0]],
        "intercept": round(float(clf.intercept_[0]), 8),
        "thresholds": {"low": LOW, "high": HIGH},
        "n_train": len(ys),
        "n_relevant": int(sum(ys)),
    }


def parse_model(data: dict[str, Any], raw: bytes) -> Model:
    """Check a model file's content and build the model; ValueError when it does not fit."""
    if data.get("format") != MODEL_FORMAT:
        raise ValueError(f"not a {MODEL_FORMAT} file (format {data.get('format')!r})")
    if list(data.get("features", [])) != list(FEATURES):
        raise ValueError("the model's features differ from this code's: run `crwatch train` again")
    n = len(FEATURES)
    arrays = [data.get(k) for k in ("mean", "scale", "coef")]
    if any(not isinstance(a, list) or len(a) != n for a in arrays):
        raise ValueError("mean, scale and coef must each hold one number per feature")
    return Model(
        tuple(map(float, data["mean"])), tuple(map(float, data["scale"])),
        tuple(map(float, data["coef"])), float(data["intercept"]), bool(data.get("enabled")),
        hashlib.sha256(raw).hexdigest()[:8],
    )  # fmt: skip


def model_path() -> Path:
    """The model file the classifier reads: the vocabulary directory's (`crwatch train` output)."""
    return vocabulary_file(MODEL_FILE)


def load_model(path: Path | None = None) -> Model | None:
    """The model (default: the vocabulary directory's), or None when there is no file."""
    return _load_model(model_path() if path is None else path)


@lru_cache(maxsize=4)
def _load_model(path: Path) -> Model | None:
    if not path.exists():
        return None
    raw = path.read_bytes()
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return parse_model(data, raw)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(
            f"{path} is not a usable model file ({exc}): delete it or run `crwatch train` again"
        ) from exc


def model_digest(path: Path | None = None) -> str:
    """`learned-<digest>` when the model is enabled, else "" (for the classifier version)."""
    model = load_model(path)
    return f"learned-{model.digest}" if model is not None and model.enabled else ""


def adjust_level(level: str, probability: float) -> str:
    """The rules' level, moved across the relevant line when the model is confident."""
    if level in ("core", "related") and probability < LOW:
        return "passing"
    if level in ("passing", "none") and probability > HIGH:
        return "related"
    return level


def model_level(level: str, probability: float) -> str:
    """The model alone: relevant when p >= 0.5 (keeping the rules' level on agreement)."""
    relevant = probability >= 0.5
    if relevant == (level in ("core", "related")):
        return level
    return "related" if relevant else "passing"
