"""A process pool for CPU-heavy extraction with a hard per-document time limit.

`concurrent.futures` cannot stop a task that hangs, and one pathological page (deeply nested
tags, a 19 MB page) can take minutes or gigabytes. Here each worker works on one document at
a time (with the next one already queued in its pipe); a document that exceeds its deadline
gets its worker killed and replaced, and becomes an `ExtractionError(ErrorKind.TIMEOUT)`. A worker
that dies (segfault, out of memory) becomes `ExtractionError(ErrorKind.CRASHED)`. Workers cap their
own address space so a memory bomb fails with MemoryError inside the worker instead of taking
the machine down.

Results come back in input order from `map()`, which streams: it keeps every worker busy while
the caller consumes earlier results (writes to DuckDB, say) on its own thread.

Workers are forked from multiprocessing's forkserver where the platform has one (Linux): a
single-threaded process started once per parent (`start_forkserver`, or `launch()` ahead of
the work), which imports the `preload` modules (trafilatura, the language model, the compiled
vocabularies) once; every worker is then a fork of it, sharing those pages copy-on-write and
ready at once instead of importing everything itself (~1.2 s of CPU per worker with "spawn").
The parent is never forked itself (it runs Prefect's threads, and forking a threaded process
can deadlock). Elsewhere workers are spawned and warm up on their own.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing as mp
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from extractors.errors import ErrorKind
from extractors.lifeline import die_with_parent
from extractors.records import ExtractedDoc, ExtractionError, RawPage
from extractors.vocabulary import use_directory

if TYPE_CHECKING:  # extractors.page.extract imports trafilatura: only the workers need it
    from extractors.page.extract import ExtractionLimits

Outcome = ExtractedDoc | ExtractionError
T = TypeVar("T")
_STARTUP_SECONDS = 120
# Jobs queued per worker: the next page already waits in the pipe when one finishes, so a
# worker never idles through the parent's round trip. Its deadline starts when it reaches
# the head of the queue (when the previous answer arrives).
_DEPTH = 2


def _limit_memory(megabytes: int) -> None:
    try:
        import resource

        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):  # not on this platform: run without the cap
        pass


ExtractFn = Callable[[RawPage, "ExtractionLimits"], Outcome]


def warm_up() -> None:
    """Load what every extraction needs (trafilatura, the language model: ~1 s) before the
    worker reports ready, so no page's deadline pays for it (a no-op once loaded)."""
    import extractors.page.extract  # noqa: F401
    from extractors.page.language import identify_language

    identify_language("warm-up text for the language model")


def default_start_method() -> str:
    """The workers' start method: "forkserver" where multiprocessing has one, else "spawn"."""
    return "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"


def start_forkserver(preload: Sequence[str] = ()) -> bool:
    """Start this process's forkserver now, importing `preload` modules in it; False if none.

    Idempotent, and returns at once: the server imports in parallel with the caller (a
    one-off command calls this once it has imported the pipeline). The first call decides what the
    server preloads for the life of this process; later pools with other `preload` lists
    still work (their workers import what is missing themselves). A module that fails to
    import is skipped by the server; its workers import it themselves (and fail there,
    visibly, if it is broken).
    """
    if default_start_method() != "forkserver":
        return False
    from multiprocessing import forkserver

    with _FORKSERVER_LOCK:
        if not _forkserver_running():
            forkserver.set_forkserver_preload(list(preload))
        forkserver.ensure_running()
    return True


_FORKSERVER_LOCK = threading.Lock()


def _forkserver_running() -> bool:
    return _forkserver_pid() is not None


def _forkserver_pid() -> int | None:
    """The pid of this process's forkserver (the parent of its forked workers), if known."""
    from multiprocessing import forkserver

    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    return pid if isinstance(pid, int) else None


