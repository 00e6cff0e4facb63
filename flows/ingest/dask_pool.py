"""Extraction on Dask: the `.map(items)` contract of `ExtractionPool`, batches as Prefect tasks.

`crwatch` picks this pool when `runner = "dask"` (`CRWATCH_RUNNER=dask`, `crwatch serve --runner
dask`). Pages are grouped into batches; each batch is one Prefect task run (`extract-batch`)
submitted through prefect-dask's `DaskTaskRunner` to a local cluster (`dask_workers` worker
processes) or to the scheduler at `dask_address`. The extraction function and its limits are the
ones the process pool uses: inside each Dask worker a one-process `ExtractionPool` keeps the
per-document time and memory caps (a hung page gets its process killed, not the Dask worker).
Only the flow process writes to DuckDB: batches come back as outcomes, in input order.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from prefect import task
from prefect.cache_policies import NO_CACHE

from extractors.errors import ErrorKind
from extractors.page.extract import ExtractionLimits
from extractors.page.pool import ExtractFn, ExtractionPool, Outcome
from extractors.records import ExtractionError, RawPage
from extractors.vocabulary import use_directory

T = TypeVar("T")
BATCH_PAGES = 25  # pages per Dask task: big enough that ~5 ms of task overhead is noise
_log = logging.getLogger(__name__)

# One extraction process per Dask worker process, started on its first batch and kept.
_worker_pools: dict[tuple[Any, ...], ExtractionPool | None] = {}
_worker_lock = threading.Lock()


def _close_worker_pools() -> None:
    for pool in _worker_pools.values():
        if pool is not None:
            pool.close()
    _worker_pools.clear()


def _worker_pool(
    limits: ExtractionLimits, memory_mb: int, extract_fn: ExtractFn, vocabulary_dir: Path | None
) -> Any:
    """This Dask worker's capped extraction process, or None where child processes are refused."""
    key = (limits, memory_mb, extract_fn, vocabulary_dir)
    if key not in _worker_pools:
        pool: ExtractionPool | None = None
        try:
            pool = ExtractionPool(
                1, limits, memory_mb, extract_fn=extract_fn, vocabulary_dir=vocabulary_dir
            )
            pool.start()
        except (AssertionError, OSError, RuntimeError) as exc:
            # A daemonic Dask worker (distributed.worker.daemon: true) cannot have children:
            # multiprocessing refuses with an AssertionError.
            _log.warning("no capped extraction process in this Dask worker (%s); running inline"
                         " with the size cap only", exc)  # fmt: skip
            pool = None
        if not _worker_pools:
            atexit.register(_close_worker_pools)
        _worker_pools[key] = pool
    return _worker_pools[key]


def extract_pages(
    pages: list[RawPage],
    limits: ExtractionLimits,
    memory_mb: int,
    extract_fn: ExtractFn,
    vocabulary_dir: Path | None = None,
) -> list[Outcome]:
    """Extract a batch of pages with the process pool's function and caps; outcomes in order."""
    with _worker_lock:
        pool = _worker_pool(limits, memory_mb, extract_fn, vocabulary_dir)
        if pool is not None:
            return [outcome or ExtractionError(ErrorKind.ERROR, "no outcome") for _, outcome in
                    pool.map(pages)]  # fmt: skip
    use_directory(vocabulary_dir)  # inline: this Dask worker's own judges
    outcomes: list[Outcome] = []
    for page in pages:
        try:
            outcomes.append(extract_fn(page, limits))
        except Exception as exc:  # one bad page must not fail the batch
            outcomes.append(
                ExtractionError(ErrorKind.ERROR, f"{type(exc).__name__}: {str(exc)[:300]}")
            )
    return outcomes


# The task's function is a module-level one: workers import it (and its caps) by name.
extract_batch = task(name="extract-batch", cache_policy=NO_CACHE)(extract_pages)


def _api_for_workers() -> Any:
    """Settings that send the workers' task runs to this flow's API, also a temporary one.

    Without `PREFECT_API_URL` the flow talks to a temporary server it started; the settings
    shipped to Dask workers do not name it, and each worker would start its own (and fight
    over the same SQLite). Naming the running API in the shipped settings avoids that.
    """
    from contextlib import nullcontext

    from prefect.context import FlowRunContext
    from prefect.settings import PREFECT_API_URL, temporary_settings

    context = FlowRunContext.get()
    if PREFECT_API_URL.value() or context is None or context.client is None:
        return nullcontext()
    return temporary_settings({PREFECT_API_URL: str(context.client.api_url).rstrip("/")})


