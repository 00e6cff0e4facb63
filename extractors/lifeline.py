"""Children that die with their parent: `prctl(PR_SET_PDEATHSIG)` on Linux, nothing elsewhere.

When a parent is killed with SIGKILL (or by the OOM killer) its children are re-parented to PID 1
and keep running. On Linux a child can ask the kernel for a signal when the *thread* that started
it exits; `die_with_parent` does that for the calling process, and `preexec_die_with_parent`
returns a `subprocess.Popen(preexec_fn=...)` that does it between fork and exec. Start such
children only from a thread that lives as long as the process (the main thread), or they die
when that thread ends. On other platforms both are no-ops and return False.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl: Callable[..., int] = libc.prctl
    except (OSError, AttributeError):
        return None
    return prctl


# Resolved once in the parent, so a preexec_fn after fork only makes one C call.
_PRCTL = _load_prctl()


def available() -> bool:
    """True when this platform can deliver a signal to a child when its parent dies."""
    return _PRCTL is not None


def die_with_parent(sig: int = signal.SIGKILL, expected_parent: int | None = None) -> bool:
    """Ask the kernel to send `sig` to this process when its parent exits; True if it will.

    With `expected_parent`, a process whose parent already died (it was re-parented before the
    request took effect) receives `sig` at once instead of living on as an orphan.
    """
    if _PRCTL is None:
        return False
    if _PRCTL(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    if expected_parent is not None and os.getppid() != expected_parent:
        os.kill(os.getpid(), sig)
    return True


def preexec_die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child die with the calling thread; None where unsupported."""
    if _PRCTL is None:
        return None
    prctl = _PRCTL
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died between fork and here
            os.kill(os.getpid(), sig)

    return preexec
