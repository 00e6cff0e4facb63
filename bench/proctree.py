"""CPU seconds per process of a command and its descendants, read from /proc while it runs.

`RUSAGE_CHILDREN` gives one total for a command and every child it reaped; this poller splits
it: every 0.1 s it reads utime + stime of the command and of each descendant (extraction
workers, the forkserver, Prefect's temporary server) and keeps each one's last value, so a
process that exits between two polls loses at most 0.1 s. It also keeps a timeline (CPU per
role per second), which shows when the two cores were not both busy.

    from bench.proctree import ProcessTreeCPU
    with ProcessTreeCPU(process.pid) as tree: process.wait()
    print(tree.report())

Linux only (reads /proc); elsewhere it records nothing and says so.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass
class _Seen:
    role: str
    cpu: float = 0.0
    first: float = 0.0
    last: float = 0.0


@dataclass
class ProcessTreeCPU:
    """Poll the CPU of `root` and its descendants until stopped; see the module docstring."""

    root: int
    interval: float = 0.1
    seen: dict[int, _Seen] = field(default_factory=dict)
    # (second since start, role) -> CPU seconds used in that second
    timeline: dict[tuple[int, str], float] = field(default_factory=lambda: defaultdict(float))
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _started: float = 0.0

    def __enter__(self) -> ProcessTreeCPU:
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True, name="proctree")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.interval)

    def poll(self) -> None:
        """Read every process once; attribute CPU used since the last poll to this second."""
        now = time.monotonic() - self._started
        stats = _all_stats()
        children: dict[int, list[int]] = defaultdict(list)
        for pid, (ppid, _cpu) in stats.items():
            children[ppid].append(pid)
        tree, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            if pid in stats:
                tree.append(pid)
                todo.extend(children.get(pid, []))
        for pid in tree:
            ppid, cpu = stats[pid]
            entry = self.seen.get(pid)
            if entry is None:
                entry = self.seen[pid] = _Seen(self._role(pid, ppid), first=now)
            used = cpu - entry.cpu
            if used > 0:
                self.timeline[(int(now), entry.role)] += used
            entry.cpu, entry.last = cpu, now

    def _role(self, pid: int, ppid: int) -> str:
        if pid == self.root:
            return "command"
        cmdline = _cmdline(pid)
        parent = self.seen.get(ppid)
        if "multiprocessing.forkserver" in cmdline:
            # The forkserver's own children are forks of it with the same command line.
            return "worker" if parent is not None and parent.role == "forkserver" else "forkserver"
        if "spawn_main" in cmdline:
            return "worker"
        if "resource_tracker" in cmdline:
            return "resource tracker"
        if "uvicorn" in cmdline or "prefect" in cmdline:
            return "server"
        if parent is not None and parent.role == "forkserver":
            return "worker"
        return "other: " + cmdline[:60]

    def by_role(self) -> dict[str, list[float]]:
        """CPU seconds of each process, grouped by role."""
        roles: dict[str, list[float]] = defaultdict(list)
        for entry in self.seen.values():
            roles[entry.role].append(entry.cpu)
        return dict(roles)

    def total(self) -> float:
        """CPU seconds of the whole tree."""
        return sum(entry.cpu for entry in self.seen.values())

    def report(self) -> str:
        """One line: each role's CPU seconds (per process when there are several)."""
        if not self.seen:
            return "per process: nothing recorded (no /proc?)"
        parts = []
        for role, cpus in sorted(self.by_role().items()):
            each = " + ".join(f"{c:.1f}" for c in sorted(cpus, reverse=True))
            parts.append(f"{role} {sum(cpus):.1f}" + (f" ({each})" if len(cpus) > 1 else ""))
        return "per process CPU s: " + ", ".join(parts)

    def timeline_report(self) -> str:
        """CPU seconds per second of wall clock, by role: where the cores were not both busy."""
        seconds = max((s for s, _ in self.timeline), default=-1) + 1
        roles = sorted({r for _, r in self.timeline})
        lines = ["second " + " ".join(f"{r[:10]:>10s}" for r in roles) + "      all"]
        for second in range(seconds):
            values = [self.timeline.get((second, r), 0.0) for r in roles]
            cells = " ".join(f"{v:10.2f}" for v in values)
            lines.append(f"{second:6d} {cells} {sum(values):8.2f}")
        return "\n".join(lines)


def _all_stats() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, utime + stime seconds) of every process readable now."""
    stats: dict[int, tuple[int, float]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return stats
    for name in names:
        if not name.isdigit():
            continue
        try:
            raw = Path(f"/proc/{name}/stat").read_bytes()
        except OSError:
            continue
        # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
        fields = raw[raw.rindex(b")") + 2 :].split()
        stats[int(name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK)
    return stats


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace")
