"""Refuse URLs and addresses a crawler must never reach: other schemes and non-public networks.

Feed links and redirects come from strangers. Without a guard, `http://2130706433/` (127.0.0.1
written as a number), `http://[::ffff:10.0.0.1]/` or a hostname resolving to 169.254.169.254
would make the crawler fetch internal services and cloud credentials on an attacker's behalf.

Two layers, both driven by one `Allowlist`:

- `check_url` (sync, no DNS): only http and https; hosts written as IP literals in any form the
  system resolver accepts (dotted, decimal, hex, octal, short `127.1`, IPv6, IPv4-mapped IPv6)
  and `localhost` names are refused unless allowed.
- `resolve_checked` (async): resolves a hostname and refuses it if ANY address is non-public.
  `GuardedBackend` calls it inside the connection pool, for every new connection, and connects
  only to the addresses it has just checked. A name that resolves to a public address when the
  URL is checked and to a private one a moment later (DNS rebinding) is refused at connect time:
  there is no second, unchecked lookup. TLS still verifies the certificate against the hostname
  in the URL, because the pool (not this backend) starts TLS with the original server name.

Exceptions: `BlockedAddressError` (refused; permanent). DNS failures are `socket.gaierror`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import typing
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore
import httpx

from extractors.errors import BlockedAddressError as BlockedAddressError  # defined in the tree
from extractors.errors import ErrorKind

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# host, port -> addresses as strings (as getaddrinfo returns them)
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

ALLOWED_SCHEMES = frozenset({"http", "https"})
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT; not flagged private
_METADATA = ipaddress.ip_address("169.254.169.254")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# Forms inet_aton (and so getaddrinfo) reads as IPv4: 1 to 4 parts of decimal, 0x-hex or 0-octal.
_INET_ATON = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.I)


@dataclass(frozen=True)
class Allowlist:
    """Hostnames and CIDR ranges exempt from the private-address rule (tests, intranets)."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowlist:
        """Split entries into CIDRs/addresses (`127.0.0.2/32`, `10.1.2.3`) and hostnames."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in entries:
            text = entry.strip()
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                hosts.add(normalize_host(text))
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        """Is this hostname exempt as a name?"""
        return normalize_host(host) in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        """Is this address inside an allowed range (IPv4-mapped IPv6 counts as its IPv4)?"""
        candidates: list[IPAddress] = [address]
        embedded = embedded_ipv4(address)
        if embedded is not None:
            candidates.append(embedded)
        return any(
            a in net for a in candidates for net in self.networks if a.version == net.version
        )


def normalize_host(host: str) -> str:
    """Lower-case, without IPv6 brackets or the trailing root dot."""
    return host.strip().strip("[]").rstrip(".").lower()


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, 6to4, NAT64), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    teredo = address.teredo
    return teredo[1] if teredo is not None else None


def non_public_reason(address: IPAddress) -> str | None:
    """Why an address is not a public unicast address, or None if it is public."""
    embedded = embedded_ipv4(address)
    if embedded is not None:
        reason = non_public_reason(embedded)
        if reason is not None:
            return f"embeds {embedded} ({reason})"
    if address == _METADATA:
        return "cloud metadata"
    checks = (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("shared (100.64/10)", address in _SHARED),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("site-local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
        ("not global", not address.is_global),
    )
    for reason, hit in checks:
        if hit:
            return reason
    return None


def _inet_aton_part(part: str) -> int:
    if part[:2] == "0x":
        return int(part, 16)
    if len(part) > 1 and part[0] == "0":
        return int(part, 8)
    return int(part)


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a host written as an IP literal denotes, in any form the resolver accepts."""
    text = normalize_host(host)
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if not _INET_ATON.match(text):
        return None
    parts = text.rstrip(".").split(".")
    try:
        numbers = [_inet_aton_part(p) for p in parts]
    except ValueError:  # "0x" alone, or 8/9 in an octal part: the resolver refuses these too
        return None
    # inet_aton: a.b.c.d, a.b.(16 bits), a.(24 bits), (32 bits)
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = last
    for i, n in enumerate(head):
        value |= n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def check_address(address: IPAddress, allow: Allowlist) -> str | None:
    """Refusal message for a resolved address, or None if it may be contacted."""
    reason = non_public_reason(address)
    if reason is None or allow.allows_address(address):
        return None
    return f"{address} is {reason}"


def _split_host(url: str) -> tuple[str, str, bool] | None:
    """(scheme, host, httpx accepts the URL); urllib's reading when httpx refuses it."""
    try:
        parsed = httpx.URL(url)
        return parsed.scheme, parsed.host, True
    except (httpx.InvalidURL, TypeError):
        pass
    try:
        parts = urlsplit(url)
        return parts.scheme.lower(), parts.hostname or "", False
    except ValueError:
        return None


