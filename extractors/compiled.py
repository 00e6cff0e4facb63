"""A disk cache of compiled vocabularies (and other slow-to-build read-only objects).

Every crwatch process (a one-off command, each extraction worker) needs the taxonomy, the topic
cues and the gazetteer compiled: several thousand regular expressions, ~0.3-0.8 s of `re`
parsing per process. `cached()` keeps the built object as a pickle under the cache folder, keyed
by a digest of everything it was built from (the vocabulary file's bytes and the source of the
code that compiles it), so an edit to either builds it anew and a stale entry is never read.

A compiled `re.Pattern` pickles as its source text and is compiled again when loaded, which
would save nothing; here it pickles as the regex engine's compiled program instead
(`_sre.compile` arguments), so loading skips `re`'s parser and compiler. That program format is
CPython's own, so the key includes the interpreter version and `_sre.MAGIC`; any failure to read
or write the cache falls back to building in memory (a read-only or full disk costs time, never
correctness).

Folder: `CRWATCH_CACHE_DIR`, else `$XDG_CACHE_HOME/crwatch`, else `~/.cache/crwatch`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import pickle
import re
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)
FORMAT = "1"  # bump when the pickled layout changes


def cache_dir() -> Path:
    """The folder for crwatch's machine-level caches (not data: safe to delete at any time)."""
    explicit = os.environ.get("CRWATCH_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "crwatch"


def _engine_tag() -> str:
    import _sre

    return f"py{sys.version_info[0]}.{sys.version_info[1]}.{sys.version_info[2]}-sre{_sre.MAGIC}"


def digest_of(parts: Iterable[bytes | str | Path]) -> str:
    """A short hash over byte strings, strings and files' bytes (a missing file hashes as empty)."""
    digest = hashlib.sha256(f"{FORMAT}:{_engine_tag()}".encode())
    for part in parts:
        if isinstance(part, Path):
            try:
                data = part.read_bytes()
            except OSError:
                data = b""
            digest.update(b"F" + str(len(data)).encode() + b":" + data)
        else:
            data = part.encode() if isinstance(part, str) else part
            digest.update(b"B" + str(len(data)).encode() + b":" + data)
    return digest.hexdigest()[:20]


# ------------------------------------------------------------------- regex programs in pickles


def _program(pattern: re.Pattern[str]) -> tuple[Any, ...]:
    """The arguments `_sre.compile` takes to rebuild `pattern` (what `re.compile` computes)."""
    from re import _compiler, _parser  # type: ignore[attr-defined]

    parsed = _parser.parse(pattern.pattern, pattern.flags)
    # Opcodes are int subclasses that refuse pickling: store plain ints.
    code = [int(op) for op in _compiler._code(parsed, pattern.flags)]
    groupindex = dict(parsed.state.groupdict)
    indexgroup: list[str | None] = [None] * parsed.state.groups
    for name, index in groupindex.items():
        indexgroup[index] = name
    return (
        pattern.pattern,
        pattern.flags | parsed.state.flags,
        code,
        parsed.state.groups - 1,
        groupindex,
        tuple(indexgroup),
    )


def _rebuild_pattern(*program: Any) -> re.Pattern[str]:
    """Unpickle a pattern from its compiled program (no parsing, no compiling)."""
    import _sre

    return _sre.compile(*program)  # type: ignore[no-any-return]


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, re.Pattern) and isinstance(obj.pattern, str):
            return _rebuild_pattern, _program(obj)
        return NotImplemented


def dumps(obj: Any) -> bytes:
    """Pickle `obj`, storing its compiled regular expressions as compiled programs."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------ the cache


def cached(name: str, key: str, build: Callable[[], T]) -> T:
    """`build()`'s result: read from `<cache_dir>/<name>-<key>.pickle`, else built and saved.

    `key` must change whenever the result would: use `digest_of` over the inputs and the code.
    Entries of the same `name` under other keys are removed when a new one is written.
    """
    folder = cache_dir()
    path = folder / f"{name}-{key}.pickle"
    try:
        with path.open("rb") as handle:
            return pickle.load(handle)  # type: ignore[no-any-return]
    except FileNotFoundError:
        pass
    except Exception as exc:  # a truncated or foreign file: rebuild it
        log.warning("ignoring unreadable cache entry %s: %s", path, exc)
    value = build()
    try:
        data = dumps(value)
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}-", dir=folder)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)  # atomic: a reader sees the old file or the whole new one
        for stale in folder.glob(f"{name}-*.pickle"):
            if stale != path:
                with contextlib.suppress(OSError):
                    stale.unlink()
    except Exception as exc:  # read-only home, full disk, an unpicklable value: no cache
        log.debug("cache entry %s not written: %s", path, exc)
    return value
