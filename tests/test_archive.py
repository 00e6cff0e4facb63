"""The live-fetch WARC archive: what it writes must replay through `iter_warc` unchanged."""

from __future__ import annotations

import gzip
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import sample_pages
from warcio.archiveiterator import ArchiveIterator

from extractors.acquire.archive import (
    ArchiveLocation,
    WarcArchive,
    stored_response_headers,
    warc_date,
)
from extractors.acquire.warc import iter_warc
from extractors.records import AcquisitionError, RawPage

FETCHED = datetime(2024, 5, 16, 9, 30, 15, 987654, tzinfo=UTC)
GBK_PAGE = (
    '<html><head><meta charset="gbk"><title>中俄关系</title></head>'
    "<body><p>国家主席习近平同俄罗斯总统普京举行会谈。</p></body></html>"
).encode("gbk")


def _replay(path: Path) -> tuple[list[RawPage], list[AcquisitionError]]:
    items = list(iter_warc(path))
    pages = [i for i in items if isinstance(i, RawPage)]
    errors = [i for i in items if isinstance(i, AcquisitionError)]
    assert len(pages) + len(errors) == len(items)
    return pages, errors


def _record_types(path: Path) -> list[str]:
    with path.open("rb") as handle:
        return [record.rec_type for record in ArchiveIterator(handle)]


def test_round_trip_through_iter_warc(tmp_path: Path) -> None:
    """Pages come back with the same URL, body, content type, status and fetch second."""
    written: list[tuple[ArchiveLocation, str, bytes, str, datetime]] = []
    with WarcArchive(tmp_path) as archive:
        for i, (url, body) in enumerate(sample_pages(4)):
            at = FETCHED + timedelta(seconds=i)
            ctype = "text/html; charset=utf-8"
            location = archive.write_response(
                url, 200, "OK", "HTTP/1.1", [("Content-Type", ctype), ("Server", "x")], body, at,
                request_headers=[("User-Agent", "crwatch/0.1"), ("Accept", "*/*")],
                source="example",
            )  # fmt: skip
            written.append((location, url, body, ctype, at))
        location = archive.write_response(
            "http://www.example.cn/gj/2024-05/16/c_1.htm", 200, "OK", "HTTP/1.1",
            [("Content-Type", "text/html; charset=GBK"), ("Content-Encoding", "gzip"),
             ("Content-Length", "117"), ("Vary", "Accept-Encoding")],
            GBK_PAGE, FETCHED,
        )  # fmt: skip
        written.append((location, "http://www.example.cn/gj/2024-05/16/c_1.htm", GBK_PAGE,
                        "text/html; charset=GBK", FETCHED))  # fmt: skip
        feed = b'<?xml version="1.0"?><rss version="2.0"><channel></channel></rss>'
        location = archive.write_response(
            "https://tass.com/rss/v2.xml", 200, "OK", "HTTP/2",
            [("content-type", "application/rss+xml"), ("transfer-encoding", "chunked")],
            feed, FETCHED,
        )  # fmt: skip
        written.append((location, "https://tass.com/rss/v2.xml", feed, "application/rss+xml",
                        FETCHED))  # fmt: skip
        archive.write_failure("https://kremlin.ru/feed", "timeout", "no answer in 30 s", FETCHED)
        archive.write_failure("http://2130706433/", "blocked_address", "loopback", FETCHED)
        not_found = archive.write_response(
            "https://example.org/gone", 404, "Not Found", "HTTP/1.1",
            [("Content-Type", "text/html")], b"<h1>404</h1>", FETCHED,
        )  # fmt: skip

    files = list(tmp_path.iterdir())
    assert files == [tmp_path / "crwatch-20240516.warc.gz"]
    assert archive.files == (files[0],)
    pages, errors = _replay(files[0])

    assert len(pages) == len(written), "one page per 2xx response; failures yield nothing"
    for page, (location, url, body, ctype, at) in zip(pages, written, strict=True):
        assert page.url == url
        assert page.body == body
        assert page.content_type == ctype
        assert page.http_status == 200
        assert page.provenance.fetched_at == at.replace(microsecond=0), "WARC/1.0: seconds"
        assert page.provenance.warc_file == str(location.path)
        assert page.provenance.warc_offset == location.offset
    assert pages[4].charset == "gbk"
    assert pages[4].body.decode("gbk").startswith("<html>")

    assert len(errors) == 1, "the 404 replays as an http_status error, the failures not at all"
    assert errors[0].error_kind == "http_status" and errors[0].url == "https://example.org/gone"
    assert errors[0].provenance.warc_offset == not_found.offset

    types = _record_types(files[0])
    assert types[0] == "warcinfo"
    assert types.count("response") == 7 and types.count("request") == 4
    assert types.count("metadata") == 2


