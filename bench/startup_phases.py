"""Where the fixed cost of a one-off `crwatch ingest` goes: each phase timed on its own.

Runs, in one fresh process and a fresh data folder, the steps a one-off `crwatch ingest --seeds`
takes, in the order the command takes them, and prints the wall-clock seconds of each:
imports (CLI, then the ingest flow's modules: Prefect, DuckDB, trafilatura), Prefect's temporary
server (its subprocess: imports, SQLite migrations of a fresh PREFECT_HOME, block registration),
the warehouse's creation and migrations, the vocabularies, the seed baseline ingest, the search
bookkeeping, an extraction pool's start, a flow run's own overhead on the running server, the
digest. `--warm-prefect` reuses one PREFECT_HOME whose database already exists.

    .venv/bin/python bench/startup_phases.py [--warm-prefect DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

_rows: list[tuple[str, float]] = []


def phase(name: str, fn: Callable[[], Any]) -> Any:
    """Run `fn`, record its wall-clock seconds under `name`, return its result."""
    started = time.perf_counter()
    result = fn()
    _rows.append((name, time.perf_counter() - started))
    print(f"{name:58s} {_rows[-1][1]:7.2f} s", flush=True)
    return result


def _subprocess_import(module: str) -> float:
    """Seconds a fresh interpreter takes to import `module` (a temporary server pays this)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
    return time.perf_counter() - started


def main() -> None:
    """Time each phase once and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm-prefect", type=Path, default=None,
                        help="PREFECT_HOME to reuse (its database already exists)")  # fmt: skip
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="crwatch-phases-"))
    os.environ["CRWATCH_HOME"] = str(home)
    os.environ["CRWATCH_PROGRESS"] = "false"
    if args.warm_prefect:
        os.environ["PREFECT_HOME"] = str(args.warm_prefect)

    started = time.perf_counter()
    phase("python start-up (interpreter, no imports)",
          lambda: subprocess.run([sys.executable, "-c", "pass"], check=True))  # fmt: skip
    phase("import flows.cli.app (click, rich, settings)", lambda: __import__("flows.cli.app"))
    from flows.runtime.environment import configure_prefect
    from flows.settings import load_settings

    settings = load_settings()
    configure_prefect(settings)
    phase("import prefect", lambda: __import__("prefect"))
    phase("import flows.ingest.flow (+ duckdb, trafilatura, extractors)",
          lambda: __import__("flows.ingest.flow"))  # fmt: skip
    phase("  (subprocess) import prefect.server.api.server",
          lambda: _subprocess_import("prefect.server.api.server"))  # fmt: skip
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    phase("Prefect temporary server start (subprocess, DB, blocks)", server.start)
    os.environ["PREFECT_API_URL"] = server.api_url  # later phases talk to it directly

    from extractors.classify.classifier import classifier_version
    from extractors.classify.entities import load_gazetteer
    from extractors.classify.matching import load_taxonomy
    from extractors.classify.topics import load_cues
    from extractors.page.pool import ExtractionPool
    from flows.ingest.flow import make_pool
    from flows.ingest.pipeline import Ingestor, sync_entity_catalogue
    from warehouse.search import refresh_index

    warehouse = settings.open_warehouse()
    settings.use_vocabularies()
    phase("warehouse create + migrations", warehouse.migrate)
    phase(
        "vocabularies: taxonomy, topic cues, gazetteer",
        lambda: (load_taxonomy(), load_cues(), load_gazetteer(), classifier_version()),
    )
    phase("entity catalogue sync", lambda: sync_entity_catalogue(warehouse))
    from extractors.baseline.seeds import load_seed_baseline

    items = phase("seed baseline: read + split", lambda: load_seed_baseline(settings.seeds_dir))
    phase(
        "seed baseline: judge + write (6 documents)",
        lambda: Ingestor(warehouse, "phases", None).ingest(items, source_kind="seed"),
    )
    phase("search index bookkeeping", lambda: refresh_index(warehouse))
    pool = make_pool(settings)
    assert isinstance(pool, ExtractionPool)
    phase(f"extraction pool start ({settings.worker_count} workers)", pool.start)
    phase("extraction pool stop", pool.close)

    from prefect import flow

    @flow(name="phases-empty", persist_result=False)
    def empty() -> int:
        return 1

    phase("one empty flow run on the running server", empty)
    phase("one more empty flow run", empty)
    from flows.digest.deliver import produce_digest
    from flows.digest.flow import resolve_week

    phase("digest (gather, render, outbox)",
          lambda: produce_digest(settings, resolve_week(settings, None, latest_data=True),
                                 run_id="phases"))  # fmt: skip
    phase("temporary server stop", server.stop)
    total = time.perf_counter() - started
    print(f"{'total':58s} {total:7.2f} s   (data folder {home})")


if __name__ == "__main__":
    main()
