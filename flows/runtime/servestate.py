"""What `crwatch serve` owns: `<home>/serve.json`, `<home>/serve.lock`, and its process tree.

`serve.lock` is held (`flock`) for the whole life of a `crwatch serve`; the kernel drops it when
the process dies, even by kill -9, so "is serve alive for this data folder?" is answered by
trying to take it. `serve.json` says who that serve is, written atomically (temporary file,
fsync, rename) and removed on a clean exit:

    {"pid", "api_url", "server_pid", "started_at", "instance", "host", "port", "home",
     "pid_start", "server_start", "external_api"}

`instance` is a random token that serve puts in its environment (`CRWATCH_SERVE_INSTANCE`)
before it starts anything, so every process it starts (the Prefect server, flow runs, their
extraction workers) inherits it. A new serve that finds a dead predecessor's state file stops
every process still carrying that token: no orphan survives a kill -9 of serve. Linux reads
the token from /proc; elsewhere only the recorded server pid is stopped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

STATE_NAME = "serve.json"
LOCK_NAME = "serve.lock"
INSTANCE_ENV = "CRWATCH_SERVE_INSTANCE"
SERVE_PID_ENV = "CRWATCH_SERVE_PID"
_PROC = Path("/proc")


@dataclass
class ServeState:
    """The contents of `<home>/serve.json`."""

    pid: int
    api_url: str
    server_pid: int | None
    started_at: str
    instance: str
    host: str
    port: int
    home: str
    pid_start: int | None = None  # process start time (clock ticks), against pid reuse
    server_start: int | None = None
    external_api: bool = False

    def serve_alive(self) -> bool:
        """True when the recorded serve process still runs (same pid, same start time)."""
        return process_alive(self.pid, self.pid_start)


def state_path(home: Path) -> Path:
    """`<home>/serve.json`."""
    return Path(home) / STATE_NAME


def read_state(home: Path) -> ServeState | None:
    """The state file's contents, or None when it is missing or unreadable."""
    try:
        data: dict[str, Any] = json.loads(state_path(home).read_text(encoding="utf-8"))
        known = {name: data[name] for name in ServeState.__dataclass_fields__ if name in data}
        return ServeState(**known)
    except (OSError, ValueError, TypeError):
        return None


def write_state(home: Path, state: ServeState) -> None:
    """Write the state file atomically: a reader sees the old or the new file, never half."""
    path = state_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(asdict(state), handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def remove_state(home: Path, pid: int) -> None:
    """Remove the state file if it is still the one process `pid` wrote."""
    current = read_state(home)
    if current is not None and current.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            state_path(home).unlink()


# ---------------------------------------------------------------- the single-instance lock


class ServeLock:
    """`flock` on `<home>/serve.lock`, held while serve runs; released by the OS on death."""

    def __init__(self, home: Path) -> None:
        self.path = Path(home) / LOCK_NAME
        self._handle: Any = None

    def acquire(self, wait_seconds: float = 3.0) -> bool:
        """Take the lock, retrying briefly (a `crwatch status` may probe it); False if held."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._handle = handle
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.close()
                    return False
                time.sleep(0.1)

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        handle, self._handle = self._handle, None
        if handle is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()


def serve_running(home: Path) -> bool:
    """True when a `crwatch serve` holds this data folder's serve lock right now."""
    path = Path(home) / LOCK_NAME
    if not path.exists():
        return False
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False


# ---------------------------------------------------------------- processes


def process_start(pid: int) -> int | None:
    """The start time of a process in clock ticks since boot (Linux), else None."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])  # field 22 of stat; fields[0] is field 3 (state)


def process_alive(pid: int | None, started: int | None = None) -> bool:
    """True when `pid` runs (not a zombie) and, if given, started at `started` (no reuse)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return True  # no /proc here: the signal check is all we have
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return False
    return started is None or int(fields[19]) == started


def command_line(pid: int) -> str:
    """The command line of a process, for messages ('' when unknown)."""
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()


def processes_of_instance(instance: str) -> list[int]:
    """Pids of the processes whose environment carries `CRWATCH_SERVE_INSTANCE=<instance>`."""
    if not instance or not _PROC.is_dir():
        return []
    marker = f"{INSTANCE_ENV}={instance}".encode()
    found = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0") and process_alive(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


def stop_processes(pids: list[int], grace_seconds: float = 10.0) -> list[int]:
    """SIGTERM the processes, SIGKILL those still alive after the grace; return the pids gone."""
    alive = [pid for pid in pids if process_alive(pid)]
    starts = {pid: process_start(pid) for pid in alive}
    for pid in alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        if not any(process_alive(pid, starts[pid]) for pid in alive):
            break
        time.sleep(0.2)
    for pid in alive:
        if process_alive(pid, starts[pid]):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(process_alive(p, starts[p]) for p in alive):
        time.sleep(0.1)
    return [pid for pid in alive if not process_alive(pid, starts[pid])]


# ---------------------------------------------------------------- the port


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on host:port (we can bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_owner(port: int) -> int | None:
    """The pid of the process listening on TCP `port` (Linux, same user or root), else None."""
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (_PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(parts[9])
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in targets:
                        return int(entry.name)
        except OSError:
            continue
    return None


def describe_process(pid: int | None) -> str:
    """'pid N: command line' for messages, or 'an unknown process'."""
    if pid is None:
        return "a process this user cannot see"
    command = command_line(pid)
    return f"pid {pid}: {command[:160]}" if command else f"pid {pid}"


def this_host() -> str:
    """The machine name recorded with runs and serve state."""
    return socket.gethostname()


def bind_to_serve() -> bool:
    """In a flow run started by `crwatch serve`: be killed (SIGKILL) when that serve dies.

    Serve starts flow runs from its main thread, which lives as long as serve itself. A run
    whose serve is already gone (re-parented before this call) is killed at once. Outside
    serve (no `CRWATCH_SERVE_PID`, or another parent) this does nothing and returns False.
    """
    from extractors.lifeline import die_with_parent

    value = os.environ.get(SERVE_PID_ENV, "")
    if not value.isdigit():
        return False
    serve_pid = int(value)
    if serve_pid == os.getpid():
        return False  # in-process (serve itself, or a test): nothing to bind to
    if not process_alive(serve_pid) and os.getppid() != serve_pid:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.getppid() != serve_pid:
        return False  # started by something else that inherited serve's environment
    return die_with_parent(signal.SIGKILL, expected_parent=serve_pid)
