"""WARC replay: read `response` and `resource` records as `RawPage`s, malformed ones as errors.

A damaged record never ends the replay. When warcio cannot go on (a corrupt gzip member, a
wrong Content-Length), the reader records an `AcquisitionError` at that offset, scans forward to
the next record boundary (the next gzip member, or the next `WARC/1.x` line in an uncompressed
file) and carries on. A whole file compressed as one gzip stream ("non-chunked") is replayed
through a streaming decompressor instead of being rejected.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
from collections.abc import Callable, Generator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from extractors.errors import ErrorKind
from extractors.errors import WarcOpenError as WarcOpenError  # defined in the tree; kept here
from extractors.records import AcquisitionError, Provenance, RawPage

log = logging.getLogger(__name__)

_GZIP_MAGIC = b"\x1f\x8b\x08"
_WARC_LINE = re.compile(rb"(?:^|\n)(WARC/1\.[01]\r?\n)")
_SCAN_CHUNK = 1 << 20
_PAGE_RECORDS = {"response", "resource"}
_ABSOLUTE_URL = re.compile(r"^[a-z][a-z0-9+.-]*:\S+$", re.IGNORECASE)
# What warcio and the decompressors raise on damaged input.
_READ_ERRORS = (ArchiveLoadFailed, OSError, EOFError, ValueError, IndexError, TypeError, KeyError)


def warc_file_id(path: Path) -> str:
    """A stable id for a WARC file's content: size plus a hash of its first MiB."""
    digest = hashlib.sha256()
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            digest.update(handle.read(_SCAN_CHUNK))
    except OSError as exc:
        raise WarcOpenError(f"cannot read WARC file {path}: {exc.strerror or exc}") from exc
    digest.update(str(size).encode())
    return digest.hexdigest()[:16]


def _parse_warc_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = re.search(r"charset=[\"']?([\w.:-]+)", content_type, re.IGNORECASE)
    return match.group(1).lower() if match else None


def _next_boundary(handle: IO[bytes], start: int, gzipped: bool) -> int | None:
    """Offset of the next record start at or after `start`, or None at end of file."""
    handle.seek(start)
    position = start
    carry = b""
    while True:
        chunk = handle.read(_SCAN_CHUNK)
        if not chunk:
            return None
        window = carry + chunk
        base = position - len(carry)
        if gzipped:
            found = window.find(_GZIP_MAGIC)
            if found >= 0:
                return base + found
        else:
            match = _WARC_LINE.search(window)
            if match:
                return base + match.start(1)
        carry = window[-16:]
        position += len(chunk)


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(3) == _GZIP_MAGIC


