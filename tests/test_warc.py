"""WARC replay: good records, resource records, and damage that must become error rows."""

from __future__ import annotations

import io
from pathlib import Path

from conftest import corpus_path, gzip_member, sample_pages, write_warc
from warcio.warcwriter import WARCWriter

from extractors.acquire.warc import iter_warc, warc_file_id
from extractors.records import AcquisitionError, RawPage


def _split(items: list[RawPage | AcquisitionError]) -> tuple[list[RawPage], list[AcquisitionError]]:
    pages = [i for i in items if isinstance(i, RawPage)]
    errors = [i for i in items if isinstance(i, AcquisitionError)]
    return pages, errors


def test_reads_every_response_record(tmp_path: Path) -> None:
    pages = sample_pages(6)
    path = write_warc(tmp_path / "a.warc.gz", pages)
    got, errors = _split(list(iter_warc(path)))
    assert errors == []
    assert [p.url for p in got] == [url for url, _ in pages]
    assert [p.body for p in got] == [body for _, body in pages]
    assert got[0].provenance.fetched_at is not None
    assert got[0].charset == "utf-8"
    offsets = [p.provenance.warc_offset for p in got]
    assert offsets == sorted(set(offsets)), "each record has its own offset"


def test_uncompressed_warc(tmp_path: Path) -> None:
    path = write_warc(tmp_path / "a.warc", sample_pages(3), gzip_records=False)
    got, errors = _split(list(iter_warc(path)))
    assert len(got) == 3 and errors == []


def test_resource_records_are_pages(tmp_path: Path) -> None:
    path = tmp_path / "r.warc.gz"
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        record = writer.create_warc_record(
            "https://example.org/page.html", "resource",
            payload=io.BytesIO(b"<html><body><p>hello</p></body></html>"),
            warc_content_type="text/html",
        )  # fmt: skip
        writer.write_record(record)
        record.raw_stream.close()
    got, errors = _split(list(iter_warc(path)))
    assert len(got) == 1 and errors == []
    assert got[0].content_type == "text/html"


def test_truncated_last_record_is_an_error_and_earlier_records_survive(tmp_path: Path) -> None:
    path = write_warc(tmp_path / "t.warc", sample_pages(3), gzip_records=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 400])  # cut into the last record's body
    got, errors = _split(list(iter_warc(path)))
    assert len(got) == 2
    assert len(errors) == 1
    assert errors[0].error_kind in {"truncated_record", "malformed_record"}
    assert errors[0].message


def test_corrupt_gzip_member_in_the_middle_is_skipped(tmp_path: Path) -> None:
    good = write_warc(tmp_path / "g.warc.gz", sample_pages(4))
    data = good.read_bytes()
    # Locate the members and replace the second one's deflate stream with garbage.
    starts = [i for i in range(len(data) - 2) if data[i : i + 3] == b"\x1f\x8b\x08"]
    assert len(starts) >= 4
    second, third = starts[1], starts[2]
    damaged = data[:second] + data[second : second + 10] + b"\x00garbage" * 20 + data[third:]
    path = tmp_path / "damaged.warc.gz"
    path.write_bytes(damaged)
    got, errors = _split(list(iter_warc(path)))
    urls = [p.url for p in got]
    assert urls == [sample_pages(4)[i][0] for i in (0, 2, 3)]
    assert len(errors) == 1 and errors[0].error_kind == "malformed_record"
    assert errors[0].provenance.warc_offset == second


def test_garbage_between_records(tmp_path: Path) -> None:
    first = write_warc(tmp_path / "1.warc.gz", sample_pages(2)).read_bytes()
    path = tmp_path / "junk.warc.gz"
    path.write_bytes(first + gzip_member(b"this is not a WARC record\r\n\r\n") + first)
    got, errors = _split(list(iter_warc(path)))
    assert len(got) == 4
    assert len(errors) == 1


def test_oversize_body_is_an_error(tmp_path: Path) -> None:
    big = b"<html><body>" + b"<p>x</p>" * 50_000 + b"</body></html>"
    path = write_warc(tmp_path / "big.warc.gz", [("https://example.com/big", big)])
    got, errors = _split(list(iter_warc(path, max_body_bytes=100_000)))
    assert got == []
    assert errors[0].error_kind == "too_large"


def test_file_id_is_stable(tmp_path: Path) -> None:
    path = write_warc(tmp_path / "a.warc.gz", sample_pages(2))
    assert warc_file_id(path) == warc_file_id(path)
    copy = tmp_path / "b.warc.gz"
    copy.write_bytes(path.read_bytes())
    assert warc_file_id(copy) == warc_file_id(path), "same bytes, same id, wherever they live"


def test_corpus_malformed_files_yield_error_rows_and_keep_the_rest() -> None:
    base = corpus_path("warc")
    clipped, clipped_errors = _split(
        list(iter_warc(base / "resiliparse_cc_sample/clipped.warc.gz"))
    )
    assert clipped == [] and clipped_errors[0].error_kind == "truncated_record"
    _, wrong_errors = _split(list(iter_warc(base / "warcio_testdata/example-wrong-chunks.warc.gz")))
    assert wrong_errors, "a WARC with wrong chunk lengths must report errors"
    non_chunked, errors = _split(
        list(iter_warc(base / "warcio_testdata/example-bad-non-chunked.warc.gz"))
    )
    assert len(non_chunked) == 1 and errors == [], "single-stream gzip is replayed, not rejected"
    fundus, errors = _split(list(iter_warc(base / "derived_fundus_news_replay.warc.gz")))
    assert len(fundus) == 129 and errors == []
