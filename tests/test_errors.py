"""The exception tree: every public exception under its package base, classified transient or not.

A new exception class anywhere in extractors/, warehouse/ or flows/ must derive from its package's
base (`ExtractorError`, `WarehouseError`, `FlowError`) and be listed below as transient, terminal
or decided per instance: retry decisions read `transient`, so the list is the retry policy.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import json
import pkgutil
import re
from pathlib import Path

import pytest

import extractors
import flows
import warehouse
from extractors.errors import CrwatchError, ErrorKind, ExtractorError, TransientError, is_transient
from flows.errors import DeliveryError, FlowError
from warehouse.errors import RunErrorKind, WarehouseError

ROOT = Path(__file__).resolve().parent.parent
BASES: dict[str, type[CrwatchError]] = {
    "extractors": ExtractorError,
    "warehouse": WarehouseError,
    "flows": FlowError,
}
TRANSIENT = {"WarehouseBusy", "WarehouseConflict", "SearchIndexBusy", "RunLockBusy"}
PER_INSTANCE = {"DeliveryError"}  # an SMTP 4xx passes, a 5xx does not
TERMINAL = {
    "ExtractorError", "SourcesError", "ManifestError", "DecodeError", "DecodedTooLarge",
    "BlockedAddressError", "WarcOpenError",
    "WarehouseError", "QueryError", "UnknownDocuments", "SearchIndexError", "SearchIndexMissing",
    "CompactionFailed",
    "FlowError", "ConfigError", "DigestError", "LabelError", "PrefectApiError", "ServeError",
    "MaintenanceFailed",
    "MailError", "HeaderValueError", "SmtpConfigError",
}  # fmt: skip


def _public_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for package in (extractors, warehouse, flows):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                if (
                    isinstance(value, type)
                    and issubclass(value, BaseException)
                    and not name.startswith("_")
                    and value.__module__.split(".")[0] == package.__name__
                    and value not in (CrwatchError, TransientError)  # the root and the mixin
                ):
                    found[name] = value
    return found


def test_every_public_exception_derives_from_its_package_base() -> None:
    found = _public_exceptions()
    assert len(found) >= 20, sorted(found)
    for name, cls in found.items():
        package = cls.__module__.split(".")[0]
        assert issubclass(cls, BASES[package]), (
            f"{cls.__module__}.{name} must derive from {BASES[package].__name__} "
            f"(define it in {package}/errors.py and re-export it where callers import it)"
        )
        assert cls.__module__.endswith(".errors"), f"define {name} in {package}'s errors.py"


def test_every_public_exception_is_classified_transient_or_terminal() -> None:
    found = _public_exceptions()
    unlisted = set(found) - TRANSIENT - PER_INSTANCE - TERMINAL
    assert not unlisted, f"classify {sorted(unlisted)} in tests/test_errors.py (retry policy)"
    assert set(found) >= TRANSIENT | PER_INSTANCE | TERMINAL
    for name, cls in found.items():
        if name in TRANSIENT:
            assert issubclass(cls, TransientError) and cls.transient is True, name
        elif name in TERMINAL:
            assert not issubclass(cls, TransientError) and cls.transient is False, name
    assert DeliveryError("4xx", transient=True).transient is True
    assert DeliveryError("5xx", transient=False).transient is False
    assert is_transient(DeliveryError("x", transient=True))
    assert not is_transient(TimeoutError("not ours: the caller decides"))


def test_old_import_locations_and_builtin_bases_still_hold() -> None:
    from extractors.acquire.decompress import DecodeError
    from extractors.acquire.netguard import BlockedAddressError
    from extractors.acquire.sources import SourcesError
    from extractors.acquire.warc import WarcOpenError
    from extractors.baseline.seeds import ManifestError
    from flows.classify.corrections import LabelError
    from flows.digest.mail import HeaderValueError, MailError
    from flows.digest.weeks import DigestError
    from flows.ops.serve import ServeError
    from flows.runtime.runlock import RunLockBusy
    from flows.settings import ConfigError
    from warehouse.corrections import UnknownDocuments
    from warehouse.db import QueryError, WarehouseBusy
    from warehouse.search import SearchIndexMissing
    from warehouse.search_index import SearchIndexBusy

    # Callers that catch the builtin type keep working.
    assert issubclass(SourcesError, ValueError) and issubclass(ManifestError, ValueError)
    assert issubclass(ConfigError, ValueError) and issubclass(LabelError, ValueError)
    assert issubclass(HeaderValueError, ValueError) and issubclass(HeaderValueError, MailError)
    assert issubclass(WarcOpenError, OSError)
    for cls in (WarehouseBusy, QueryError, UnknownDocuments, SearchIndexMissing, SearchIndexBusy,
                RunLockBusy, DigestError, ServeError, MailError):  # fmt: skip
        assert issubclass(cls, RuntimeError), cls
    assert issubclass(DecodeError, ExtractorError) and issubclass(BlockedAddressError, CrwatchError)
    error = WarcOpenError("cannot read WARC file x.warc.gz: No such file or directory")
    assert str(error) == "cannot read WARC file x.warc.gz: No such file or directory"


def test_error_kinds_are_the_stored_strings() -> None:
    assert ErrorKind.TIMEOUT == "timeout" and f"{ErrorKind.TIMEOUT}" == "timeout"
    assert json.dumps({"error_kind": ErrorKind.TOO_LARGE}) == '{"error_kind": "too_large"}'
    assert len({k.value for k in ErrorKind}) == len(ErrorKind)
    assert all(re.fullmatch(r"[a-z_]+", k.value) for k in ErrorKind)
    # The fetcher's documented table lists only kinds of the enum, and all of its fetch kinds.
    doc = (ROOT / "extractors" / "acquire" / "fetch.py").read_text(encoding="utf-8").split('"""')[1]
    table = re.findall(r"^    ([a-z_]+) {2,}", doc, re.M)[1:]  # after the heading row
    assert len(table) >= 17 and set(table) <= {k.value for k in ErrorKind}, table


