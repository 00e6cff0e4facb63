"""Configuration: one typed `Settings` object built from defaults, a user file and the environment.

Order (later wins): the commented defaults in `crwatch.toml` shipped with crwatch (package data,
`flows/crwatch.toml`, a link to the file at the top of a checkout), a user file (`CRWATCH_CONFIG`,
or `./crwatch.toml` when the working directory has its own), then environment variables
`CRWATCH_<KEY>`. Paths under the data folder (`home`, default `./data` in the working directory,
installed or not) are derived unless set; `seeds_dir` defaults to the shipped `seeds` package.

The file and the environment are flat (`smtp_host`, `CRWATCH_SMTP_HOST`); inside, the settings
hand out typed sections (`fetch`, `extraction`, `smtp`, `schedule`, `store`) and are the one
wiring point for what several commands build from them: the warehouse (`open_warehouse`), the
extraction limits, the schedule interval and the vocabulary directory (`use_vocabularies`).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flows.errors import ConfigError as ConfigError  # defined in flows.errors; kept here
from seeds import SEEDS_DIR

if TYPE_CHECKING:
    from extractors.page.extract import ExtractionLimits
    from warehouse.db import Warehouse

# The checkout this module runs from (only meaningful there: requirements.lock, the corpus).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Shipped as package data; in a checkout a link to ./crwatch.toml at the top of the repository.
DEFAULTS_FILE = Path(__file__).resolve().parent / "crwatch.toml"
ENV_PREFIX = "CRWATCH_"


@dataclass(frozen=True)
class Settings:
    """Every setting crwatch reads; build it with `load_settings()`."""

    home: Path = Path("data")
    warehouse: Path = Path()
    archive_dir: Path = Path()
    outbox_dir: Path = Path()
    seeds_dir: Path = Path()
    replay: tuple[str, ...] = ()
    workers: int = 0
    batch_size: int = 500
    max_page_bytes: int = 5 * 1024 * 1024
    extract_timeout_seconds: float = 20.0
    worker_memory_mb: int = 2048
    min_text_chars: int = 20
    lock_wait_seconds: float = 30.0
    progress: bool = True
    live: bool = True
    sources_file: Path = Path()
    user_agent: str = "crwatch/0.1"
    contact_url: str = ""
    per_host_delay: float = 1.0
    fetch_max_tries: int = 3
    fetch_deadline_seconds: float = 30.0
    fetch_max_bytes: int = 10 * 1024 * 1024
    allow_hosts: tuple[str, ...] = ()
    max_items_per_source: int = 200
    live_budget_seconds: float = 600.0
    # Digest delivery (the password is never a setting: CRWATCH_SMTP_PASSWORD or a Secret block).
    smtp_host: str = ""
    smtp_port: int = 0
    smtp_security: str = "starttls"
    smtp_user: str = ""
    smtp_password_block: str = ""
    smtp_timeout_seconds: float = 30.0
    digest_from: str = "crwatch@localhost"
    digest_to: tuple[str, ...] = ()
    digest_top_stories: int = 10
    # Schedules (`crwatch serve`) and the orchestration around runs.
    timezone: str = "UTC"
    ingest_interval_minutes: int = 30
    digest_cron: str = "0 7 * * 1"
    prefect_port: int = 4200
    runner: str = "threads"
    dask_address: str = ""
    dask_workers: int = 2
    archive_retention_days: int = 0
    # The lake: a catalog outside the data folder (PostgreSQL), where its Parquet files go, and
    # how long its snapshots are kept.
    warehouse_catalog: str = ""
    lake_data_path: str = ""
    snapshot_retention_days: int = 7

    @property
    def worker_count(self) -> int:
        """Extraction processes to start: `workers`, or one per CPU core when 0."""
        return self.workers if self.workers > 0 else max(1, os.cpu_count() or 1)

    @property
    def prefect_home(self) -> Path:
        """Prefect's own state (the temporary server's SQLite) lives under the data folder."""
        return self.home / "prefect"

    @property
    def fetch(self) -> FetchSettings:
        """Live fetching: politeness, limits and where responses are archived."""
        return FetchSettings(
            live=self.live, sources_file=self.sources_file, archive_dir=self.archive_dir,
            user_agent=self.user_agent, contact_url=self.contact_url,
            per_host_delay=self.per_host_delay, max_tries=self.fetch_max_tries,
            deadline_seconds=self.fetch_deadline_seconds, max_bytes=self.fetch_max_bytes,
            allow_hosts=self.allow_hosts, max_items_per_source=self.max_items_per_source,
            budget_seconds=self.live_budget_seconds,
        )  # fmt: skip

    @property
    def extraction(self) -> ExtractionSettings:
        """Extraction workers, their caps and the runner that schedules them."""
        return ExtractionSettings(
            workers=self.worker_count, batch_size=self.batch_size,
            max_page_bytes=self.max_page_bytes, timeout_seconds=self.extract_timeout_seconds,
            worker_memory_mb=self.worker_memory_mb, min_text_chars=self.min_text_chars,
            runner=self.runner, dask_address=self.dask_address, dask_workers=self.dask_workers,
            vocabulary_dir=self.seeds_dir,
        )  # fmt: skip

    @property
    def smtp(self) -> SmtpSettings:
        """Digest delivery (the password is never a setting)."""
        return SmtpSettings(
            host=self.smtp_host, port=self.smtp_port, security=self.smtp_security,
            user=self.smtp_user, password_block=self.smtp_password_block,
            timeout_seconds=self.smtp_timeout_seconds, sender=self.digest_from,
            recipients=self.digest_to, top_stories=self.digest_top_stories,
        )  # fmt: skip

    @property
    def schedule(self) -> ScheduleSettings:
        """When `crwatch serve` runs ingests and digests, and how long archives are kept."""
        return ScheduleSettings(
            timezone=self.timezone, ingest_interval_minutes=self.ingest_interval_minutes,
            digest_cron=self.digest_cron, prefect_port=self.prefect_port,
            archive_retention_days=self.archive_retention_days,
        )  # fmt: skip

    @property
    def store(self) -> StoreSettings:
        """The warehouse: where it is, its catalog, lock waits and snapshot retention."""
        return StoreSettings(
            warehouse=self.warehouse, catalog=self.warehouse_catalog,
            lake_data_path=self.lake_data_path, lock_wait_seconds=self.lock_wait_seconds,
            snapshot_retention_days=self.snapshot_retention_days,
        )  # fmt: skip

    @property
    def ingest_interval_seconds(self) -> float:
        """Seconds between scheduled ingests (also how long an ingest waits for another one)."""
        return self.schedule.ingest_interval_seconds

    def extraction_limits(self) -> ExtractionLimits:
        """The caps every extraction worker applies to a page."""
        return self.extraction.limits()

    def open_warehouse(self, lock_wait_seconds: float | None = None) -> Warehouse:
        """The configured warehouse (see `open_warehouse`)."""
        return open_warehouse(self, lock_wait_seconds)

    def use_vocabularies(self) -> None:
        """Make this process's judges read their vocabularies from `seeds_dir`."""
        from extractors.vocabulary import use_directory

        use_directory(self.seeds_dir)


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """Live fetching (`live`, `sources_file`, `user_agent`, `fetch_*`, `live_budget_seconds`)."""

    live: bool
    sources_file: Path
    archive_dir: Path
    user_agent: str
    contact_url: str
    per_host_delay: float
    max_tries: int
    deadline_seconds: float
    max_bytes: int
    allow_hosts: tuple[str, ...]
    max_items_per_source: int
    budget_seconds: float


