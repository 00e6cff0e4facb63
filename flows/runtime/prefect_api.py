"""The Prefect API a one-off command reports to: a running one, or a temporary one started early.

A flow run needs a Prefect API. Left to itself, Prefect starts a temporary server (a uvicorn
child on 127.0.0.1 with SQLite under PREFECT_HOME) the moment the flow starts, and waits for it:
~4 s of imports in the child, plus ~5 s of database migrations and block registration on a
fresh PREFECT_HOME (docs/BENCHMARKS.md, "Fixed costs"). Here a one-off command instead:

1. uses an API that is already running: `PREFECT_API_URL` when set, else the server of a
   `crwatch serve` on this data folder, found through `<home>/serve.json` (its "pid" alive and
   its "api_url" answering `/health` within a short timeout; a missing, stale or corrupt file
   is ignored);
2. otherwise starts the same temporary server itself, first thing, so it boots while the
   command imports Prefect, reads its input and warms its caches, and waits for it only when the
   flow is about to start;
3. gives a fresh PREFECT_HOME a copy of an already migrated Prefect database (a template in the
   cache folder, keyed by the Prefect version and its installed collections, made from the first
   temporary server's database before any run is written to it), so migrations run once per
   machine rather than once per data folder.

The temporary server is stopped when the process exits (after Prefect's own exit handlers have
sent their last logs and events). Nothing here imports Prefect: that is the slow part it
overlaps with.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import IO

from extractors.compiled import cache_dir, digest_of
from flows.errors import PrefectApiError as PrefectApiError  # defined in flows.errors
from flows.runtime.environment import configure_prefect
from flows.settings import Settings

HEALTH_TIMEOUT = 0.5  # seconds: a local server that is up answers in milliseconds
READY_SECONDS = 120.0  # a cold start on a busy 2-core machine took up to ~40 s
_DB = "prefect.db"
_TEMPLATE_MARK = "crwatch-template.txt"  # in PREFECT_HOME: which template its database came from
_PORT_IN_USE = 3  # uvicorn's exit status when its port is taken
SHUTDOWN_SECONDS = 5  # the temporary server's graceful shutdown, at most


# ---------------------------------------------------------------- finding a running API


def api_healthy(api_url: str, timeout: float = HEALTH_TIMEOUT) -> bool:
    """True when a Prefect API answers `GET <api_url>/health` with 200 within `timeout`."""
    try:
        with urllib.request.urlopen(api_url.rstrip("/") + "/health", timeout=timeout) as reply:
            return bool(reply.status == 200)
    except (OSError, ValueError):  # refused, timed out, HTTP error status, malformed URL
        return False


def serve_api(home: Path, timeout: float = HEALTH_TIMEOUT) -> str | None:
    """The API URL of a live `crwatch serve` for this data folder, or None.

    Read from `<home>/serve.json`; used only when its "pid" is alive and its "api_url" answers
    its health check. Anything else (no file, unreadable JSON, missing keys, a dead pid, a
    server that does not answer) means "no running server".
    """
    from flows.runtime.servestate import process_alive, state_path

    try:
        state = json.loads(state_path(home).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict):
        return None
    pid, url = state.get("pid"), state.get("api_url")
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return None
    started = state.get("pid_start")  # against a reused pid, when serve recorded it
    if not process_alive(pid, started if isinstance(started, int) else None):
        return None
    if not api_healthy(url, timeout):
        return None
    return url.rstrip("/")


@dataclass(frozen=True)
class ApiChoice:
    """Where a one-off command's flow runs report: "env", "serve" or "temporary"."""

    kind: str
    url: str | None  # None for "temporary" until its server is up


