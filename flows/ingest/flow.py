"""The `ingest` Prefect flow: seed baseline and WARC replays, one task per source.

Thin by design: each task wires an acquisition adapter into `flows.ingest.pipeline.Ingestor`, which
does the work in batches (never one task per article). Runs without a Prefect server: Prefect
starts a temporary local one. Import this module only after
`flows.runtime.environment.configure_prefect`.
"""

from __future__ import annotations

import contextlib
import glob
import importlib
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import get_run_context
from prefect.exceptions import MissingContextError

from extractors.acquire.sources import Source, SourcesError, load_sources
from extractors.acquire.warc import WarcOpenError, iter_warc, warc_file_id
from extractors.baseline.seeds import load_seed_baseline_cached
from extractors.classify import WORKER_PRELOAD
from extractors.classify.analysis import analyse_texts_cached, extract_and_analyse
from extractors.errors import ErrorKind
from extractors.page.pool import ExtractionPool
from extractors.records import AcquisitionError, Provenance, SeedText
from flows.ingest.pipeline import (
    AlreadyStored,
    Ingestor,
    IngestSummary,
    Item,
    sync_entity_catalogue,
)
from flows.ingest.stories import StoryIndex
from flows.runtime.attempts import RunRecorder, drain_journal, journal_path
from flows.runtime.plainflow import plain_flow
from flows.runtime.runlock import Holder, RunLock, RunLockBusy
from flows.runtime.servestate import bind_to_serve
from flows.settings import Settings, load_settings, open_warehouse
from warehouse.db import Warehouse, WarehouseError
from warehouse.runs import mark_crashed
from warehouse.search import refresh_index

# A run waits this long for another process's index refresh, then leaves its documents to the
# next refresh (they are committed in the warehouse either way).
SEARCH_WAIT_SECONDS = 30.0

if TYPE_CHECKING:
    from flows.ingest.dask_pool import DaskExtractionPool
    from flows.ingest.live import LiveRun

# file.warc, file.warc.gz, file.arc, file.arc.gz, and damaged copies like file.warc.gz.bad
_ARCHIVE_NAME = re.compile(r"\.w?arc(\.gz)?($|\.)", re.IGNORECASE)
ProgressHook = Callable[[str, int | None], Callable[[Item | AlreadyStored], None]]


