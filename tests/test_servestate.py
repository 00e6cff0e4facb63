"""serve owns what it starts: state file, single instance, orphans, plain port messages."""

from __future__ import annotations

import http.server
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from extractors import lifeline
from flows.ops.serve import ServeError, SupervisedServer, recover_previous
from flows.ops.serve import serve as run_serve
from flows.runtime.servestate import (
    INSTANCE_ENV,
    ServeLock,
    ServeState,
    process_alive,
    read_state,
    remove_state,
    serve_running,
    state_path,
    write_state,
)
from flows.settings import load_settings

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def _state(home: Path, pid: int, instance: str = "tok") -> ServeState:
    return ServeState(
        pid=pid, api_url="http://127.0.0.1:4200/api", server_pid=None,
        started_at="2026-12-05T10:00:00+00:00", instance=instance, host=socket.gethostname(),
        port=4200, home=str(home),
    )  # fmt: skip


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)


def _wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_state_file_is_written_whole_and_removed_only_by_its_owner(tmp_path: Path) -> None:
    write_state(tmp_path, _state(tmp_path, os.getpid()))
    state = read_state(tmp_path)
    assert state is not None and state.pid == os.getpid() and state.serve_alive()
    assert [p.name for p in tmp_path.iterdir()] == ["serve.json"]  # no temporary file left
    remove_state(tmp_path, os.getpid() + 1)
    assert state_path(tmp_path).exists()
    remove_state(tmp_path, os.getpid())
    assert read_state(tmp_path) is None
    state_path(tmp_path).write_text("{not json")
    assert read_state(tmp_path) is None


def test_one_serve_per_data_folder(tmp_path: Path) -> None:
    first, second = ServeLock(tmp_path), ServeLock(tmp_path)
    assert not serve_running(tmp_path)
    assert first.acquire()
    try:
        assert serve_running(tmp_path)
        assert not second.acquire(wait_seconds=0.3)
    finally:
        first.release()
    assert not serve_running(tmp_path)


@pytest.mark.skipif(not lifeline.available(), reason="PR_SET_PDEATHSIG is Linux only")
def test_a_child_dies_with_its_parent_even_by_kill_9() -> None:
    parent_code = (
        "import subprocess, sys, signal, time\n"
        "from extractors.lifeline import preexec_die_with_parent\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'],"
        " preexec_fn=preexec_die_with_parent(signal.SIGTERM))\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})  # fmt: skip
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.stdout.close()
    assert process_alive(child)
    parent.kill()
    parent.wait()
    assert _wait_gone(child), "the child outlived its parent"


def test_a_new_serve_stops_what_a_dead_one_left(tmp_path: Path) -> None:
    settings = load_settings(environ={"CRWATCH_HOME": str(tmp_path)})
    write_state(settings.home, _state(settings.home, _dead_pid(), instance="old-instance-1"))
    orphan = subprocess.Popen(SLEEPER, env={**os.environ, INSTANCE_ENV: "old-instance-1"},
                              start_new_session=True)  # fmt: skip
    bystander = subprocess.Popen(SLEEPER, env={**os.environ, INSTANCE_ENV: "someone-else"})
    try:
        time.sleep(0.3)
        assert recover_previous(settings) == [orphan.pid]
        assert orphan.wait(timeout=15) == -signal.SIGTERM
        assert bystander.poll() is None
    finally:
        for process in (orphan, bystander):
            if process.poll() is None:
                process.kill()
                process.wait()


def test_a_second_serve_refuses_with_who_is_serving(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("flows.ops.serve.configure_prefect", lambda settings: None)  # env untouched
    settings = load_settings(environ={"CRWATCH_HOME": str(tmp_path)})
    lock = ServeLock(settings.home)
    assert lock.acquire()
    write_state(settings.home, _state(settings.home, os.getpid()))
    try:
        with caplog.at_level(logging.ERROR, logger="crwatch"):
            assert run_serve(settings) == 1
    finally:
        lock.release()
    assert "already running" in caplog.text and f"pid {os.getpid()}" in caplog.text
    assert read_state(settings.home) is not None  # the running serve's file is left alone


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b"true")

    def log_message(self, *args: object) -> None:
        pass


def test_a_port_held_by_another_program_is_named_plainly(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    settings = load_settings(
        environ={"CRWATCH_HOME": str(tmp_path), "CRWATCH_PREFECT_PORT": str(port)}
    )
    try:
        with pytest.raises(ServeError) as caught:
            SupervisedServer(settings)._claim_port(wait_seconds=0.3)
    finally:
        listener.close()
    message = str(caught.value)
    assert f"port {port} on 127.0.0.1 is in use by pid {os.getpid()}" in message
    assert "not a Prefect server" in message and "CRWATCH_PREFECT_PORT" in message

    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    settings = load_settings(
        environ={"CRWATCH_HOME": str(tmp_path), "CRWATCH_PREFECT_PORT": str(port)}
    )
    try:
        with pytest.raises(ServeError) as caught:
            SupervisedServer(settings)._claim_port(wait_seconds=0.3)
    finally:
        server.shutdown()
        server.server_close()
    assert "another Prefect server already answers" in str(caught.value)
    assert "PREFECT_API_URL" in str(caught.value)


def test_a_run_killed_before_its_first_write_still_shows_in_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from click.testing import CliRunner

    from flows.cli.app import main
    from flows.ops.serve import journal_unrecorded_crashes
    from flows.runtime.attempts import read_attempts
    from warehouse.db import Warehouse
    from warehouse.runs import start_run

    monkeypatch.setenv("CRWATCH_HOME", str(tmp_path))
    monkeypatch.delenv("CRWATCH_CONFIG", raising=False)
    settings = load_settings()
    warehouse = Warehouse(settings.warehouse)
    warehouse.migrate()
    start_run(warehouse, "has-a-row", "ingest", {})
    crashed = [
        {"id": "has-a-row", "flow_id": "f1"},
        {"id": "died-starting-0042", "flow_id": "f1", "start_time": datetime.now(UTC).isoformat()},
    ]
    journaled = journal_unrecorded_crashes(settings, crashed, {"f1": "ingest"}, "serve died")
    assert journaled == ["died-starting-0042"]
    [entry] = read_attempts(settings.home)
    assert (entry["flow"], entry["status"], entry["error_kind"]) == ("ingest", "crashed", "killed")
    result = CliRunner().invoke(main, ["status"])
    flat = " ".join(result.output.split())
    assert "ing-0042 crashed killed" in flat, result.output