def configured_api_url(environ: Mapping[str, str], this_process: bool = True) -> str:
    """PREFECT_API_URL as Prefect would see it: the environment, the active profile of
    PREFECT_HOME, or, for `this_process` when Prefect is already imported (e.g. under a test
    harness), its current settings."""
    explicit = environ.get("PREFECT_API_URL", "").strip()
    if explicit:
        return explicit
    if this_process and "prefect.context" in sys.modules:
        from prefect.settings import PREFECT_API_URL

        return str(PREFECT_API_URL.value() or "").strip()
    home = environ.get("PREFECT_HOME")
    profiles = environ.get("PREFECT_PROFILES_PATH") or (f"{home}/profiles.toml" if home else "")
    try:
        data = tomllib.loads(Path(profiles).read_text(encoding="utf-8")) if profiles else {}
    except (OSError, ValueError):
        return ""
    active = environ.get("PREFECT_PROFILE") or data.get("active") or "ephemeral"
    profile = data.get("profiles", {}).get(active, {})
    url = profile.get("PREFECT_API_URL", "") if isinstance(profile, dict) else ""
    return url.strip() if isinstance(url, str) else ""


def choose_api(home: Path, environ: Mapping[str, str] | None = None) -> ApiChoice:
    """PREFECT_API_URL if set, else a live `crwatch serve` of `home`, else a temporary server.

    With `environ` given, only it (and the profile it names) is consulted, not this process's
    Prefect settings.
    """
    env = os.environ if environ is None else environ
    explicit = configured_api_url(env, this_process=environ is None)
    if explicit:
        return ApiChoice("env", explicit)
    url = serve_api(home)
    if url is not None:
        return ApiChoice("serve", url)
    return ApiChoice("temporary", None)


# ---------------------------------------------------------------- the temporary server


def _prefect_root() -> Path:
    """The folder holding the `prefect` package, found without importing it."""
    spec = importlib.util.find_spec("prefect")
    if spec is None or spec.origin is None:
        raise PrefectApiError("Prefect is not installed in this environment")
    return Path(spec.origin).parent.parent


def template_key() -> str:
    """Identity of a migrated database: the Prefect version and its installed collections.

    Collections (`prefect_dask`, ...) register block types of their own, so they are part of it.
    Read from the package folders: scanning every installed distribution costs ~0.1 s.
    """
    site = _prefect_root()
    names = sorted(
        entry.name
        for entry in site.iterdir()
        if entry.name.startswith(("prefect-", "prefect_")) and entry.name.endswith(".dist-info")
    )
    return digest_of([metadata.version("prefect"), *names])


def template_path(key: str) -> Path:
    """Where the migrated database template for `key` lives."""
    return cache_dir() / f"prefect-template-{key}.db"


def seed_prefect_home(prefect_home: Path, key: str) -> bool:
    """Copy the migrated template into a PREFECT_HOME that has no database yet; True if done."""
    database = prefect_home / _DB
    template = template_path(key)
    if database.exists() or not template.exists():
        return False
    prefect_home.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".prefect-", dir=prefect_home)
    os.close(fd)
    try:
        shutil.copyfile(template, tmp)
        os.replace(tmp, database)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return False
    (prefect_home / _TEMPLATE_MARK).write_text(key + "\n", encoding="utf-8")
    return True


def save_template(prefect_home: Path, key: str) -> bool:
    """Snapshot a freshly migrated database (no runs yet) as the template; True if written."""
    template = template_path(key)
    if template.exists():
        return False
    try:
        template.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".prefect-template-", dir=template.parent)
        os.close(fd)
        # The backup API copies a consistent snapshot while the server holds the database open.
        source = sqlite3.connect(f"file:{prefect_home / _DB}?mode=ro", uri=True, timeout=5)
        target = sqlite3.connect(tmp)
        with contextlib.closing(source), contextlib.closing(target):
            source.backup(target)
        os.replace(tmp, template)
    except (OSError, sqlite3.Error):
        with contextlib.suppress(OSError, UnboundLocalError):
            os.unlink(tmp)
        return False
    return True


