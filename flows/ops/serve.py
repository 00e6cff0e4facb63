"""`crwatch serve`: scheduled deployments on a supervised local Prefect server.

Prefect's temporary server cannot run schedules, so on the embedded default this starts
`prefect server start --host 127.0.0.1 --port <prefect_port>` as a child (its own process group,
database under `<home>/prefect/`), waits for its health endpoint, restarts it if it dies and
stops it on exit. With `PREFECT_API_URL` set, that server is used instead and nothing is started.
Then a Prefect runner (what `prefect.serve()` uses) registers and serves two deployments:

    ingest/scheduled   every `ingest_interval_minutes` (seed baseline, `replay`, live sources)
    digest/weekly      `digest_cron` in `timezone` (when the digest flow is installed)
    maintain/daily     03:30 in `timezone`: facts rebuild, lake compaction, WARC retention
                       (`flows.ops.maintain`)

Runs of one deployment never overlap: each deployment has a concurrency limit of one, and every
ingest also takes the writer lock (`flows.runtime.runlock`), which the OS releases if its holder
dies.

serve owns what it starts (`flows.runtime.servestate`): one serve per data folder
(`<home>/serve.lock`), its state in `<home>/serve.json`, and every child tagged with the instance's
token. Children die with it where Linux allows (`PR_SET_PDEATHSIG`: the server gets SIGTERM, flow
runs SIGKILL); a new serve stops whatever a killed predecessor left, marks that predecessor's flow
runs Crashed in Prefect and in `runs`, and only then starts its own server.

Errors:
    ServeError   the server could not be started, reached or kept alive (a message to act on)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

import httpx

from extractors.lifeline import preexec_die_with_parent
from flows.errors import ServeError as ServeError  # defined in flows.errors; kept here
from flows.runtime.environment import configure_prefect
from flows.runtime.prefect_api import api_healthy
from flows.runtime.servestate import (
    INSTANCE_ENV,
    SERVE_PID_ENV,
    ServeLock,
    ServeState,
    describe_process,
    port_free,
    port_owner,
    process_alive,
    process_start,
    processes_of_instance,
    read_state,
    remove_state,
    stop_processes,
    this_host,
    write_state,
)
from flows.settings import Settings, open_warehouse

log = logging.getLogger("crwatch.serve")
INGEST_DEPLOYMENT = "scheduled"
DIGEST_DEPLOYMENT = "weekly"
MAINTAIN_DEPLOYMENT = "daily"
_SECRET_ENV = ("CRWATCH_SMTP_PASSWORD", "PREFECT_API_KEY", "PREFECT_API_AUTH_STRING")
_READY_SECONDS = 120.0  # a cold start on a busy 2-core machine took up to ~40 s
_MAX_RESTARTS = 20
_FIRST_RUN_SECONDS = 10


# ---------------------------------------------------------------- logging


class RedactSecrets(logging.Filter):
    """Replace the values of secret environment variables in every log record."""

    def __init__(self) -> None:
        super().__init__()
        secrets = [os.environ.get(name, "") for name in _SECRET_ENV]
        self._pattern = (
            re.compile("|".join(re.escape(s) for s in secrets if len(s) >= 4))
            if any(len(s) >= 4 for s in secrets)
            else None
        )

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message once, masked; never drop a record."""
        if self._pattern is not None:
            record.msg = self._pattern.sub("***", record.getMessage())
            record.args = None
        return True


def setup_logging(level: int = logging.INFO) -> None:
    """Structured key=value lines on stderr, secrets masked."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter(
            "time=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s",
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        )
    )
    handler.addFilter(RedactSecrets())
    logger = logging.getLogger("crwatch")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


# ---------------------------------------------------------------- the Prefect server


def api_url(settings: Settings) -> str:
    """The API of the server `crwatch serve` starts for these settings."""
    return f"http://127.0.0.1:{settings.prefect_port}/api"


def server_healthy(url: str, timeout: float = 2.0) -> bool:
    """True when a Prefect API answers its health check at `url` (see `api_healthy`)."""
    return api_healthy(url, timeout)


def _server_env(settings: Settings) -> dict[str, str]:
    """The server child's environment: ours minus secrets, bound to loopback, state in home."""
    env = {k: v for k, v in os.environ.items() if k not in _SECRET_ENV}
    env.pop("PREFECT_API_URL", None)
    database = settings.prefect_home / "server.db"
    env.update(
        PREFECT_HOME=str(settings.prefect_home),
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_API_PORT=str(settings.prefect_port),
        # Its own SQLite: one-off runs' temporary servers keep using prefect.db beside it.
        PREFECT_SERVER_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{database}",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
    )
    return env


