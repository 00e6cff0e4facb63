"""The live fetcher against servers that misbehave on purpose (RELIABILITY rows 1-7).

Every server runs on loopback, started and stopped by the test (`tests/faultserver.py`); nothing
touches the internet. "Three hosts" are three servers on 127.0.0.1 with different ports: the
fetcher keeps politeness and robots.txt per origin (scheme, host, port). The SSRF canary
listens on 127.0.0.2 (all of 127/8 is loopback on Linux) while only 127.0.0.1/32 is allowed.
Hostnames that must resolve to chosen addresses go through an injected resolver.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import socket
import ssl
import struct
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import brotli
import pytest
from conftest import PARAGRAPHS, article_html
from faultserver import (
    Connection,
    FaultServer,
    Handler,
    Request,
    chunked_stream,
    closed_port,
    encoded,
    hang,
    redirect,
    redirect_to_query,
    reset,
    respond,
    sequence,
    short_body,
    trickle,
)

from extractors.acquire.decompress import STEP
from extractors.acquire.fetch import Fetcher, FetchPolicy, FetchResult, check_url, fetch_one
from extractors.acquire.netguard import system_resolver
from extractors.page.extract import ExtractionLimits, extract_page
from extractors.records import ExtractedDoc, Provenance, RawPage

MIB = 2**20
CONTACT = "https://example.org/contact"
ALLOW_LOCAL = ("127.0.0.1/32",)
REFUSED = {"blocked_private", "blocked_scheme", "invalid_url"}


def policy(**overrides: Any) -> FetchPolicy:
    """A fast test policy: no politeness gap unless asked, short backoff, 127.0.0.1 allowed."""
    settings: dict[str, Any] = {
        "user_agent": "crwatch/0.1",
        "contact_url": CONTACT,
        "per_host_delay": 0.0,
        "backoff_base": 0.05,
        "deadline_seconds": 5.0,
        "allow_hosts": ALLOW_LOCAL,
    }
    settings.update(overrides)
    return FetchPolicy(**settings)


async def fetch_all(
    pol: FetchPolicy, urls: Sequence[str | tuple[str, str | None, str | None]], **kwargs: Any
) -> dict[str, FetchResult]:
    """Results of fetch_many keyed by URL."""
    async with Fetcher(pol, **kwargs) as fetcher:
        return {r.url: r async for r in fetcher.fetch_many(urls)}


def run(coro: Any) -> Any:
    """asyncio.run, typed loosely for brevity in tests."""
    return asyncio.run(coro)


ROBOTS_404 = {"/robots.txt": respond(404, "no robots", content_type="text/plain")}


# -- row 1: politeness -----------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_politeness_three_hosts_one_in_flight_gaps_and_robots() -> None:
    delay, pages, private = 0.25, 12, 2
    robots = f"User-agent: *\nDisallow: /private/\nCrawl-delay: {delay}\n"
    routes = {"/robots.txt": respond(200, robots, content_type="text/plain")}
    servers = [FaultServer(routes=routes, default=respond(200, "<p>page</p>", delay=0.03))
               for _ in range(3)]  # fmt: skip
    for server in servers:
        server.start()
    try:
        urls = [
            server.url(f"/private/{i}" if i < private else f"/news/{i}")
            for i in range(pages)
            for server in servers  # interleaved, as a feed mixes hosts
        ]
        started = time.monotonic()
        results = run(fetch_all(policy(per_host_delay=0.05), urls))
        wall = time.monotonic() - started
    finally:
        for server in servers:
            server.stop()
    kinds = [r.error_kind for r in results.values()]
    assert len(results) == len(urls)
    assert kinds.count("robots_disallowed") == private * 3
    assert sum(r.outcome == "ok" for r in results.values()) == (pages - private) * 3, kinds
    in_flight = max(server.max_in_flight for server in servers)
    gaps = [
        later.arrived - earlier.arrived
        for server in servers
        for earlier, later in zip(server.hits(), server.hits()[1:], strict=False)
    ]
    disallowed_hits = sum(len([h for h in s.hits() if h.path.startswith("/private/")])
                          for s in servers)  # fmt: skip
    per_host_floor = (pages - private) * delay  # what one host alone needs at least
    print(
        f"\n[figure] politeness: 3 hosts x {pages} pages, Crawl-delay {delay} s:"
        f" max in flight per host = {in_flight}, min gap = {min(gaps):.3f} s,"
        f" disallowed hits = {disallowed_hits}; wall {wall:.2f} s"
        f" (one host alone needs >= {per_host_floor:.2f} s, so hosts ran in parallel)"
    )
    assert in_flight == 1
    assert min(gaps) >= delay, "the Crawl-delay gap was not kept between two requests"
    assert disallowed_hits == 0
    assert all(len(s.hits("/robots.txt")) == 1 for s in servers), "robots.txt once per host"
    assert wall < 2 * per_host_floor + 1.0, "hosts should be fetched in parallel"


def test_crawl_delay_is_capped() -> None:
    robots = "User-agent: *\nCrawl-delay: 3600\n"
    routes = {"/robots.txt": respond(200, robots, content_type="text/plain")}
    with FaultServer(routes=routes, default=respond(200, "<p>x</p>")) as server:
        started = time.monotonic()
        results = run(
            fetch_all(policy(max_crawl_delay=0.2), [server.url(f"/{i}") for i in range(3)])
        )
        wall = time.monotonic() - started
        gaps = [
            b.arrived - a.arrived for a, b in zip(server.hits(), server.hits()[1:], strict=False)
        ]
    assert all(r.outcome == "ok" for r in results.values())
    assert min(gaps) >= 0.2 and wall < 5, (gaps, wall)


def test_robots_5xx_skips_the_host_and_404_allows_everything() -> None:
    unavailable = FaultServer(
        routes={"/robots.txt": respond(503, "busy", content_type="text/plain")},
        default=respond(200, "<p>x</p>"),
    )
    missing = FaultServer(routes=ROBOTS_404, default=respond(200, "<p>x</p>"))
    with unavailable, missing:
        skipped = [unavailable.url(f"/a/{i}") for i in range(3)]
        allowed = [missing.url(f"/b/{i}") for i in range(3)]
        results = run(fetch_all(policy(), [*skipped, *allowed]))
        page_hits = [h for h in unavailable.hits() if h.path != "/robots.txt"]
        robots_tries = len(unavailable.hits("/robots.txt"))
    assert [results[u].error_kind for u in skipped] == ["robots_unavailable"] * 3
    assert all(results[u].attempts == 0 for u in skipped), "nothing was sent for these pages"
    assert page_hits == [], "no page of a host whose robots.txt fails may be fetched"
    assert robots_tries == 3, "robots.txt is retried like a page, then cached for the run"
    assert all(results[u].outcome == "ok" for u in allowed)


def test_unreachable_robots_skips_the_host() -> None:
    port = closed_port()
    result = run(fetch_all(policy(), [f"http://127.0.0.1:{port}/page"]))
    (only,) = result.values()
    assert only.error_kind == "robots_unavailable" and "connection" in (only.error_message or "")


# -- row 2: retries ----------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_retries_backoff_retry_after_and_recorded_give_ups() -> None:
    ok = respond(200, "<p>finally</p>")
    routes: dict[str, Handler] = {
        **ROBOTS_404,
        "/flaky": sequence(respond(503), respond(503), ok),
        "/limited": sequence(respond(429, "", [("Retry-After", "1")]), ok),
        "/broken": respond(500, "always"),
        "/busy": respond(503, "always", [("Retry-After", "0")]),
    }
    resetting = FaultServer(routes=ROBOTS_404, default=reset())
    with FaultServer(routes=routes) as server, resetting:
        refused = f"http://127.0.0.1:{closed_port()}/x"
        urls = {name: server.url(f"/{name}") for name in ("flaky", "limited", "broken", "busy")}
        urls["reset"] = resetting.url("/x")
        results = run(fetch_all(policy(respect_robots=False), [*urls.values(), refused]))
        limited = server.hits("/limited")
        broken_hits = len(server.hits("/broken"))
    by_name = {name: results[url] for name, url in urls.items()}
    by_name["refused"] = results[refused]
    attempts = {name: r.attempts for name, r in by_name.items()}
    assert by_name["flaky"].outcome == "ok" and attempts["flaky"] == 3
    assert by_name["limited"].outcome == "ok" and attempts["limited"] == 2
    waited = limited[1].arrived - limited[0].arrived
    assert waited >= 1.0, "Retry-After: 1 was not honoured"
    injected = ["broken", "busy", "reset", "refused"]  # failures that never clear
    recorded = [n for n in injected
                if by_name[n].outcome == "error" and by_name[n].attempts == 3]  # fmt: skip
    assert broken_hits == 3, "exactly max_tries requests, no more"
    assert by_name["broken"].error_kind == "http_status" and by_name["broken"].status == 500
    assert by_name["reset"].error_kind == "connection"
    assert by_name["refused"].error_kind == "connection"
    assert all(by_name[n].retryable for n in injected)
    print(
        f"\n[figure] retries: attempts per URL = {attempts};"
        f" Retry-After 1 s -> waited {waited:.2f} s;"
        f" failures recorded / injected = {len(recorded)}/{len(injected)}"
        f" = {len(recorded) / len(injected):.1f}"
    )
    assert len(recorded) / len(injected) == 1.0


class FakeClock:
    """Politeness and retry time that passes instantly; records every wait asked for."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def test_retry_after_seconds_date_and_cap_with_injected_clock() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=45), usegmt=True)
    ok = respond(200, "<p>ok</p>")
    routes: dict[str, Handler] = {
        **ROBOTS_404,
        "/seconds": sequence(respond(429, "", [("Retry-After", "30")]), ok),
        "/date": sequence(respond(503, "", [("Retry-After", later)]), ok),
        "/too-long": respond(429, "", [("Retry-After", "500")]),
    }
    clock = FakeClock()
    with FaultServer(routes=routes) as server:
        pol = policy(max_retry_after=120.0)

        async def go() -> list[FetchResult]:
            async with Fetcher(pol, clock=clock, sleep=clock.sleep) as fetcher:
                return [
                    await fetcher.fetch(server.url(p)) for p in ("/seconds", "/date", "/too-long")
                ]

        seconds, date, too_long = run(go())
        waits = list(clock.sleeps)
    assert seconds.outcome == "ok" and seconds.attempts == 2
    assert date.outcome == "ok" and date.attempts == 2
    assert any(w >= 30 for w in waits) and any(w >= 43 for w in waits), waits
    assert too_long.error_kind == "http_status" and too_long.attempts == 1
    assert "exceeds" in (too_long.error_message or "")


