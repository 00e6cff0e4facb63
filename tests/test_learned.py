"""The learned relevance layer: file format, determinism, the combination rule, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from extractors.classify.classifier import classify_rules
from extractors.classify.learned import (
    FEATURES,
    adjust_level,
    features,
    fit,
    load_model,
    model_level,
    parse_model,
)

TEXTS = [
    (
        "Xi and Putin hold talks in Moscow",
        "Xi and Putin held talks on trade and energy ties.",
        True,
    ),
    ("China, Russia sign gas deal", "China and Russia signed a deal on gas supplies.", True),
    ("Snow closes roads", "Heavy snow closed three mountain passes overnight.", False),
    ("Budget approved", "The city council approved a new budget for road repairs.", False),
    ("Olympic medal table", "China, the US, Japan and Russia lead the medal table.", False),
    ("Russia and China deepen partnership", "Russia and China deepen their partnership.", True),
]


def _data() -> tuple[list[list[float]], list[bool]]:
    xs, ys = [], []
    for title, text, relevant in TEXTS:
        c = classify_rules(title, text, "en")
        xs.append(features(title, text, "en", c.level, c.score))
        ys.append(relevant)
    return xs, ys


def test_features_match_the_declared_names() -> None:
    xs, _ = _data()
    assert all(len(x) == len(FEATURES) for x in xs)


def test_fit_is_deterministic_and_the_file_round_trips(tmp_path: Path) -> None:
    xs, ys = _data()
    first, second = fit(xs, ys), fit(xs, ys)
    assert first == second
    first["enabled"] = True
    raw = json.dumps(first).encode()
    model = parse_model(first, raw)
    assert model.enabled and len(model.digest) == 8
    relevant = [model.probability(x) for x, y in zip(xs, ys, strict=True) if y]
    other = [model.probability(x) for x, y in zip(xs, ys, strict=True) if not y]
    assert min(relevant) > max(other)  # separable toy data
    path = tmp_path / "model.json"
    path.write_bytes(raw)
    assert load_model(path) == model


def test_combination_moves_a_level_only_when_confident() -> None:
    assert adjust_level("core", 0.1) == "passing"
    assert adjust_level("core", 0.5) == "core"
    assert adjust_level("none", 0.9) == "related"
    assert adjust_level("passing", 0.7) == "passing"
    assert model_level("passing", 0.6) == "related"
    assert model_level("related", 0.4) == "passing"
    assert model_level("core", 0.9) == "core"


def test_bad_model_files_are_clear_errors(tmp_path: Path) -> None:
    for name, content in [
        ("garbage.json", "{not json"),
        ("list.json", "[1, 2]"),
        ("format.json", json.dumps({"format": "other"})),
        ("features.json", json.dumps({"format": "crwatch-relevance-logreg-1", "features": ["x"]})),
    ]:
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        with pytest.raises(ValueError, match=r"crwatch train"):
            load_model(path)
    assert load_model(tmp_path / "missing.json") is None