def check_url(url: str, allow_hosts: Sequence[str] | Allowlist = ()) -> ErrorKind | None:
    """Error kind for a URL that must not be fetched (scheme, literal non-public IP), else None.

    No DNS here: hostnames are checked when they are resolved (`resolve_checked`).
    """
    allow = allow_hosts if isinstance(allow_hosts, Allowlist) else Allowlist.parse(allow_hosts)
    split = _split_host(url)
    if split is None:
        return ErrorKind.INVALID_URL
    scheme, host, valid = split
    if scheme not in ALLOWED_SCHEMES:
        return ErrorKind.BLOCKED_SCHEME
    if not host:
        return ErrorKind.INVALID_URL
    if not allow.allows_host(host):
        address = parse_ip_literal(host)
        if address is not None and check_address(address, allow):
            return ErrorKind.BLOCKED_PRIVATE
        name = normalize_host(host)
        if name == "localhost" or name.endswith(".localhost"):
            return ErrorKind.BLOCKED_PRIVATE
    return None if valid else ErrorKind.INVALID_URL


def url_refusal(url: str, allow: Allowlist) -> BlockedAddressError | None:
    """`check_url` as an exception with a message, for callers that report why."""
    kind = check_url(url, allow)
    if kind is None:
        return None
    if kind == ErrorKind.BLOCKED_SCHEME:
        return BlockedAddressError(kind, f"only http and https are fetched: {url[:200]!r}")
    if kind == ErrorKind.INVALID_URL:
        return BlockedAddressError(kind, f"not a valid URL: {url[:200]!r}")
    return BlockedAddressError(kind, f"non-public or local host refused: {url[:200]!r}")


async def system_resolver(host: str, port: int) -> list[str]:
    """Addresses for a host from the system resolver (getaddrinfo, run in a thread)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in found:
            found.append(address)
    return found


async def resolve_checked(host: str, port: int, allow: Allowlist, resolver: Resolver) -> list[str]:
    """Resolve a host and return its addresses, refusing it if ANY of them is non-public.

    Raises BlockedAddressError when refused and socket.gaierror when the name does not resolve.
    """
    if allow.allows_host(host):
        return list(await resolver(normalize_host(host), port))
    literal = parse_ip_literal(host)
    if literal is not None:
        reason = check_address(literal, allow)
        if reason:
            raise BlockedAddressError(ErrorKind.BLOCKED_PRIVATE, f"{host}: {reason}")
        return [str(literal)]
    name = normalize_host(host)
    if name == "localhost" or name.endswith(".localhost"):
        raise BlockedAddressError(ErrorKind.BLOCKED_PRIVATE, f"{host}: loopback name")
    addresses = list(await resolver(host, port))
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, f"{host} has no addresses")
    for text in addresses:
        try:
            address = ipaddress.ip_address(text)
        except ValueError as exc:  # the resolver returned something that is not an address
            raise BlockedAddressError(
                ErrorKind.BLOCKED_PRIVATE, f"{host}: bad address {text!r}"
            ) from exc
        reason = check_address(address, allow)
        if reason:
            raise BlockedAddressError(ErrorKind.BLOCKED_PRIVATE, f"{host} resolves to {reason}")
    return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore network backend that connects only to addresses checked just before."""

    def __init__(
        self,
        allow: Allowlist,
        resolver: Resolver = system_resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._allow = allow
        self._resolver = resolver
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve, check every address, then connect to the first checked address that answers."""
        try:
            addresses = await resolve_checked(host, port, self._allow, self._resolver)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"DNS lookup failed for {host}: {exc}") from exc
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options,
                )  # fmt: skip
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Never: a crawler has no business with local sockets."""
        raise BlockedAddressError(ErrorKind.BLOCKED_PRIVATE, "unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        """Delegate to the wrapped backend."""
        await self._inner.sleep(seconds)


# Most specific first: the first match wins.
_HTTPCORE_TO_HTTPX: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
)


def _as_httpx_error(exc: Exception) -> Exception:
    for source, target in _HTTPCORE_TO_HTTPX:
        if isinstance(exc, source):
            mapped = target(str(exc))
            mapped.__cause__ = exc
            return mapped
    return exc


class _GuardedStream(httpx.AsyncByteStream):
    def __init__(self, stream: typing.AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> typing.AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except Exception as exc:
            mapped = _as_httpx_error(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            await close()


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore pool whose every connection goes through the guard.

    No proxies (a proxy would resolve names itself, out of our sight), HTTP/1.1 only, TLS
    verification always on.
    """

    def __init__(
        self,
        allow: Allowlist,
        resolver: Resolver = system_resolver,
        max_connections: int = 64,
        keepalive_expiry: float = 5.0,
    ) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=keepalive_expiry,
            http1=True,
            http2=False,
            retries=0,
            network_backend=GuardedBackend(allow, resolver),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request through the guarded pool."""
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            response = await self._pool.handle_async_request(core_request)
        except Exception as exc:
            mapped = _as_httpx_error(exc)
            if mapped is exc:
                raise
            raise mapped from exc
        assert isinstance(response.stream, typing.AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_GuardedStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._pool.aclose()
