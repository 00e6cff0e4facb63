"""Where the judges read their vocabularies: the shipped `seeds/` folder or the `seeds_dir` setting.

The vocabulary files (taxonomy, topic/stance cues, entities, the learned relevance model) are
data an analyst edits. Every loader (`load_taxonomy`, `load_cues`, `load_gazetteer`,
`load_model`) takes an explicit path; without one it asks `vocabulary_file()`, which looks in
the directory this process was told to use (`use_directory`), file by file: a folder that holds
only some of the files (say, its own `taxonomy.toml` and baseline) takes the rest from the
shipped `seeds/`.

The directory is chosen once per process by the caller that owns the settings (flows: the
settings' `seeds_dir`), and handed to extraction worker processes when they start; this package
never reads settings or the environment itself. It is a process-wide choice rather than a
parameter of every judge because the judges are cached per text (`focus()`), and one process
judges with one set of vocabularies (a different set is a different `classifier_version`).
"""

from __future__ import annotations

from pathlib import Path

from seeds import SEEDS_DIR

TAXONOMY_FILE = "taxonomy.toml"
TOPICS_FILE = "topics.toml"
ENTITIES_FILE = "entities.toml"
MODEL_FILE = "relevance_model.json"
# The files whose digest is part of `classifier_version()` (the model has its own version).
VOCABULARIES = (TAXONOMY_FILE, TOPICS_FILE, ENTITIES_FILE)

_directory: Path = SEEDS_DIR
# name -> path chosen in `_directory`; the loaders ask per document, so no filesystem call then.
_chosen: dict[str, Path] = {}


def use_directory(directory: Path | None) -> None:
    """Read vocabularies from `directory` in this process from now on (None: the shipped ones)."""
    global _directory
    new = SEEDS_DIR if directory is None else Path(directory).resolve()
    if new != _directory:
        _directory = new
        _chosen.clear()


def current_directory() -> Path:
    """The directory this process reads vocabularies from."""
    return _directory


def vocabulary_file(name: str) -> Path:
    """The vocabulary file `name` in the chosen directory, else the shipped one."""
    path = _chosen.get(name)
    if path is None:
        path = _directory / name
        if not path.is_file():
            path = SEEDS_DIR / name
        _chosen[name] = path
    return path