# -- row 3: slow, hanging and broken servers ---------------------------------------------------


@pytest.mark.timeout(60)
def test_every_fetch_ends_by_its_deadline_and_the_pool_survives() -> None:
    deadline = 2.0
    faults: dict[str, Handler] = {
        "never-finishing": hang(),
        "1 byte/s (whole response)": trickle(headers_too=True),
        "1 byte/s (body)": trickle(headers_too=False),
        "short body, then hang": short_body(then_hang=True),
        "short body, then close": short_body(),
        "connection reset": reset(),
    }
    servers = {name: FaultServer(routes=ROBOTS_404, default=h) for name, h in faults.items()}
    normal = FaultServer(routes=ROBOTS_404, default=respond(200, "<p>fine</p>"))
    for server in [*servers.values(), normal]:
        server.start()
    pol = policy(deadline_seconds=deadline, max_connections=len(faults), connect_timeout=3.0,
                 per_host_concurrency=len(faults))  # fmt: skip
    try:

        async def go() -> tuple[dict[str, FetchResult], list[FetchResult], int]:
            async with Fetcher(pol) as fetcher:
                urls = {s.url("/page"): name for name, s in servers.items()}
                faulty = {urls[r.url]: r async for r in fetcher.fetch_many(list(urls))}
                # As many simultaneous fetches as the pool has connections: a connection
                # leaked by a fault above would make one of them wait for the pool.
                after = await asyncio.gather(
                    *(fetcher.fetch(normal.url(f"/after/{i}")) for i in range(2 * len(faults)))
                )
                return faulty, list(after), fetcher.stats.pool_timeouts

        faulty, after, pool_timeouts = run(go())
    finally:
        for server in [*servers.values(), normal]:
            server.stop()
    worst = max(r.elapsed for r in faulty.values())
    kinds = {name: r.error_kind for name, r in faulty.items()}
    print(
        f"\n[figure] deadline {deadline:g} s: max seconds per fetch = {worst:.2f};"
        f" pool timeouts = {pool_timeouts}; kinds = {kinds};"
        f" normal fetches afterwards ok = {sum(r.outcome == 'ok' for r in after)}/{len(after)}"
    )
    assert all(r.outcome == "error" for r in faulty.values()), kinds
    assert kinds["never-finishing"] == "deadline"
    assert kinds["1 byte/s (whole response)"] == "deadline"
    assert kinds["1 byte/s (body)"] == "deadline"
    assert kinds["short body, then hang"] == "deadline"
    assert kinds["short body, then close"] == "truncated"
    assert kinds["connection reset"] == "connection"
    assert worst < deadline + 1.0
    assert all(r.outcome == "ok" for r in after) and pool_timeouts == 0