# `python -m uvicorn ARGS`, dying with the command that started it (the kernel signals it when
# the starting thread ends: commands start it from their main thread), with Prefect's server
# imported first while the cyclic garbage collector is paused, then frozen out of later
# collections. The import creates several
# hundred thousand objects (pydantic models, SQLAlchemy tables, FastAPI routes) and set off
# collections scanning them all: paused, its CPU fell from ~2.4-2.7 s to ~1.9-2.0 s
# (docs/BENCHMARKS.md, "Fixed costs, third pass"), and the server's start is what a one-off
# command without a running API waits for.
_SERVER_BOOT = """
import ctypes, gc, os, signal, sys
try:  # Linux: die with the command, also when it is killed or crashes (PR_SET_PDEATHSIG)
    if ctypes.CDLL(None).prctl(1, int(signal.SIGTERM), 0, 0, 0) == 0:
        if os.getppid() != int(os.environ.get("CRWATCH_SERVER_PARENT", "0")):
            sys.exit(0)  # the command is already gone
except (OSError, AttributeError, ValueError):
    pass
gc.disable()
import prefect.server.api.server, uvicorn.main
gc.freeze()
gc.enable()
sys.argv[0] = "uvicorn"
sys.exit(uvicorn.main.main())
"""


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TemporaryServer:
    """Prefect's temporary API server (the same uvicorn app Prefect would start), started early."""

    def __init__(self, prefect_home: Path) -> None:
        self.prefect_home = prefect_home
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.from_template = False
        self.fresh = False  # the database did not exist: its migrations run in this server
        self._log: IO[bytes] | None = None  # the server's output, for error messages
        self._key = ""

    @property
    def api_url(self) -> str:
        """The API root, as PREFECT_API_URL wants it."""
        return f"http://127.0.0.1:{self.port}/api"

    def start(self) -> None:
        """Launch the server process and return at once; `wait_ready` waits for it."""
        self._key = template_key()
        self.fresh = not (self.prefect_home / _DB).exists()
        if self.fresh:
            self.from_template = seed_prefect_home(self.prefect_home, self._key)
        mark = self.prefect_home / _TEMPLATE_MARK
        with contextlib.suppress(OSError):
            self.from_template = mark.read_text(encoding="utf-8").strip() == self._key
        self._launch()
        # Registered before Prefect's handlers, so it runs after them (their last logs and
        # events are sent by then).
        atexit.register(self.stop, wait=False)

    def _launch(self) -> None:
        self.port = _free_port()
        env = dict(os.environ)
        env.pop("PREFECT_API_URL", None)
        env.update(
            PREFECT_HOME=str(self.prefect_home),
            PREFECT_UI_ENABLED="0",
            PREFECT__SERVER_EPHEMERAL="1",  # what Prefect sets for its own temporary server
            PREFECT__SERVER_FINAL="1",
            CRWATCH_SERVER_PARENT=str(os.getpid()),
        )
        if self.from_template:
            # The template was migrated, and its blocks registered, by this very Prefect
            # installation (its key): checking the migrations again cost ~0.4 s of the start.
            env["PREFECT_API_BLOCKS_REGISTER_ON_START"] = "false"
            env["PREFECT_SERVER_DATABASE_MIGRATE_ON_START"] = "false"
            # Prefect's memo of that registration imports every installed collection first
            # (prefect_dask, hence dask: ~0.5 s of the server's CPU) to hash their block
            # types, even when registration is off as here.
            env["PREFECT_MEMOIZE_BLOCK_AUTO_REGISTRATION"] = "false"
        if self._log is None:  # closed in stop()
            self._log = tempfile.TemporaryFile(prefix="crwatch-prefect-server-")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SERVER_BOOT, "--app-dir", str(_prefect_root()),
             "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "error", "--lifespan", "on",
             "--timeout-graceful-shutdown", str(SHUTDOWN_SECONDS)],
            env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def wait_ready(self, timeout: float = READY_SECONDS) -> str:
        """Block until the server answers its health check; return its API URL."""
        assert self.process is not None, "start() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code == _PORT_IN_USE:  # someone took the port between probe and bind
                self._launch()
                continue
            if code is not None:
                hint = (
                    f" (its database came from {template_path(self._key)}: delete that file"
                    f" and {self.prefect_home / _DB} to start from scratch)"
                    if self.from_template
                    else ""
                )
                raise PrefectApiError(
                    f"the temporary Prefect server exited with status {code}{hint}:"
                    f" {self._output()}"
                )
            if api_healthy(self.api_url, timeout=1.0):
                if self.fresh and not self.from_template:
                    save_template(self.prefect_home, self._key)  # before any run is written
                return self.api_url
            time.sleep(0.05)
        self.stop()
        raise PrefectApiError(
            f"the temporary Prefect server did not answer within {timeout:g} s: {self._output()}"
            " (set PREFECT_API_URL to a running server, or run `crwatch serve`)"
        )

    def _output(self) -> str:
        if self._log is None:
            return "(no output)"
        self._log.seek(0)
        text = self._log.read()[-2000:].decode("utf-8", "replace").strip()
        return text or "(no output)"

    def stop(self, wait: bool = True) -> None:
        """Stop the server (idempotent).

        With `wait` false (the command is exiting) the server is asked to stop and left to
        finish on its own: its graceful shutdown (~0.2 s: Prefect's services, the database)
        need not hold up the command, and uvicorn ends it after SHUTDOWN_SECONDS at most.
        """
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            if wait:
                try:
                    process.wait(timeout=SHUTDOWN_SECONDS)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


