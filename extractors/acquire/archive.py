"""Raw archive: every live response is appended to a WARC file before it is processed.

Files live in one folder, one per UTC day of fetch, `crwatch-YYYYMMDD.warc.gz`; a day's file
that reaches the size limit (1 GiB by default) continues in `crwatch-YYYYMMDD-001.warc.gz`,
`-002`, ... Each file starts with a `warcinfo` record. Each record is its own gzip member (the
layout of Common Crawl and CC-NEWS), so any record can be read from its offset alone and
`extractors.acquire.warc.iter_warc` replays these files like any other WARC.

What is stored, and why:

- `response` records hold the HTTP status line and headers as received and the body **as
  decoded** (gzip/deflate/brotli already undone by the fetcher, with its size caps).
  `Content-Encoding` and `Transfer-Encoding` are therefore removed and `Content-Length` is set
  to the stored body's length; the received values are kept as `X-Crwatch-Orig-<Name>` headers.
  Storing the decoded body means replay never runs a decompressor on untrusted bytes (a bomb is
  stopped once, at fetch time) and the stored bytes are exactly what extraction saw; the cost
  is that the archive is not a byte-exact copy of the wire.
- A `request` record (optional) holds the request line and headers we sent, linked to its
  response by `WARC-Concurrent-To`. Credentials (`Authorization`, `Cookie`, ...) are redacted.
- A fetch that produced no response (DNS failure, refused address, timeout, cap exceeded) is a
  `metadata` record (`application/warc-fields`: error kind, message) naming the URL. Replay
  skips `metadata`, `request` and `warcinfo` records: they yield neither a page nor an error.
  A response with a non-2xx status is an ordinary `response` record; replay reports it as an
  `http_status` error item, as it does for any WARC.

`WARC-Date` is the fetch time, in UTC, to the second (WARC/1.0; replay reads the same second).

Durability. Records are written with unbuffered `os.write` calls on a file opened for appending,
one complete gzip member (or request/response pair) per call sequence under an exclusive
`flock`, so a second writer cannot interleave and a crash of this process loses nothing that
was written. `flush()` fsyncs the file (and its folder, for new files): call it once per batch,
before the batch's rows are committed. A crash in the middle of a record (power loss, a full
disk) leaves a torn last gzip member; later records are appended after it as new members, and
the replay reader reports the torn record as one `malformed_record` error and resynchronises on
the next member, so no earlier or later record is lost.
"""

from __future__ import annotations

import io
import os
import re
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Final, NamedTuple
from urllib.parse import quote, urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

try:  # POSIX; elsewhere one process per archive folder is assumed
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

DEFAULT_MAX_FILE_BYTES: Final = 1 << 30  # 1 GiB per file, then -001, -002, ...
WARC_VERSION: Final = "WARC/1.0"
SOFTWARE: Final = "crwatch"

# Hop-by-hop or transfer framing that no longer describes the stored (decoded) body.
_REWRITTEN = ("content-encoding", "transfer-encoding", "content-length")
_SECRET_REQUEST_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_HTTP_VERSION = re.compile(r"^HTTP/[0-9](?:\.[0-9])?$")
_UNSAFE_URL_CHARS = re.compile(r"[\x00-\x20\x7f]")


class ArchiveLocation(NamedTuple):
    """Where a record was written: its WARC file and the offset of its gzip member."""

    path: Path
    offset: int


def warc_date(moment: datetime) -> str:
    """`moment` as a WARC/1.0 date: UTC, whole seconds (`2024-05-16T09:00:00Z`)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("fetched_at must be timezone-aware (UTC)")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _target_uri(url: str) -> str:
    """The URL as a WARC-Target-URI: unchanged unless it holds spaces or control characters."""
    return _UNSAFE_URL_CHARS.sub(lambda m: quote(m.group(0)), url.strip())


def _clean_headers(headers: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headers safe to write: valid names, values on one line."""
    cleaned: list[tuple[str, str]] = []
    for name, value in headers:
        name = str(name).strip()
        if _TOKEN.match(name):
            cleaned.append((name, " ".join(str(value).splitlines()).replace("\r", " ")))
    return cleaned


def stored_response_headers(
    raw_headers: Sequence[tuple[str, str]], body_length: int
) -> list[tuple[str, str]]:
    """Response headers for a decoded body: framing headers renamed, Content-Length fixed."""
    stored: list[tuple[str, str]] = []
    for name, value in _clean_headers(raw_headers):
        if name.lower() in _REWRITTEN:
            stored.append((f"X-Crwatch-Orig-{name}", value))
        else:
            stored.append((name, value))
    stored.append(("Content-Length", str(body_length)))
    return stored