class _Reader:
    """Iterates one WARC file, resynchronising after damage; see the module docstring."""

    def __init__(self, path: Path, source: str, max_body_bytes: int) -> None:
        self.path = path
        self.source = source
        self.max_body_bytes = max_body_bytes
        self.file_id = warc_file_id(path)
        self.name = str(path)
        self.items_before_fallback = 0

    def provenance(self, offset: int, record: Any | None = None) -> Provenance:
        record_id = fetched = None
        if record is not None:
            record_id = record.rec_headers.get_header("WARC-Record-ID")
            fetched = _parse_warc_date(record.rec_headers.get_header("WARC-Date"))
        return Provenance(
            source=self.source,
            origin="warc",
            locator=f"warc:{self.file_id}:{offset}",
            warc_file=self.name,
            warc_offset=offset,
            warc_record_id=record_id,
            fetched_at=fetched,
        )

    def error(
        self, offset: int, kind: str, message: str, url: str | None = None
    ) -> AcquisitionError:
        return AcquisitionError(self.provenance(offset), kind, message, url)

    def records(self) -> Iterator[RawPage | AcquisitionError]:
        gzipped = _is_gzip(self.path)
        with self.path.open("rb") as handle:
            start: int | None = 0
            while start is not None:
                handle.seek(start)
                failed_at = yield from self._run(handle, start)
                if failed_at is None:
                    return
                if failed_at == -1:  # one gzip stream for the whole file: decompress as a stream
                    with gzip.open(self.path, "rb") as stream:
                        yield from self._run_stream(stream)
                    return
                start = _next_boundary(handle, failed_at + 1, gzipped)
                if start is not None and start <= failed_at:  # never rescan the same bytes
                    return

    def _run(
        self, handle: IO[bytes], base: int
    ) -> Generator[RawPage | AcquisitionError, None, int | None]:
        """Yield items from `base`; return None at a clean end, else where to rescan from.

        When records were read before the failure, the failing record's exact start is not
        known, so we rescan from just after the last good record: the next run then starts at
        the damaged record itself, fails at its own base, and reports it with its real offset.
        """
        iterator = ArchiveIterator(handle, arc2warc=True)
        last_good: int | None = None
        yielded = 0
        try:
            for record in iterator:
                item = self._item(record, lambda: base + iterator.get_record_offset())
                last_good = base + iterator.get_record_offset()
                if item is not None:
                    yielded += 1
                    yield item
        except _READ_ERRORS as exc:
            if base == 0 and "non-chunked gzip" in str(exc):
                self.items_before_fallback = yielded
                return -1
            if last_good is not None:
                return last_good
            yield self.error(
                base, ErrorKind.MALFORMED_RECORD, f"{type(exc).__name__}: {_one_line(exc)}"
            )
            return base
        return None

    def _run_stream(
        self, stream: IO[bytes] | gzip.GzipFile
    ) -> Iterator[RawPage | AcquisitionError]:
        """Replay a single-stream gzip file; offsets are positions in the decompressed stream."""
        iterator = ArchiveIterator(stream, arc2warc=True)
        offset = 0
        skip = self.items_before_fallback  # already yielded before the format was detected
        try:
            for record in iterator:
                item = self._item(record, iterator.get_record_offset)
                offset = iterator.get_record_offset()
                if item is None:
                    continue
                if skip:
                    skip -= 1
                    continue
                yield item
        except _READ_ERRORS as exc:
            yield self.error(
                offset, ErrorKind.MALFORMED_RECORD, f"{type(exc).__name__}: {_one_line(exc)}"
            )

    def _item(self, record: Any, offset_of: Callable[[], int]) -> RawPage | AcquisitionError | None:
        """Turn one warcio record into a page, an error, or None for records that hold no page.

        The body is read before asking for the offset: warcio's `get_record_offset()` skips to
        the end of the record, after which the body can no longer be read.
        """
        if record.rec_type not in _PAGE_RECORDS:
            return None
        url = (record.rec_headers.get_header("WARC-Target-URI") or "").strip("<> ")
        status: int | None = None
        content_type = record.rec_headers.get_header("Content-Type")
        if record.http_headers is not None and record.rec_type == "response":
            status_text = record.http_headers.get_statuscode()
            status = int(status_text) if status_text and status_text.isdigit() else None
            content_type = record.http_headers.get_header("Content-Type") or content_type
        body = b""
        problem: tuple[ErrorKind, str] | None = None
        if not url:
            problem = (ErrorKind.MALFORMED_RECORD, "record has no target URI")
        elif not _ABSOLUTE_URL.match(url):
            # Garbage between records can parse as an ARC header; a real record names a URL.
            problem = (
                ErrorKind.MALFORMED_RECORD,
                f"target URI is not an absolute URL: {url[:100]!r}",
            )
        else:
            try:
                body = record.content_stream().read(self.max_body_bytes + 1)
            except _READ_ERRORS as exc:
                problem = (ErrorKind.MALFORMED_RECORD, f"body unreadable: {_one_line(exc)}")
        if problem is None:
            missing = getattr(record.raw_stream, "limit", 0) or 0
            if len(body) > self.max_body_bytes:
                problem = (
                    ErrorKind.TOO_LARGE,
                    f"body exceeds the cap of {self.max_body_bytes} bytes",
                )
            elif missing > 0:
                problem = (
                    ErrorKind.TRUNCATED_RECORD,
                    f"record ends {missing} bytes short of its length",
                )
            elif status is not None and not 200 <= status < 300:
                problem = (ErrorKind.HTTP_STATUS, f"HTTP status {status}")
        provenance = self.provenance(offset_of(), record)
        if problem is not None:
            return AcquisitionError(provenance, problem[0], problem[1], url or None)
        return RawPage(
            url=url,
            body=body,
            provenance=provenance,
            content_type=content_type,
            http_status=status,
            charset=_charset(content_type),
        )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def iter_warc(
    path: Path, source: str | None = None, max_body_bytes: int = 5 * 1024 * 1024
) -> Iterator[RawPage | AcquisitionError]:
    """Yield every page record of a WARC (or ARC) file, and an error item for each damaged one."""
    reader = _Reader(Path(path), source or f"replay:{Path(path).name}", max_body_bytes)
    yield from reader.records()


__all__ = ["WarcOpenError", "iter_warc", "warc_file_id"]