def expand_replay_paths(patterns: list[str] | tuple[str, ...]) -> list[Path]:
    """Expand globs and directories into WARC files, keeping order and dropping repeats."""
    found: list[Path] = []
    for pattern in patterns:
        path = Path(pattern).expanduser()
        if path.is_dir():
            matches = sorted(
                p for p in path.rglob("*") if p.is_file() and _ARCHIVE_NAME.search(p.name)
            )
        elif any(ch in pattern for ch in "*?["):
            matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
        else:
            matches = [path]
        for match in matches:
            if match.resolve() not in {f.resolve() for f in found}:
                found.append(match)
    return found


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """Prefect's run logger inside a flow, the module logger when called as a plain function."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)


def _replay_items(path: Path, max_bytes: int) -> Iterator[Item]:
    """WARC items, or a single error item when the file cannot be opened at all."""
    source = f"replay:{path.name}"
    try:
        yield from iter_warc(path, source, max_body_bytes=max_bytes)
    except (WarcOpenError, OSError) as exc:
        provenance = Provenance(
            source=source, origin="warc", locator=f"file:{path.resolve()}", warc_file=str(path)
        )
        yield AcquisitionError(provenance, ErrorKind.UNREADABLE_FILE, str(exc))


@task(name="ingest-seed-baseline", cache_policy=NO_CACHE)
def ingest_seed_baseline(ingestor: Ingestor, seeds_dir: Path) -> IngestSummary:
    """Load the seed baseline documents (already extracted text) into the warehouse."""
    items = load_seed_baseline_cached(seeds_dir)
    return ingestor.ingest(items, source_kind="seed")


@task(name="fetch-live-sources", cache_policy=NO_CACHE)
def fetch_live_sources(ingestor: Ingestor, run: LiveRun) -> IngestSummary:
    """Fetch every enabled live source politely, archive it, and ingest what is new.

    No task-level retries: the fetcher retries each URL itself (timeouts, 429, 5xx, with
    backoff and Retry-After), and a source that still fails becomes error rows, not a failed run.
    """
    summary = ingestor.ingest(run.items(), source_kind="live")
    run.write_listings()
    summary.live = {name: health.as_dict() for name, health in run.health.items()}
    failing = [
        name
        for name, health in run.health.items()
        if health.fetched == 0 and (health.failed or health.listing not in ("ok", "unchanged"))
    ]
    _logger().info(
        "live: %d sources, %d pages fetched, %d failing%s",
        len(run.health),
        sum(h.fetched for h in run.health.values()),
        len(failing),
        " (time budget exhausted)" if run.timed_out else "",
    )
    return summary


@task(name="replay-warc", cache_policy=NO_CACHE)
def replay_warc(ingestor: Ingestor, path: Path, max_bytes: int) -> IngestSummary:
    """Replay one WARC file through extraction, dedup, relevance and the warehouse."""
    try:
        prefix: str | None = f"warc:{warc_file_id(path)}:"
    except WarcOpenError:
        prefix = None  # _replay_items reports the unreadable file as an error row
    summary = ingestor.ingest(_replay_items(path, max_bytes), "warc", locator_prefix=prefix)
    _logger().info(
        "%s: %d items, %d new, %d duplicate, %d failed",
        path.name,
        summary.items_seen,
        summary.docs_new,
        summary.docs_duplicate,
        summary.docs_failed,
    )
    return summary


def run_ingest(
    settings: Settings,
    replay: list[Path],
    seeds: bool,
    run_id: str,
    progress: ProgressHook | None = None,
    run_task: Callable[..., IngestSummary] | None = None,
    live: bool = False,
) -> IngestSummary:
    """Ingest the seed baseline, WARC files and/or live sources; record the run; return totals.

    `run_task` calls each unit of work: a Prefect task inside the flow, or a plain call.
    """
    call = run_task or (lambda fn, *args: fn.fn(*args))
    warehouse = open_warehouse(settings)
    _refuse_to_start_beside_an_old_file(settings, warehouse)
    params = {"replay": [str(p) for p in replay], "seeds": seeds, "live": live}
    # Every attempt ends as a row in `runs` (or in the attempts journal when the warehouse
    # itself cannot be written), whatever stops it.
    record = RunRecorder(settings, run_id, "ingest", params, settings.runner)
    # One ingest at a time per data folder; the OS drops the lock if its holder dies.
    with record.recording(_logger()), _writer_lock(settings, run_id, record) as lock:
        record.lock_wait = lock.waited
        if not warehouse.is_lake:
            _set_aside_stillborn_warehouse(settings.warehouse)
        warehouse.migrate()
        record.open(warehouse)
        # The journal first: a run that could not close its row says there how it ended.
        journaled = drain_journal(settings.home, warehouse)
        if journaled:
            _logger().info("%d attempt(s) from %s recorded in runs", len(journaled),
                               journal_path(settings.home).name)  # fmt: skip
        crashed = mark_crashed(warehouse, "ingest", run_id)
        if crashed:
            _logger().warning("%d earlier ingest run(s) had crashed: %s", len(crashed),
                                  ", ".join(crashed))  # fmt: skip
        sync_entity_catalogue(warehouse)
        return _run_locked(settings, warehouse, replay, seeds, run_id, progress, call, live,
                               record)  # fmt: skip


def _refuse_to_start_beside_an_old_file(settings: Settings, warehouse: Warehouse) -> None:
    """A data folder whose warehouse is still the single DuckDB file of an earlier crwatch.

    The default warehouse became the lake; starting an empty lake beside the old file would
    quietly leave every stored document behind.
    """
    old = settings.home / "crwatch.duckdb"
    if warehouse.is_lake and not warehouse.exists() and old.is_file():
        raise WarehouseError(
            f"{old} holds the warehouse of an earlier crwatch, and the warehouse is now the lake"
            f" {settings.warehouse}: run `crwatch migrate --to-lake` to move it there (counts"
            f' are checked), or set warehouse = "{old}" to keep using the file'
        )


# A DuckDB file starts with three 4 KiB header blocks; a shorter one never held any data.
_DUCKDB_HEADER_BYTES = 3 * 4096


def _set_aside_stillborn_warehouse(path: Path) -> None:
    """Move away a warehouse file that a crash left half-created, so the run can recreate it.

    Killed while DuckDB creates the file (before its headers are written), the file exists
    but DuckDB refuses it ("not a valid DuckDB database file") on every later open. Such a
    file is shorter than DuckDB's headers and cannot contain data; it is renamed, not deleted.
    Called under the writer lock, so no other ingest is creating it.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if size >= _DUCKDB_HEADER_BYTES:
        return
    aside = path.with_name(f"{path.name}.stillborn-{time.strftime('%Y%m%dT%H%M%S')}")
    path.rename(aside)
    wal = path.with_name(path.name + ".wal")
    if wal.exists():
        wal.rename(aside.with_name(aside.name + ".wal"))
    _logger().warning(
        "warehouse %s was left half-created by a crashed run (%d bytes, no DuckDB header);"
        " moved to %s and created anew",
        path,
        size,
        aside.name,
    )