# ---------------------------------------------------------------- what commands call


class OneOffApi:
    """The API of one command: found, or a temporary server booting in the background."""

    def __init__(self, choice: ApiChoice, server: TemporaryServer | None) -> None:
        self.choice = choice
        self.server = server

    def ready(self) -> str:
        """Wait for the API (only a temporary server can make this wait) and point Prefect at it.

        Sets PREFECT_API_URL for this process (and refreshes Prefect's settings if it is
        already imported), so every later flow run in the process reports to the same API.
        """
        url = self.choice.url
        if self.choice.kind == "env":
            return url or ""  # Prefect finds it itself (environment, profile or settings)
        if url is None:
            assert self.server is not None
            timeout = os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "")
            url = self.server.wait_ready(float(timeout) if timeout else READY_SECONDS)
            self.choice = ApiChoice("temporary", url)
        os.environ["PREFECT_API_URL"] = url
        if "prefect.context" in sys.modules:
            from prefect.context import refresh_global_settings_context

            refresh_global_settings_context()
        return url


def open_api(settings: Settings) -> OneOffApi:
    """Set Prefect's environment and find or start the API; never waits for a server."""
    configure_prefect(settings)
    choice = choose_api(settings.home)
    server = None
    if choice.kind == "temporary":
        server = TemporaryServer(Path(os.environ["PREFECT_HOME"]))  # the user's, if they set it
        server.start()
    return OneOffApi(choice, server)


@contextlib.contextmanager
def one_off_flow_settings() -> Iterator[None]:
    """Prefect settings for a flow run in a one-off command: no heartbeat thread.

    A flow run's heartbeat thread sleeps in 1 s steps and is joined when the run ends, which
    costs up to a second per flow run. Heartbeats let a server notice a crashed run; crwatch
    records crashed runs itself (`runs`, `flows.runtime.runlock`), and a scheduled run under
    `crwatch serve` keeps its heartbeats.
    """
    from prefect.context import SettingsContext, get_settings_context

    # Prefect's `temporary_settings` re-validates every setting from the environment (~25 ms);
    # a copy of the current settings with this one field changed is the same thing, at once.
    context = get_settings_context()
    current = context.settings
    flows = current.flows.model_copy(update={"heartbeat_frequency": None})
    settings = current.model_copy(update={"flows": flows})
    with SettingsContext(profile=context.profile, settings=settings):
        yield
