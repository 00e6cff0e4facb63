"""Live acquisition: a polite, bounded, SSRF-safe HTTP fetcher (a library; no Prefect, no DB).

`Fetcher` owns one `httpx.AsyncClient` and the per-host state of a run: a semaphore and the
earliest next start per origin (scheme, host, port), and the robots.txt rules of each origin,
fetched once. `fetch()` returns a `FetchResult` for every URL and never raises for network or
HTTP problems: failures are results with `outcome="error"` and an `error_kind`:

    kind                 retried  meaning
    invalid_url          no       the URL (or a redirect's Location) does not parse
    blocked_scheme       no       not http/https (file:, ftp:, data:, ...)
    blocked_private      no       a host or resolved address on a non-public network
    dns                  EAI_AGAIN the name does not resolve (a resolver timeout is retried)
    robots_disallowed    no       robots.txt forbids the path for our user agent
    robots_unavailable   no       robots.txt answered 5xx/429 or was unreachable: host skipped
    http_status          429/5xx  the final response was not 2xx/304 (see `status`)
    timeout              yes      connect/read/write/pool timeout
    connection           yes      refused, reset, closed before the response
    truncated            yes      the connection closed in the middle of the body
    deadline             no       one attempt (all hops) took longer than `deadline_seconds`
    too_large            no       raw or decoded body over `max_bytes`
    decode_error         no       corrupt gzip/deflate/br, or a coding we did not ask for
    too_many_redirects   no       more than `max_redirects` hops
    tls                  no       certificate or handshake failure
    protocol             no       a malformed HTTP response
    internal             no       a bug in this module (fetch_many only; logged with traceback)

`transient` on the result (`extractors.errors`: the one notion of "retry may succeed") says
whether a later run may succeed; `retryable` is its older name. Retries within a fetch wait
`backoff_base * 2**(n-1)`, jittered to 50-100 %, or the server's Retry-After when longer; a
Retry-After above `max_retry_after` ends the fetch at once (we will not come back sooner than
asked, and waiting longer belongs to the next run).

Bounds: every attempt, with all its redirect hops, runs under `asyncio.timeout`
(`deadline_seconds`), because httpx's timeouts are per read and a server trickling one byte per
second never trips them. An attempt that hits its deadline is not retried; a fetch lasts at
most `max_tries * deadline_seconds` plus its waits. Bodies are read raw (`aiter_raw`) and stop
at `max_bytes`; decoding is ours (`extractors.acquire.decompress`) and capped too, because httpx's
is not. Waits for politeness and for retries are not part of the deadline: they are the crawler's
choice, not the server's.

Safety: see `extractors.acquire.netguard`. Every hop is checked (scheme, literal addresses, then the
resolved addresses) before robots.txt or the request, and the default transport resolves and
checks again inside the connection pool and connects only to the addresses it checked there.
Requests go to the transport directly: `AsyncClient.send` would parse a hostile Location header
itself and raise before we could record the response. No proxies from the environment, no
cookies kept between fetches, TLS verification always on (certifi).

Politeness: at most `per_host_concurrency` requests in flight per origin, and a gap of at least
`max(per_host_delay, min(Crawl-delay, max_crawl_delay))` between the end of one request and the
start of the next. A retry after 429/5xx/timeouts also holds back the whole origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from urllib.parse import urljoin

import httpx
from protego import Protego

from extractors.acquire.decompress import (
    BodyDecoder,
    DecodedTooLarge,
    DecodeError,
    parse_content_encoding,
)
from extractors.acquire.netguard import (
    Allowlist,
    BlockedAddressError,
    GuardedTransport,
    Resolver,
    check_url,
    resolve_checked,
    system_resolver,
    url_refusal,
)
from extractors.errors import ErrorKind, ExtractorError

__all__ = [
    "FetchPolicy",
    "FetchResult",
    "FetchStats",
    "Fetcher",
    "check_url",
    "fetch_one",
]

log = logging.getLogger(__name__)

ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
ACCEPT_ENCODING = "gzip, deflate, br"  # exactly what extractors.acquire.decompress undoes
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
UrlItem = str | tuple[str, str | None, str | None]  # url, or (url, etag, last_modified)


@dataclass(frozen=True)
class FetchPolicy:
    """How to fetch: identity, politeness, retries and limits (defaults suit a news crawl)."""

    user_agent: str
    contact_url: str | None
    per_host_concurrency: int = 1
    per_host_delay: float = 1.0  # seconds between the end of one request and the next start
    max_crawl_delay: float = 30.0  # robots.txt Crawl-delay is honoured up to this
    max_tries: int = 3
    backoff_base: float = 1.0  # first retry waits 0.5-1 x this, then doubles
    max_retry_after: float = 120.0  # a longer Retry-After ends the fetch instead of waiting
    deadline_seconds: float = 30.0  # per attempt: connect + headers + body over all hops
    connect_timeout: float = 10.0
    read_timeout: float = 15.0
    max_bytes: int = 10 * 2**20  # raw and decoded body cap
    max_redirects: int = 5
    allow_hosts: tuple[str, ...] = ()  # hostnames or CIDRs exempt from the private-network rule
    respect_robots: bool = True
    max_robots_bytes: int = 512 * 1024  # robots.txt beyond this is cut, as RFC 9309 allows
    max_connections: int = 64  # the connection pool; also caps requests in flight overall

    def __post_init__(self) -> None:
        if not self.user_agent.strip() or any(c in self.user_agent for c in "\r\n"):
            raise ValueError("user_agent must be a non-empty single line")
        if self.contact_url is not None and any(c in self.contact_url for c in "\r\n"):
            raise ValueError("contact_url must be a single line")
        for name in ("per_host_concurrency", "max_tries", "max_bytes", "max_connections"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("per_host_delay", "max_crawl_delay", "backoff_base", "max_retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.deadline_seconds <= 0 or self.max_redirects < 0:
            raise ValueError("deadline_seconds must be positive and max_redirects >= 0")

    @property
    def full_user_agent(self) -> str:
        """The User-Agent header: product token, version and a contact URL site owners can use."""
        if self.contact_url and self.contact_url not in self.user_agent:
            return f"{self.user_agent} (+{self.contact_url})"
        return self.user_agent

    @property
    def robots_token(self) -> str:
        """The product token robots.txt groups are matched against (`crwatch`)."""
        return self.user_agent.split("/", 1)[0].split()[0]


@dataclass(frozen=True)
class FetchResult:
    """What one fetch produced: the body and everything a WARC record and a `fetches` row need."""

    url: str
    final_url: str | None
    status: int | None
    outcome: str  # "ok" | "unchanged" | "error"
    error_kind: str | None
    error_message: str | None
    headers: dict[str, str]  # final response; lower-case names, repeated headers joined by ", "
    body: bytes  # decoded content; empty unless outcome == "ok"
    raw_bytes: int  # bytes read from the wire for the final response (after de-chunking)
    attempts: int  # attempts that sent at least one request
    elapsed: float  # seconds, including politeness and retry waits
    etag: str | None
    last_modified: str | None
    content_type: str | None
    fetched_at: datetime  # when the final request was sent (UTC)
    redirects: tuple[str, ...] = ()  # every Location followed, in order (absolute URLs)
    http_version: str | None = None  # "HTTP/1.1"
    reason: str | None = None  # reason phrase of the status line
    raw_headers: list[tuple[str, str]] = field(default_factory=list)  # as received, in order
    request_headers: list[tuple[str, str]] = field(default_factory=list)  # final request, as sent
    raw_body: bytes = b""  # payload as sent, still content-coded (same object as body if not)
    decoded_bytes: int = 0  # bytes out of the decoder (past the cap for bombs)
    transient: bool = False  # a later run may succeed (see extractors.errors)

    @property
    def retryable(self) -> bool:
        """The older name of `transient`, kept for callers that read it."""
        return self.transient

    @property
    def charset(self) -> str | None:
        """The charset parameter of Content-Type, for `RawPage.charset`."""
        if not self.content_type:
            return None
        message = Message()
        message["content-type"] = self.content_type
        value = message.get_param("charset")
        return (value.strip() or None) if isinstance(value, str) else None

    @property
    def status_line(self) -> str | None:
        """`HTTP/1.1 200 OK`, for the WARC response record."""
        if self.status is None:
            return None
        return f"{self.http_version or 'HTTP/1.1'} {self.status} {self.reason or ''}".rstrip()


@dataclass
class FetchStats:
    """Counters over a Fetcher's life (for run summaries and tests)."""

    requests: int = 0
    retries: int = 0
    pool_timeouts: int = 0
    robots_fetched: int = 0
    retry_waits: list[float] = field(default_factory=list)


