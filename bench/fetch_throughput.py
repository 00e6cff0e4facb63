"""Live fetch throughput against local servers: 3 hosts x N pages, polite and at the ceiling.

Run: .venv/bin/python bench/fetch_throughput.py [--pages 100] [--delay 1.0] [--kib 40]

Three HTTP servers on 127.0.0.1 (three ports: politeness is per origin) each serve N article
pages of about `--kib` KiB (gzip-coded, as news sites send them) and a robots.txt. The same
`Fetcher` the live ingest uses fetches all 3 x N pages twice in one run: with the politeness
delay (`--delay`, default the shipped 1 s) and with delay 0 (the ceiling: the client, the
decompression and the loopback network). Prints pages/min, seconds, the minimum gap between two
requests to one host, and the peak memory of the process.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import itertools
import resource
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from extractors.acquire.fetch import Fetcher, FetchPolicy  # noqa: E402

PARAGRAPH = (
    "<p>Officials from both countries met again this week to discuss energy supplies, payments "
    "in national currencies and new cross-border logistics routes, according to people familiar "
    "with the talks, who asked not to be named because the discussions were private.</p>\n"
)


def _page(host: int, number: int, kib: int) -> bytes:
    body = PARAGRAPH * max(1, kib * 1024 // len(PARAGRAPH))
    html = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Story {host}-{number}</title>"
        f"</head><body><article><h1>Story {host}-{number}</h1>{body}</article></body></html>"
    )
    return gzip.compress(html.encode("utf-8"), compresslevel=6)


class _Servers:
    def __init__(self, hosts: int, kib: int) -> None:
        self.requests: dict[int, list[float]] = defaultdict(list)
        self.servers: list[ThreadingHTTPServer] = []
        self.threads: list[threading.Thread] = []
        cache: dict[tuple[int, int], bytes] = {}
        owner = self
        for host in range(hosts):

            class Handler(BaseHTTPRequestHandler):
                index = host

                def log_message(self, *args: object) -> None:
                    pass

                def do_GET(self) -> None:
                    owner.requests[self.index].append(time.monotonic())
                    if self.path == "/robots.txt":
                        body, coding, ctype = b"User-agent: *\nAllow: /\n", None, "text/plain"
                    else:
                        number = int(self.path.rsplit("/", 1)[-1].split(".")[0])
                        key = (self.index, number)
                        if key not in cache:
                            cache[key] = _page(self.index, number, kib)
                        body, coding, ctype = cache[key], "gzip", "text/html; charset=utf-8"
                    self.send_response(200)
                    self.send_header("Content-Type", ctype)
                    if coding:
                        self.send_header("Content-Encoding", coding)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            self.servers.append(server)
            self.threads.append(threading.Thread(target=server.serve_forever, daemon=True))

    def urls(self, pages: int) -> list[str]:
        return [
            f"http://127.0.0.1:{s.server_address[1]}/news/{n}.html"
            for n in range(pages)
            for s in self.servers
        ]

    def __enter__(self) -> _Servers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


async def _fetch_all(urls: Iterable[str], delay: float) -> tuple[int, int, float]:
    policy = FetchPolicy(
        user_agent="crwatch-bench/0.1", contact_url=None, per_host_delay=delay,
        allow_hosts=("127.0.0.1/32",),
    )  # fmt: skip
    ok = failed = 0
    started = time.perf_counter()
    async with Fetcher(policy) as fetcher:
        async for result in fetcher.fetch_many(list(urls)):
            if result.outcome == "ok":
                ok += 1
            else:
                failed += 1
    return ok, failed, time.perf_counter() - started


def _min_gap(stamps: dict[int, list[float]]) -> float:
    gaps = [b - a for times in stamps.values() for a, b in itertools.pairwise(times)]
    return min(gaps) if gaps else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=100, help="pages per host")
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--delay", type=float, default=1.0, help="politeness delay, seconds")
    parser.add_argument("--kib", type=int, default=40, help="page size before gzip")
    args = parser.parse_args(argv)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.hosts} hosts x {args.pages} pages of ~{args.kib} KiB (gzip), one process")
    for label, delay in (("polite", args.delay), ("ceiling", 0.0)):
        with _Servers(args.hosts, args.kib) as servers:
            ok, failed, seconds = asyncio.run(_fetch_all(servers.urls(args.pages), delay))
            gap = _min_gap(servers.requests)
        print(
            f"{label:>8} (delay {delay:g} s): {ok} ok, {failed} failed in {seconds:.1f} s ="
            f" {ok / seconds * 60:,.0f} pages/min; min gap per host {gap:.3f} s"
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MB (before fetching {rss_before:.0f} MB; includes the servers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
