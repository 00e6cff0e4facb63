"""`crwatch doctor`: check the setup an operator depends on, and say what to fix.

Each check returns a `Check` with a status: `ok`, `warn` (works, but look at it), `skip` (not
applicable here, e.g. no SMTP configured) or `FAIL` (something crwatch needs is broken; the
command exits 1). Nothing here writes to the warehouse or downloads anything.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from flows.settings import PROJECT_ROOT, Settings, open_warehouse

OK, WARN, SKIP, FAIL = "ok", "warn", "skip", "FAIL"
MIN_FREE_BYTES = 1 << 30  # below 1 GiB a run can fail half-way (WARC append, DuckDB WAL)
LOW_FREE_BYTES = 5 << 30


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    name: str
    status: str
    detail: str
    fix: str = ""


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(requirements: list[str]) -> dict[str, str]:
    """name -> version of the `name==version` requirements without markers."""
    pins = {}
    for requirement in requirements:
        if ";" in requirement:
            continue  # an extra (dev tools) or a platform marker
        match = re.match(r"\s*([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)", requirement)
        if match:
            pins[_canonical(match.group(1))] = match.group(2)
    return pins


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


REINSTALL = "rebuild the environment: `make clean && make .venv/.installed` (installs the pins)"


def check_python() -> Check:
    """Python is a version crwatch supports."""
    wanted = (metadata.metadata("crwatch")["Requires-Python"] or ">=3.11").strip()
    minimum = tuple(int(p) for p in re.findall(r"\d+", wanted)[:2])
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] < minimum:
        return Check("python", FAIL, f"{version}, crwatch needs {wanted}",
                     "install Python 3.11 or newer and rebuild .venv")  # fmt: skip
    return Check("python", OK, f"{version} ({sys.executable})")


def check_packages() -> Check:
    """Every pinned direct dependency is installed at its pinned version."""
    pins = _pins(metadata.requires("crwatch") or [])
    wrong = []
    for name, version in sorted(pins.items()):
        have = _installed(name)
        if have != version:
            wrong.append(f"{name} {have or 'missing'} (pinned {version})")
    if wrong:
        return Check("packages", FAIL, "; ".join(wrong), REINSTALL)
    return Check("packages", OK, f"{len(pins)} pinned dependencies at their pinned versions"
                 f" (prefect {pins.get('prefect')}, fastapi {pins.get('fastapi')},"
                 f" duckdb {pins.get('duckdb')})")  # fmt: skip


def check_lock(lock_file: Path = PROJECT_ROOT / "requirements.lock") -> Check:
    """Installed packages match requirements.lock (the tested set of every dependency)."""
    if not lock_file.is_file():
        return Check("lock file", SKIP, f"{lock_file} not found (installed from a wheel?)")
    pins = _pins(lock_file.read_text(encoding="utf-8").splitlines())
    wrong = [
        f"{name} {have} (locked {version})"
        for name, version in sorted(pins.items())
        if (have := _installed(name)) is not None and have != version
    ]
    if wrong:
        shown = "; ".join(wrong[:6]) + (f"; and {len(wrong) - 6} more" if len(wrong) > 6 else "")
        return Check("lock file", FAIL, shown, REINSTALL)
    return Check("lock file", OK, f"installed packages match {lock_file.name} ({len(pins)} pins)")


# The extensions the warehouse loads from their packages' files (never downloaded).
WAREHOUSE_EXTENSIONS = (
    ("duckdb_extension_ducklake", "ducklake"),
    ("duckdb_extension_sqlite_scanner", "sqlite_scanner"),
    ("duckdb_extension_postgres_scanner", "postgres_scanner"),
)


def _extension_files() -> dict[str, Path]:
    """name -> extension binary: the warehouse's own, then any other duckdb-extension-* package."""
    import duckdb

    from warehouse.db import extension_path

    files = {name: extension_path(package, name) for package, name in WAREHOUSE_EXTENSIONS}
    for dist in metadata.distributions():
        if not _canonical(dist.metadata["Name"] or "").startswith("duckdb-extension-"):
            continue
        for file in dist.files or []:
            if file.name.endswith(".duckdb_extension") and f"v{duckdb.__version__}" in str(file):
                files.setdefault(
                    file.name.removesuffix(".duckdb_extension"), Path(str(file.locate()))
                )
    return files


def check_extensions() -> Check:
    """The DuckDB extension binaries shipped as packages load, offline, into this duckdb."""
    import duckdb

    from warehouse.db import WarehouseError

    try:
        files = _extension_files()
    except WarehouseError as exc:
        return Check("duckdb extensions", FAIL, str(exc), REINSTALL)
    broken = []
    for name, path in sorted(files.items()):
        con = duckdb.connect(config={"autoinstall_known_extensions": False,
                                     "autoload_known_extensions": False})  # fmt: skip
        try:
            con.execute(f"LOAD '{str(path).replace(chr(39), chr(39) * 2)}'")
        except duckdb.Error as exc:
            broken.append(f"{name} ({path}): {str(exc).splitlines()[0][:200]}")
        finally:
            con.close()
    if broken:
        return Check(
            "duckdb extensions", FAIL, "; ".join(broken),
            f"reinstall the extension package for duckdb {duckdb.__version__}: `.venv/bin/pip"
            f" install --force-reinstall -c requirements.lock duckdb-extension-<name>=="
            f"{duckdb.__version__}`",
        )  # fmt: skip
    return Check("duckdb extensions", OK, f"{', '.join(sorted(files))} load offline into duckdb"
                 f" {duckdb.__version__}")  # fmt: skip


