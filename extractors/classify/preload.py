"""Imported by the extraction pool's forkserver: everything an ingest worker needs, loaded once.

Importing this module is its whole purpose (`multiprocessing` preloads modules by name): it
imports trafilatura and the judges, loads the language model and the shipped vocabularies
(from the compiled cache), and runs two small pages through `extract_and_analyse`, so the lazy
parts of trafilatura, lxml and the judges are built too. Every worker is then a fork of the
server with all of it in place, shared copy-on-write (`extractors.page.pool`), instead of
~1.2 s of imports and loading per worker. Nothing else should import it.

Only the shipped vocabularies are preloaded: a worker told to read another directory
(`vocabulary_dir`) loads that one itself, as before (the loaders cache by path).
"""

from __future__ import annotations

import contextlib
import gc


def _preload() -> None:
    from extractors.classify.analysis import WARM_UP_PAGES, extract_and_analyse
    from extractors.page.extract import ExtractionLimits
    from extractors.page.pool import warm_up

    warm_up()
    for page in WARM_UP_PAGES:
        extract_and_analyse(page, ExtractionLimits())


# A broken installation or vocabulary must fail where it did before: in the workers, on their
# start or their pages (error rows), never by taking the forkserver down with it.
with contextlib.suppress(Exception):
    _preload()
# What was loaded lives as long as every worker: keep the cyclic collector from scanning it
# (and from touching, hence copying, its shared pages) in each of them.
gc.collect()
gc.freeze()
