"""The reviewed items of ../shared/corpus for the benches: see extractors/classify/labelled.py."""

from extractors.classify.labelled import (
    CORPUS,
    LABEL_FILES,
    LANG_GROUPS,
    Labelled,
    available,
    folds,
    load,
)

__all__ = ["CORPUS", "LABEL_FILES", "LANG_GROUPS", "Labelled", "available", "folds", "load"]