def _worker_main(
    conn: Connection,
    limits: ExtractionLimits,
    memory_mb: int,
    extract_fn: ExtractFn,
    parent: int | None = None,
    vocabulary_dir: Path | None = None,
) -> None:
    """Worker loop: receive (index, page), send (index, outcome) until told to stop."""
    if parent is not None:
        # Killed with the ingest (kill -9, OOM), a worker must not live on as an orphan. A
        # forked worker's parent is the forkserver, which exits when the ingest's end of its
        # pipe closes (however the ingest died), and takes its workers with it.
        die_with_parent(signal.SIGKILL, expected_parent=parent)
    use_directory(vocabulary_dir)  # a fresh process starts with the shipped vocabularies
    _limit_memory(memory_mb)
    warm_up()
    conn.send("ready")  # imports are done: the parent starts deadlines only from here
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        index, page = message
        outcome: Outcome
        try:
            outcome = extract_fn(page, limits)
        except MemoryError:
            outcome = ExtractionError(
                ErrorKind.TOO_LARGE, "extraction ran out of its memory allowance"
            )
        except RecursionError:
            outcome = ExtractionError(ErrorKind.ERROR, "document too deeply nested")
        except Exception as exc:  # one bad page must not end the worker
            outcome = ExtractionError(ErrorKind.ERROR, f"{type(exc).__name__}: {str(exc)[:300]}")
        try:
            conn.send((index, outcome))
        except (BrokenPipeError, OSError):
            return


@dataclass
class _Worker:
    process: Any  # multiprocessing.process.BaseProcess
    conn: Connection
    # Jobs sent and not yet answered, oldest first; the worker is busy with the first one.
    queue: deque[tuple[int, RawPage]] = field(default_factory=deque)
    deadline: float = 0.0  # for the first job in the queue


@dataclass
class PoolStats:
    """Counters for the run summary."""

    documents: int = 0
    timeouts: int = 0
    crashes: int = 0
    restarts: int = 0