def test_digests_and_headers(tmp_path: Path) -> None:
    with WarcArchive(tmp_path) as archive:
        location = archive.write_response(
            "https://example.org/a b", 200, "", "HTTP/1.1",
            [("Content-Type", "text/html"), ("Content-Encoding", "br"), ("Content-Length", "9"),
             ("Set-Cookie", "a=1\r\nX-Injected: yes"), ("Bad Name\r\nX-Evil", "1")],
            b"decoded body", FETCHED,
            request_headers=[("Cookie", "session=secret"), ("Authorization", "Bearer t0ken")],
            source="tass-en",
        )  # fmt: skip
        archive.write_failure("https://example.org/x", "too_large", "over\r\n10 MB", FETCHED)
    with location.path.open("rb") as handle:
        records = []
        for record in ArchiveIterator(handle, check_digests="raise"):
            records.append((record.rec_type, record.rec_headers, record.http_headers,
                            record.content_stream().read()))  # fmt: skip
    kinds = [r[0] for r in records]
    assert kinds == ["warcinfo", "response", "request", "metadata"]
    _, rec_headers, http_headers, body = records[1]
    assert body == b"decoded body", "no Content-Encoding left for warcio to undo"
    assert rec_headers.get_header("WARC-Target-URI") == "https://example.org/a%20b"
    assert rec_headers.get_header("WARC-Date") == "2024-05-16T09:30:15Z"
    assert rec_headers.get_header("WARC-Payload-Digest", "").startswith("sha1:")
    assert rec_headers.get_header("Crwatch-Source") == "tass-en"
    assert http_headers.statusline == "200 OK"
    assert http_headers.get_header("Content-Length") == "12"
    assert http_headers.get_header("Content-Encoding") is None
    assert http_headers.get_header("X-Crwatch-Orig-Content-Encoding") == "br"
    assert http_headers.get_header("X-Crwatch-Orig-Content-Length") == "9"
    assert http_headers.get_header("X-Injected") is None
    assert http_headers.get_header("X-Evil") is None
    request = records[2]
    assert request[1].get_header("WARC-Concurrent-To") == rec_headers.get_header("WARC-Record-ID")
    assert request[2].get_header("Cookie") == "[redacted]"
    assert request[2].get_header("Authorization") == "[redacted]"
    raw = gzip.decompress(location.path.read_bytes())
    assert b"secret" not in raw and b"t0ken" not in raw
    metadata = records[3][3].decode()
    assert "crwatch-fetch-error: too_large\r\n" in metadata
    assert "crwatch-fetch-message: over 10 MB\r\n" in metadata


def test_rotation_by_utc_day(tmp_path: Path) -> None:
    late = datetime(2024, 5, 16, 23, 59, 59, tzinfo=UTC)
    moscow = late.astimezone(timezone(timedelta(hours=3)))  # 2024-05-17 02:59:59+03:00
    with WarcArchive(tmp_path) as archive:
        first = archive.write_response("https://a.example/1", 200, "OK", "HTTP/1.1", [], b"1", late)
        second = archive.write_response(
            "https://a.example/2", 200, "OK", "HTTP/1.1", [], b"2", late + timedelta(seconds=1)
        )
        again = archive.write_response(
            "https://a.example/3", 200, "OK", "HTTP/1.1", [], b"3", moscow
        )
    assert first.path.name == "crwatch-20240516.warc.gz"
    assert second.path.name == "crwatch-20240517.warc.gz"
    assert moscow.date().day == 17
    assert again.path == first.path, "the UTC date decides; a late record goes to its own day"
    assert [p.url for p in _replay(first.path)[0]] == ["https://a.example/1", "https://a.example/3"]
    assert [p.url for p in _replay(second.path)[0]] == ["https://a.example/2"]
    assert _record_types(second.path)[0] == "warcinfo"


