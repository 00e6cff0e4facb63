"""Stand-in extraction functions for pool tests (importable by spawned workers)."""

from __future__ import annotations

import os
import time

from extractors.page.extract import ExtractionLimits, extract_page
from extractors.records import ExtractedDoc, ExtractionError, RawPage


def hang_on_marker(page: RawPage, limits: ExtractionLimits) -> ExtractedDoc | ExtractionError:
    """Sleep forever on pages whose body contains HANG; extract the rest normally."""
    if b"HANG" in page.body:
        time.sleep(3600)
    return extract_page(page, limits)


def crash_on_marker(page: RawPage, limits: ExtractionLimits) -> ExtractedDoc | ExtractionError:
    """Kill the worker process on pages whose body contains CRASH."""
    if b"CRASH" in page.body:
        os._exit(9)
    return extract_page(page, limits)


def allocate_on_marker(page: RawPage, limits: ExtractionLimits) -> ExtractedDoc | ExtractionError:
    """Try to allocate far more memory than the worker is allowed on pages marked BLOAT."""
    if b"BLOAT" in page.body:
        hog = bytearray(4 * 1024 * 1024 * 1024)
        return ExtractionError("error", f"allocated {len(hog)}")
    return extract_page(page, limits)


def report_process(page: RawPage, limits: ExtractionLimits) -> ExtractedDoc | ExtractionError:
    """Describe the worker instead of extracting: its parent pid and whether the ingest's
    preload module was already imported before its first page."""
    import sys

    preloaded = "extractors.classify.preload" in sys.modules
    return ExtractionError("error", f"parent={os.getppid()} preloaded={preloaded}")
