"""`crwatch serve` end to end: a supervised Prefect server, scheduled ingest runs, clean stop."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from conftest import distinct_pages, sample_pages, write_warc

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


def _fetch_rows(home: Path) -> int:
    """Fetch rows committed so far (0 while the warehouse is busy or not there yet)."""
    warehouse = Warehouse(home / "lake", lock_wait_seconds=0.2)  # the default warehouse
    if not warehouse.exists():
        return 0
    try:
        _, rows = warehouse.query("SELECT count(*) FROM fetches WHERE origin = 'warc'")
    except WarehouseError:
        return 0
    return int(rows[0][0])


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


def _alive(pids: set[int] | list[int]) -> list[int]:
    """The pids that still run (zombies count as gone)."""
    alive = []
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text().lower()
        except OSError:
            continue
        if "zombie" not in status:
            alive.append(pid)
    return alive


def _serve_env(home: Path, warc: Path, port: int) -> dict[str, str]:
    env = {
        **os.environ,
        "CRWATCH_HOME": str(home),
        "CRWATCH_REPLAY": str(warc),
        "CRWATCH_LIVE": "false",
        "CRWATCH_WORKERS": "1",
        "CRWATCH_PROGRESS": "false",
        "CRWATCH_PREFECT_PORT": str(port),
        # Fast schedule pickup for the test: the runner polls every 2 s, the scheduler every 5 s.
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
        "PYTHONPATH": str(REPO),
    }
    for name in ("CRWATCH_CONFIG", "PREFECT_API_URL", "PREFECT_HOME", "CRWATCH_SERVE_INSTANCE",
                 "CRWATCH_SERVE_PID"):  # fmt: skip
        env.pop(name, None)
    return env


def _start_serve(env: dict[str, str], log_path: Path, interval: int) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "flows.cli.app", "serve", "--interval-seconds", str(interval)],
            cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _wait_serving(proc: subprocess.Popen[bytes], log_path: Path, mark: int, limit: float) -> float:
    """Seconds until serve logs that it serves (after byte `mark` of its log)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        assert proc.poll() is None, log_path.read_text()[-4000:]
        if b"serving deployments" in log_path.read_bytes()[mark:]:
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"not serving after {limit:g} s:\n" + log_path.read_text()[-4000:])


def _stop(proc: subprocess.Popen[bytes]) -> float:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail("crwatch serve did not stop within 60 s of SIGTERM")
    return time.monotonic() - started


