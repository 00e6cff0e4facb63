"""The extraction pool: order, time limit, crashes, memory cap, size cap, passthrough."""

from __future__ import annotations

import time

import slow_extract
from conftest import sample_pages

from extractors.page.extract import ExtractionLimits
from extractors.page.pool import ExtractionPool
from extractors.records import (
    AcquisitionError,
    ExtractedDoc,
    ExtractionError,
    Provenance,
    RawPage,
)


def _page(url: str, body: bytes) -> RawPage:
    return RawPage(url=url, body=body, provenance=Provenance("test", "warc", url),
                   content_type="text/html")  # fmt: skip


def _pages(n: int) -> list[RawPage]:
    return [_page(url, body) for url, body in sample_pages(n)]


def test_results_come_back_in_input_order_with_passthrough() -> None:
    pages = _pages(6)
    error = AcquisitionError(Provenance("test", "warc", "x"), "malformed_record", "bad")
    items: list[RawPage | AcquisitionError] = [*pages[:3], error, *pages[3:]]
    with ExtractionPool(2, ExtractionLimits()) as pool:
        results = list(pool.map(items))
    assert [item for item, _ in results] == items
    assert results[3][1] is None, "non-page items pass through without extraction"
    assert all(isinstance(out, ExtractedDoc) for item, out in results if item is not error)


def test_a_hanging_page_times_out_and_the_run_continues() -> None:
    pages = _pages(4)
    hanging = _page("https://example.com/hang", b"<html><body><p>HANG</p></body></html>")
    limits = ExtractionLimits(timeout_seconds=2.0)
    started = time.monotonic()
    with ExtractionPool(2, limits, extract_fn=slow_extract.hang_on_marker) as pool:
        results = list(pool.map([pages[0], hanging, *pages[1:]]))
        stats = pool.stats
    elapsed = time.monotonic() - started
    outcomes = [out for _, out in results]
    assert isinstance(outcomes[1], ExtractionError) and outcomes[1].error_kind == "timeout"
    assert sum(isinstance(o, ExtractedDoc) for o in outcomes) == 4, outcomes
    assert stats.timeouts == 1 and stats.restarts == 1
    print(
        f"\n[figure] hanging page stopped after the {limits.timeout_seconds:g} s limit;"
        f" whole batch {elapsed:.1f} s"
    )
    assert elapsed < 30


def test_a_crashing_worker_becomes_an_error_row() -> None:
    pages = _pages(3)
    crashing = _page("https://example.com/crash", b"<html><body><p>CRASH</p></body></html>")
    with ExtractionPool(2, ExtractionLimits(), extract_fn=slow_extract.crash_on_marker) as pool:
        results = list(pool.map([crashing, *pages]))
    first = results[0][1]
    assert isinstance(first, ExtractionError) and first.error_kind == "crashed"
    assert all(isinstance(out, ExtractedDoc) for _, out in results[1:])


def test_memory_cap_stops_an_allocation_bomb() -> None:
    bloat = _page("https://example.com/bloat", b"<html><body><p>BLOAT</p></body></html>")
    pages = _pages(2)
    with ExtractionPool(1, ExtractionLimits(), memory_mb=1024,
                        extract_fn=slow_extract.allocate_on_marker) as pool:  # fmt: skip
        results = list(pool.map([bloat, *pages]))
    first = results[0][1]
    assert isinstance(first, ExtractionError) and first.error_kind == "too_large"
    assert all(isinstance(out, ExtractedDoc) for _, out in results[1:])


def test_size_cap_is_applied_before_parsing() -> None:
    huge = _page("https://example.com/huge", b"<html><body>" + b"<p>word</p>" * 200_000)
    with ExtractionPool(1, ExtractionLimits(max_bytes=1_000_000)) as pool:
        ((_, outcome),) = list(pool.map([huge]))
    assert isinstance(outcome, ExtractionError) and outcome.error_kind == "too_large"
