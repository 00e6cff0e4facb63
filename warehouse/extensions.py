"""DuckDB extensions loaded from their installed files, their signatures checked once per file.

`LOAD '<file>'` makes DuckDB check the extension's signature: it hashes the whole binary (the
ducklake and sqlite_scanner files are ~35 MB each) and verifies the hash against DuckDB's keys.
That was ~0.13 s of CPU per extension and ~0.27 s of every command that opens the lake (a read
command's whole budget is 0.5 s), although the file never changes between two commands.

So the check runs once per installed file: the first DuckDB instance that loads a file does it
with signature checking on, and a successful load records the file's identity (path, size,
modification and change times in nanoseconds, inode, device) with the DuckDB version in the
machine cache. A later instance whose extension files all match that record is opened with
`allow_unsigned_extensions` and skips the hash. A file that was replaced, reinstalled, touched
or moved no longer matches (a new inode, or a new change time, which no program can set back)
and is checked again. Whoever could swap a file without changing its change time could equally
rewrite duckdb's own library in the same folder, so the record trusts nothing the signature
check would have caught from anyone with less access. A missing or unreadable record only means
checking again.

Only files this module loads are recorded; DuckDB's own `autoinstall_known_extensions` stays off.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import duckdb

from extractors.compiled import cache_dir

RECORD = "duckdb-extensions-verified.json"


def _identity(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def _record_path() -> Path:
    return cache_dir() / RECORD


def _read_record() -> dict[str, list[int]]:
    try:
        data = json.loads(_record_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("duckdb") != duckdb.__version__:
        return {}
    files = data.get("files")
    return files if isinstance(files, dict) else {}


def verified(paths: Sequence[Path]) -> bool:
    """True when every file was loaded with its signature checked, and is unchanged since."""
    if not paths:
        return False
    record = _read_record()
    for path in paths:
        identity = _identity(path)
        if identity is None or record.get(str(path.resolve())) != identity:
            return False
    return True


def remember_verified(paths: Sequence[Path]) -> None:
    """Record that these files just passed DuckDB's signature check (best effort)."""
    record = _read_record()
    for path in paths:
        identity = _identity(path)
        if identity is not None:
            record[str(path.resolve())] = identity
    target = _record_path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".duckdb-extensions-", dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"duckdb": duckdb.__version__, "files": record}, handle, indent=1)
        os.replace(tmp, target)  # atomic: a concurrent reader sees the old or the new record
    except OSError:
        with contextlib.suppress(OSError, UnboundLocalError):
            os.unlink(tmp)


def connect_with(paths: Sequence[Path], **config: object) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB with the extension files `paths` loaded, in order.

    Signatures are checked unless every file passed the check before and is unchanged (see the
    module docstring). Raises duckdb.Error when a file does not load.
    """
    trusted = verified(paths)
    options: dict[str, object] = {"autoinstall_known_extensions": False, **config}
    if trusted:
        options["allow_unsigned_extensions"] = True
    con = duckdb.connect(config=options)  # type: ignore[arg-type]
    try:
        for path in paths:
            con.execute("LOAD '" + str(path).replace("'", "''") + "'")
    except BaseException:
        con.close()
        raise
    if not trusted and paths:
        remember_verified(paths)
    return con