def ingest_lock_wait_seconds(settings: Settings) -> float:
    """How long an ingest waits for another one: one schedule interval, then the next run is due."""
    return settings.ingest_interval_seconds


@contextmanager
def _writer_lock(settings: Settings, run_id: str, record: RunRecorder) -> Iterator[RunLock]:
    """Hold the ingest writer lock; a run that cannot get it is recorded as 'skipped'."""
    wait = ingest_lock_wait_seconds(settings)

    def waiting(holder: Holder | None) -> None:
        who = holder.describe() if holder else "another ingest"
        _logger().warning("%s is writing to this data folder; waiting up to %g s", who, wait)

    lock = RunLock(settings.home, run_id, wait, on_wait=waiting)
    try:
        lock.acquire()
    except RunLockBusy as exc:
        _logger().error("%s", exc)
        record.lock_wait = lock.wait_seconds
        record.fail(exc, {}, lock.wait_seconds, status="skipped")
        raise
    try:
        if lock.waited > 0.5:
            _logger().info("waited %.1f s for another ingest to finish", lock.waited)
        yield lock
    finally:
        lock.release()


# Set by `prepare` in a one-off command: workers already starting when the flow begins.
_prepared_pool: ExtractionPool | None = None


def prepare(settings: Settings, replay: list[Path], seeds: bool) -> None:
    """Warm what the run will need, before its flow starts (a temporary server boots meanwhile).

    Loads the vocabularies and the seed baseline (from the compiled cache when it is current)
    into this process, and, when there are WARC files to replay on the local runner, starts
    the extraction workers' forkserver, which takes about a second to import and load what
    they need (it is started here, after this process's own imports, and not before them:
    measured, a third busy process beside those imports slows the temporary Prefect server's
    start, which the flow waits for). Work done here is reused by the flow; nothing is written.
    """
    global _prepared_pool
    from extractors.classify.classifier import classifier_version
    from extractors.classify.entities import load_gazetteer
    from extractors.classify.matching import load_taxonomy
    from extractors.classify.topics import load_cues

    load_taxonomy(), load_cues(), load_gazetteer(), classifier_version()
    _import_what_the_run_imports()
    if seeds:
        texts = [
            (item.title or "", item.text, item.lang)
            for item in load_seed_baseline_cached(settings.seeds_dir)
            if isinstance(item, SeedText)
        ]
        analyse_texts_cached(texts)  # the judgements the seed task will ask for
    if replay and settings.runner != "dask" and _prepared_pool is None:
        pool = make_pool(settings)
        assert isinstance(pool, ExtractionPool)
        pool.launch()
        _prepared_pool = pool


# What a flow run imports on its first call (measured: 72 modules, ~0.1 s): Prefect's engines,
# its graph-visualisation hook (graphviz), anyio's asyncio backend, pytz for DuckDB's
# timestamps, the IDNA codec of httpx. Imported by `prepare`, while a temporary server boots.
_RUN_IMPORTS = (
    "prefect.flow_engine",
    "prefect.task_engine",
    "prefect.utilities.visualization",
    "anyio._backends._asyncio",
    "pytz",
    "encodings.idna",
)


