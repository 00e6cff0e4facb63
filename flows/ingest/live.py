"""Live acquisition: sources → discovery → polite fetching → WARC archive → pipeline items.

`live_items` runs the asynchronous fetcher (`extractors.acquire.fetch.Fetcher`) on a background
thread and yields what the ingest pipeline consumes: a `RawPage` for every article fetched (already
appended to the day's WARC file under the archive folder, so `crwatch ingest --replay` on the
archive reproduces the run) and an `AcquisitionError` for every failure (also recorded in the
archive as a metadata record). One source at a time never blocks the others: listings and
articles of different hosts are fetched in parallel, each host politely.

Per source:
1. its addresses (feeds, sitemaps, URL lists) are fetched with a conditional GET (ETag and
   Last-Modified of the previous run, from `fetches`); 304 means nothing new;
2. discovered article URLs are canonicalised, those already stored are dropped, and the newest
   `max_items` are kept;
3. articles are fetched; failures become error rows; robots.txt refusals are counted apart.

Listing responses are recorded in `fetches` (outcome `listing` / `unchanged`, with their
validators) but not archived as pages: a replay must not treat a feed as an article.
`SourceHealth` counts everything per source for the run summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import queue
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from extractors.acquire.archive import ArchiveLocation, WarcArchive
from extractors.acquire.discovery import (
    Discovered,
    DiscoveryResult,
    SitemapResult,
    newest_sitemaps,
    parse_feed,
    parse_sitemap,
    parse_url_list,
)
from extractors.acquire.fetch import Fetcher, FetchPolicy, FetchResult
from extractors.acquire.sources import Source
from extractors.errors import ErrorKind
from extractors.records import AcquisitionError, Provenance, RawPage
from flows.settings import Settings
from warehouse.db import Warehouse
from warehouse.load import Batch, listing_validators, stored_canonicals, write_batch

_SITEMAP_CHILDREN = 3  # newest child sitemaps fetched from a sitemap index
_QUEUE_DEPTH = 64  # fetched pages held between the fetcher thread and the pipeline
_DONE = object()


@dataclass
class SourceHealth:
    """What the live phase did for one source."""

    listing: str = "pending"  # ok | unchanged | <error kind> (the worst of its addresses)
    discovered: int = 0
    already_stored: int = 0
    fetched: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    robots_blocked: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "listing": self.listing, "discovered": self.discovered,
            "already_stored": self.already_stored, "fetched": self.fetched,
            "failed": dict(self.failed), "robots_blocked": self.robots_blocked,
        }  # fmt: skip


def policy_for(settings: Settings) -> FetchPolicy:
    """The fetch policy the settings describe (also used by `crwatch fetch`)."""
    return FetchPolicy(
        user_agent=settings.user_agent,
        contact_url=settings.contact_url or None,
        per_host_delay=settings.per_host_delay,
        max_tries=settings.fetch_max_tries,
        deadline_seconds=settings.fetch_deadline_seconds,
        max_bytes=settings.fetch_max_bytes,
        allow_hosts=settings.allow_hosts,
    )


def _discover(source: Source, result: FetchResult) -> DiscoveryResult:
    if source.kind == "sitemap":
        return parse_sitemap(result.body, result.final_url or result.url, source.name)
    if source.kind == "urls":
        text = result.body.decode(result.charset or "utf-8", errors="replace")
        return parse_url_list(text, result.final_url or result.url, source.name)
    return parse_feed(
        result.body, result.final_url or result.url, source.name, content_type=result.content_type
    )


def _listing_row(source: Source, result: FetchResult, run_id: str) -> dict[str, object]:
    now = datetime.now(UTC)
    locator = f"listing:{result.url}@{result.fetched_at.isoformat()}"
    return {
        "fetch_id": hashlib.sha256(locator.encode()).hexdigest()[:20],
        "run_id": run_id, "source": source.name, "origin": "live", "locator": locator,
        "url": result.url, "final_url": result.final_url, "http_status": result.status,
        "content_type": result.content_type, "bytes": result.raw_bytes,
        "outcome": "unchanged" if result.outcome == "unchanged" else "listing",
        "etag": result.etag, "last_modified": result.last_modified,
        "fetched_at": result.fetched_at, "recorded_at": now,
    }  # fmt: skip


def _provenance(source: Source, location: ArchiveLocation, result: FetchResult) -> Provenance:
    """Where a live item's bytes are: its record in the archive (WARC dates are whole seconds)."""
    return Provenance(
        source=source.name, origin="live",
        locator=f"live:{location.path.name}:{location.offset}",
        warc_file=location.path.name, warc_offset=location.offset,
        fetched_at=result.fetched_at.replace(microsecond=0),
    )  # fmt: skip