class DaskExtractionPool:
    """A drop-in for `ExtractionPool` whose work runs as `extract-batch` tasks on Dask."""

    def __init__(
        self,
        workers: int,
        limits: ExtractionLimits,
        memory_mb: int = 2048,
        extract_fn: ExtractFn | None = None,
        address: str = "",
        batch_pages: int = BATCH_PAGES,
        vocabulary_dir: Path | None = None,
    ) -> None:
        from extractors.page.extract import extract_page

        self.workers = max(1, workers)
        self.limits = limits
        self.memory_mb = memory_mb
        self.extract_fn: ExtractFn = extract_fn or extract_page
        self.address = address
        self.batch_pages = batch_pages
        self.vocabulary_dir = vocabulary_dir
        self._runner: Any = None
        self._config: Any = None

    def __enter__(self) -> DaskExtractionPool:
        import os

        # Dask logs every connection at INFO; keep the run's log about the run.
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")  # worker processes
        logging.getLogger("distributed").setLevel(logging.WARNING)

        import dask
        from prefect_dask.task_runners import DaskTaskRunner

        if self.address:
            runner = DaskTaskRunner(address=self.address)
        else:
            # Non-daemonic workers may start the capped extraction process.
            self._config = dask.config.set({"distributed.worker.daemon": False})
            runner = DaskTaskRunner(
                cluster_kwargs={
                    "n_workers": self.workers,
                    "threads_per_worker": 1,
                    "processes": True,
                    "dashboard_address": None,
                }
            )
        self._runner = runner.__enter__()  # type: ignore[no-untyped-call]
        return self

    def __exit__(self, *exc_info: Any) -> None:
        runner, self._runner = self._runner, None
        try:
            if runner is not None:
                runner.__exit__(*exc_info)
        finally:
            if self._config is not None:
                self._config.__exit__(None, None, None)
                self._config = None

    def map(self, items: Iterable[T]) -> Iterator[tuple[T, Outcome | None]]:
        """Yield (item, outcome) in input order; non-page items pass through with None."""
        if self._runner is None:
            raise RuntimeError("DaskExtractionPool must be entered before map()")
        in_flight: deque[tuple[list[T], Any]] = deque()
        chunk: list[T] = []
        # Two batches per worker keep every worker busy while the flow writes earlier ones.
        max_in_flight = self.workers * 2
        for item in items:
            chunk.append(item)
            if sum(isinstance(i, RawPage) for i in chunk) >= self.batch_pages:
                in_flight.append((chunk, self._submit(chunk)))
                chunk = []
                while len(in_flight) > max_in_flight:
                    yield from self._drain(*in_flight.popleft())
        if chunk:
            in_flight.append((chunk, self._submit(chunk)))
        while in_flight:
            yield from self._drain(*in_flight.popleft())

    def _submit(self, chunk: list[T]) -> Any:
        pages = [item for item in chunk if isinstance(item, RawPage)]
        if not pages:
            return None
        parameters = {
            "pages": pages,
            "limits": self.limits,
            "memory_mb": self.memory_mb,
            "extract_fn": self.extract_fn,
            "vocabulary_dir": self.vocabulary_dir,
        }
        from prefect.context import TaskRunContext

        # Submitted as a child of the flow run, not of the calling task: Prefect ships the
        # current task run's context (its parameters, which hold this pool) to the worker.
        token = TaskRunContext.__var__.set(None)  # type: ignore[arg-type]
        try:
            with _api_for_workers():
                return self._runner.submit(extract_batch, parameters=parameters)
        finally:
            TaskRunContext.__var__.reset(token)

    def _drain(self, chunk: list[T], future: Any) -> Iterator[tuple[T, Outcome | None]]:
        outcomes: list[Outcome] = []
        if future is not None:
            try:
                outcomes = list(future.result())
            except Exception as exc:  # a lost worker: the batch's pages become error rows
                message = f"extraction batch failed on Dask: {type(exc).__name__}: {exc}"[:500]
                outcomes = [ExtractionError(ErrorKind.CRASHED, message) for _ in chunk]
        results = iter(outcomes)
        for item in chunk:
            if isinstance(item, RawPage):
                yield (
                    item,
                    next(results, ExtractionError(ErrorKind.CRASHED, "no outcome from Dask")),
                )
            else:
                yield item, None
