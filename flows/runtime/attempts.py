"""Every run attempt is recorded: in `runs`, or in a journal when the warehouse cannot be written.

A run opens its `runs` row as soon as it holds the writer lock and the warehouse is migrated,
and closes it as completed, failed or skipped with an error kind and message. A failure that
happens before the row could be written, or while the warehouse itself cannot be written (a
reader holds the DuckDB file: `WarehouseBusy`), is appended to `<home>/attempts.jsonl`, one JSON
object per line, in the shape of a `runs` row. `crwatch status` merges that journal with `runs`,
and the next ingest that can write copies its entries into `runs` and empties it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from flows.runtime.servestate import this_host
from flows.settings import Settings, open_warehouse
from warehouse.db import Warehouse, WarehouseError
from warehouse.runs import error_kind, error_text, finish_run, import_attempts, start_run

JOURNAL_NAME = "attempts.jsonl"
_RECORD_WAIT_SECONDS = 5.0  # recording a failure must not wait as long as the run did


def journal_path(home: Path) -> Path:
    """`<home>/attempts.jsonl`."""
    return Path(home) / JOURNAL_NAME


@contextmanager
def _locked(path: Path, mode: str) -> Iterator[IO[str]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open(mode, encoding="utf-8") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield handle
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def append_attempt(home: Path, entry: dict[str, Any]) -> None:
    """Append one attempt to the journal (locked, flushed to disk)."""
    line = json.dumps(entry, default=str, ensure_ascii=False)
    with _locked(journal_path(home), "a") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_attempts(home: Path, since: datetime | None = None) -> list[dict[str, Any]]:
    """Journal entries (started at or after `since`), oldest first; bad lines are skipped."""
    path = journal_path(home)
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
            started = datetime.fromisoformat(str(entry["started_at"]))
        except (ValueError, KeyError, TypeError):
            continue
        if since is None or started >= since:
            entry["started_at"] = started
            entries.append(entry)
    return entries


def drain_journal(home: Path, warehouse: Warehouse) -> list[str]:
    """Copy journal entries into `runs` and empty the journal; return the run ids added.

    Call it holding the writer lock. Entries that fail to parse stay in the file.
    """
    path = journal_path(home)
    if not path.exists() or path.stat().st_size == 0:
        return []
    with _locked(path, "r+") as handle:
        lines = handle.read().splitlines()
        good, bad = [], []
        for line in lines:
            try:
                good.append(json.loads(line))
            except ValueError:
                bad.append(line)
        added = import_attempts(warehouse, good)
        handle.seek(0)
        handle.truncate()
        handle.write("".join(line + "\n" for line in bad))
        handle.flush()
        os.fsync(handle.fileno())
    return added


class RunRecorder:
    """The `runs` row of one attempt: opened at start, closed once, never lost."""

    def __init__(
        self,
        settings: Settings,
        run_id: str,
        flow: str,
        params: dict[str, Any],
        runner: str | None = None,
    ) -> None:
        self.settings = settings
        self.run_id = run_id
        self.flow = flow
        self.params = params
        self.runner = runner
        self.lock_wait: float | None = None
        self.started_at = datetime.now(UTC)
        self.opened = False
        self.closed = False
        # What a failure records: the run sets what it has committed so far.
        self.counts: dict[str, int] = {}

    def _warehouse(self, failed: bool) -> Warehouse:
        # A failure (often the warehouse being busy) is journaled soon rather than waiting
        # as long again; a completed run waits like any writer.
        wait = self.settings.lock_wait_seconds
        return open_warehouse(self.settings, min(wait, _RECORD_WAIT_SECONDS) if failed else wait)

    def open(self, warehouse: Warehouse) -> None:
        """Write the row with status 'running' (the warehouse is migrated)."""
        start_run(warehouse, self.run_id, self.flow, self.params, self.lock_wait, self.runner)
        self.opened = True

    def close(
        self,
        status: str,
        counts: dict[str, int],
        seconds: float,
        error: str | None = None,
        kind: str | None = None,
    ) -> None:
        """Close the row (opening it first if needed); journal it if the warehouse refuses."""
        if self.closed:
            return
        self.closed = True
        warehouse = self._warehouse(failed=status != "completed")
        try:
            if not self.opened:
                warehouse.migrate()
                self.open(warehouse)
            finish_run(warehouse, self.run_id, status, counts, seconds, error, kind)
        except WarehouseError as exc:
            append_attempt(
                self.settings.home,
                {
                    "run_id": self.run_id, "flow": self.flow,
                    "started_at": self.started_at.isoformat(),
                    "finished_at": datetime.now(UTC).isoformat(), "status": status,
                    "error_kind": kind, "error": error, "pid": os.getpid(), "host": this_host(),
                    "params": self.params, "seconds": seconds, "counts": counts,
                    "not_in_warehouse": error_text(exc)[:500],
                },
            )  # fmt: skip

    def fail(
        self, exc: BaseException, counts: dict[str, int], seconds: float, status: str = "failed"
    ) -> None:
        """Close the row as failed (or skipped) with the exception's kind and message."""
        self.close(status, counts, seconds, error_text(exc), error_kind(exc))

    @contextmanager
    def recording(
        self, log: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None
    ) -> Iterator[RunRecorder]:
        """Whatever ends the block unclosed, the row is closed failed with `counts`; it goes on.

        The block opens the row when it can (`open`) and closes it completed itself (or
        skipped); the failure is logged to `log`. The warehouse-only flows (digest, reclassify)
        use `warehouse.runs.recorded_run`.
        """
        started = time.perf_counter()
        try:
            yield self
        except BaseException as exc:
            if not self.closed:
                if log is not None:
                    log.error("%s %s failed: %s", self.flow, self.run_id, error_text(exc))
                self.fail(exc, self.counts, time.perf_counter() - started)
            raise


def recent_attempts(home: Path, hours: float = 24.0) -> list[dict[str, Any]]:
    """Journal entries of the last `hours` hours."""
    return read_attempts(home, datetime.now(UTC) - timedelta(hours=hours))
