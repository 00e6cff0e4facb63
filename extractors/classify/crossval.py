"""Cross-validation predictors of the learned layer for bench/cv_eval.py (the model alone, and
the rules combined with it), fitted per fold.

Apart from `learned`, which the classifier itself imports to apply the shipped model, so that
the learned layer never imports the classifier back.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from extractors.classify.classifier import classify_rules, topics_and_stance
from extractors.classify.learned import adjust_level, features, fit, model_level, parse_model


def cv_predictors() -> dict[str, Callable[[list[Any], list[Any]], list[dict[str, Any]]]]:
    """Predictors for bench/cv_eval.py: the model alone and the combination, fit per fold."""
    cache: dict[str, tuple[Any, list[float]]] = {}

    def judged(item: Any) -> tuple[Any, list[float]]:
        if item.id not in cache:
            c = classify_rules(item.title, item.text, item.lang)
            cache[item.id] = (c, features(item.title, item.text, item.lang, c.level, c.score))
        return cache[item.id]

    def make(
        how: Callable[[str, float], str],
    ) -> Callable[[list[Any], list[Any]], list[dict[str, Any]]]:
        def predict(train: list[Any], test: list[Any]) -> list[dict[str, Any]]:
            data = fit(
                [judged(i)[1] for i in train], [i.relevance in ("core", "related") for i in train]
            )
            model = parse_model(data, json.dumps(data).encode())
            out = []
            for item in test:
                c, x = judged(item)
                level = how(c.level, model.probability(x))
                out.append(_output(item, c, level))
            return out

        return predict

    return {"model": make(model_level), "combined": make(adjust_level)}


def _output(item: Any, c: Any, level: str) -> dict[str, Any]:
    """The judgement with a level the model moved: topics and stance follow the level."""
    if level == c.level:
        return {"relevance": level, "topics": list(c.topics), "stance": c.stance}
    if level in ("core", "related"):
        topics, stance = topics_and_stance(item.title, item.text, item.lang, level)
        return {"relevance": level, "topics": list(topics), "stance": stance}
    return {"relevance": level, "topics": [], "stance": None}