def _warc_headers(date: str, source: str | None) -> dict[str, str]:
    headers = {"WARC-Date": date}
    if source:
        headers["Crwatch-Source"] = " ".join(source.split())
    return headers


def _request_line_target(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


class WarcArchive:
    """Appends live responses and fetch failures to daily, size-capped WARC files.

    Safe to share between threads; several processes may append to one folder (each record
    is written under an exclusive flock).
    """

    def __init__(
        self,
        archive_dir: Path | str,
        *,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        prefix: str = "crwatch",
    ) -> None:
        if max_file_bytes < 1:
            raise ValueError("max_file_bytes must be positive")
        if not re.match(r"^[A-Za-z0-9_.-]+$", prefix):
            raise ValueError(f"prefix must be a plain file-name word, got {prefix!r}")
        self.archive_dir = Path(archive_dir)
        self.max_file_bytes = max_file_bytes
        self.prefix = prefix
        self._segment: dict[str, int] = {}  # YYYYMMDD -> current segment number
        self._fd: int | None = None
        self._fd_path: Path | None = None
        self._dirty: set[Path] = set()  # written since the last fsync
        self._created = False  # a file was created since the last flush(): fsync the folder
        self._written: list[Path] = []
        self._closed = False
        # Threads share one descriptor, and flock() does not exclude threads of one process.
        self._lock = threading.Lock()

    # --- context manager ------------------------------------------------------------------

    def __enter__(self) -> WarcArchive:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- public API -----------------------------------------------------------------------

    @property
    def files(self) -> tuple[Path, ...]:
        """The WARC files this archive has written to, in order of first use."""
        return tuple(self._written)

    def path_for(self, fetched_at: datetime) -> Path:
        """The file the next record fetched at `fetched_at` goes to (before any rotation)."""
        day = warc_date(fetched_at)[:10].replace("-", "")
        with self._lock:
            return self._segment_path(day, self._current_segment(day))

    def write_response(
        self,
        url: str,
        status: int,
        reason: str,
        http_version: str,
        raw_headers: Sequence[tuple[str, str]],
        body: bytes,
        fetched_at: datetime,
        request_headers: Sequence[tuple[str, str]] | None = None,
        *,
        source: str | None = None,
    ) -> ArchiveLocation:
        """Append a `response` record (decoded body) and, if given, its `request` record.

        Returns the response record's file and offset: the `warc_file`/`warc_offset` that
        replay of this file reports for the page. `source` (a sources.toml name) is kept in a
        `Crwatch-Source` header so a replay can attribute the page.
        """
        if not 100 <= status <= 999:
            raise ValueError(f"HTTP status must be a 3-digit code, got {status}")
        date = warc_date(fetched_at)
        target = _target_uri(url)
        try:
            phrase = reason.strip() or HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        protocol = http_version.strip().upper()
        if not _HTTP_VERSION.match(protocol):
            protocol = "HTTP/1.1"
        http_headers = StatusAndHeaders(
            f"{status} {' '.join(phrase.split())}".strip(),
            stored_response_headers(raw_headers, len(body)),
            protocol=protocol,
        )
        buffer = io.BytesIO()
        writer = WARCWriter(buffer, gzip=True, warc_version=WARC_VERSION)
        response = writer.create_warc_record(
            target,
            "response",
            payload=io.BytesIO(body),
            length=len(body),
            http_headers=http_headers,
            warc_headers_dict=_warc_headers(date, source),
        )
        writer.write_record(response)
        response.raw_stream.close()
        if request_headers is not None:
            request_line = f"GET {_request_line_target(target)} HTTP/1.1"
            sent = [
                (name, "[redacted]" if name.lower() in _SECRET_REQUEST_HEADERS else value)
                for name, value in _clean_headers(request_headers)
            ]
            request = writer.create_warc_record(
                target,
                "request",
                http_headers=StatusAndHeaders(request_line, sent, is_http_request=True),
                warc_headers_dict={
                    "WARC-Date": date,
                    "WARC-Concurrent-To": response.rec_headers.get_header("WARC-Record-ID"),
                },
            )
            writer.write_record(request)
            request.raw_stream.close()
        return self._append(date, buffer.getvalue())

    def write_failure(
        self,
        url: str,
        error_kind: str,
        message: str,
        fetched_at: datetime,
        *,
        source: str | None = None,
    ) -> ArchiveLocation:
        """Append a `metadata` record for a fetch that got no response; replay skips it."""
        date = warc_date(fetched_at)
        fields = {
            "crwatch-fetch-error": error_kind,
            "crwatch-fetch-message": message,
            "crwatch-fetch-url": url,
        }
        payload = "".join(
            f"{name}: {' '.join(str(value).split())}\r\n" for name, value in fields.items()
        ).encode("utf-8")
        buffer = io.BytesIO()
        writer = WARCWriter(buffer, gzip=True, warc_version=WARC_VERSION)
        record = writer.create_warc_record(
            _target_uri(url),
            "metadata",
            payload=io.BytesIO(payload),
            length=len(payload),
            warc_content_type="application/warc-fields",
            warc_headers_dict=_warc_headers(date, source),
        )
        writer.write_record(record)
        record.raw_stream.close()
        return self._append(date, buffer.getvalue())

    def flush(self) -> None:
        """Make every record written so far durable (fsync); call once per batch."""
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        if self._fd is not None and self._fd_path in self._dirty:
            os.fsync(self._fd)  # files left behind were fsynced when we switched away
            self._dirty.discard(self._fd_path)
        if self._created:
            _fsync_dir(self.archive_dir)
            self._created = False

    def close(self) -> None:
        """Flush and close the current file; the archive can be reopened by a new instance."""
        with self._lock:
            if self._closed:
                return
            try:
                self._flush()
            finally:
                self._close_fd()
                self._closed = True

    # --- internals ------------------------------------------------------------------------

    def _segment_path(self, day: str, segment: int) -> Path:
        suffix = f"-{segment:03d}" if segment else ""
        return self.archive_dir / f"{self.prefix}-{day}{suffix}.warc.gz"

    def _current_segment(self, day: str) -> int:
        """The highest existing segment of `day` (0 if none), remembered for later writes."""
        if day not in self._segment:
            pattern = re.compile(rf"^{re.escape(self.prefix)}-{day}(?:-(\d{{3,}}))?\.warc\.gz$")
            found = [0]
            if self.archive_dir.is_dir():
                for entry in self.archive_dir.iterdir():
                    match = pattern.match(entry.name)
                    if match:
                        found.append(int(match.group(1) or 0))
            self._segment[day] = max(found)
        return self._segment[day]

    def _open(self, path: Path) -> int:
        if self._fd_path == path and self._fd is not None:
            return self._fd
        self._close_fd()
        self.archive_dir.mkdir(parents=True, exist_ok=True)
        existed = path.exists()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._fd_path = path
        self._created = self._created or not existed
        if path not in self._written:
            self._written.append(path)
        return self._fd

    def _close_fd(self) -> None:
        if self._fd is not None:
            if self._fd_path in self._dirty:
                os.fsync(self._fd)
                self._dirty.discard(self._fd_path)
            os.close(self._fd)
        self._fd = None
        self._fd_path = None

    def _append(self, date: str, records: bytes) -> ArchiveLocation:
        """Append complete gzip members to the day's current file; where the first one starts."""
        with self._lock:
            return self._append_locked(date, records)

    def _append_locked(self, date: str, records: bytes) -> ArchiveLocation:
        if self._closed:
            raise ValueError("the archive is closed")
        day = date[:10].replace("-", "")
        while True:
            path = self._segment_path(day, self._current_segment(day))
            fd = self._open(path)
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)  # another process may append to the same file
            try:
                size = os.fstat(fd).st_size
                if size >= self.max_file_bytes:  # full (a file may overrun by one record)
                    self._segment[day] += 1
                    continue
                header = self._warcinfo(path.name) if size == 0 else b""
                _write_all(fd, header + records)
                self._dirty.add(path)
                return ArchiveLocation(path, size + len(header))
            finally:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)

    @staticmethod
    def _warcinfo(filename: str) -> bytes:
        """The record that opens every file: what wrote it and how bodies are stored."""
        buffer = io.BytesIO()
        writer = WARCWriter(buffer, gzip=True, warc_version=WARC_VERSION)
        record = writer.create_warcinfo_record(
            filename,
            {
                "software": SOFTWARE,
                "format": "WARC File Format 1.0",
                "description": "crwatch live fetches. Response bodies are stored decoded "
                "(Content-Encoding and Transfer-Encoding removed, Content-Length fixed; the "
                "received values are in X-Crwatch-Orig-* headers). Fetches that got no "
                "response are metadata records.",
            },
        )
        writer.write_record(record)
        record.raw_stream.close()
        return buffer.getvalue()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "ArchiveLocation",
    "WarcArchive",
    "stored_response_headers",
    "warc_date",
]
