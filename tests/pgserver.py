"""A throwaway PostgreSQL server on 127.0.0.1 for the lake's PostgreSQL-catalog tests.

Uses Debian's `postgresql` package binaries (`/usr/lib/postgresql/<v>/bin`, or on PATH).
PostgreSQL refuses to run as root, so when the tests run as root (CI does) the cluster is
created and started as the `postgres` user through `runuser`, in a folder that user owns.
The server listens on loopback only, on a free port, with trust authentication, and is
stopped (and its folder removed) when the context ends.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def postgres_bin() -> Path | None:
    """The folder holding initdb and pg_ctl, or None when PostgreSQL is not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    if found:
        return Path(found[0]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).resolve().parent if on_path else None


def skip_reason() -> str | None:
    """Why a PostgreSQL test cannot run here (None when it can)."""
    if postgres_bin() is None:
        return "PostgreSQL binaries not installed (apt-get install postgresql; .ci/run does)"
    if os.geteuid() == 0 and (shutil.which("runuser") is None or not _user_exists("postgres")):
        return "running as root without a `postgres` user and runuser to start the server"
    return None


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres_server(database: str = "crwatch") -> Iterator[str]:
    """Start a server, create `database`, yield a libpq connection string for it."""
    bin_dir = postgres_bin()
    assert bin_dir is not None, skip_reason()
    as_root = os.geteuid() == 0
    folder = Path(tempfile.mkdtemp(prefix="crwatch-pg-", dir="/tmp"))
    data = folder / "data"
    if as_root:
        import pwd

        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    port = _free_port()

    def run(*args: str, timeout: float = 60) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=timeout)

    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--no-sync")  # fmt: skip
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off"
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l",
            str(folder / "server.log"), "-w", "-t", "60", "start")  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port),
                        "-U", "postgres", database, timeout=10)  # fmt: skip
                    break
                except subprocess.CalledProcessError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.3)
            yield f"dbname={database} host=127.0.0.1 port={port} user=postgres"
        finally:
            run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