# -- row 4: huge bodies ------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_200_mb_body_stops_at_the_cap() -> None:
    cap, size = 10 * MIB, 200 * 1000 * 1000
    routes = {
        **ROBOTS_404,
        "/chunked": chunked_stream(size),
        "/declared": respond(200, b"", [("X-Note", "length lies")]),
    }

    def declared_huge(request: Request, conn: Connection) -> bool:
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                  b"Content-Length: 200000000\r\n\r\n" + b"a" * 1000)  # fmt: skip
        return False

    routes["/declared"] = declared_huge
    with FaultServer(routes=routes) as server:
        results = run(
            fetch_all(policy(max_bytes=cap), [server.url("/chunked"), server.url("/declared")])
        )
        sent = server.bytes_sent
    chunked, declared = results[server.url("/chunked")], results[server.url("/declared")]
    print(
        f"\n[figure] 200 MB chunked body, cap {cap // MIB} MiB: bytes read = {chunked.raw_bytes}"
        f" (cap + {(chunked.raw_bytes - cap) / 1024:.0f} KiB; limit cap + 1 MiB);"
        f" server managed to send {sent / MIB:.1f} MiB; kind = {chunked.error_kind}"
    )
    assert chunked.error_kind == "too_large" and chunked.body == b""
    assert cap < chunked.raw_bytes <= cap + MIB
    assert declared.error_kind == "too_large" and declared.raw_bytes == 0