@dataclass(frozen=True, slots=True)
class ExtractionSettings:
    """Extraction (`workers`, `batch_size`, `max_page_bytes`, `extract_timeout_seconds`, ...)."""

    workers: int  # resolved: one per CPU core when the setting is 0
    batch_size: int
    max_page_bytes: int
    timeout_seconds: float
    worker_memory_mb: int
    min_text_chars: int
    runner: str
    dask_address: str
    dask_workers: int
    vocabulary_dir: Path  # `seeds_dir`: handed to every worker process

    def limits(self) -> ExtractionLimits:
        """The caps every extraction worker applies to a page."""
        from extractors.page.extract import ExtractionLimits

        return ExtractionLimits(max_bytes=self.max_page_bytes, timeout_seconds=self.timeout_seconds)


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Digest delivery (`smtp_*`, `digest_from`, `digest_to`, `digest_top_stories`)."""

    host: str
    port: int
    security: str
    user: str
    password_block: str
    timeout_seconds: float
    sender: str
    recipients: tuple[str, ...]
    top_stories: int


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    """Schedules of `crwatch serve` (`timezone`, `ingest_interval_minutes`, `digest_cron`, ...)."""

    timezone: str
    ingest_interval_minutes: int
    digest_cron: str
    prefect_port: int
    archive_retention_days: int

    @property
    def ingest_interval_seconds(self) -> float:
        """Seconds between scheduled ingests."""
        return float(self.ingest_interval_minutes * 60)


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """The warehouse (`warehouse`, `lake_data_path`, `lock_wait_seconds`, snapshot retention)."""

    warehouse: Path
    catalog: str  # a `postgres:`/`ducklake:` warehouse value, else ""
    lake_data_path: str
    lock_wait_seconds: float
    snapshot_retention_days: int


def _coerce(name: str, value: Any, target: Any) -> Any:
    """Convert a TOML or environment value to the type of the field it sets."""
    try:
        if target is bool:
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                    raise ValueError(value)
                return lowered in {"1", "true", "yes", "on"}
            return bool(value)
        if target is int:
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if target is float:
            return float(value)
        if target is Path:
            return Path(str(value)).expanduser()
        if target is str:
            if not isinstance(value, str):
                raise ValueError(value)
            return value
        if target == tuple[str, ...]:
            if isinstance(value, str):
                return tuple(part.strip() for part in value.split(",") if part.strip())
            if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
                return tuple(value)
            raise ValueError(value)
    except ValueError as exc:
        raise ConfigError(f"setting {name!r}: cannot use {value!r} ({exc})") from None
    raise ConfigError(f"setting {name!r}: unsupported type {target!r}")


_TYPES = {
    "home": Path,
    "warehouse": Path,
    "archive_dir": Path,
    "outbox_dir": Path,
    "seeds_dir": Path,
    "replay": tuple[str, ...],
    "workers": int,
    "batch_size": int,
    "max_page_bytes": int,
    "extract_timeout_seconds": float,
    "worker_memory_mb": int,
    "min_text_chars": int,
    "lock_wait_seconds": float,
    "progress": bool,
    "live": bool,
    "sources_file": Path,
    "user_agent": str,
    "contact_url": str,
    "per_host_delay": float,
    "fetch_max_tries": int,
    "fetch_deadline_seconds": float,
    "fetch_max_bytes": int,
    "allow_hosts": tuple[str, ...],
    "max_items_per_source": int,
    "live_budget_seconds": float,
    "smtp_host": str,
    "smtp_port": int,
    "smtp_security": str,
    "smtp_user": str,
    "smtp_password_block": str,
    "smtp_timeout_seconds": float,
    "digest_from": str,
    "digest_to": tuple[str, ...],
    "digest_top_stories": int,
    "timezone": str,
    "ingest_interval_minutes": int,
    "digest_cron": str,
    "prefect_port": int,
    "runner": str,
    "dask_address": str,
    "dask_workers": int,
    "archive_retention_days": int,
    "lake_data_path": str,
    "snapshot_retention_days": int,
}

# A `warehouse` value naming a catalog database rather than a path.
CATALOG_PREFIXES = ("postgres:", "postgresql:", "ducklake:")

# Choices for the settings that take one of a few words.
SMTP_SECURITY = ("none", "starttls", "tls")
RUNNERS = ("threads", "dask")


def _read_toml(path: Path) -> dict[str, Any]:
    """Read one TOML file, with an error that names the file."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _user_file(environ: dict[str, str]) -> Path | None:
    """The user's config file, if any: CRWATCH_CONFIG, else ./crwatch.toml (not the defaults)."""
    explicit = environ.get(ENV_PREFIX + "CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    local = Path.cwd() / "crwatch.toml"
    if local.is_file() and local.resolve() != DEFAULTS_FILE.resolve():
        return local
    return None


def load_settings(
    environ: dict[str, str] | None = None, overrides: dict[str, Any] | None = None
) -> Settings:
    """Build the settings: defaults file, user file, environment, then explicit overrides."""
    env = dict(os.environ if environ is None else environ)
    raw: dict[str, Any] = {}
    if DEFAULTS_FILE.is_file():
        raw.update(_read_toml(DEFAULTS_FILE))
    user = _user_file(env)
    if user is not None:
        raw.update(_read_toml(user))
    for name in _TYPES:
        key = ENV_PREFIX + name.upper()
        if key in env:
            raw[name] = env[key]
    raw.update(overrides or {})
    catalog = ""
    if isinstance(raw.get("warehouse"), str) and raw["warehouse"].startswith(CATALOG_PREFIXES):
        catalog = raw.pop("warehouse")
    if "smtp_password" in raw:
        raise ConfigError(
            "smtp_password is not read from config files: set CRWATCH_SMTP_PASSWORD in the "
            "environment or name a Prefect Secret block with smtp_password_block"
        )
    unknown = sorted(set(raw) - set(_TYPES))
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(unknown)}; known: {', '.join(_TYPES)}")
    values = {name: _coerce(name, raw[name], _TYPES[name]) for name in raw}
    settings = Settings(**values, warehouse_catalog=catalog)
    return _derive_paths(settings)


