"""Process environment for Prefect: set before `prefect` is first imported.

Prefect reads its settings from the environment. Without an API URL it starts a temporary local
server whose SQLite lives under PREFECT_HOME; we keep that under the crwatch data folder so test
runs and installations never share state. Telemetry is off (the machine may have no network)
and task caching is off by default (inputs here are large byte strings and live objects).
"""

from __future__ import annotations

import os

from flows.settings import Settings


def configure_prefect(settings: Settings) -> None:
    """Set Prefect's environment defaults for this process (explicit user values win)."""
    settings.prefect_home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(settings.prefect_home))
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_TASKS_DEFAULT_NO_CACHE", "true")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    # The temporary server must not wait on a network that is not there.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