# -- row 5: decompression bombs ----------------------------------------------------------------


@functools.cache
def deflate_bomb(mib: int) -> tuple[bytes, int, int]:
    """Raw deflate of `mib` MiB of zeros, with its CRC-32 and Adler-32 (built in well under 1 s).

    After a full flush the compressor starts afresh, so every 1 MiB block compresses to the
    same ~1 KB: repeat those bytes instead of compressing 512 MiB.
    """
    block = bytes(MIB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    piece = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    stream = piece * mib + compressor.flush()
    crc, adler = 0, 1
    for _ in range(mib):
        crc, adler = zlib.crc32(block, crc), zlib.adler32(block, adler)
    return stream, crc, adler


@functools.cache
def bombs(mib: int = 512) -> dict[str, tuple[str, bytes]]:
    """Content-Encoding and body of each bomb, every one decoding to `mib` MiB."""
    raw, crc, adler = deflate_bomb(mib)
    gz = (
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
        + raw
        + struct.pack("<II", crc, (mib * MIB) & 0xFFFFFFFF)
    )
    zl = b"\x78\xda" + raw + struct.pack(">I", adler)
    compressor = brotli.Compressor(quality=2)
    br = b"".join([compressor.process(bytes(MIB)) for _ in range(mib)] + [compressor.finish()])
    return {
        "gzip": ("gzip", gz),
        "x-gzip": ("x-gzip", gz),
        "deflate (zlib)": ("deflate", zl),
        "deflate (raw)": ("deflate", raw),
        "br": ("br", br),
        "gzip, br (stacked)": ("gzip, br", brotli.compress(gz)),
        "br, gzip (stacked)": ("br, gzip", gzip.compress(br)),
        "gzip, gzip (stacked)": ("gzip, gzip", gzip.compress(gz)),
    }


@pytest.mark.timeout(90)
def test_decompression_bombs_stop_at_the_cap_with_little_memory() -> None:
    cap = 10 * MIB
    cases = bombs()
    routes = {**ROBOTS_404}
    paths = {}
    for i, (name, (coding, body)) in enumerate(cases.items()):
        paths[name] = f"/bomb/{i}"
        routes[paths[name]] = encoded(body, coding)
    decoded: dict[str, int] = {}
    peaks: dict[str, int] = {}
    with FaultServer(routes=routes) as server:

        async def go() -> dict[str, FetchResult]:
            out = {}
            async with Fetcher(policy(max_bytes=cap)) as fetcher:
                await fetcher.fetch(server.url("/warm-up"))  # robots.txt and imports first
                for name, path in paths.items():
                    tracemalloc.start()
                    try:
                        out[name] = await fetcher.fetch(server.url(path))
                        peaks[name] = tracemalloc.get_traced_memory()[1]
                    finally:
                        tracemalloc.stop()
            return out

        results = run(go())
    for name, result in results.items():
        assert result.error_kind == "too_large", (name, result.error_kind, result.error_message)
        assert result.body == b""
        decoded[name] = result.decoded_bytes
    smallest = min(len(body) for _, body in cases.values())
    print(
        f"\n[figure] bombs ({len(cases)}: gzip, deflate zlib/raw, br, stacked; 512 MiB each,"
        f" smallest body {smallest} bytes), cap {cap // MIB} MiB:"
        f" max decoded bytes = {max(decoded.values())}"
        f" (cap + {(max(decoded.values()) - cap) / 1024:.0f} KiB);"
        f" peak memory increase = {max(peaks.values()) / MIB:.1f} MiB (tracemalloc)"
    )
    assert max(decoded.values()) <= cap + 2 * STEP
    assert max(peaks.values()) < 64 * MIB


def test_encoded_bodies_are_decoded_and_raw_bytes_kept() -> None:
    text = ("<html><body><p>" + "Кремль и Пекин. " * 2000 + "</p></body></html>").encode()
    raw_deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    variants: dict[str, tuple[str, bytes]] = {
        "gzip": ("gzip", gzip.compress(text)),
        "two gzip members": ("gzip", gzip.compress(text[:999]) + gzip.compress(text[999:])),
        "deflate": ("deflate", zlib.compress(text)),
        "raw deflate": ("deflate", raw_deflate.compress(text) + raw_deflate.flush()),
        "br": ("br", brotli.compress(text)),
        "gzip, br": ("gzip, br", brotli.compress(gzip.compress(text))),
        "identity": ("identity", text),
    }
    routes = {**ROBOTS_404}
    for i, (coding, body) in enumerate(variants.values()):
        routes[f"/v/{i}"] = encoded(body, coding)
    routes["/corrupt"] = encoded(b"\x1f\x8b\x08\x00garbage-not-gzip", "gzip")
    routes["/zstd"] = encoded(b"whatever", "zstd")
    with FaultServer(routes=routes) as server:
        urls = [server.url(f"/v/{i}") for i in range(len(variants))]
        results = run(fetch_all(policy(), [*urls, server.url("/corrupt"), server.url("/zstd")]))
    for url, (name, (_, body)) in zip(urls, variants.items(), strict=True):
        assert results[url].body == text, name
        assert results[url].raw_body == body, name
        assert results[url].raw_bytes == len(body), name
    assert results[server.url("/corrupt")].error_kind == "decode_error"
    assert results[server.url("/zstd")].error_kind == "decode_error"


# -- row 6: SSRF ---------------------------------------------------------------------------------


def mapped_resolver(names: dict[str, Callable[[], list[str]]]) -> Any:
    """A resolver answering chosen names (for `*.test`), the system resolver otherwise."""

    async def resolve(host: str, port: int) -> list[str]:
        if host in names:
            return names[host]()
        return await system_resolver(host, port)

    return resolve


@pytest.mark.timeout(60)
def test_ssrf_forms_and_redirects_never_reach_the_canary() -> None:
    canary = FaultServer(host="127.0.0.2", default=respond(200, "canary"))
    allowed = FaultServer(routes={"/go": redirect_to_query()}, default=respond(200, "<p>x</p>"))
    with canary, allowed:
        port = canary.port
        # Control: with the canary's range allowed, the numeric form does reach it.
        control = run(fetch_all(policy(allow_hosts=("127.0.0.2/32",), respect_robots=False),
                                [f"http://2130706434:{port}/control"]))  # fmt: skip
        assert next(iter(control.values())).outcome == "ok" and canary.connections == 1
        canary.connections = 0
        canary.requests.clear()

        rebinding_calls: list[int] = []

        def rebinding() -> list[str]:  # public-looking first, the canary a moment later
            rebinding_calls.append(1)
            return ["127.0.0.1"] if len(rebinding_calls) == 1 else ["127.0.0.2"]

        resolver = mapped_resolver({
            "canary.test": lambda: ["127.0.0.2"],
            "mixed.test": lambda: ["127.0.0.1", "127.0.0.2"],  # ANY bad address refuses
            "metadata.test": lambda: ["169.254.169.254"],
            "mapped.test": lambda: ["::ffff:127.0.0.2"],
            "rebind.test": rebinding,
        })  # fmt: skip
        targets = [
            f"http://127.0.0.2:{port}/dotted",
            f"http://2130706434:{port}/decimal",
            f"http://0x7f000002:{port}/hex",
            f"http://0x7f.0.0.2:{port}/hex-dotted",
            f"http://0177.0.0.2:{port}/octal-dotted",
            f"http://017700000002:{port}/octal",
            f"http://127.2:{port}/short",
            f"http://[::ffff:127.0.0.2]:{port}/v4-mapped",
            f"http://[::ffff:7f00:2]:{port}/v4-mapped-hex",
            f"http://[::1]:{port}/v6-loopback",
            f"http://0.0.0.0:{port}/unspecified",
            f"http://localhost:{port}/localhost",
            f"http://LOCALHOST.:{port}/localhost-dot",
            f"http://canary.test:{port}/dns",
            f"http://mixed.test:{port}/dns-mixed",
            f"http://mapped.test:{port}/dns-mapped",
            "http://metadata.test/latest/meta-data/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00::1]/ula",
            "http://10.0.0.1/private",
            "http://192.168.1.1/private",
            "http://100.64.0.1/shared",
            "file:///etc/passwd",
            f"ftp://127.0.0.2:{port}/",
            "data:text/html,<p>hi</p>",
            f"gopher://127.0.0.2:{port}/_x",
        ]
        pol = policy(respect_robots=False)
        direct = run(fetch_all(pol, targets, resolver=resolver))
        via_redirect_urls = [allowed.url("/go") + "?to=" + quote(t) for t in targets]
        via_redirect = run(fetch_all(pol, via_redirect_urls, resolver=resolver))
        rebind = run(fetch_all(pol, [f"http://rebind.test:{allowed.port}/x"], resolver=resolver))
        canary_hits = canary.connections
    results = [*direct.values(), *via_redirect.values(), *rebind.values()]
    blocked = [r for r in results if r.outcome == "error" and r.error_kind in REFUSED]
    leaks = [(r.url, r.error_kind) for r in results if r not in blocked]
    print(
        f"\n[figure] SSRF: {len(targets)} forms direct + via redirect + DNS rebinding:"
        f" canary hits = {canary_hits}; blocked / attempted = {len(blocked)}/{len(results)}"
        f" = {len(blocked) / len(results):.1f}"
    )
    assert canary_hits == 0
    assert leaks == []
    assert all(r.redirects for r in via_redirect.values()), "the hop itself must be refused"
    assert len(rebinding_calls) == 2, "checked before sending and again at connect"


def quote(url: str) -> str:
    """Percent-encode a URL for a query parameter."""
    from urllib.parse import quote as _quote

    return _quote(url, safe="")


def test_check_url_literal_forms() -> None:
    blocked = ["http://2130706433/", "http://0x7f000001/", "http://0177.0.0.1/", "http://127.1/",
               "http://[::ffff:127.0.0.1]/", "http://[::ffff:a00:1]/", "http://169.254.169.254/",
               "http://100.64.0.1/", "http://[fe80::1]/", "http://localhost/", "http://0/",
               "http://[2002:7f00:1::]/", "http://224.0.0.1/"]  # fmt: skip
    assert {u: check_url(u) for u in blocked} == dict.fromkeys(blocked, "blocked_private")
    schemes = ["file:///etc/passwd", "ftp://example.com/", "data:,x", "javascript:alert(1)"]
    assert {u: check_url(u) for u in schemes} == dict.fromkeys(schemes, "blocked_scheme")
    assert check_url("https://example.com/news?id=1") is None
    assert check_url("http://93.184.215.14/") is None
    assert check_url("http:///nohost") == "invalid_url"
    assert check_url("http://2130706433/", ("127.0.0.1/32",)) is None
    assert check_url("http://127.0.0.2/", ("127.0.0.1/32",)) == "blocked_private"
    assert check_url("http://localhost/", ("localhost",)) is None


# -- row 7: charsets ---------------------------------------------------------------------------


def _without_meta(html: str) -> str:
    start = html.index("<meta charset=")
    return html[:start] + html[html.index(">", start) + 1 :]


def charset_cases() -> dict[str, tuple[bytes, str, str]]:
    """name -> (body, Content-Type header, text expected in the extraction)."""
    zh = article_html("中俄关系", PARAGRAPHS["zh"], charset="gbk")
    zh2312 = article_html("中俄关系", PARAGRAPHS["zh"], charset="gb2312")
    ru_1251 = article_html("Россия и Китай", PARAGRAPHS["ru"], charset="windows-1251")
    ru_koi8 = article_html("Россия и Китай", PARAGRAPHS["ru"], charset="koi8-r")
    zh_text, ru_text = PARAGRAPHS["zh"][1][:20], PARAGRAPHS["ru"][1][:40]
    return {
        "GBK": (zh.encode("gbk"), "text/html; charset=gbk", zh_text),
        "GB2312": (zh2312.encode("gb2312"), "text/html; charset=GB2312", zh_text),
        "Windows-1251": (ru_1251.encode("cp1251"), "text/html; charset=windows-1251", ru_text),
        "KOI8-R": (ru_koi8.encode("koi8-r"), "text/html; charset=koi8-r", ru_text),
        "header utf-8, body GBK": (zh.encode("gbk"), "text/html; charset=utf-8", zh_text),
        "header 1251, meta+body KOI8-R": (
            ru_koi8.encode("koi8-r"), "text/html; charset=windows-1251", ru_text),
        "header KOI8-R, meta+body 1251": (
            ru_1251.encode("cp1251"), "text/html; charset=koi8-r", ru_text),
        "header latin-1, body 1251, no meta": (
            _without_meta(ru_1251).encode("cp1251"), "text/html; charset=iso-8859-1", ru_text),
        "none declared, 1251": (_without_meta(ru_1251).encode("cp1251"), "text/html", ru_text),
        "none declared, KOI8-R": (_without_meta(ru_koi8).encode("koi8-r"), "text/html", ru_text),
        "none declared, GBK": (_without_meta(zh).encode("gbk"), "text/html", zh_text),
        "header GBK, body UTF-8": (
            article_html("中俄关系", PARAGRAPHS["zh"]).encode(), "text/html; charset=gbk", zh_text),
    }  # fmt: skip


@pytest.mark.timeout(120)
def test_legacy_and_mislabelled_charsets_extract_without_replacement_characters() -> None:
    cases = charset_cases()
    routes = {**ROBOTS_404}
    for i, (body, content_type, _) in enumerate(cases.values()):
        # Every other page gzip-coded: decoding must hand extraction the same bytes.
        if i % 2:
            routes[f"/c/{i}"] = respond(200, gzip.compress(body), [("Content-Encoding", "gzip")],
                                        content_type=content_type)  # fmt: skip
        else:
            routes[f"/c/{i}"] = respond(200, body, content_type=content_type)
    with FaultServer(routes=routes) as server:
        urls = [server.url(f"/c/{i}") for i in range(len(cases))]
        results = run(fetch_all(policy(), urls))
    replacements = 0
    failures = []
    for url, (name, (body, _, expected)) in zip(urls, cases.items(), strict=True):
        result = results[url]
        assert result.outcome == "ok" and result.body == body, name
        page = RawPage(
            url=url,
            body=result.body,
            provenance=Provenance("test", "live", url, fetched_at=result.fetched_at),
            content_type=result.content_type,
            http_status=result.status,
            charset=result.charset,
        )
        doc = extract_page(page, ExtractionLimits())
        assert isinstance(doc, ExtractedDoc), (name, doc)
        found = doc.text.count("\ufffd") + (doc.title or "").count("\ufffd")
        replacements += found
        if found or expected not in doc.text:
            failures.append((name, doc.extra.get("encoding"), doc.text[:80]))
    print(
        f"\n[figure] charsets: {len(cases)} pages (GBK, GB2312, Windows-1251, KOI8-R,"
        f" mislabelled, undeclared): replacement characters in output = {replacements}"
    )
    assert failures == [], failures
    assert replacements == 0


# -- HTTP behaviour --------------------------------------------------------------------------------


def test_conditional_get_returns_unchanged() -> None:
    stamp = "Wed, 15 May 2024 08:00:00 GMT"

    def page(request: Request, conn: Connection) -> bool:
        fresh = request.headers.get("if-none-match") == '"v1"' or (
            request.headers.get("if-modified-since") == stamp)  # fmt: skip
        status = 304 if fresh else 200
        return respond(status, "<p>x</p>", [("ETag", '"v1"'), ("Last-Modified", stamp)])(
            request, conn
        )

    with FaultServer(routes={**ROBOTS_404, "/p": page}) as server:
        url = server.url("/p")

        async def go() -> list[FetchResult]:
            async with Fetcher(policy()) as fetcher:
                first = await fetcher.fetch(url)
                by_etag = await fetcher.fetch(url, etag=first.etag)
                by_date = await fetcher.fetch(url, last_modified=first.last_modified)
                return [first, by_etag, by_date]

        first, by_etag, by_date = run(go())
    assert first.outcome == "ok" and first.etag == '"v1"' and first.last_modified == stamp
    for result in (by_etag, by_date):
        assert result.outcome == "unchanged" and result.status == 304 and result.body == b""
        assert result.etag == '"v1"' and result.last_modified == stamp


def test_redirect_chain_is_followed_and_recorded() -> None:
    other = FaultServer(routes=ROBOTS_404, default=respond(200, "<p>final</p>"))
    with other:
        routes = {
            **ROBOTS_404,
            "/a": redirect("/b", 301),
            "/b": redirect("c", 302),
            "/c": redirect(other.url("/d#frag"), 307),
        }
        with FaultServer(routes=routes) as server:
            results = run(fetch_all(policy(), [server.url("/a")]))
    (result,) = results.values()
    assert result.outcome == "ok" and result.body == b"<p>final</p>"
    assert result.redirects == (server.url("/b"), server.url("/c"), other.url("/d"))
    assert result.final_url == other.url("/d")


def test_too_many_redirects() -> None:
    def loop(request: Request, conn: Connection) -> bool:
        n = int(request.path.rsplit("/", 1)[1])
        return redirect(f"/loop/{n + 1}")(request, conn)

    with FaultServer(routes=ROBOTS_404, default=loop) as server:
        results = run(fetch_all(policy(max_redirects=5), [server.url("/loop/0")]))
        hops = len([h for h in server.hits() if h.path.startswith("/loop/")])
    (result,) = results.values()
    assert result.error_kind == "too_many_redirects" and len(result.redirects) == 5
    assert hops == 6


def test_identity_headers_sent() -> None:
    with FaultServer(routes=ROBOTS_404, default=respond(200, "<p>x</p>")) as server:
        result = fetch_one(server.url("/x"), policy())
        request = server.hits("/x")[0]
    assert result.outcome == "ok"
    assert request.headers["user-agent"] == f"crwatch/0.1 (+{CONTACT})"
    assert request.headers["accept-encoding"] == "gzip, deflate, br"
    assert result.raw_headers[0] == ("Content-Type", "text/html; charset=utf-8")
    assert result.status_line == "HTTP/1.1 200 OK" and result.charset == "utf-8"


def _self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


def test_tls_is_verified_for_the_url_hostname_on_the_checked_address(tmp_path: Path) -> None:
    """The guard connects to the address it checked; TLS still names (SNI) and verifies the
    hostname, and an untrusted certificate is a permanent `tls` error (verification is always on).
    """
    cert, key = _self_signed(tmp_path, "tls.test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server_names: list[str | None] = []

    def remember(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        server_names.append(name)

    context.sni_callback = remember
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    port = listener.getsockname()[1]

    def serve_one() -> None:
        with contextlib.suppress(OSError):
            raw, _ = listener.accept()
            with raw, contextlib.suppress(OSError):
                context.wrap_socket(raw, server_side=True).close()

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    try:
        resolver = mapped_resolver({"tls.test": lambda: ["127.0.0.1"]})
        results = run(fetch_all(policy(respect_robots=False), [f"https://tls.test:{port}/"],
                                resolver=resolver))  # fmt: skip
    finally:
        thread.join(timeout=10)
        listener.close()
    (result,) = results.values()
    assert result.error_kind == "tls" and result.attempts == 1, result.error_message
    assert server_names == ["tls.test"]


def test_oversized_robots_txt_is_cut_at_its_cap() -> None:
    robots = "User-agent: *\nDisallow: /early\n" + "# padding\n" * 100_000 + "Disallow: /late\n"
    routes = {"/robots.txt": respond(200, robots, content_type="text/plain")}
    with FaultServer(routes=routes, default=respond(200, "<p>x</p>")) as server:
        results = run(fetch_all(policy(), [server.url("/early"), server.url("/late")]))
    assert results[server.url("/early")].error_kind == "robots_disallowed"
    assert results[server.url("/late")].outcome == "ok", "rules past 512 KiB are not read"