def test_run_error_kinds_keep_their_strings() -> None:
    from flows.runtime.runlock import RunLockBusy
    from warehouse.db import WarehouseBusy
    from warehouse.runs import error_kind

    cases: list[tuple[BaseException, str]] = [
        (WarehouseBusy("busy"), "warehouse_busy"),
        (WarehouseError("no"), "warehouse_error"),
        (RunLockBusy("held"), "lock_busy"),
        (KeyboardInterrupt(), "interrupted"),
        (MemoryError(), "out_of_memory"),
        (OSError("disk"), "os_error"),
        (ValueError("bug"), "error"),
    ]
    for exc, stored in cases:
        kind = error_kind(exc)
        assert isinstance(kind, RunErrorKind) and kind == stored and str(kind) == stored
    assert RunErrorKind.KILLED == "killed"


@pytest.mark.parametrize("status, transient", [(503, True), (429, True), (404, False)])
def test_fetch_results_carry_transient(status: int, transient: bool) -> None:
    """The fetcher's `transient` (and its old name `retryable`) follow the HTTP status."""
    import httpx

    from extractors.acquire.fetch import Fetcher, FetchPolicy, FetchResult

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404 if request.url.path == "/robots.txt" else status)

    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.215.14"]  # a public address: no DNS in tests

    async def run() -> FetchResult:
        policy = FetchPolicy("crwatch-test/1", "https://example.org/about", per_host_delay=0.0)
        policy = dataclasses.replace(policy, max_tries=1)
        transport = httpx.MockTransport(handler)
        async with Fetcher(policy, transport, resolver=resolve) as fetcher:
            return await fetcher.fetch("https://example.org/a")

    result = asyncio.run(run())
    assert result.error_kind == ErrorKind.HTTP_STATUS == "http_status", result.error_message
    assert result.transient is transient and result.retryable is transient
