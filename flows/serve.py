"""`crwatch serve`: scheduled deployments on a supervised local Prefect server.

Prefect's temporary server cannot run schedules, so on the embedded default this starts
`prefect server start --host 127.0.0.1 --port <prefect_port>` as a child (its own process group,
database under `<home>/prefect/`), waits for its health endpoint, restarts it if it dies and
stops it on exit. With `PREFECT_API_URL` set, that server is used instead and nothing is started.
Then a Prefect runner (what `prefect.serve()` uses) registers and serves two deployments:

    ingest/scheduled   every `ingest_interval_minutes` (seed baseline, `replay`, live sources)
    digest/weekly      `digest_cron` in `timezone` (when the digest flow is installed)
    maintain/daily     03:30 in `timezone`: CHECKPOINT, WARC retention (`flows.maintain`)

Runs of one deployment never overlap: each deployment has a concurrency limit of one, and every
ingest also takes the writer lock (`flows.runlock`), which the OS releases if its holder dies.

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
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

import httpx

from flows.environment import configure_prefect
from flows.settings import Settings

log = logging.getLogger("crwatch.serve")
INGEST_DEPLOYMENT = "scheduled"
DIGEST_DEPLOYMENT = "weekly"
MAINTAIN_DEPLOYMENT = "daily"
_SECRET_ENV = ("CRWATCH_SMTP_PASSWORD", "PREFECT_API_KEY", "PREFECT_API_AUTH_STRING")
_READY_SECONDS = 120.0  # a cold start on a busy 2-core machine took up to ~40 s
_MAX_RESTARTS = 20
_FIRST_RUN_SECONDS = 10


class ServeError(RuntimeError):
    """The Prefect server could not be started, reached or kept alive."""


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
    """True when a Prefect API answers its health check at `url`."""
    try:
        response = httpx.get(url.rstrip("/") + "/health", timeout=timeout)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


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

    def __init__(self, settings: Settings, check_seconds: float = 2.0) -> None:
        self.settings = settings
        self.url = api_url(settings)
        self.check_seconds = check_seconds
        self.log_path = settings.prefect_home / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.stats = ServerStats()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        """Start the server and wait until it answers; raise `ServeError` if it does not."""
        if server_healthy(self.url, timeout=1.0):
            raise ServeError(
                f"something already answers at {self.url} (another `crwatch serve`?): stop it,"
                " set prefect_port (CRWATCH_PREFECT_PORT) to a free port, or point"
                " PREFECT_API_URL at that server to use it"
            )
        self._launch()
        self._watcher = threading.Thread(target=self._watch, name="prefect-server-watch")
        self._watcher.daemon = True
        self._watcher.start()

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
def prefect_api(settings: Settings) -> Iterator[SupervisedServer | None]:
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
    server = SupervisedServer(settings)
    try:
        server.start()
        os.environ["PREFECT_API_URL"] = server.url
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------- deployments


def build_deployments(settings: Settings, interval_seconds: float | None = None) -> list[Any]:
    """The ingest and maintain deployments (and the digest one when `flows.digest` exists)."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.schedules import Cron, Interval

    from flows.ingest import ingest_flow
    from flows.maintain import MAINTAIN_CRON, maintain_flow

    interval = timedelta(seconds=interval_seconds or settings.ingest_interval_minutes * 60)
    # Anchored so that the first ingest starts within seconds of `crwatch serve`, not one
    # interval later; after that, every interval.
    anchor = datetime.now(UTC) - interval + timedelta(seconds=_FIRST_RUN_SECONDS)
    deployments = [
        ingest_flow.to_deployment(
            name=INGEST_DEPLOYMENT,
            schedule=Interval(interval, anchor_date=anchor, timezone=settings.timezone),
            parameters={"replay": list(settings.replay), "seeds": True, "live": settings.live},
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
            description="crwatch housekeeping: CHECKPOINT and WARC retention.",
            concurrency_limit=ConcurrencyLimitConfig(
                limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
            ),
        )
    )
    try:
        from flows.digest import digest_flow
    except ImportError as exc:
        log.warning("digest deployment not registered: flows.digest unavailable (%s)", exc)
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


def serve(settings: Settings, interval_seconds: float | None = None) -> int:
    """Run the deployments until SIGTERM/SIGINT; return the process exit code."""
    configure_prefect(settings)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)  # until the runner takes over
    try:
        with prefect_api(settings):
            deployments = build_deployments(settings, interval_seconds)
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
    log.info("stopped")
    return 0