def _import_what_the_run_imports() -> None:
    for name in _RUN_IMPORTS:
        with contextlib.suppress(ImportError):  # another version may lay itself out otherwise
            importlib.import_module(name)


def release_prepared() -> None:
    """Stop workers `prepare` started that no run took (e.g. the flow failed to start)."""
    global _prepared_pool
    pool, _prepared_pool = _prepared_pool, None
    if pool is not None:
        pool.close()


def _take_pool(settings: Settings) -> ExtractionPool | DaskExtractionPool:
    """The workers `prepare` began starting, else a new (lazily starting) pool."""
    global _prepared_pool
    pool, _prepared_pool = _prepared_pool, None
    return pool if pool is not None else make_pool(settings)


def make_pool(settings: Settings) -> ExtractionPool | DaskExtractionPool:
    """The extraction pool of the configured runner: local processes, or batches on Dask."""
    extraction = settings.extraction
    if extraction.runner == "dask":
        from flows.ingest.dask_pool import DaskExtractionPool

        return DaskExtractionPool(
            extraction.dask_workers,
            extraction.limits(),
            extraction.worker_memory_mb,
            extract_fn=extract_and_analyse,
            address=extraction.dask_address,
            vocabulary_dir=extraction.vocabulary_dir,
        )
    return ExtractionPool(
        extraction.workers,
        extraction.limits(),
        extraction.worker_memory_mb,
        extract_fn=extract_and_analyse,
        vocabulary_dir=extraction.vocabulary_dir,
        preload=WORKER_PRELOAD,
    )


def _run_locked(
    settings: Settings,
    warehouse: Warehouse,
    replay: list[Path],
    seeds: bool,
    run_id: str,
    progress: ProgressHook | None,
    call: Callable[..., IngestSummary],
    live: bool,
    record: RunRecorder,
) -> IngestSummary:
    """The body of `run_ingest`, run while holding the writer lock."""
    started = time.perf_counter()
    total = IngestSummary()
    stories = StoryIndex()  # shared by the run's ingestors: the days it loaded stay loaded
    ingestors: list[Ingestor] = []  # their `committed` counts survive a failure

    def ingestor_for(hook: Callable[[Item | AlreadyStored], None] | None, pool: Any) -> Ingestor:
        made = Ingestor(warehouse, run_id, pool, settings.batch_size, hook,
                        settings.min_text_chars, stories)  # fmt: skip
        ingestors.append(made)
        return made

    try:
        with ExitStack() as stack:
            pool: Any = None  # ExtractionPool or DaskExtractionPool: the same .map() contract
            sources = _live_sources(settings, total) if live else []
            # Sources of kind "warc" are replayed like --replay files, after them.
            replay = replay + [
                path
                for source in sources if source.kind == "warc" and source.path
                for path in expand_replay_paths([source.path])
                if path not in replay
            ]  # fmt: skip
            sources = [source for source in sources if source.kind != "warc"]
            if replay or sources:
                pool = stack.enter_context(_take_pool(settings))
            if seeds:
                hook = progress("seed baseline", None) if progress else None
                ingestor = ingestor_for(hook, None)
                total.merge(call(ingest_seed_baseline, ingestor, settings.seeds_dir))
            for path in replay:
                size = path.stat().st_size if path.is_file() else None
                hook = progress(path.name, size) if progress else None
                ingestor = ingestor_for(hook, pool)
                total.merge(call(replay_warc, ingestor, path, settings.max_page_bytes))
            if sources:
                hook = progress("live sources", None) if progress else None
                ingestor = ingestor_for(hook, pool)
                from flows.ingest.live import LiveRun  # httpx, the fetcher: only for live runs

                live_run = LiveRun(settings, sources, warehouse, run_id)
                total.merge(call(fetch_live_sources, ingestor, live_run))
    except BaseException:
        # What the failed run kept: the batches its ingestors committed, not what they read.
        committed = IngestSummary()
        for made in ingestors:
            committed.merge(made.committed)
        record.counts = committed.counts()  # `record.recording()` closes the row with them
        raise
    if total.docs_new or total.docs_duplicate or total.docs_changed:
        _refresh_search_index(warehouse)
    total.seconds = time.perf_counter() - started
    record.close("completed", total.counts(), total.seconds)
    return total