class LiveRun:
    """One live phase: fetch every enabled source, yield pipeline items, count per source."""

    def __init__(
        self,
        settings: Settings,
        sources: list[Source],
        warehouse: Warehouse,
        run_id: str,
        policy: FetchPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.sources = [s for s in sources if s.enabled and s.kind != "warc"]
        self.warehouse = warehouse
        self.run_id = run_id
        self.policy = policy or policy_for(settings)
        self.health: dict[str, SourceHealth] = {s.name: SourceHealth() for s in self.sources}
        self.timed_out = False
        self.listing_rows: list[dict[str, object]] = []  # written by `write_listings`

    def write_listings(self) -> None:
        """Record the listing fetches (feeds, sitemaps) with their validators in `fetches`."""
        if not self.listing_rows:
            return
        batch = Batch()
        for row in self.listing_rows:
            batch.add("fetches", row)
        with self.warehouse.writer() as con:
            write_batch(con, batch)
        self.listing_rows = []

    # ---------------------------------------------------------------- the bridge

    def items(self) -> Iterator[RawPage | AcquisitionError]:
        """Run the fetcher on a thread; yield its items as they arrive (bounded queue)."""
        out: queue.Queue[object] = queue.Queue(maxsize=_QUEUE_DEPTH)
        stop = threading.Event()

        def runner() -> None:
            try:
                asyncio.run(self._main(out, stop))
            except BaseException as exc:  # surfaced in the consumer
                out.put(exc)
            finally:
                out.put(_DONE)

        thread = threading.Thread(target=runner, name="crwatch-live", daemon=True)
        thread.start()
        try:
            while True:
                item = out.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item  # type: ignore[misc]
        finally:
            stop.set()
            with contextlib.suppress(queue.Empty):
                while True:  # unblock a producer waiting on a full queue
                    out.get_nowait()
            thread.join(timeout=self.settings.fetch_deadline_seconds + 5)

    async def _put(self, out: queue.Queue[object], item: object, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                out.put_nowait(item)
                return
            except queue.Full:
                await asyncio.sleep(0.05)

    # ---------------------------------------------------------------- the work

    async def _main(self, out: queue.Queue[object], stop: threading.Event) -> None:
        self.settings.archive_dir.mkdir(parents=True, exist_ok=True)
        with WarcArchive(self.settings.archive_dir) as archive:
            try:
                async with asyncio.timeout(self.settings.live_budget_seconds):
                    async with Fetcher(self.policy) as fetcher:
                        found = await self._listings(fetcher, out, stop, archive)
                        await self._articles(fetcher, found, out, stop, archive)
            except TimeoutError:
                self.timed_out = True
                for health in self.health.values():
                    if health.listing == "pending":
                        health.listing = "budget_exhausted"
            finally:
                archive.flush()

    async def _listings(
        self,
        fetcher: Fetcher,
        out: queue.Queue[object],
        stop: threading.Event,
        archive: WarcArchive,
    ) -> dict[str, list[Discovered]]:
        by_url = {url: s for s in self.sources for url in s.addresses}
        # Read-write connections, like the pipeline's: one process cannot mix the two modes.
        with self.warehouse.writer() as con:
            validators = listing_validators(con, by_url)
        found: dict[str, list[Discovered]] = {s.name: [] for s in self.sources}
        rows: list[dict[str, object]] = []
        pending = [(url, *validators.get(url, (None, None))) for url in by_url]
        while pending:
            children: list[tuple[str, str | None, str | None]] = []
            async for result in fetcher.fetch_many(pending):
                source = by_url[result.url]
                health = self.health[source.name]
                if result.outcome == "error":
                    health.listing = result.error_kind or ErrorKind.ERROR
                    await self._failure(source, result, out, stop, archive)
                    continue
                rows.append(_listing_row(source, result, self.run_id))
                if result.outcome == "unchanged":
                    health.listing = "unchanged" if health.listing == "pending" else health.listing
                    continue
                health.listing = (
                    "ok" if health.listing in ("pending", "unchanged") else (health.listing)
                )
                discovered = _discover(source, result)
                if discovered.error:
                    health.listing = "bad_listing"
                    health.failed["bad_listing"] += 1
                    continue
                found[source.name].extend(discovered.items)
                if isinstance(discovered, SitemapResult):
                    for child in newest_sitemaps(discovered, _SITEMAP_CHILDREN):
                        if child.url not in by_url:
                            by_url[child.url] = source
                            children.append((child.url, None, None))
            pending = children
        self.listing_rows.extend(rows)
        return found

    async def _articles(
        self,
        fetcher: Fetcher,
        found: dict[str, list[Discovered]],
        out: queue.Queue[object],
        stop: threading.Event,
        archive: WarcArchive,
    ) -> None:
        chosen: dict[str, Source] = {}
        names = {s.name: s for s in self.sources}
        with self.warehouse.writer() as con:
            stored = stored_canonicals(
                con, (d.canonical for items in found.values() for d in items)
            )
        for name, items in found.items():
            source = names[name]
            health = self.health[name]
            fresh: dict[str, Discovered] = {}
            for item in items:
                if item.canonical in stored:
                    health.already_stored += 1
                elif item.canonical not in fresh:
                    fresh[item.canonical] = item
            newest = sorted(
                fresh.values(),
                key=lambda d: d.published_at or datetime.min.replace(tzinfo=UTC),
                reverse=True,
            )[: source.max_items or self.settings.max_items_per_source]
            health.discovered = len(fresh)
            for item in newest:
                chosen.setdefault(item.url, source)
        async with contextlib.aclosing(fetcher.fetch_many(list(chosen))) as results:
            async for result in results:
                if stop.is_set():
                    return
                await self._article(chosen[result.url], result, out, stop, archive)

    async def _article(
        self,
        source: Source,
        result: FetchResult,
        out: queue.Queue[object],
        stop: threading.Event,
        archive: WarcArchive,
    ) -> None:
        if result.outcome != "ok":
            await self._failure(source, result, out, stop, archive)
            return
        self.health[source.name].fetched += 1
        url = result.final_url or result.url
        location = archive.write_response(
            url, result.status or 200, result.reason or "", result.http_version or "HTTP/1.1",
            result.raw_headers, result.body, result.fetched_at,
            request_headers=result.request_headers, source=source.name,
        )  # fmt: skip
        provenance = _provenance(source, location, result)
        page = RawPage(
            url=url, body=result.body, provenance=provenance,
            content_type=result.content_type, http_status=result.status,
            charset=result.charset,
        )  # fmt: skip
        await self._put(out, page, stop)

    async def _failure(
        self,
        source: Source,
        result: FetchResult,
        out: queue.Queue[object],
        stop: threading.Event,
        archive: WarcArchive,
    ) -> None:
        kind = result.error_kind or ErrorKind.ERROR
        health = self.health[source.name]
        if kind == ErrorKind.ROBOTS_DISALLOWED:
            health.robots_blocked += 1
        else:
            health.failed[kind] += 1
        location = archive.write_failure(
            result.url, kind, result.error_message or kind, result.fetched_at, source=source.name
        )
        provenance = _provenance(source, location, result)
        error = AcquisitionError(
            provenance=provenance, error_kind=kind,
            message=(result.error_message or kind)[:2000], url=result.url,
        )  # fmt: skip
        await self._put(out, error, stop)
