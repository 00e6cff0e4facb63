"""`crwatch doctor`: passes on a working setup, names the broken part and its fix otherwise."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from flows.cli.app import main
from flows.settings import load_settings


@pytest.fixture
def doctor_home(crwatch_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data folder with a warehouse holding the seed baseline, and no Prefect API set."""
    from flows.ingest.flow import run_ingest

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("CRWATCH_LIVE", "false")
    run_ingest(load_settings(overrides={"workers": 1, "progress": False}), [], True, "seeded")
    return crwatch_home


def _doctor() -> Result:
    return CliRunner().invoke(main, ["doctor"])


def _line(result: Result, name: str) -> str:
    """The report line of one check (and its fix line, when there is one)."""
    lines = result.output.splitlines()
    for i, line in enumerate(lines):
        if line[5:].startswith(name):
            fix = lines[i + 1] if i + 1 < len(lines) and "fix:" in lines[i + 1] else ""
            return line + "\n" + fix
    raise AssertionError(f"no {name!r} line in:\n{result.output}")


def test_doctor_passes_on_a_working_setup(doctor_home: Path) -> None:
    result = _doctor()
    assert result.exit_code == 0, result.output
    assert "doctor: all checks passed" in result.output
    for name in ("python", "packages", "lock file", "duckdb extensions", "data folder",
                 "warehouse", "disk space", "sources file"):  # fmt: skip
        assert _line(result, name).startswith("ok "), result.output
    assert "fastapi 0.150.0" in _line(result, "packages")
    assert _line(result, "prefect api").startswith("skip")


def test_doctor_names_a_broken_extension_file(
    doctor_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import warehouse.db

    broken = tmp_path / "ducklake.duckdb_extension"
    broken.write_bytes(b"\x7fELF truncated by a bad copy")
    real = warehouse.db.extension_path
    monkeypatch.setattr(
        "warehouse.db.extension_path",
        lambda package, name: broken if name == "ducklake" else real(package, name),
    )
    result = _doctor()
    assert result.exit_code == 1
    line = _line(result, "duckdb extensions")
    assert line.startswith("FAIL") and "ducklake" in line and str(broken) in line
    assert "fix: reinstall the extension package" in line and "--force-reinstall" in line
    assert "1 check(s) failed: duckdb extensions" in result.output


def test_doctor_names_a_broken_warehouse_and_data_folder(
    doctor_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = load_settings()
    catalog = settings.warehouse / "catalog.sqlite"  # the default lake's SQLite catalog
    for wal in settings.warehouse.glob("catalog.sqlite-*"):
        wal.unlink()
    catalog.write_bytes(b"this is not a SQLite file" * 1000)
    result = _doctor()
    assert result.exit_code == 1
    line = _line(result, "warehouse")
    assert line.startswith("FAIL") and "does not open" in line
    assert "fix: move the lake aside" in line and "IMPORT DATABASE" in line

    home_file = tmp_path / "not-a-folder"
    home_file.write_text("a file where the data folder should be")
    monkeypatch.setenv("CRWATCH_HOME", str(home_file))
    result = _doctor()
    assert result.exit_code == 1
    line = _line(result, "data folder")
    assert line.startswith("FAIL") and "is not a folder" in line and "fix:" in line


class _Refusing(http.server.BaseHTTPRequestHandler):
    """Healthy, but answers every list call like a server with incompatible validation."""

    def do_GET(self) -> None:
        if self.path.startswith("/api/health"):
            self._answer(200, True)
        elif self.path.startswith("/api/csrf-token"):  # as a real server without CSRF answers
            self._answer(422, {"detail": "CSRF protection is disabled."})
        else:
            self._answer(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        detail = [{"type": "int_type", "loc": ["body", "limit"],
                   "msg": "Input should be a valid integer", "input": None}]  # fmt: skip
        self._answer(422, {"detail": detail})

    def _answer(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def refusing_api() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()
        server.server_close()


def test_doctor_names_a_prefect_api_that_is_down_or_refuses_list_calls(
    doctor_home: Path, monkeypatch: pytest.MonkeyPatch, refusing_api: str
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{port}/api")
    result = _doctor()
    assert result.exit_code == 1
    line = _line(result, "prefect api")
    assert line.startswith("FAIL") and "does not answer" in line
    assert "fix: start `crwatch serve`, or correct/unset PREFECT_API_URL" in line

    monkeypatch.setenv("PREFECT_API_URL", refusing_api)
    result = _doctor()
    assert result.exit_code == 1
    line = _line(result, "prefect api")
    assert line.startswith("FAIL") and "`prefect deployment ls`" in line and "422" in line
    assert "server and client disagree" in line
