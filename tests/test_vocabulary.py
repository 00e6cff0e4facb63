"""The `seeds_dir` setting moves the vocabularies, in this process and in extraction workers."""

from __future__ import annotations

import shutil
import tomllib
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import pytest
from conftest import article_html

from extractors.classify.analysis import extract_and_analyse
from extractors.classify.classifier import classifier_version
from extractors.classify.entities import load_gazetteer
from extractors.page.extract import ExtractionLimits
from extractors.page.pool import ExtractionPool
from extractors.records import ExtractedDoc, Provenance, RawPage
from extractors.vocabulary import (
    ENTITIES_FILE,
    TAXONOMY_FILE,
    current_directory,
    use_directory,
    vocabulary_file,
)
from flows.settings import _TYPES, DEFAULTS_FILE, Settings, _coerce, load_settings
from seeds import SEEDS_DIR


@pytest.fixture
def own_seeds(tmp_path: Path) -> Iterator[Path]:
    """A seeds folder with its own entities.toml (one more entity) and no taxonomy.toml."""
    folder = tmp_path / "seeds"
    folder.mkdir()
    shutil.copytree(SEEDS_DIR / "baseline", folder / "baseline")
    shutil.copy(SEEDS_DIR / "manifest.toml", folder / "manifest.toml")
    text = (SEEDS_DIR / ENTITIES_FILE).read_text(encoding="utf-8")
    (folder / ENTITIES_FILE).write_text(text + "\n# an analyst's edit\n", encoding="utf-8")
    yield folder
    use_directory(None)


def test_shipped_vocabularies_by_default() -> None:
    assert current_directory() == SEEDS_DIR
    assert vocabulary_file(TAXONOMY_FILE) == SEEDS_DIR / TAXONOMY_FILE


def test_seeds_dir_moves_the_vocabularies_file_by_file(own_seeds: Path) -> None:
    shipped_version = classifier_version()
    shipped_digest = load_gazetteer().digest
    settings = load_settings(environ={"CRWATCH_SEEDS_DIR": str(own_seeds)})
    settings.use_vocabularies()
    assert vocabulary_file(ENTITIES_FILE) == own_seeds / ENTITIES_FILE
    assert vocabulary_file(TAXONOMY_FILE) == SEEDS_DIR / TAXONOMY_FILE, "missing: the shipped one"
    assert load_gazetteer().digest != shipped_digest
    assert classifier_version() != shipped_version, "other vocabularies, another version"
    use_directory(None)
    assert classifier_version() == shipped_version


def test_extraction_workers_judge_with_the_chosen_vocabularies(own_seeds: Path) -> None:
    url = "https://example.com/news/1"
    body = article_html(
        "Xi and Putin meet in Moscow",
        ["Chinese President Xi Jinping met Russian President Vladimir Putin in Moscow." * 3],
    ).encode()
    page = RawPage(url=url, body=body, provenance=Provenance("test", "warc", url))
    versions = []
    for directory in (None, own_seeds):
        with ExtractionPool(
            1, ExtractionLimits(), extract_fn=extract_and_analyse, vocabulary_dir=directory
        ) as pool:
            [(_, outcome)] = list(pool.map([page]))
        assert isinstance(outcome, ExtractedDoc) and outcome.analysis is not None
        versions.append(outcome.analysis.version)
    assert versions[0] == classifier_version(), "the shipped vocabularies by default"
    use_directory(own_seeds)
    assert versions[1] == classifier_version() != versions[0]


def test_shipped_defaults_file_equals_the_typed_defaults() -> None:
    """Without the commented file (it ships as package data), the typed defaults are the same."""
    with DEFAULTS_FILE.open("rb") as handle:
        written = tomllib.load(handle)
    defaults = {f.name: f.default for f in fields(Settings)}
    for name, value in written.items():
        assert _coerce(name, value, _TYPES[name]) == defaults[name], (
            f"{name}: crwatch.toml says {value!r}, Settings defaults to {defaults[name]!r};"
            " change both"
        )


def test_sections_and_wiring_come_from_the_flat_settings(tmp_path: Path) -> None:
    settings = load_settings(
        environ={
            "CRWATCH_HOME": str(tmp_path),
            "CRWATCH_INGEST_INTERVAL_MINUTES": "7",
            "CRWATCH_MAX_PAGE_BYTES": "1000",
            "CRWATCH_EXTRACT_TIMEOUT_SECONDS": "3.5",
            "CRWATCH_SMTP_HOST": "mail.example",
        }
    )
    assert settings.ingest_interval_seconds == 420.0 == settings.schedule.ingest_interval_seconds
    assert settings.extraction_limits() == ExtractionLimits(max_bytes=1000, timeout_seconds=3.5)
    assert settings.extraction.vocabulary_dir == settings.seeds_dir
    assert settings.smtp.host == "mail.example"
    assert settings.fetch.sources_file == settings.seeds_dir / "sources.toml"
    assert settings.store.warehouse == tmp_path / "lake"
    warehouse = settings.open_warehouse()
    assert warehouse.is_lake and not warehouse.exists()