class _Failure(ExtractorError):
    """One attempt failed; `transient` per instance (an HTTP 503 passes, a 404 does not)."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        transient: bool = False,
        retry_after: float | None = None,
        response: _Hop | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.transient = transient
        self.retry_after = retry_after
        self.response = response
        self.url: str | None = None
        self.origin: str | None = None
        self.redirects: tuple[str, ...] = ()
        self.sent = False


@dataclass
class _Hop:
    """One response (a redirect, a 304 or the final page)."""

    url: str
    fetched_at: datetime
    status: int = 0
    http_version: str = "HTTP/1.1"
    reason: str = ""
    raw_headers: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    location: str | None = None
    body: bytes = b""
    raw_body: bytes = b""
    raw_bytes: int = 0
    decoded_bytes: int = 0


@dataclass
class _Host:
    slots: asyncio.Semaphore
    delay: float
    ready_at: float = 0.0  # earliest start of the next request (Fetcher clock)


@dataclass(frozen=True)
class _Robots:
    rules: Protego | None  # None: everything allowed
    unavailable: str | None = None  # why the host is skipped this run


def _origin(url: httpx.URL) -> str:
    port = url.port or (443 if url.scheme == "https" else 80)
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{url.scheme}://{host}:{port}"


def _parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After value (delta seconds or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _no_cookies() -> CookieJar:
    # Fetches stay independent of each other: what a site set before never changes what we get.
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


def _network_failure(exc: Exception, in_body: bool) -> _Failure:
    message = f"{type(exc).__name__}: {exc}"[:500]
    if isinstance(exc, httpx.TimeoutException):
        return _Failure(ErrorKind.TIMEOUT, message, transient=True)
    if isinstance(exc, httpx.ConnectError):
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, ssl.SSLError | ssl.CertificateError):
                return _Failure(ErrorKind.TLS, message)
            if isinstance(cause, socket.gaierror):
                return _Failure(ErrorKind.DNS, message)
            cause = cause.__cause__ or cause.__context__
        return _Failure(ErrorKind.CONNECTION, message, transient=True)
    if isinstance(exc, httpx.RemoteProtocolError):
        return _Failure(
            ErrorKind.TRUNCATED if in_body else ErrorKind.CONNECTION, message, transient=True
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return _Failure(ErrorKind.INVALID_URL, message)
    if isinstance(exc, httpx.ProtocolError):
        return _Failure(ErrorKind.PROTOCOL, message)
    return _Failure(ErrorKind.CONNECTION, message, transient=True)


class Fetcher:
    """Async context manager owning one AsyncClient and the per-host state of one run."""

    def __init__(
        self,
        policy: FetchPolicy,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        resolver: Resolver | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        """`transport` replaces the guarded network transport (tests); `resolver` maps names
        to addresses (default: getaddrinfo); `clock`/`sleep` drive politeness and retry waits."""
        self.policy = policy
        self.stats = FetchStats()
        self._allow = Allowlist.parse(policy.allow_hosts)
        self._resolver: Resolver = resolver or system_resolver
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._hosts: dict[str, _Host] = {}
        self._robots: dict[str, asyncio.Future[_Robots]] = {}
        self._connections = asyncio.Semaphore(policy.max_connections)
        if transport is None:
            transport = GuardedTransport(self._allow, self._resolver, policy.max_connections)
        # Requests go straight to the transport: `AsyncClient.send` parses every Location header
        # (even with follow_redirects=False) and raises on hostile ones before we see the
        # response. The client builds requests (headers, timeouts) and owns the transport.
        self._transport = transport
        self._client = httpx.AsyncClient(
            transport=transport,
            follow_redirects=False,
            trust_env=False,  # a proxy from the environment would bypass the address guard
            cookies=_no_cookies(),
            timeout=httpx.Timeout(
                connect=policy.connect_timeout,
                read=policy.read_timeout,
                write=policy.read_timeout,
                pool=policy.connect_timeout,
            ),
            headers={
                "User-Agent": policy.full_user_agent,
                "Accept": ACCEPT,
                "Accept-Encoding": ACCEPT_ENCODING,
            },
        )

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop pending robots.txt fetches and close every connection."""
        pending = [task for task in self._robots.values() if not task.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self._client.aclose()

    async def fetch(
        self, url: str, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """Fetch one URL politely; a conditional GET when a previous ETag/Last-Modified is given."""
        return await self._run(url, etag, last_modified, gate=None)

    async def fetch_many(
        self, urls: Iterable[UrlItem], concurrency: int = 16
    ) -> AsyncGenerator[FetchResult, None]:
        """Fetch many URLs, hosts in parallel and each host politely; results in completion order.

        One result per input item. At most `concurrency` requests are in flight (never more than
        `max_connections`). Close the iterator (`contextlib.aclosing`) if you stop early.
        """
        gate = asyncio.Semaphore(max(1, min(concurrency, self.policy.max_connections)))
        lanes: dict[str, deque[tuple[str, str | None, str | None]]] = {}
        refused: list[FetchResult] = []
        for item in urls:
            url, etag, last_modified = (item, None, None) if isinstance(item, str) else item
            refusal = url_refusal(url, self._allow)
            if refusal is not None:
                failure = _Failure(refusal.kind, str(refusal))
                refused.append(self._failed(url, failure, 0, time.perf_counter()))
                continue
            lanes.setdefault(_origin(httpx.URL(url)), deque()).append((url, etag, last_modified))
        for result in refused:
            yield result
        results: asyncio.Queue[FetchResult] = asyncio.Queue()

        async def lane(queue: deque[tuple[str, str | None, str | None]]) -> None:
            while queue:
                url, etag, last_modified = queue.popleft()
                try:
                    result = await self._run(url, etag, last_modified, gate)
                except Exception as exc:  # a bug must cost one URL, not the run
                    log.exception("fetch of %s failed unexpectedly", url)
                    failure = _Failure(ErrorKind.INTERNAL, f"{type(exc).__name__}: {exc}")
                    result = self._failed(url, failure, 0, time.perf_counter())
                results.put_nowait(result)

        total = sum(len(queue) for queue in lanes.values())
        tasks = [
            asyncio.create_task(lane(queue))
            for queue in lanes.values()
            for _ in range(min(self.policy.per_host_concurrency, len(queue)))
        ]
        try:
            for _ in range(total):
                yield await results.get()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- one fetch: attempts with retries ------------------------------------------------------

    async def _run(
        self,
        url: str,
        etag: str | None,
        last_modified: str | None,
        gate: asyncio.Semaphore | None,
        *,
        robots_file: bool = False,
    ) -> FetchResult:
        started = time.perf_counter()
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        attempts = 0  # attempts that reached the server
        tries = 0  # attempts begun (a DNS timeout is a try that sent nothing)
        while True:
            tries += 1
            try:
                hop, redirects, sent = await self._attempt(url, headers, gate, robots_file)
            except _Failure as failure:
                attempts += failure.sent
                if failure.transient and tries < self.policy.max_tries:
                    wait = self._retry_wait(tries, failure.retry_after)
                    if wait is not None:
                        self.stats.retries += 1
                        self.stats.retry_waits.append(wait)
                        log.debug("retrying %s in %.2f s after %s", url, wait, failure.kind)
                        self._hold_back(failure.origin, wait)
                        continue
                    failure.message += (
                        f"; Retry-After {failure.retry_after:.0f} s exceeds the "
                        f"{self.policy.max_retry_after:.0f} s cap, not retried"
                    )
                return self._failed(url, failure, attempts, started)
            attempts += sent
            return self._succeeded(url, hop, redirects, attempts, started, etag, last_modified)

    def _retry_wait(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds before the next attempt; None when the server asks for more than the cap."""
        policy = self.policy
        if retry_after is not None and retry_after > policy.max_retry_after:
            return None
        backoff = policy.backoff_base * 2.0 ** (attempt - 1) * (0.5 + self._rng.random() / 2)
        backoff = min(backoff, policy.max_retry_after)
        return backoff if retry_after is None else max(retry_after, backoff)

    def _hold_back(self, origin: str | None, wait: float) -> None:
        if origin is None:
            return
        host = self._host(origin)
        host.ready_at = max(host.ready_at, self._clock() + wait)

    def _failed(self, url: str, failure: _Failure, attempts: int, started: float) -> FetchResult:
        hop = failure.response
        return FetchResult(
            url=url,
            final_url=failure.url or url,
            status=hop.status if hop else None,
            outcome="error",
            error_kind=failure.kind,
            error_message=failure.message,
            headers=hop.headers if hop else {},
            body=b"",
            raw_bytes=hop.raw_bytes if hop else 0,
            attempts=attempts,
            elapsed=time.perf_counter() - started,
            etag=hop.headers.get("etag") if hop else None,
            last_modified=hop.headers.get("last-modified") if hop else None,
            content_type=hop.headers.get("content-type") if hop else None,
            fetched_at=hop.fetched_at if hop else datetime.now(UTC),
            redirects=failure.redirects,
            http_version=hop.http_version if hop else None,
            reason=hop.reason if hop else None,
            raw_headers=hop.raw_headers if hop else [],
            request_headers=hop.request_headers if hop else [],
            decoded_bytes=hop.decoded_bytes if hop else 0,
            transient=failure.transient,
        )

    def _succeeded(
        self,
        url: str,
        hop: _Hop,
        redirects: tuple[str, ...],
        attempts: int,
        started: float,
        etag: str | None,
        last_modified: str | None,
    ) -> FetchResult:
        unchanged = hop.status == 304
        return FetchResult(
            url=url,
            final_url=hop.url,
            status=hop.status,
            outcome="unchanged" if unchanged else "ok",
            error_kind=None,
            error_message=None,
            headers=hop.headers,
            body=hop.body,
            raw_bytes=hop.raw_bytes,
            attempts=attempts,
            elapsed=time.perf_counter() - started,
            # A 304 may omit validators; the ones we sent still describe the stored copy.
            etag=hop.headers.get("etag") or (etag if unchanged else None),
            last_modified=hop.headers.get("last-modified")
            or (last_modified if unchanged else None),
            content_type=hop.headers.get("content-type"),
            fetched_at=hop.fetched_at,
            redirects=redirects,
            http_version=hop.http_version,
            reason=hop.reason,
            raw_headers=hop.raw_headers,
            request_headers=hop.request_headers,
            raw_body=hop.raw_body,
            decoded_bytes=hop.decoded_bytes,
        )

    # -- one attempt: every hop of a redirect chain ---------------------------------------------

    async def _attempt(
        self,
        url: str,
        headers: dict[str, str],
        gate: asyncio.Semaphore | None,
        robots_file: bool,
    ) -> tuple[_Hop, tuple[str, ...], bool]:
        policy = self.policy
        cap = policy.max_robots_bytes if robots_file else policy.max_bytes
        redirects: list[str] = []
        spent = 0.0  # seconds of network time in this attempt (the deadline's budget)
        sent = False
        current = url
        origin: str | None = None
        try:
            while True:
                refusal = url_refusal(current, self._allow)
                if refusal is not None:
                    raise _Failure(refusal.kind, str(refusal))
                parsed = httpx.URL(current)
                origin = _origin(parsed)
                await self._check_host(parsed)
                if policy.respect_robots and not robots_file:
                    await self._check_robots(current, origin, gate)
                remaining = policy.deadline_seconds - spent
                if remaining <= 0:
                    raise _Failure(ErrorKind.DEADLINE, self._deadline_message())
                host = self._host(origin)
                async with self._slot(host, gate):
                    sent = True
                    self.stats.requests += 1
                    begun = time.perf_counter()
                    try:
                        async with asyncio.timeout(remaining):
                            hop = await self._send(current, headers, cap, robots_file)
                    except TimeoutError:
                        raise _Failure(ErrorKind.DEADLINE, self._deadline_message()) from None
                    finally:
                        spent += time.perf_counter() - begun
                if hop.location is None:
                    return hop, tuple(redirects), sent
                if len(redirects) >= policy.max_redirects:
                    raise _Failure(
                        ErrorKind.TOO_MANY_REDIRECTS,
                        f"more than {policy.max_redirects} redirects (next: {hop.location[:200]})",
                        response=hop,
                    )
                try:
                    target = parsed.join(hop.location).copy_with(fragment=None)
                except (httpx.InvalidURL, TypeError, ValueError) as exc:
                    # Still say what it was: `0177.0.0.1` is refused by httpx, and by us.
                    attempted = urljoin(current, hop.location)
                    redirects.append(attempted)
                    kind = check_url(attempted, self._allow) or ErrorKind.INVALID_URL
                    message = f"redirect to a URL httpx cannot parse ({exc}): {attempted[:200]}"
                    raise _Failure(kind, message, response=hop) from None
                current = str(target)
                redirects.append(current)
        except _Failure as failure:
            failure.url = failure.url or current
            failure.origin = origin
            failure.redirects = tuple(redirects)
            failure.sent = sent
            raise

    def _deadline_message(self) -> str:
        return f"the attempt took longer than {self.policy.deadline_seconds:g} s (all hops)"

    async def _check_host(self, url: httpx.URL) -> None:
        """Resolve and check the host before anything is sent (the transport checks again)."""
        port = url.port or (443 if url.scheme == "https" else 80)
        host = url.raw_host.decode("ascii")  # the IDNA form the connection will resolve
        try:
            async with asyncio.timeout(self.policy.connect_timeout):
                await resolve_checked(host, port, self._allow, self._resolver)
        except BlockedAddressError as exc:
            raise _Failure(exc.kind, str(exc)) from None
        except TimeoutError:
            raise _Failure(
                ErrorKind.DNS, f"DNS lookup for {url.host} timed out", transient=True
            ) from None
        except (socket.gaierror, UnicodeError) as exc:
            transient = isinstance(exc, socket.gaierror) and exc.errno == socket.EAI_AGAIN
            raise _Failure(ErrorKind.DNS, f"{url.host}: {exc}", transient=transient) from None

    @asynccontextmanager
    async def _slot(self, host: _Host, gate: asyncio.Semaphore | None) -> AsyncIterator[None]:
        """Hold one of the host's slots, after its politeness gap, and one overall slot."""
        async with host.slots:
            while (wait := host.ready_at - self._clock()) > 0:
                await self._sleep(wait)
            host.ready_at = self._clock() + host.delay
            if gate is not None:
                await gate.acquire()
            try:
                async with self._connections:
                    yield
            finally:
                if gate is not None:
                    gate.release()
                host.ready_at = max(host.ready_at, self._clock() + host.delay)

    def _host(self, origin: str) -> _Host:
        host = self._hosts.get(origin)
        if host is None:
            slots = asyncio.Semaphore(self.policy.per_host_concurrency)
            host = self._hosts[origin] = _Host(slots, self.policy.per_host_delay)
        return host

    # -- one request -----------------------------------------------------------------------------

    async def _send(self, url: str, headers: dict[str, str], cap: int, truncate: bool) -> _Hop:
        hop = _Hop(url=url, fetched_at=datetime.now(UTC))
        request = self._client.build_request("GET", url, headers=headers)
        hop.request_headers = [(k.decode("latin-1"), v.decode("latin-1"))
                               for k, v in request.headers.raw]  # fmt: skip
        try:
            response = await self._transport.handle_async_request(request)
            response.request = request
        except BlockedAddressError as exc:
            raise _Failure(exc.kind, str(exc)) from None
        except httpx.PoolTimeout as exc:
            self.stats.pool_timeouts += 1
            raise _network_failure(exc, in_body=False) from None
        except (httpx.HTTPError, OSError) as exc:
            raise _network_failure(exc, in_body=False) from None
        try:
            hop.status = response.status_code
            hop.http_version = response.http_version
            hop.reason = response.reason_phrase
            hop.raw_headers = [
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw
            ]
            joined: dict[str, list[str]] = {}
            for name, value in response.headers.multi_items():
                joined.setdefault(name.lower(), []).append(value)
            hop.headers = {name: ", ".join(values) for name, values in joined.items()}
            status = response.status_code
            if status in REDIRECT_STATUSES and response.headers.get("location"):
                hop.location = response.headers["location"]
                return hop
            if status == 304:
                return hop
            if not 200 <= status < 300:
                transient = status == 429 or 500 <= status < 600
                retry_after = _parse_retry_after(response.headers.get("retry-after"))
                raise _Failure(
                    ErrorKind.HTTP_STATUS, f"HTTP {status} {hop.reason}".rstrip(),
                    transient=transient, retry_after=retry_after, response=hop,
                )  # fmt: skip
            await self._read_body(response, hop, cap, truncate)
            return hop
        except (httpx.HTTPError, OSError) as exc:
            raise _network_failure(exc, in_body=True) from None
        finally:
            with contextlib.suppress(httpx.HTTPError, OSError):
                await response.aclose()

    async def _read_body(
        self, response: httpx.Response, hop: _Hop, cap: int, truncate: bool
    ) -> None:
        """Read at most `cap` raw bytes and decode them into at most `cap` bytes.

        With `truncate` (robots.txt) a longer body is cut after its last whole line instead.
        """
        length = response.headers.get("content-length", "").strip()
        if not truncate and length.isdigit() and int(length) > cap:
            raise _Failure(
                ErrorKind.TOO_LARGE,
                f"Content-Length {length} exceeds the cap of {cap} bytes",
                response=hop,
            )
        codings = parse_content_encoding(", ".join(response.headers.get_list("content-encoding")))
        try:
            decoder = BodyDecoder(codings, cap)
        except DecodeError as exc:
            raise _Failure(ErrorKind.DECODE_ERROR, str(exc), response=hop) from None
        raw: list[bytes] = []
        decoded: list[bytes] = []
        cut = False
        try:
            async for chunk in response.aiter_raw():
                hop.raw_bytes += len(chunk)
                if hop.raw_bytes > cap:
                    if truncate:
                        cut = True
                        break
                    raise _Failure(
                        ErrorKind.TOO_LARGE,
                        f"body exceeds the cap of {cap} bytes (stopped after {hop.raw_bytes})",
                        response=hop,
                    )
                raw.append(chunk)
                decoded.append(decoder.feed(chunk))
                hop.decoded_bytes = decoder.decoded_bytes
            decoded.append(decoder.finish())
        except DecodedTooLarge as exc:
            hop.decoded_bytes = decoder.decoded_bytes
            if not truncate:
                raise _Failure(ErrorKind.TOO_LARGE, str(exc), response=hop) from None
            cut = True
        except DecodeError as exc:
            raise _Failure(ErrorKind.DECODE_ERROR, str(exc), response=hop) from None
        hop.decoded_bytes = decoder.decoded_bytes
        hop.body = b"".join(decoded)
        if cut:
            hop.body = hop.body[: hop.body.rfind(b"\n") + 1]
        hop.raw_body = b"".join(raw) if codings else hop.body

    # -- robots.txt ------------------------------------------------------------------------------

    async def _check_robots(self, url: str, origin: str, gate: asyncio.Semaphore | None) -> None:
        task = self._robots.get(origin)
        if task is None:
            task = self._robots[origin] = asyncio.ensure_future(self._load_robots(origin, gate))
        robots = await asyncio.shield(task)
        if robots.unavailable is not None:
            raise _Failure(ErrorKind.ROBOTS_UNAVAILABLE, robots.unavailable)
        if robots.rules is not None and not robots.rules.can_fetch(url, self.policy.robots_token):
            raise _Failure(
                ErrorKind.ROBOTS_DISALLOWED, f"robots.txt of {origin} disallows {url[:200]}"
            )

    async def _load_robots(self, origin: str, gate: asyncio.Semaphore | None) -> _Robots:
        """Fetch and parse robots.txt once per origin; decide what its absence means."""
        self.stats.robots_fetched += 1
        result = await self._run(f"{origin}/robots.txt", None, None, gate, robots_file=True)
        status = result.status
        if result.outcome == "ok":
            text = result.body.decode("utf-8", errors="replace").lstrip("\ufeff")
            try:
                rules = Protego.parse(text)
                self._apply_crawl_delay(origin, rules)
            except Exception:  # protego is lenient; anything else reads as "no rules"
                log.warning("unparseable robots.txt at %s; treating it as empty", origin)
                return _Robots(None)
            return _Robots(rules)
        # RFC 9309: 4xx means no rules; 5xx or unreachable means stay away for now.
        if result.error_kind == "http_status" and status and 400 <= status < 500 and status != 429:
            return _Robots(None)
        if result.error_kind == "too_many_redirects":
            return _Robots(None)
        why = f"HTTP {status}" if result.error_kind == "http_status" else result.error_kind
        message = (
            f"robots.txt of {origin} unavailable ({why}: {result.error_message}); host skipped"
        )
        log.info("%s", message)
        return _Robots(None, unavailable=message[:500])

    def _apply_crawl_delay(self, origin: str, rules: Protego) -> None:
        token = self.policy.robots_token
        wanted = rules.crawl_delay(token) or 0.0
        rate = rules.request_rate(token)
        if rate is not None and rate.requests:
            wanted = max(wanted, rate.seconds / rate.requests)
        host = self._host(origin)
        delay = max(self.policy.per_host_delay, min(float(wanted), self.policy.max_crawl_delay))
        # The gap after the robots.txt request itself was set with the old delay.
        host.ready_at += max(0.0, delay - host.delay)
        host.delay = delay


def fetch_one(
    url: str,
    policy: FetchPolicy,
    etag: str | None = None,
    last_modified: str | None = None,
) -> FetchResult:
    """Fetch one URL synchronously (for the CLI `crwatch fetch URL`)."""

    async def run() -> FetchResult:
        async with Fetcher(policy) as fetcher:
            return await fetcher.fetch(url, etag, last_modified)

    return asyncio.run(run())
