"""CPU of a whole command, including the processes it leaves to finish on their own.

A one-off `crwatch` command asks its temporary Prefect server to stop and exits without
waiting for it (the server's shutdown is not on the user's clock). `getrusage(RUSAGE_CHILDREN)`
counts only children that were waited for, so a bench process makes itself the "subreaper" of
its descendants (Linux `PR_SET_CHILD_SUBREAPER`): an orphaned grandchild is re-parented to the
bench, which waits for it after the command and so counts its CPU too.
"""

from __future__ import annotations

import ctypes
import os
import resource
import time
from collections.abc import Iterable
from pathlib import Path

_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Adopt this process's orphaned descendants (Linux); False where that is not possible."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _children_of(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            lines = status.read_text().splitlines()
        except OSError:
            continue
        ppid = next((line.split()[1] for line in lines if line.startswith("PPid:")), "")
        if ppid == str(pid):
            found.append(int(status.parent.name))
    return found


def reap_orphans(keep: Iterable[int] = (), timeout: float = 30.0) -> None:
    """Wait for the adopted descendants still running (their CPU then counts as children's);
    `keep`: children of this process's own (a server it runs) that are not waited for."""
    kept = set(keep)
    deadline = time.monotonic() + timeout
    for pid in _children_of(os.getpid()):
        if pid in kept:
            continue
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                break
            if done:
                break
            time.sleep(0.05)


def children_cpu() -> float:
    """User + system CPU seconds of the children waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
