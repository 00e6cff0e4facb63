"""The warehouse opened in the background while a one-off ingest imports Prefect.

A one-off `crwatch ingest` spends its first second or so importing Prefect (pure Python, one
core) and, without a running API, waiting for the temporary server. Opening the lake meanwhile
(loading the extensions, attaching the catalog, creating a new lake and applying its schema
files, then attaching it read-only as well) costs ~0.3-0.5 s, mostly inside DuckDB and SQLite
(which release the GIL) and waiting for their files to reach the disk. Done in a thread from
the start, it overlaps with the import instead of following the flow's start.

What the thread does is what any writer may do at any time on the lake: the attach retries two
processes creating one lake, and migrations are transactions that a racing writer's identical
ones make no-ops. The flow still takes the writer lock and runs `migrate()` itself (a quick
check by then), so nothing here is needed for correctness, and a failure here is only logged:
the flow meets it again and records it. Not done: a single DuckDB file (a writer there holds
the file; the flow sets aside a half-created one under its lock first), and a data folder that
still holds an earlier crwatch's single file beside no lake (the ingest refuses that, and must
not leave an empty lake behind).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from flows.settings import Settings, open_warehouse

if TYPE_CHECKING:
    from warehouse.db import Warehouse

log = logging.getLogger(__name__)


def _open_and_migrate(warehouse: Warehouse, then: Callable[[Warehouse], None] | None) -> None:
    try:
        warehouse.open_writer_instance()
        warehouse.migrate()
        if then is not None:
            then(warehouse)
        # The read-only instance too (the run's checks and its search refresh read through
        # it): attaching it makes DuckLake load its catalog, ~0.1 s of CPU off the main thread.
        with warehouse.reader() as con:
            con.execute("SELECT count(*) FROM schema_migrations").fetchall()
    except Exception as exc:  # WarehouseError, OSError, a duckdb error: the flow meets it again
        log.debug("warehouse not opened ahead of the flow (the flow will say why): %s", exc)


def start_warehouse(
    settings: Settings, then: Callable[[Warehouse], None] | None = None
) -> threading.Thread | None:
    """Begin opening and migrating the lake in a thread; None when it is not done here.

    `then(warehouse)` runs in the thread after the migrations: more of the same kind of
    preparation (e.g. the entity catalogue), which any writer may do at any time.
    """
    warehouse = open_warehouse(settings)  # imports warehouse.db here; the thread uses this handle
    if not warehouse.is_lake:
        return None
    if not warehouse.exists() and (settings.home / "crwatch.duckdb").is_file():
        return None  # flows.ingest.flow refuses this folder with what to do
    thread = threading.Thread(
        target=_open_and_migrate,
        args=(warehouse, then),
        name="crwatch-open-warehouse",
        daemon=True,
    )
    thread.start()
    return thread