def _prefect_command() -> list[str]:
    # `prefect` of this environment (SQLAlchemy pinned below 2.1: Prefect 3.8.8's scheduler
    # cannot insert scheduled runs with 2.1, "Can't evaluate bulk DML statement").
    return [sys.executable, "-m", "prefect"]


@dataclass
class ServerStats:
    """What the supervisor did, for logs and tests."""

    starts: int = 0
    restarts: int = 0
    ready_seconds: float = 0.0


class SupervisedServer:
    """A `prefect server start` child: started, watched, restarted when it dies, stopped."""

    def __init__(
        self,
        settings: Settings,
        check_seconds: float = 2.0,
        on_ready: Callable[[int], None] | None = None,
    ) -> None:
        self.settings = settings
        self.url = api_url(settings)
        self.check_seconds = check_seconds
        self.log_path = settings.prefect_home / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.stats = ServerStats()
        self.on_ready = on_ready  # called with the server's pid each time it is ready
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        """Start the server and wait until it answers; raise `ServeError` if it does not."""
        self._claim_port()
        self._launch()
        self._watcher = threading.Thread(target=self._watch, name="prefect-server-watch")
        self._watcher.daemon = True
        self._watcher.start()

    def _claim_port(self, wait_seconds: float = 10.0) -> None:
        """Make sure the port is free; say plainly who holds it when it is not."""
        port = self.settings.prefect_port
        deadline = time.monotonic() + wait_seconds  # a stopped orphan may take a moment
        while not port_free(port):
            if time.monotonic() >= deadline:
                holder = describe_process(port_owner(port))
                if server_healthy(self.url, timeout=2.0):
                    raise ServeError(
                        f"another Prefect server already answers at {self.url} ({holder}); no"
                        f" crwatch serve of this data folder ({self.settings.home}) started it."
                        " Stop it, set prefect_port (CRWATCH_PREFECT_PORT) to a free port, or"
                        " point PREFECT_API_URL at that server to use it"
                    )
                raise ServeError(
                    f"port {port} on 127.0.0.1 is in use by {holder}, which is not a Prefect"
                    " server: set prefect_port (CRWATCH_PREFECT_PORT) to a free port, or stop"
                    " that program"
                )
            time.sleep(0.5)

    def _launch(self) -> None:
        self.settings.prefect_home.mkdir(parents=True, exist_ok=True)
        command = [*_prefect_command(), "server", "start", "--host", "127.0.0.1",
                   "--port", str(self.settings.prefect_port)]  # fmt: skip
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                command,
                env=_server_env(self.settings),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as a whole
                # SIGTERM when the thread that starts it ends (serve killed, even by kill -9).
                preexec_fn=preexec_die_with_parent(signal.SIGTERM),
            )
        self.stats.starts += 1
        log.info("prefect server starting pid=%d url=%s log=%s", self.process.pid, self.url,
                 self.log_path)  # fmt: skip
        started = time.monotonic()
        while time.monotonic() - started < _READY_SECONDS:
            if self.process.poll() is not None:
                raise ServeError(
                    f"prefect server exited with code {self.process.returncode} while starting;"
                    f" see {self.log_path}"
                )
            if server_healthy(self.url):
                self.stats.ready_seconds = time.monotonic() - started
                log.info("prefect server ready seconds=%.1f ui=%s", self.stats.ready_seconds,
                         self.url.removesuffix("/api"))  # fmt: skip
                if self.on_ready is not None:
                    self.on_ready(self.process.pid)
                return
            if self._stop.wait(0.5):
                return
        self._kill_group()
        raise ServeError(f"prefect server did not answer within {_READY_SECONDS:g} s; see "
                         f"{self.log_path}")  # fmt: skip

    def _watch(self) -> None:
        """Restart the server when it dies (with a growing pause), until stopped."""
        pause = 1.0
        while not self._stop.wait(self.check_seconds):
            process = self.process
            if process is None or process.poll() is None:
                continue
            if self.stats.restarts >= _MAX_RESTARTS:
                log.error("prefect server died %d times; giving up", self.stats.restarts)
                os.kill(os.getpid(), signal.SIGTERM)
                return
            log.warning("prefect server died code=%s; restarting in %.0f s", process.returncode,
                        pause)  # fmt: skip
            if self._stop.wait(pause):
                return
            self.stats.restarts += 1
            try:
                self._launch()
                pause = 1.0
            except ServeError as exc:
                log.error("prefect server restart failed: %s", exc)
                pause = min(pause * 2, 60.0)

    def _kill_group(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def stop(self) -> None:
        """Stop watching, then stop the server's whole process group."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        self._kill_group()
        if self.process is not None:
            log.info("prefect server stopped code=%s", self.process.returncode)


def _without_credentials(url: str) -> str:
    """The URL with any user:password@ removed, for logs."""
    return re.sub(r"//[^/@]*@", "//***@", url)


@contextlib.contextmanager
def prefect_api(
    settings: Settings, on_ready: Callable[[int], None] | None = None
) -> Iterator[SupervisedServer | None]:
    """Yield with PREFECT_API_URL pointing at a server: the user's, or one started here."""
    external = os.environ.get("PREFECT_API_URL", "")
    if external:
        if not server_healthy(external, timeout=5.0):
            raise ServeError(
                f"PREFECT_API_URL={_without_credentials(external)} does not answer its health check"
            )
        log.info("using prefect server url=%s", _without_credentials(external))
        yield None
        return
    server = SupervisedServer(settings, on_ready=on_ready)
    try:
        server.start()
        os.environ["PREFECT_API_URL"] = server.url
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------- deployments


def build_deployments(
    settings: Settings, interval_seconds: float | None = None, runner: str | None = None
) -> list[Any]:
    """The ingest and maintain deployments (and the digest one when `flows.digest.flow` exists).

    `runner` (`crwatch serve --runner`) is an ingest parameter; without it each run reads the
    setting.
    """
    ingest_parameters: dict[str, Any] = {
        "replay": list(settings.replay), "seeds": True, "live": settings.live,
    }  # fmt: skip
    if runner:
        ingest_parameters["runner"] = runner
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.schedules import Cron, Interval

    from flows.ingest.flow import ingest_flow
    from flows.ops.maintain import MAINTAIN_CRON, maintain_flow

    interval = timedelta(seconds=interval_seconds or settings.ingest_interval_seconds)
    # Anchored so that the first ingest starts within seconds of `crwatch serve`, not one
    # interval later; after that, every interval.
    anchor = datetime.now(UTC) - interval + timedelta(seconds=_FIRST_RUN_SECONDS)
    deployments = [
        ingest_flow.to_deployment(
            name=INGEST_DEPLOYMENT,
            schedule=Interval(interval, anchor_date=anchor, timezone=settings.timezone),
            parameters=ingest_parameters,
            description="crwatch ingest: seed baseline, configured replays, live sources.",
            # A run still going when the next is due: the next one is dropped, not queued.
            concurrency_limit=ConcurrencyLimitConfig(
                limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
            ),
        )
    ]
    deployments.append(
        maintain_flow.to_deployment(
            name=MAINTAIN_DEPLOYMENT,
            schedule=Cron(MAINTAIN_CRON, timezone=settings.timezone),
            description="crwatch housekeeping: facts rebuild, lake compaction, WARC retention.",
            concurrency_limit=ConcurrencyLimitConfig(
                limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
            ),
        )
    )
    try:
        from flows.digest.flow import digest_flow
    except ImportError as exc:
        log.warning("digest deployment not registered: flows.digest.flow unavailable (%s)", exc)
    else:
        deployments.append(
            digest_flow.to_deployment(
                name=DIGEST_DEPLOYMENT,
                schedule=Cron(settings.digest_cron, timezone=settings.timezone),
                description="crwatch weekly digest.",
                concurrency_limit=ConcurrencyLimitConfig(
                    limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE
                ),
            )
        )
    return deployments


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _run_deployments(deployments: list[Any]) -> None:
    """`prefect.serve()`, with a SIGTERM that stops the runner gracefully.

    Prefect's own SIGTERM handler calls the async `stop()` from a sync context (the coroutine is
    never awaited) and exits mid-loop; here SIGTERM schedules `astop()` on the runner's loop:
    running flow runs are cancelled, the schedules paused, then `start()` returns.
    """
    from prefect.runner import Runner

    class _GracefulRunner(Runner):
        def handle_sigterm(self, *args: Any, **kwargs: Any) -> None:
            log.info("SIGTERM received: cancelling running flow runs, pausing schedules")
            loop = asyncio.get_running_loop()

            def stop() -> None:
                self.stop_task = loop.create_task(self.astop())

            loop.call_soon_threadsafe(stop)

    runner = _GracefulRunner(pause_on_shutdown=True)
    for deployment in deployments:
        runner.add_deployment(deployment)
    asyncio.run(runner.start())


# ---------------------------------------------------------------- what a killed serve left


def recover_previous(settings: Settings) -> list[int]:
    """Stop the processes a dead predecessor left (call while holding the serve lock).

    Holding `serve.lock` proves the serve recorded in `serve.json` is gone; every process still
    carrying its instance token (its Prefect server, flow runs, extraction workers) is an
    orphan, and so is its recorded server if the token cannot be read. Returns the pids stopped.
    """
    state = read_state(settings.home)
    if state is None:
        return []
    pids = processes_of_instance(state.instance)
    if state.server_pid and process_alive(state.server_pid, state.server_start):
        pids = sorted({*pids, state.server_pid})
    if pids:
        log.warning(
            "previous crwatch serve (pid %d, started %s) died without stopping its children;"
            " stopping %d orphan(s): %s",
            state.pid,
            state.started_at,
            len(pids),
            "; ".join(describe_process(pid) for pid in pids),
        )
        stopped = stop_processes(pids)
        left = sorted(set(pids) - set(stopped))
        if left:
            raise ServeError(
                f"could not stop processes left by the previous crwatch serve: {left}; stop"
                " them by hand (kill -9 <pid>) and start again"
            )
    elif state.pid != os.getpid():
        log.info("previous crwatch serve (pid %d, started %s) ended without cleaning up;"
                 " none of its processes is left", state.pid, state.started_at)  # fmt: skip
    return pids


_FLOWS = ("ingest", "digest", "maintain")
_UNFINISHED = ("RUNNING", "PENDING", "CANCELLING")


def crash_orphaned_flow_runs(url: str, reason: str) -> list[dict[str, Any]]:
    """Set Crashed on deployment runs of our flows that a dead runner left unfinished.

    Called before this serve's runner starts, while it holds the serve lock: such a run was
    started by a previous runner of this data folder, which is dead, so nothing will ever end
    it. Runs without a deployment (one-off `crwatch ingest` against this API) are left alone.
    Returns the flow runs marked (as the API returned them).
    """
    body = {
        "flow_runs": {
            "state": {"type": {"any_": list(_UNFINISHED)}},
            "deployment_id": {"is_null_": False},
        },
        "flows": {"name": {"any_": list(_FLOWS)}},
        "limit": 200,
    }
    marked: list[dict[str, Any]] = []
    try:
        with httpx.Client(base_url=url.rstrip("/") + "/", timeout=10.0) as client:
            response = client.post("flow_runs/filter", json=body)
            response.raise_for_status()
            for run in response.json():
                state = {"type": "CRASHED", "name": "Crashed", "message": reason}
                # Without force first, so the server's rules run (they free the deployment's
                # concurrency slot); forced if the rules refuse.
                for force in (False, True):
                    answer = client.post(
                        f"flow_runs/{run['id']}/set_state", json={"state": state, "force": force}
                    )
                    if answer.is_success and answer.json().get("status") == "ACCEPT":
                        marked.append(run)
                        break
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        log.error("could not mark the previous serve's flow runs crashed: %s", exc)
    if marked:
        log.warning("marked %d flow run(s) of the previous serve crashed: %s", len(marked),
                    ", ".join(str(run["id"]) for run in marked))  # fmt: skip
    return marked


def journal_unrecorded_crashes(
    settings: Settings, runs: list[dict[str, Any]], flow_names: dict[str, str], reason: str
) -> list[str]:
    """Journal the crashed flow runs that died before opening their `runs` row.

    A run killed while Prefect was still starting it has no row, so without this it would be
    visible only in Prefect. `crwatch status` shows journal entries; the next ingest moves them
    into `runs`. Returns the run ids journaled.
    """
    from flows.runtime.attempts import append_attempt
    from warehouse.db import WarehouseError
    from warehouse.errors import RunErrorKind

    known: set[str] = set()
    warehouse = open_warehouse(settings, 5.0)
    if warehouse.exists():
        try:
            _, rows = warehouse.query("SELECT run_id FROM runs")
            known = {str(row[0]) for row in rows}
        except WarehouseError:
            pass  # journal them all: a row that exists is only updated, never doubled
    journaled = []
    for run in runs:
        run_id = str(run["id"])
        if run_id in known:
            continue
        append_attempt(
            settings.home,
            {
                "run_id": run_id, "flow": flow_names.get(str(run.get("flow_id")), "?"),
                "started_at": run.get("start_time") or run.get("expected_start_time")
                or datetime.now(UTC).isoformat(),
                "finished_at": datetime.now(UTC).isoformat(), "status": "crashed",
                "error_kind": RunErrorKind.KILLED,
                "error": f"killed before it wrote anything: {reason}",
                "host": this_host(), "params": run.get("parameters") or {},
            },
        )  # fmt: skip
        journaled.append(run_id)
    return journaled


def flow_names(url: str) -> dict[str, str]:
    """flow id -> flow name, from the API ({} when it does not answer)."""
    try:
        response = httpx.post(url.rstrip("/") + "/flows/filter", json={"limit": 200}, timeout=10)
        response.raise_for_status()
        return {str(flow["id"]): str(flow["name"]) for flow in response.json()}
    except (httpx.HTTPError, ValueError, KeyError):
        return {}


def mark_dead_runs(settings: Settings, reason: str) -> list[str]:
    """Close `runs` rows still 'running' whose process on this machine is gone; return them."""
    from warehouse.db import WarehouseError
    from warehouse.runs import mark_crashed_if_dead

    warehouse = open_warehouse(settings, min(settings.lock_wait_seconds, 10.0))
    if not warehouse.exists():
        return []
    try:
        closed = mark_crashed_if_dead(warehouse, this_host(), process_alive, reason)
    except WarehouseError as exc:
        log.warning("runs of the previous serve not marked crashed yet (%s); the next ingest"
                    " does it", exc)  # fmt: skip
        return []
    if closed:
        log.warning("marked %d run(s) crashed in the warehouse: %s", len(closed),
                    ", ".join(closed))  # fmt: skip
    return closed


def serve(
    settings: Settings, interval_seconds: float | None = None, runner: str | None = None
) -> int:
    """Run the deployments until SIGTERM/SIGINT; return the process exit code.

    `runner` overrides the runner setting of the scheduled ingests.
    """
    configure_prefect(settings)
    lock = ServeLock(settings.home)
    if not lock.acquire():
        state = read_state(settings.home)
        who = (f"pid {state.pid}, started {state.started_at}, API {state.api_url}"
               if state else "see serve.json")  # fmt: skip
        log.error(
            "crwatch serve is already running for data folder %s (%s): stop it first (kill"
            " <pid>); two would run every schedule twice",
            settings.home,
            who,
        )
        return 1
    instance = uuid.uuid4().hex
    # Inherited by everything started from here on: how a successor finds our orphans.
    os.environ[INSTANCE_ENV] = instance
    os.environ[SERVE_PID_ENV] = str(os.getpid())
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    external = bool(os.environ.get("PREFECT_API_URL"))

    def record(server_pid: int | None) -> None:
        write_state(
            settings.home,
            ServeState(
                pid=os.getpid(),
                api_url=os.environ.get("PREFECT_API_URL") or api_url(settings),
                server_pid=server_pid,
                started_at=started_at,
                instance=instance,
                host=this_host(),
                port=settings.prefect_port,
                home=str(settings.home),
                pid_start=process_start(os.getpid()),
                server_start=process_start(server_pid) if server_pid else None,
                external_api=external,
            ),
        )

    previous = signal.signal(signal.SIGTERM, _raise_interrupt)  # until the runner takes over
    try:
        recover_previous(settings)
        with prefect_api(settings, on_ready=record) as server:
            if server is None:
                record(None)
            reason = (
                f"the crwatch serve that ran it died (found by serve pid {os.getpid()} at"
                f" {datetime.now(UTC).isoformat(timespec='seconds')})"
            )
            crashed = crash_orphaned_flow_runs(os.environ["PREFECT_API_URL"], reason)
            mark_dead_runs(settings, reason)
            if crashed:
                by_id = flow_names(os.environ["PREFECT_API_URL"])
                journal_unrecorded_crashes(settings, crashed, by_id, reason)
            deployments = build_deployments(settings, interval_seconds, runner)
            names = ", ".join(f"{d.flow_name}/{d.name}" for d in deployments)
            log.info("serving deployments=%s runner=%s home=%s", names, settings.runner,
                     settings.home)  # fmt: skip
            _run_deployments(deployments)
    except KeyboardInterrupt:
        log.info("interrupted")
    except ServeError as exc:
        log.error("%s", exc)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
        remove_state(settings.home, os.getpid())
        lock.release()
    log.info("stopped")
    return 0