def _writable_folder(name: str, path: Path) -> Check | None:
    """None when `path` is (or can be created as) a folder we can write; else a FAIL."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return Check(name, FAIL, f"{existing} is not a folder (needed for {path})",
                     f"move {existing} away or set the path to a folder")  # fmt: skip
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".crwatch-doctor-"):
            pass
    except OSError as exc:
        return Check(name, FAIL, f"cannot write in {existing}: {exc.strerror or exc}",
                     f"make {existing} writable for this user, or set another folder")  # fmt: skip
    return None


def check_data_folder(settings: Settings) -> Check:
    """The data folder, the warehouse's folder and the archive can be written."""
    for name, path in (
        ("data folder", settings.home),
        ("data folder", settings.warehouse.parent),
        ("data folder", settings.archive_dir),
    ):
        problem = _writable_folder(name, path)
        if problem is not None:
            return problem
    return Check("data folder", OK, f"{settings.home} (writable)")


def check_warehouse(settings: Settings) -> Check:
    """The warehouse opens read-only and its schema is current."""
    from warehouse.db import WarehouseBusy, WarehouseError, schema_files

    warehouse = open_warehouse(settings, min(settings.lock_wait_seconds, 5.0))
    where = warehouse.describe()
    catalog = warehouse.catalog_file
    if warehouse.is_lake:
        restore = (
            f"move the lake aside (`mv {settings.warehouse} {settings.warehouse}.broken`), then"
            " restore a backup (IMPORT DATABASE '<backup folder>' into a DuckDB file, then"
            " `crwatch migrate --to-lake --from` it) or re-ingest (`make run`)"
        )
    else:
        path = warehouse.path
        restore = (
            f"move it aside (`mv {path} {path}.broken`), then restore a backup (`duckdb"
            f" {path} -c \"IMPORT DATABASE '<backup folder>'\"`) or re-ingest (`make run`)"
        )
    if not warehouse.exists():
        if catalog is not None and catalog.exists() and catalog.stat().st_size > 0:
            return Check("warehouse", FAIL,
                         f"{catalog} does not open: not a DuckLake catalog (SQLite) file",
                         restore)  # fmt: skip
        return Check("warehouse", WARN, f"{where} does not exist yet",
                     "run `make run` or `crwatch ingest --seeds` to create it")  # fmt: skip
    if not warehouse.is_lake and warehouse.path.is_dir():
        return Check("warehouse", FAIL, f"{warehouse.path} is a folder, not a DuckDB file",
                     "move it away, or set `warehouse` to a file path")  # fmt: skip
    latest = max(version for version, _, _ in schema_files())
    try:
        _, rows = warehouse.query(
            "SELECT max(version), (SELECT count(*) FROM documents) FROM schema_migrations"
        )
    except WarehouseBusy as exc:
        return Check("warehouse", WARN, str(exc), "a run is writing: try again when it ends")
    except WarehouseError as exc:
        return Check("warehouse", FAIL,
                     f"{where} does not open: {str(exc).splitlines()[0][:300]}",
                     restore)  # fmt: skip
    version, documents = rows[0]
    if (version or 0) < latest:
        return Check("warehouse", WARN, f"{where}: schema {version}, this crwatch has {latest}",
                     "the next ingest applies the missing migrations")  # fmt: skip
    return Check("warehouse", OK, f"{where} opens; schema {version}; {documents} documents")


def check_disk(settings: Settings) -> Check:
    """Free space where the warehouse and the archive grow."""
    lows, details = [], []
    folders = (("warehouse", settings.warehouse.parent), ("archive", settings.archive_dir))
    for label, path in folders:
        existing = path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        usage = shutil.disk_usage(existing)
        free = usage.free / (1 << 30)
        details.append(f"{label} {free:.1f} GiB free")
        if usage.free < MIN_FREE_BYTES:
            lows.append((FAIL, f"{label} ({existing}): only {free:.2f} GiB free"))
        elif usage.free < LOW_FREE_BYTES:
            lows.append((WARN, f"{label} ({existing}): {free:.1f} GiB free"))
    if lows:
        status = FAIL if any(s == FAIL for s, _ in lows) else WARN
        return Check("disk space", status, "; ".join(text for _, text in lows),
                     "free space, lower archive_retention_days and run `crwatch maintain`, or"
                     " move home/archive_dir to a larger disk")  # fmt: skip
    return Check("disk space", OK, ", ".join(details))