def _derive_paths(settings: Settings) -> Settings:
    """Fill empty paths from the data folder and the shipped seeds folder; make them absolute."""
    home = settings.home.resolve()

    def pick(value: Path, default: Path) -> Path:
        return value.resolve() if str(value) not in {"", "."} else default

    seeds_dir = pick(settings.seeds_dir, SEEDS_DIR)
    settings = replace(
        settings,
        home=home,
        warehouse=pick(settings.warehouse, home / "lake"),
        archive_dir=pick(settings.archive_dir, home / "archive"),
        outbox_dir=pick(settings.outbox_dir, home / "outbox"),
        seeds_dir=seeds_dir,
        sources_file=pick(settings.sources_file, seeds_dir / "sources.toml"),
    )
    for check in (
        "workers", "batch_size", "max_page_bytes", "worker_memory_mb", "min_text_chars",
        "fetch_max_tries", "fetch_max_bytes", "max_items_per_source", "digest_top_stories",
        "ingest_interval_minutes", "dask_workers",
    ):  # fmt: skip
        if getattr(settings, check) < 0 or (check != "workers" and getattr(settings, check) == 0):
            raise ConfigError(f"setting {check!r} must be positive, got {getattr(settings, check)}")
    for name in (
        "extract_timeout_seconds", "fetch_deadline_seconds", "live_budget_seconds",
        "smtp_timeout_seconds",
    ):  # fmt: skip
        if getattr(settings, name) <= 0:
            raise ConfigError(f"setting {name!r} must be positive")
    if settings.per_host_delay < 0:
        raise ConfigError("setting 'per_host_delay' must not be negative")
    if settings.warehouse_catalog:
        from warehouse.db import WarehouseError, parse_catalog

        try:
            parse_catalog(settings.warehouse_catalog)
        except WarehouseError as exc:
            raise ConfigError(f"setting 'warehouse': {exc}") from None
    for name in ("smtp_port", "archive_retention_days", "snapshot_retention_days"):
        if getattr(settings, name) < 0:
            raise ConfigError(f"setting {name!r} must not be negative")
    if not 0 < settings.prefect_port < 65536:
        raise ConfigError(f"setting 'prefect_port' must be a TCP port, got {settings.prefect_port}")
    if settings.smtp_security not in SMTP_SECURITY:
        raise ConfigError(
            f"setting 'smtp_security' must be one of {', '.join(SMTP_SECURITY)}, "
            f"got {settings.smtp_security!r}"
        )
    if settings.runner not in RUNNERS:
        raise ConfigError(
            f"setting 'runner' must be one of {', '.join(RUNNERS)}, got {settings.runner!r}"
        )
    _check_timezone(settings.timezone)
    return settings


def _check_timezone(name: str) -> None:
    """Refuse a time zone name the system's tz database does not know."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"setting 'timezone': unknown time zone {name!r}") from None


def cli_settings(runner: str | None = None) -> Settings:
    """Settings for a CLI command: a configuration error becomes click's clean error message."""
    import click  # only the command line needs it

    try:
        settings = load_settings(overrides={"runner": runner} if runner else None)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    settings.use_vocabularies()
    return settings


def open_warehouse(settings: Settings, lock_wait_seconds: float | None = None) -> Warehouse:
    """The configured warehouse: the lake (SQLite or PostgreSQL catalog) or one DuckDB file.

    `lock_wait_seconds` overrides the setting (a status probe or a failure record waits less).
    """
    from warehouse.db import Warehouse

    store = settings.store
    return Warehouse(
        store.warehouse,
        store.lock_wait_seconds if lock_wait_seconds is None else lock_wait_seconds,
        catalog=store.catalog or None,
        data_path=store.lake_data_path or None,
    )
