"""The reviewed items of ../shared/corpus for the benches: see extractors/labelled.py."""

from extractors.labelled import (
    CORPUS,
    LABEL_FILES,
    LANG_GROUPS,
    Labelled,
    available,
    folds,
    load,
)

__all__ = ["CORPUS", "LABEL_FILES", "LANG_GROUPS", "Labelled", "available", "folds", "load"]