def _refresh_search_index(warehouse: Warehouse) -> None:
    """Index what the run stored or changed (tantivy, beside the warehouse); failures are logged.

    The run's documents are already committed, so a failed or busy refresh loses nothing: the
    next run's refresh (or `crwatch search --refresh`) indexes them.
    """
    try:
        stats = refresh_index(warehouse, wait_seconds=SEARCH_WAIT_SECONDS)
    except WarehouseError as exc:
        _logger().error("search index not refreshed (the next run catches up): %s", exc)
        return
    _logger().info(
        "search index: %s%d added, %d replaced, %d removed; %d documents, in %.1f s",
        "rebuilt, " if stats["rebuilt"] else "",
        stats["added"],
        stats["replaced"],
        stats["removed"],
        stats["documents"],
        stats["seconds"],
    )


def _live_sources(settings: Settings, total: IngestSummary) -> list[Source]:
    """The enabled sources; a broken sources file is reported, not fatal."""
    try:
        return [s for s in load_sources(settings.sources_file) if s.enabled]
    except (SourcesError, OSError) as exc:
        _logger().error("live sources not loaded: %s", exc)
        total.errors["bad_sources_file"] += 1
        total.live["(sources file)"] = {"listing": "bad_sources_file", "error": str(exc)}
        return []


@dataclass(frozen=True)
class LocalCaller:
    """What a command running the ingest flow in its own process hands it beside its parameters.

    Flow parameters are recorded by Prefect, so they are plain data; the caller's settings
    (already loaded, with its overrides) and its terminal progress bar travel here instead.
    """

    settings: Settings
    progress: ProgressHook | None = None


_caller: ContextVar[LocalCaller | None] = ContextVar("crwatch_ingest_caller", default=None)


@contextmanager
def called_by(caller: LocalCaller) -> Iterator[None]:
    """Run `ingest_flow` calls inside this block with the caller's settings and progress bar."""
    token = _caller.set(caller)
    try:
        yield
    finally:
        _caller.reset(token)


def _local_caller() -> LocalCaller | None:
    """The caller of the `called_by` block this runs in, if any."""
    return _caller.get()


@plain_flow(name="ingest", log_prints=False, persist_result=False)
def ingest_flow(
    replay: list[str] | None = None,
    seeds: bool = True,
    live: bool = False,
    runner: str | None = None,
) -> dict[str, Any]:
    """Prefect flow: seed baseline, WARC replays and live sources; returns the summary.

    `runner` overrides the setting (`crwatch serve --runner`); a local caller (`called_by`)
    hands over its own settings and progress bar instead.
    """
    bind_to_serve()  # under `crwatch serve`: die with it, never outlive it as an orphan
    # Through a module-level function, never the context variable itself: the flow run's
    # context (this flow, its function pickled by value with the globals it names) is shipped
    # with every task submitted to Dask, and a ContextVar cannot be pickled.
    caller = _local_caller()
    if caller is not None:
        settings, progress = caller.settings, caller.progress
    else:
        settings, progress = load_settings(overrides={"runner": runner} if runner else None), None
    settings.use_vocabularies()
    context = get_run_context()
    flow_run = getattr(context, "flow_run", None)
    run_id = str(flow_run.id) if flow_run is not None else uuid.uuid4().hex
    paths = expand_replay_paths(list(replay or []))
    summary = run_ingest(
        settings,
        paths,
        seeds,
        run_id,
        progress,
        run_task=lambda fn, *args: fn(*args),
        live=live,
    )
    return summary_dict(summary, run_id, settings)


def summary_dict(summary: IngestSummary, run_id: str, settings: Settings) -> dict[str, Any]:
    """The run summary as plain data (for printing and for tests)."""
    return {
        "run_id": run_id,
        "warehouse": str(settings.warehouse),
        **summary.counts(),
        "errors": dict(summary.errors),
        "by_source": {source: dict(counter) for source, counter in summary.by_source.items()},
        "live": summary.live,
        "seconds": round(summary.seconds, 2),
    }
