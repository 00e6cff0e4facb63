"""`crwatch serve` end to end: a supervised Prefect server, scheduled ingest runs, clean stop."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import sample_pages, write_warc

from warehouse.db import Warehouse, WarehouseError

REPO = Path(__file__).resolve().parent.parent
INTERVAL_SECONDS = 15
BUDGET_SECONDS = 170


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _completed_ingests(warehouse: Warehouse) -> list[tuple[str, str]]:
    if not warehouse.exists():
        return []
    try:
        _, rows = warehouse.query(
            "SELECT run_id, status FROM runs WHERE flow = 'ingest' ORDER BY started_at"
        )
    except WarehouseError:
        return []
    return [(str(r[0]), str(r[1])) for r in rows]


def _server_pid(serve_pid: int) -> int:
    """The pid of the `prefect server` child of `crwatch serve`."""
    for pid in _children(serve_pid):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"-m prefect server start" in command:
            return pid
    raise AssertionError("no prefect server child found")


def _children(pid: int) -> list[int]:
    """Descendant pids of a process, from /proc."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
            found.extend(_children(int(entry.name)))
    return found


@pytest.mark.slow
@pytest.mark.timeout(BUDGET_SECONDS + 60)
def test_serve_runs_scheduled_ingests_and_stops_cleanly(tmp_path: Path) -> None:
    home = tmp_path / "home"
    warc = write_warc(tmp_path / "site.warc.gz", sample_pages(6))
    port = _free_port()
    env = {
        **os.environ,
        "CRWATCH_HOME": str(home),
        "CRWATCH_REPLAY": str(warc),
        "CRWATCH_LIVE": "false",
        "CRWATCH_WORKERS": "1",
        "CRWATCH_PROGRESS": "false",
        "CRWATCH_PREFECT_PORT": str(port),
        "CRWATCH_SMTP_PASSWORD": "canary-serve-secret-8431",
        # Fast schedule pickup for the test: the runner polls every 2 s, the scheduler every 5 s.
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
        "PYTHONPATH": str(REPO),
    }
    for name in ("CRWATCH_CONFIG", "PREFECT_API_URL", "PREFECT_HOME"):
        env.pop(name, None)
    log_path = tmp_path / "serve.log"
    started = time.monotonic()
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flows.cli", "serve", "--interval-seconds",
             str(INTERVAL_SECONDS)],
            cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    warehouse = Warehouse(home / "lake", lock_wait_seconds=10)  # the default warehouse
    killed_server: int | None = None
    killed_at = 0.0
    descendants: set[int] = set()
    try:
        completed: list[str] = []
        after_restart: list[str] = []
        while time.monotonic() - started < BUDGET_SECONDS:
            assert proc.poll() is None, log_path.read_text()[-4000:]
            descendants.update(_children(proc.pid))
            runs = _completed_ingests(warehouse)
            completed = [r for r, s in runs if s == "completed"]
            if completed and killed_server is None:
                # The server dies under the runner: the supervisor must bring it back.
                killed_server = _server_pid(proc.pid)
                os.kill(killed_server, signal.SIGKILL)
                killed_at = time.monotonic()
                seen_before_kill = set(r for r, _ in runs)
            elif killed_server is not None:
                after_restart = [r for r in completed if r not in seen_before_kill]
                if len(completed) >= 2 and after_restart:
                    break
            time.sleep(2)
        first_two = time.monotonic() - started
        assert len(completed) >= 2 and after_restart, (
            f"runs after {first_two:.0f} s: {_completed_ingests(warehouse)}\n"
            + log_path.read_text()[-4000:]
        )
        descendants.update(_children(proc.pid))
        # While it serves: the deployments are registered, and `crwatch status` shows the
        # next scheduled runs from the API.
        deployments = httpx.post(
            f"http://127.0.0.1:{port}/api/deployments/filter", json={}, timeout=10
        ).json()
        names = {d["name"] for d in deployments}
        assert {"scheduled", "daily"} <= names
        if importlib.util.find_spec("flows.digest") is not None:
            assert "weekly" in names
        status = subprocess.run(
            [sys.executable, "-m", "flows.cli", "status"], cwd=REPO, env=env,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert "ingest/scheduled at" in status.stdout, status.stdout + status.stderr
        assert "completed" in status.stdout
    finally:
        stop_started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail("crwatch serve did not stop within 60 s of SIGTERM")
    stop_seconds = time.monotonic() - stop_started
    log = log_path.read_text()
    print(f"[figure] serve: {len(completed)} scheduled ingest runs completed in {first_two:.0f} s"
          f" (interval {INTERVAL_SECONDS} s), {len(after_restart)} after the server was killed"
          f" {first_two - (killed_at - started):.0f} s before the end; stopped in"
          f" {stop_seconds:.1f} s")  # fmt: skip
    assert proc.returncode == 0, log[-4000:]
    assert "prefect server ready" in log and "stopped" in log
    assert "prefect server died" in log and log.count("prefect server ready") >= 2
    assert "canary-serve-secret-8431" not in log
    time.sleep(1)
    alive = [pid for pid in descendants if Path(f"/proc/{pid}").exists()
             and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()]  # fmt: skip
    assert not alive, f"processes left behind by crwatch serve: {alive}"
    # Scheduled runs are the Prefect flow runs: their ids are Prefect's, and the runs completed.
    assert all(len(run_id) == 36 for run_id in completed)


def test_serve_log_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    from flows.serve import RedactSecrets, _without_credentials

    monkeypatch.setenv("CRWATCH_SMTP_PASSWORD", "hunter2-canary")
    record = logging.LogRecord("crwatch.serve", logging.INFO, __file__, 1,
                               "login with %s failed", ("hunter2-canary",), None)  # fmt: skip
    assert RedactSecrets().filter(record)
    assert record.getMessage() == "login with *** failed"
    assert (
        _without_credentials("https://u:pw@prefect.example/api")
        == "https://***@prefect.example/api"
    )