def check_sources(settings: Settings) -> Check:
    """The live sources file parses and names valid sources."""
    from extractors.acquire.sources import SourcesError, load_sources

    try:
        sources = load_sources(settings.sources_file)
    except (SourcesError, OSError) as exc:
        return Check("sources file", FAIL, f"{settings.sources_file}: {exc}",
                     "fix the file (format: seeds/README.md); test a source with"
                     " `crwatch fetch URL`")  # fmt: skip
    enabled = sum(1 for source in sources if source.enabled)
    state = "" if settings.live else " (live = false: not fetched)"
    return Check("sources file", OK, f"{settings.sources_file}: {len(sources)} sources,"
                 f" {enabled} enabled{state}")  # fmt: skip


def check_smtp(settings: Settings) -> Check:
    """The SMTP server answers (connect and greeting only: no login, nothing sent)."""
    import smtplib
    import ssl

    from flows.digest.mail import DEFAULT_PORTS

    if not settings.smtp_host:
        return Check("smtp", SKIP, f"not configured: digests go to {settings.outbox_dir}")
    port = settings.smtp_port or DEFAULT_PORTS[settings.smtp_security]
    where = f"{settings.smtp_host}:{port} ({settings.smtp_security})"
    timeout = min(settings.smtp_timeout_seconds, 10.0)
    try:
        if settings.smtp_security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.smtp_host, port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(settings.smtp_host, port, timeout=timeout)
        with client:
            code, _ = client.noop()
    except (OSError, smtplib.SMTPException) as exc:
        return Check("smtp", FAIL, f"{where} does not answer: {exc}",
                     "check smtp_host / smtp_port / smtp_security and that this machine may"
                     " reach the server (firewall)")  # fmt: skip
    if code != 250:
        return Check("smtp", WARN, f"{where} answered NOOP with {code}")
    return Check("smtp", OK, f"{where} answers")


def check_serve(settings: Settings) -> Check:
    """Whether `crwatch serve` runs for this data folder (schedules need it)."""
    from flows.runtime.servestate import read_state, serve_running

    state = read_state(settings.home)
    if serve_running(settings.home):
        who = f"pid {state.pid}, since {state.started_at}" if state else "starting"
        return Check("serve", OK, f"running ({who})")
    return Check("serve", SKIP, "not running: nothing runs on schedule (`crwatch serve`)")


def _api_url(settings: Settings) -> tuple[str | None, str]:
    import os

    from flows.runtime.servestate import read_state, serve_running

    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"], "PREFECT_API_URL"
    state = read_state(settings.home)
    if state is not None and serve_running(settings.home):
        return state.api_url, "crwatch serve"
    return None, ""


def check_prefect_api(settings: Settings) -> Check:
    """The Prefect API answers, and so do the list calls Prefect's CLI makes."""
    from flows.ops.serve import _without_credentials, server_healthy

    url, origin = _api_url(settings)
    if url is None:
        return Check("prefect api", SKIP, "no API to check (serve not running, PREFECT_API_URL"
                     " not set); one-off runs start a temporary server")  # fmt: skip
    shown = _without_credentials(url)
    if not server_healthy(url, timeout=5.0):
        return Check("prefect api", FAIL, f"{shown} (from {origin}) does not answer",
                     "start `crwatch serve`, or correct/unset PREFECT_API_URL")  # fmt: skip
    from prefect.client.orchestration import SyncPrefectClient

    calls: list[tuple[str, Callable[[SyncPrefectClient], object]]] = [
        ("deployment ls", lambda c: c.read_deployments()),
        ("flow-run ls", lambda c: c.read_flow_runs(limit=5)),
        ("flow ls", lambda c: c.read_flows()),
        ("work-pool ls", lambda c: c.read_work_pools()),
        ("concurrency-limit ls", lambda c: c.read_concurrency_limits(limit=5, offset=0)),
    ]
    failing = []
    try:
        with SyncPrefectClient(url) as client:
            for name, call in calls:
                try:
                    call(client)
                except Exception as exc:  # any refusal is the finding, whatever its type
                    failing.append(f"`prefect {name}`: {str(exc).splitlines()[0][:200]}")
    except Exception as exc:
        failing.append(f"client: {str(exc).splitlines()[0][:200]}")
    if failing:
        return Check("prefect api", FAIL, f"{shown} answers, but " + "; ".join(failing),
                     "the installed Prefect server and client disagree: " + REINSTALL)  # fmt: skip
    return Check("prefect api", OK, f"{shown} (from {origin}): health and"
                 f" {', '.join(name for name, _ in calls)} answer")  # fmt: skip


def run_checks(settings: Settings) -> Iterator[Check]:
    """Every check, in the order an operator would fix them."""
    yield check_python()
    yield check_packages()
    yield check_lock()
    yield check_extensions()
    yield check_data_folder(settings)
    yield check_warehouse(settings)
    yield check_disk(settings)
    yield check_sources(settings)
    yield check_smtp(settings)
    yield check_serve(settings)
    yield check_prefect_api(settings)