class ExtractionPool:
    """Run `extract_page` over pages in worker processes; see the module docstring."""

    def __init__(
        self,
        workers: int,
        limits: ExtractionLimits,
        memory_mb: int = 2048,
        start_method: str | None = None,  # default: default_start_method()
        extract_fn: ExtractFn | None = None,  # default: extractors.page.extract.extract_page
        vocabulary_dir: Path | None = None,  # where the workers' judges read vocabularies
        preload: Sequence[str] = (),  # modules the forkserver imports once for every worker
    ) -> None:
        if extract_fn is None:
            from extractors.page.extract import extract_page

            extract_fn = extract_page
        self.size = max(1, workers)
        self.limits = limits
        self.memory_mb = memory_mb
        self.extract_fn = extract_fn  # must be importable by name: workers are not forks of us
        self.vocabulary_dir = vocabulary_dir
        self.preload = tuple(preload)
        # Never "fork": the parent runs Prefect's threads, and forking a threaded process can
        # deadlock. The forkserver is single-threaded; its forks are safe.
        self.start_method = start_method or default_start_method()
        self._context = mp.get_context(self.start_method)
        self._workers: list[_Worker] = []
        self._launched: list[_Worker] = []  # started, not yet known to be ready
        self.stats = PoolStats()

    def __enter__(self) -> ExtractionPool:
        # Workers start lazily, in `map()`, and only as many as the input needs.
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self, count: int | None = None) -> None:
        """Have `count` workers (default: all `size`) running (idempotent); they boot in parallel.

        Workers `launch()`ed earlier are waited for first, so a caller can launch them ahead
        (while it does other work) and pay only what is left of their start-up here.
        """
        wanted = self.size if count is None else max(0, min(count, self.size))
        self._launch_up_to(wanted)
        launched, self._launched = self._launched, []
        try:
            for worker in launched:
                self._await_ready(worker)
        except BaseException:
            for worker in launched:
                if worker.process.is_alive():
                    worker.process.kill()
            raise
        self._workers.extend(launched)

    def launch(self, count: int | None = None) -> None:
        """Begin starting workers up to `count` (default `size`) without waiting for them.

        With the forkserver this starts the server, whose preload is the slow part, and
        returns at once: a fork of it is ready in milliseconds (but waits for the preload), so
        the workers themselves are forked by `start()` when the work arrives.
        """
        if self.start_method == "forkserver":
            start_forkserver(self.preload)
            return
        self._launch_up_to(count)

    def _launch_up_to(self, count: int | None) -> None:
        wanted = self.size if count is None else max(0, min(count, self.size))
        missing = wanted - len(self._workers) - len(self._launched)
        self._launched.extend(self._launch() for _ in range(max(0, missing)))

    @property
    def running(self) -> int:
        """Workers started (or starting) so far."""
        return len(self._workers) + len(self._launched)

    def _spawn(self) -> _Worker:
        worker = self._launch()
        self._await_ready(worker)
        return worker

    def _launch(self) -> _Worker:
        parent, child = self._context.Pipe(duplex=True)
        owner: int | None
        if self.start_method == "forkserver":
            start_forkserver(self.preload)  # a no-op when the caller started it earlier
            owner = _forkserver_pid()  # workers are its children, forked by its main thread
        else:
            # The kernel signals a child when the *thread* that started it ends: only workers
            # started by the main thread (which lives as long as the process) ask for it.
            main = threading.current_thread() is threading.main_thread()
            owner = os.getpid() if main else None
        process = self._context.Process(  # type: ignore[attr-defined]
            target=_worker_main,
            args=(child, self.limits, self.memory_mb, self.extract_fn, owner, self.vocabulary_dir),
            daemon=True,
            name="crwatch-extract",
        )
        process.start()
        child.close()
        return _Worker(process=process, conn=parent)

    def _await_ready(self, worker: _Worker) -> None:
        """Wait for a worker to finish importing, so a slow start never counts as a timeout."""
        try:
            ready = worker.conn.poll(_STARTUP_SECONDS) and worker.conn.recv() == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            worker.process.kill()
            worker.process.join(timeout=1.0)
            code = worker.process.exitcode
            what = f"did not start within {_STARTUP_SECONDS} s"
            if code is not None and code != -signal.SIGKILL:
                what = "exited while starting (its error is on stderr)"
            raise RuntimeError(f"extraction worker {what} (exit code {code})")

    def _replace(self, worker: _Worker) -> _Worker:
        """Kill a stuck or dead worker and put a fresh one in its place."""
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(timeout=5)
        worker.conn.close()
        self.stats.restarts += 1
        fresh = self._spawn()
        self._workers[self._workers.index(worker)] = fresh
        return fresh

    def close(self) -> None:
        """Stop all workers, politely first."""
        self._workers.extend(self._launched)
        self._launched = []
        for worker in self._workers:
            with contextlib.suppress(BrokenPipeError, OSError):
                worker.conn.send(None)
        # Workers hold no state worth saving: a short grace period, then kill.
        deadline = time.monotonic() + 1.0
        for worker in self._workers:
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=5)
            worker.conn.close()
        self._workers = []

    def map(self, items: Iterable[T]) -> Iterator[tuple[T, Outcome | None]]:
        """Yield (item, outcome) in input order, streaming.

        `RawPage` items are extracted in the workers; anything else (seed texts, acquisition
        errors) passes through untouched with outcome None, keeping its place in the order.
        """
        source: Iterator[tuple[int, T]] = iter(enumerate(items))
        held: dict[int, T] = {}
        results: dict[int, Outcome | None] = {}
        next_out = 0
        exhausted = False
        # Bound the look-ahead so memory stays flat however long the input is.
        max_held = self.size * 8
        if not self._workers:
            # Start only as many workers as the input needs: none for an input without pages
            # (seed texts, re-read records), one for a single page, all for a longer stream.
            prefetch, exhausted = self._read_ahead(source, max_held)
            source = itertools.chain(prefetch, source)
            pages = sum(isinstance(item, RawPage) for _, item in prefetch)
            if pages:
                self.start(pages)
            exhausted = exhausted and not prefetch

        while True:
            while not exhausted and len(held) < max_held:
                room = self._with_room()
                if not room and self._launched:  # launched ahead (`launch`): wait for them now
                    self.start(self.running)
                    room = self._with_room()
                if not room and self.running >= self.size:
                    break
                try:
                    index, item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                held[index] = item
                if isinstance(item, RawPage):
                    if not room:  # more pages than the workers started so far can take
                        self.start(self.running + 1)
                    self._dispatch(self._with_room()[0], index, item)
                else:
                    results[index] = None
            while next_out in results:
                outcome = results.pop(next_out)
                yield held.pop(next_out), outcome
                next_out += 1
            busy = [w for w in self._workers if w.queue]
            if busy:
                self._collect(busy, results)
            elif exhausted and not held:
                return
            elif len(held) >= max_held or (not self._with_room() and self.running >= self.size):
                # Nothing in flight yet the head of the queue is missing: cannot happen, but
                # never spin if it does.
                raise RuntimeError("extraction pool lost track of a document")

    def _read_ahead(
        self, source: Iterator[tuple[int, T]], limit: int
    ) -> tuple[list[tuple[int, T]], bool]:
        """Read until `size` pages or `limit` items are seen; return them and whether it ended."""
        prefetch: list[tuple[int, T]] = []
        pages = 0
        while pages < self.size and len(prefetch) < limit:
            try:
                pair = next(source)
            except StopIteration:
                return prefetch, True
            prefetch.append(pair)
            pages += isinstance(pair[1], RawPage)
        return prefetch, False

    def _with_room(self) -> list[_Worker]:
        """Workers that can take another job, least loaded first."""
        return sorted(
            (w for w in self._workers if len(w.queue) < _DEPTH), key=lambda w: len(w.queue)
        )

    def _dispatch(self, worker: _Worker, index: int, page: RawPage) -> None:
        if not worker.queue:
            worker.deadline = time.monotonic() + self.limits.timeout_seconds
        worker.queue.append((index, page))
        try:
            worker.conn.send((index, page))
        except (BrokenPipeError, OSError):
            self._restart_with_queue(worker)

    def _restart_with_queue(self, worker: _Worker) -> _Worker:
        """Replace a worker and hand its unanswered jobs to the fresh one."""
        pending = list(worker.queue)
        fresh = self._replace(worker)
        for index, page in pending:
            self._dispatch(fresh, index, page)
        return fresh

    def _collect(self, busy: list[_Worker], results: dict[int, Outcome | None]) -> None:
        """Wait for the next result or deadline; record outcomes, replace stuck workers."""
        now = time.monotonic()
        timeout = max(0.0, min(w.deadline for w in busy) - now)
        ready = {id(conn) for conn in wait([w.conn for w in busy], timeout=timeout)}
        for worker in busy:
            if id(worker.conn) in ready:
                self._receive(worker, results)
            elif worker.queue and time.monotonic() >= worker.deadline:
                index, _ = worker.queue.popleft()
                self.stats.timeouts += 1
                message = f"extraction exceeded {self.limits.timeout_seconds:g} s; worker replaced"
                self._record(index, ExtractionError(ErrorKind.TIMEOUT, message), results)
                self._restart_with_queue(worker)

    def _receive(self, worker: _Worker, results: dict[int, Outcome | None]) -> None:
        """Take one answer from a worker (or learn that it died while on its first job)."""
        try:
            index, outcome = worker.conn.recv()
        except (EOFError, OSError):
            index, _ = worker.queue.popleft()
            # Its pipe closed as it died; the exit status follows (a forked worker's through
            # the forkserver): wait for it briefly, for the message.
            worker.process.join(timeout=1.0)
            code = worker.process.exitcode
            self.stats.crashes += 1
            self._record(
                index,
                ExtractionError(ErrorKind.CRASHED, f"extraction worker died (exit code {code})"),
                results,
            )
            self._restart_with_queue(worker)
            return
        head, _ = worker.queue.popleft()
        assert head == index, "a worker answers its jobs in order"
        if worker.queue:
            worker.deadline = time.monotonic() + self.limits.timeout_seconds
        self._record(index, outcome, results)

    def _record(self, index: int, outcome: Outcome, results: dict[int, Outcome | None]) -> None:
        self.stats.documents += 1
        results[index] = outcome