def test_rotation_by_size_and_reopening(tmp_path: Path) -> None:
    pages = sample_pages(6)
    with WarcArchive(tmp_path, max_file_bytes=1000) as archive:
        locations = [
            archive.write_response(url, 200, "OK", "HTTP/1.1", [], body, FETCHED)
            for url, body in pages
        ]
    names = [p.name for p in archive.files]
    assert sorted(names) == sorted(p.name for p in tmp_path.iterdir())
    assert names[0] == "crwatch-20240516.warc.gz"
    assert names[1:] == [f"crwatch-20240516-{i:03d}.warc.gz" for i in range(1, len(names))]
    assert len(names) >= 3
    replayed = [p.url for name in names for p in _replay(tmp_path / name)[0]]
    assert replayed == [url for url, _ in pages]
    assert all(_record_types(tmp_path / name)[0] == "warcinfo" for name in names)

    # A new instance (the next run) continues in the day's last segment, not the first.
    with WarcArchive(tmp_path, max_file_bytes=1 << 20) as archive:
        later = archive.write_response(
            "https://a.example/x", 200, "OK", "HTTP/1.1", [], b"x", FETCHED
        )
    assert later.path == locations[-1].path
    # ... and rolls over to a new one when that is full.
    with WarcArchive(tmp_path, max_file_bytes=1000) as archive:
        rolled = archive.write_response(
            "https://a.example/y", 200, "OK", "HTTP/1.1", [], b"y", FETCHED
        )
    assert rolled.path.name == f"crwatch-20240516-{len(names):03d}.warc.gz"


def test_appending_keeps_earlier_records(tmp_path: Path) -> None:
    with WarcArchive(tmp_path) as archive:
        first = archive.write_response(
            "https://a.example/1", 200, "OK", "HTTP/1.1", [], b"1", FETCHED
        )
    size = first.path.stat().st_size
    with WarcArchive(tmp_path) as archive:
        second = archive.write_response(
            "https://a.example/2", 200, "OK", "HTTP/1.1", [], b"2", FETCHED
        )
    assert second.path == first.path and second.offset == size
    assert [p.url for p in _replay(first.path)[0]] == ["https://a.example/1", "https://a.example/2"]
    assert _record_types(first.path).count("warcinfo") == 1


def test_torn_last_record_costs_one_error_row(tmp_path: Path) -> None:
    """A crash mid-record: the next run appends after it and replay resynchronises."""
    pages = sample_pages(3)
    with WarcArchive(tmp_path) as archive:
        locations = [
            archive.write_response(url, 200, "OK", "HTTP/1.1", [], body, FETCHED)
            for url, body in pages
        ]
    path = locations[-1].path
    torn_at = locations[-1].offset + (path.stat().st_size - locations[-1].offset) // 2
    os.truncate(path, torn_at)
    with WarcArchive(tmp_path) as archive:
        archive.write_response(
            "https://a.example/after-1", 200, "OK", "HTTP/1.1", [], b"1", FETCHED
        )
        archive.write_response(
            "https://a.example/after-2", 200, "OK", "HTTP/1.1", [], b"2", FETCHED
        )
    got, errors = _replay(path)
    assert [p.url for p in got] == [
        pages[0][0], pages[1][0], "https://a.example/after-1", "https://a.example/after-2"
    ]  # fmt: skip
    assert len(errors) == 1 and errors[0].error_kind in {"malformed_record", "truncated_record"}
    assert errors[0].provenance.warc_offset == locations[-1].offset


def test_misuse_is_refused(tmp_path: Path) -> None:
    archive = WarcArchive(tmp_path)
    with pytest.raises(ValueError, match="timezone-aware"):
        archive.write_response(
            "https://a.example/", 200, "OK", "HTTP/1.1", [], b"", datetime(2024, 5, 16)
        )
    with pytest.raises(ValueError, match="3-digit"):
        archive.write_response("https://a.example/", 42, "", "HTTP/1.1", [], b"", FETCHED)
    archive.close()
    archive.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        archive.write_failure("https://a.example/", "x", "y", FETCHED)
    with pytest.raises(ValueError):
        WarcArchive(tmp_path, prefix="../evil")


def test_helpers() -> None:
    assert warc_date(datetime(2024, 5, 16, 12, 0, 1, 999999, tzinfo=UTC)) == "2024-05-16T12:00:01Z"
    headers = stored_response_headers(
        [("Content-Type", "text/html"), ("content-encoding", "gzip"), ("Content-Length", "3")], 10
    )
    assert headers == [
        ("Content-Type", "text/html"),
        ("X-Crwatch-Orig-content-encoding", "gzip"),
        ("X-Crwatch-Orig-Content-Length", "3"),
        ("Content-Length", "10"),
    ]


def test_threads_share_one_archive(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def write(i: int) -> tuple[str, ArchiveLocation]:
        url = f"https://a.example/{i}"
        return url, archive.write_response(url, 200, "OK", "HTTP/1.1", [], b"x" * i, FETCHED)

    with WarcArchive(tmp_path) as archive, ThreadPoolExecutor(4) as pool:
        results = dict(pool.map(write, range(100)))
    pages, errors = _replay(next(iter(results.values())).path)
    assert errors == [] and len(pages) == 100
    for page in pages:
        assert page.provenance.warc_offset == results[page.url].offset
        assert page.body == b"x" * int(page.url.rsplit("/", 1)[1])