def _prefect_cli(commands: list[list[str]], env: dict[str, str], url: str) -> dict[str, str]:
    """Run Prefect's own CLI commands against `url`, three at a time; stdout by command line.

    Each must exit 0 (each pays Prefect's import: seconds on a loaded 2-core machine).
    """
    cli_env = {**env, "PREFECT_API_URL": url, "COLUMNS": "250"}
    found: dict[str, str] = {}
    for first in range(0, len(commands), 3):
        running = [
            (command, subprocess.Popen([sys.executable, "-m", "prefect", *command], env=cli_env,
                                       text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
            for command in commands[first : first + 3]
        ]  # fmt: skip
        for command, child in running:
            stdout, stderr = child.communicate(timeout=120)
            assert child.returncode == 0, (command, stdout[-2000:], stderr[-2000:])
            found[" ".join(command)] = stdout
    return found


@pytest.mark.slow
@pytest.mark.timeout(BUDGET_SECONDS + 120)
def test_serve_runs_scheduled_ingests_and_stops_cleanly(tmp_path: Path) -> None:
    home = tmp_path / "home"
    warc = write_warc(tmp_path / "site.warc.gz", sample_pages(6))
    port = _free_port()
    env = {**_serve_env(home, warc, port), "CRWATCH_SMTP_PASSWORD": "canary-serve-secret-8431"}
    log_path = tmp_path / "serve.log"
    started = time.monotonic()
    proc = _start_serve(env, log_path, INTERVAL_SECONDS)
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
        if importlib.util.find_spec("flows.digest.flow") is not None:
            assert "weekly" in names
        status = subprocess.run(
            [sys.executable, "-m", "flows.cli.app", "status"], cwd=REPO, env=env,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert "ingest/scheduled at" in status.stdout, status.stdout + status.stderr
        assert "completed" in status.stdout
        assert f"running (pid {proc.pid}" in status.stdout and "answers" in status.stdout
        # serve.json says who serves, where its API is and which server it started.
        state = json.loads((home / "serve.json").read_text())
        assert state["pid"] == proc.pid and state["api_url"] == f"http://127.0.0.1:{port}/api"
        assert state["server_pid"] in _children(proc.pid) and state["started_at"]
        # Prefect's own CLI against the served API (more commands in the kill test below).
        cli_started = time.monotonic()
        outputs = _prefect_cli(
            [["deployment", "ls"], ["flow-run", "ls"],
             ["flow-run", "ls", "--state-type", "COMPLETED"],
             ["deployment", "run", "maintain/daily"]],
            env, state["api_url"],
        )  # fmt: skip
        for name in ("ingest/scheduled", "maintain/daily", "digest/weekly"):
            assert name in outputs["deployment ls"], outputs["deployment ls"]
        assert completed[-1] in outputs["flow-run ls --state-type COMPLETED"]
        cli_seconds = time.monotonic() - cli_started
        # The doctor finds the served API through serve.json and checks the same list calls.
        doctor = subprocess.run(
            [sys.executable, "-m", "flows.cli.app", "doctor"], cwd=REPO, env=env,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert "ok   prefect api" in doctor.stdout and "from crwatch serve" in doctor.stdout
    finally:
        stop_seconds = _stop(proc)
    log = log_path.read_text()
    print(f"[figure] serve: {len(completed)} scheduled ingest runs completed in {first_two:.0f} s"
          f" (interval {INTERVAL_SECONDS} s), {len(after_restart)} after the server was killed"
          f" {first_two - (killed_at - started):.0f} s before the end; stopped in"
          f" {stop_seconds:.1f} s")  # fmt: skip
    print(f"[figure] prefect CLI: {len(outputs)} commands exit 0 against the served API"
          f" ({cli_seconds:.1f} s)")  # fmt: skip
    assert not (home / "serve.json").exists(), "serve.json left after a clean stop"
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

    from flows.ops.serve import RedactSecrets, _without_credentials

    monkeypatch.setenv("CRWATCH_SMTP_PASSWORD", "hunter2-canary")
    record = logging.LogRecord("crwatch.serve", logging.INFO, __file__, 1,
                               "login with %s failed", ("hunter2-canary",), None)  # fmt: skip
    assert RedactSecrets().filter(record)
    assert record.getMessage() == "login with *** failed"
    assert (
        _without_credentials("https://u:pw@prefect.example/api")
        == "https://***@prefect.example/api"
    )


KILL_PAGES = 240


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_serve_killed_during_a_run_restarts_without_orphans_or_duplicates(tmp_path: Path) -> None:
    from flows.runtime.runlock import current_holder

    home = tmp_path / "home"
    warc = write_warc(tmp_path / "load.warc.gz", distinct_pages(KILL_PAGES))
    port = _free_port()
    env = {**_serve_env(home, warc, port), "CRWATCH_BATCH_SIZE": "20"}
    log_path = tmp_path / "serve.log"
    test_started = time.monotonic()
    first = _start_serve(env, log_path, 60)
    second: subprocess.Popen[bytes] | None = None
    stop_seconds = 0.0
    try:
        _wait_serving(first, log_path, 0, 150)
        # Wait for the first scheduled ingest to hold the writer lock (it is running), and for
        # its first batch, then kill -9 serve alone, as the OOM killer would.
        holder = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert first.poll() is None, log_path.read_text()[-4000:]
            holder = current_holder(home)
            if holder is not None and _fetch_rows(home) >= 20:
                break
            time.sleep(0.2)
        assert holder is not None, "no ingest started:\n" + log_path.read_text()[-4000:]
        first_tree = set(_children(first.pid))
        assert holder.pid in first_tree, (holder, first_tree)
        state = json.loads((home / "serve.json").read_text())
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        killed_at = time.monotonic()
        # Its children die with it (PR_SET_PDEATHSIG) or are stopped by the next serve.
        time.sleep(1)
        survivors = _alive(first_tree)

        mark = log_path.stat().st_size
        second = _start_serve(env, log_path, 60)
        ready = _wait_serving(second, log_path, mark, 120)
        orphans = _alive(first_tree)
        assert not orphans, f"orphans of the killed serve: {orphans}"
        assert not _alive([state["server_pid"]])

        # The interrupted run is crashed in Prefect and in `runs`, shown by `crwatch status`.
        api = f"http://127.0.0.1:{port}/api"
        run = httpx.get(f"{api}/flow_runs/{holder.run_id}", timeout=10).json()
        assert run["state_type"] == "CRASHED", run["state"]
        status = subprocess.run(
            [sys.executable, "-m", "flows.cli.app", "status"], cwd=REPO, env=env,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        flat = " ".join(status.stdout.split())
        assert f"{holder.run_id[-8:]} crashed killed" in flat, status.stdout + status.stderr
        assert f"running (pid {second.pid}" in flat

        # Meanwhile, the rest of Prefect's CLI an operator uses, against the restarted serve.
        cli: dict[str, object] = {}

        def run_cli() -> None:
            started = time.monotonic()
            try:
                cli["outputs"] = _prefect_cli(
                    [["flow-run", "ls", "--limit", "5"],
                     ["flow-run", "ls", "--state-type", "CRASHED"], ["flow", "ls"],
                     ["work-pool", "ls"], ["concurrency-limit", "ls"],
                     ["flow-run", "logs", holder.run_id]],
                    env, api,
                )  # fmt: skip
            except BaseException as exc:  # re-raised in the test's thread
                cli["error"] = exc
            cli["seconds"] = time.monotonic() - started

        cli_thread = threading.Thread(target=run_cli)
        cli_thread.start()
        # The next scheduled run completes, with the records the killed run had not stored.
        warehouse = Warehouse(home / "lake", lock_wait_seconds=10)
        deadline = time.monotonic() + 150
        completed: list[str] = []
        while time.monotonic() < deadline and not completed:
            assert second.poll() is None, log_path.read_text()[-4000:]
            completed = [r for r, s in _completed_ingests(warehouse) if s == "completed"]
            time.sleep(1)
        assert completed, f"{_completed_ingests(warehouse)}\n" + log_path.read_text()[-4000:]
        next_seconds = time.monotonic() - killed_at
        _, counts = warehouse.query(
            "SELECT (SELECT count(*) FROM fetches WHERE origin = 'warc'),"
            " (SELECT count(*) - count(DISTINCT locator) FROM fetches),"
            " (SELECT count(*) - count(DISTINCT canonical_url) FROM documents),"
            " (SELECT count(*) FROM documents WHERE NOT is_seed)"
        )
        fetches, dup_fetches, dup_docs, documents = counts[0]
        assert (fetches, dup_fetches, dup_docs, documents) == (KILL_PAGES, 0, 0, KILL_PAGES)
        second_tree = set(_children(second.pid))
        cli_thread.join(timeout=300)
        if "error" in cli:
            raise cli["error"]  # type: ignore[misc]
        outputs = cli["outputs"]
        assert isinstance(outputs, dict)
        assert holder.run_id in outputs["flow-run ls --state-type CRASHED"]
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        if second is not None and second.poll() is None:
            stop_seconds = _stop(second)
    assert second is not None and second.returncode == 0, log_path.read_text()[-4000:]
    time.sleep(1)
    assert not _alive(second_tree), "processes left behind by the second serve"
    assert not (home / "serve.json").exists()
    print(
        f"[figure] serve kill -9 during a run: {len(first_tree)} child processes,"
        f" {len(survivors)} alive 1 s after the kill, 0 after the restart; serving again in"
        f" {ready:.1f} s; next run completed {next_seconds:.0f} s after the kill; duplicates 0;"
        f" stopped in {stop_seconds:.1f} s; test {time.monotonic() - test_started:.0f} s"
    )
    print(
        f"[figure] prefect CLI after the restart: {len(outputs)} more commands exit 0"
        f" ({cli['seconds']:.1f} s, while the next run went on)"
    )
