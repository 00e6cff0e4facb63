"""Small HTTP/1.1 servers on loopback that misbehave on purpose, for the fetcher's tests.

A `FaultServer` listens on a loopback address (port chosen by the kernel), runs one thread per
connection and answers each request with the handler routed by path. Handlers write raw bytes,
so they can do what a real server library would refuse: hang, trickle one byte per second,
promise more body than they send, reset the connection, stream 200 MB. The server records every
request (arrival time, path, headers), counts connections and requests in flight, and stops
every thread when the test ends.

    with FaultServer(routes={"/robots.txt": respond(404)}, default=hang()) as server:
        url = server.url("/page")
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

MAX_HEAD = 64 * 1024
IDLE_SECONDS = 10.0  # a keep-alive connection with no request for this long is closed
REASONS = {
    200: "OK", 206: "Partial Content", 301: "Moved Permanently", 302: "Found",
    303: "See Other", 304: "Not Modified", 307: "Temporary Redirect", 308: "Permanent Redirect",
    400: "Bad Request", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
}  # fmt: skip


@dataclass(frozen=True)
class Request:
    """One request as the server read it."""

    method: str
    target: str
    headers: dict[str, str]  # lower-case names
    arrived: float  # time.monotonic()

    @property
    def path(self) -> str:
        """The path without the query."""
        return urlsplit(self.target).path

    def query(self, name: str) -> str | None:
        """First value of a query parameter."""
        values = parse_qs(urlsplit(self.target).query).get(name)
        return values[0] if values else None


@dataclass
class Connection:
    """The server side of one accepted connection, as handlers see it."""

    sock: socket.socket
    stopping: threading.Event
    server: FaultServer
    sent: int = 0

    def send(self, data: bytes) -> None:
        """Send bytes (counted); raises OSError when the client has gone."""
        self.sock.sendall(data)
        self.sent += len(data)
        with self.server.lock:
            self.server.bytes_sent += len(data)

    def wait(self, seconds: float) -> bool:
        """Sleep, waking early when the server stops; True if it is stopping."""
        return self.stopping.wait(seconds)


# A handler answers one request; it returns True to keep the connection open for the next.
Handler = Callable[[Request, Connection], bool]


def _head(status: int, headers: Sequence[tuple[str, str]], reason: str | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason or REASONS.get(status, 'Status')}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def respond(
    status: int = 200,
    body: bytes | str = b"",
    headers: Sequence[tuple[str, str]] = (),
    content_type: str = "text/html; charset=utf-8",
    delay: float = 0.0,
) -> Handler:
    """A complete response with Content-Length (kept alive)."""
    payload = body.encode("utf-8") if isinstance(body, str) else body

    def handler(request: Request, conn: Connection) -> bool:
        if delay:
            conn.wait(delay)
        fields = [("Content-Type", content_type), *headers]
        if status != 304:
            fields.append(("Content-Length", str(len(payload))))
        conn.send(_head(status, fields) + (b"" if status == 304 else payload))
        return True

    return handler


def redirect(location: str, status: int = 302) -> Handler:
    """A redirect to a fixed Location."""
    return respond(status, b"", [("Location", location)])


def redirect_to_query(status: int = 302) -> Handler:
    """A redirect to whatever the `to` query parameter says (for SSRF tests)."""

    def handler(request: Request, conn: Connection) -> bool:
        return redirect(request.query("to") or "/", status)(request, conn)

    return handler


def sequence(*handlers: Handler) -> Handler:
    """The n-th request gets the n-th handler; the last one repeats."""
    lock = threading.Lock()
    calls = [0]

    def handler(request: Request, conn: Connection) -> bool:
        with lock:
            index = min(calls[0], len(handlers) - 1)
            calls[0] += 1
        return handlers[index](request, conn)

    return handler


def hang(seconds: float = 60.0) -> Handler:
    """Read the request, never answer (until the server stops)."""

    def handler(request: Request, conn: Connection) -> bool:
        conn.wait(seconds)
        return False

    return handler


def trickle(headers_too: bool = True, interval: float = 1.0, total: int = 100_000) -> Handler:
    """One byte per `interval`: the whole response, or the body after prompt headers."""

    def handler(request: Request, conn: Connection) -> bool:
        head = _head(200, [("Content-Type", "text/html"), ("Content-Length", str(total))])
        stream = (head if headers_too else b"") + b"x" * total
        if not headers_too:
            conn.send(head)
        for i in range(len(stream)):
            conn.send(stream[i : i + 1])
            if conn.wait(interval):
                break
        return False

    return handler


def short_body(declared: int = 10_000, sent: int = 100, then_hang: bool = False) -> Handler:
    """Promise `declared` bytes, send `sent`, then close (or hang)."""

    def handler(request: Request, conn: Connection) -> bool:
        conn.send(_head(200, [("Content-Type", "text/html"), ("Content-Length", str(declared))]))
        conn.send(b"y" * sent)
        if then_hang:
            conn.wait(60)
        return False

    return handler


def reset() -> Handler:
    """Answer with a TCP reset (SO_LINGER 0, then close)."""

    def handler(request: Request, conn: Connection) -> bool:
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return False

    return handler


def chunked_stream(total: int, chunk: int = 64 * 1024) -> Handler:
    """A chunked body of `total` bytes generated on the fly (never held in memory)."""

    def handler(request: Request, conn: Connection) -> bool:
        conn.send(_head(200, [("Content-Type", "text/html"), ("Transfer-Encoding", "chunked")]))
        block = b"z" * chunk
        frame = f"{chunk:x}\r\n".encode() + block + b"\r\n"
        remaining = total
        while remaining > 0 and not conn.stopping.is_set():
            if remaining < chunk:
                conn.send(f"{remaining:x}\r\n".encode() + block[:remaining] + b"\r\n")
                break
            conn.send(frame)
            remaining -= chunk
        conn.send(b"0\r\n\r\n")
        return True

    return handler


def encoded(body: bytes, content_encoding: str, content_type: str = "text/html") -> Handler:
    """A body already content-coded by the test (bombs, stacked codings)."""
    headers = [("Content-Encoding", content_encoding)]
    return respond(200, body, headers, content_type=content_type)


@dataclass
class FaultServer:
    """A threaded raw-socket HTTP/1.1 server on a loopback address, stopped by the test."""

    routes: Mapping[str, Handler] = field(default_factory=dict)
    default: Handler = field(default_factory=lambda: respond(404, b"not found"))
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[Request] = field(default_factory=list)
    connections: int = 0
    bytes_sent: int = 0
    in_flight: int = 0
    max_in_flight: int = 0

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()
        self._listener: socket.socket | None = None

    def __enter__(self) -> FaultServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Bind, listen and start accepting."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(64)
        listener.settimeout(0.1)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._spawn(self._accept_loop)

    def stop(self) -> None:
        """Stop accepting, close every connection and join every thread."""
        self._stopping.set()
        with self.lock:
            for sock in list(self._open):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def url(self, path: str = "/", host: str | None = None) -> str:
        """Absolute URL of a path on this server."""
        return f"http://{host or self.host}:{self.port}{path}"

    @property
    def origin(self) -> str:
        """scheme://host:port."""
        return f"http://{self.host}:{self.port}"

    def hits(self, path: str | None = None) -> list[Request]:
        """Requests received (for one path, or all)."""
        with self.lock:
            return [r for r in self.requests if path is None or r.path == path]

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self.lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self._open.add(sock)
            self._spawn(self._serve, sock)

    def _serve(self, sock: socket.socket) -> None:
        conn = Connection(sock, self._stopping, self)
        try:
            for request in self._requests(sock):
                with self.lock:
                    self.requests.append(request)
                    self.in_flight += 1
                    self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    handler = self.routes.get(request.path, self.default)
                    sock.settimeout(30)  # handlers block on slow readers, within reason
                    keep = handler(request, conn)
                finally:
                    with self.lock:
                        self.in_flight -= 1
                if not keep or request.headers.get("connection", "").lower() == "close":
                    break
        except OSError:
            pass  # the client went away: that is what many tests are about
        finally:
            with self.lock:
                self._open.discard(sock)
            sock.close()

    def _requests(self, sock: socket.socket) -> Iterator[Request]:
        buffer = b""
        idle_since = time.monotonic()
        while not self._stopping.is_set():
            sock.settimeout(0.2)
            end = buffer.find(b"\r\n\r\n")
            if end >= 0:
                head, buffer = buffer[:end], buffer[end + 4 :]
                yield self._parse(head)
                idle_since = time.monotonic()
                continue
            if len(buffer) > MAX_HEAD or time.monotonic() - idle_since > IDLE_SECONDS:
                return
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                return
            buffer += data

    @staticmethod
    def _parse(head: bytes) -> Request:
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = ([*lines[0].split(" ", 2), "", ""])[:3]
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return Request(method, target, headers, time.monotonic())


def closed_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
