"""The writer lock: one ingest at a time per data folder, released by the OS when its holder dies.

`fcntl.flock` on `<home>/ingest.lock`. The kernel drops the lock when the holding process exits
for any reason (kill -9 included), so a crashed run can never wedge the next one: there is no
stale-lock cleanup to get wrong. The file also records who holds it (pid, host, run id, since
when) for `crwatch status` and for the message a waiting run gives when it gives up.

Errors:
    RunLockBusy   another run held the lock for longer than we were allowed to wait (transient)
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from flows.errors import RunLockBusy as RunLockBusy  # defined in flows.errors; kept here

LOCK_NAME = "ingest.lock"


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) the lock, as written in the lock file."""

    pid: int
    host: str
    run_id: str
    since: str

    def describe(self) -> str:
        """One line for messages and `crwatch status`."""
        return f"run {self.run_id} (pid {self.pid} on {self.host}, since {self.since})"


def lock_path(home: Path) -> Path:
    """The lock file of a data folder."""
    return Path(home) / LOCK_NAME


def _read_holder(path: Path) -> Holder | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8") or "{}")
        return Holder(int(data["pid"]), str(data["host"]), str(data["run_id"]), str(data["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def current_holder(home: Path) -> Holder | None:
    """The live holder of the lock, or None when nobody holds it (a dead holder does not count)."""
    path = lock_path(home)
    if not path.exists():
        return None
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(path)
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return None


class RunLock:
    """Exclusive writer lock for one data folder; use as a context manager."""

    def __init__(
        self,
        home: Path,
        run_id: str,
        wait_seconds: float,
        on_wait: Callable[[Holder | None], None] | None = None,
    ) -> None:
        self.path = lock_path(home)
        self.run_id = run_id
        self.wait_seconds = wait_seconds
        self.on_wait = on_wait  # called once, when the lock is found taken
        self.waited = 0.0  # seconds spent waiting for another holder
        self._handle: Any = None

    def acquire(self) -> None:
        """Take the lock, waiting up to `wait_seconds`; raise `RunLockBusy` after that."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        started = time.monotonic()
        delay = 0.05
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if self.on_wait is not None and delay == 0.05:
                    self.on_wait(_read_holder(self.path))
                if time.monotonic() - started >= self.wait_seconds:
                    holder = _read_holder(self.path)
                    handle.close()
                    who = holder.describe() if holder else "another run"
                    raise RunLockBusy(
                        f"{who} still holds the writer lock {self.path} after waiting"
                        f" {self.wait_seconds:g} s; this run did nothing. It will be retried at"
                        " the next scheduled time, or run it again when that one finishes."
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        self.waited = time.monotonic() - started
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "run_id": self.run_id,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(record))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        """Clear the holder record and drop the lock (idempotent)."""
        handle, self._handle = self._handle, None
        if handle is None:
            return
        try:
            handle.seek(0)
            handle.truncate()
            handle.flush()
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
