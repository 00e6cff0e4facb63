"""Undo HTTP Content-Encoding ourselves, with a hard cap on what comes out.

httpx decodes gzip/deflate/brotli without any output limit: an 841-byte brotli body becomes
512 MiB in one chunk. The fetcher therefore reads raw bytes and passes them through
`BodyDecoder`, which asks zlib for at most `step` bytes per call (`max_length`, with the rest of
the input kept in `unconsumed_tail`) and brotli for at most `step` per call
(`output_buffer_limit`), so memory stays near the cap however small the compressed input.

Stacked codings (`Content-Encoding: gzip, br` means gzip was applied first) are undone in
reverse order, each stage streaming into the next in `step`-sized pieces. Like browsers and
httpx, a stream that simply stops early is accepted (the raw bytes are archived anyway); corrupt
data and codings we never asked for are errors.

`gunzip` is the one-shot form for whole files (gzip sitemaps and feeds): the same bounded
stages, but a body cut short is an error, since nothing else of it will be kept.

Exceptions (`extractors.errors`): `DecodeError` (corrupt or unsupported coding; terminal) and
`DecodedTooLarge`.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence

import brotli

from extractors.errors import DecodedTooLarge as DecodedTooLarge  # defined in the tree
from extractors.errors import DecodeError as DecodeError  # kept importable from here

STEP = 64 * 1024  # bytes asked of a decompressor per call
MAX_STACKED = 4  # more codings than this is not a real server
_GZIP_MAGIC = b"\x1f\x8b"


def parse_content_encoding(header: str | None) -> list[str]:
    """Codings in the order they were applied, lower-case, without `identity`."""
    if not header:
        return []
    codings = [token.strip().lower() for token in header.split(",")]
    return [c for c in codings if c and c != "identity"]


class _Stage:
    def feed(self, data: bytes) -> Iterator[bytes]:
        raise NotImplementedError

    def finish(self) -> Iterator[bytes]:
        raise NotImplementedError

    _step: int
    _base_step: int

    @property
    def complete(self) -> bool:
        """Whether the coded stream ended (False for a stream cut short)."""
        raise NotImplementedError

    def limit(self, remaining: int) -> None:
        """Ask the decompressor for at most `remaining` bytes per call (never above its step)."""
        self._step = max(1, min(self._base_step, remaining))


class _ZlibStage(_Stage):
    """gzip (several members allowed) or deflate (zlib-wrapped or raw, told apart by header)."""

    def __init__(self, coding: str, step: int) -> None:
        self._gzip = coding in {"gzip", "x-gzip"}
        self._step = self._base_step = step
        self._inflater: zlib._Decompress | None = None
        self._head = b""  # bytes held until the wrapper is known (deflate) or a member starts
        self._done = False  # end of the last member seen; anything after it is ignored
        if self._gzip:
            self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)

    @property
    def complete(self) -> bool:
        """The last member (gzip) or the stream (deflate) ended; trailing bytes do not count."""
        return self._done or self._inflater is None

    def _start(self) -> bool:
        """Pick the wrapper once two bytes are known; False while still waiting."""
        if len(self._head) < 2:
            return False
        if self._gzip:
            if self._head[:2] != _GZIP_MAGIC:  # trailing bytes after the last member
                self._done = True
                return False
            self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            return True
        cmf, flg = self._head[0], self._head[1]
        zlib_wrapped = cmf & 0x0F == 8 and (cmf << 8 | flg) % 31 == 0
        self._inflater = zlib.decompressobj(zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS)
        return True

    def feed(self, data: bytes) -> Iterator[bytes]:
        pending = data
        while not self._done:
            if self._inflater is None:
                self._head += pending
                pending = b""
                if not self._start():
                    return
                pending, self._head = self._head, b""
            inflater = self._inflater
            assert inflater is not None
            try:
                out = inflater.decompress(pending, self._step)
            except zlib.error as exc:
                raise DecodeError(f"corrupt compressed body: {exc}") from exc
            if out:
                yield out
            if inflater.eof:
                pending, self._inflater = inflater.unused_data, None
                if not self._gzip:
                    self._done = True
                continue
            pending = inflater.unconsumed_tail
            # A full `step` may leave output inside zlib even with no input left.
            if not pending and len(out) < self._step:
                return

    def finish(self) -> Iterator[bytes]:
        # Never `flush()`: it has no output limit. Drain with empty input instead.
        yield from self.feed(b"")


class _BrotliStage(_Stage):
    def __init__(self, step: int) -> None:
        self._step = self._base_step = step
        self._decoder = brotli.Decompressor()

    @property
    def complete(self) -> bool:
        """The brotli stream reached its end."""
        return bool(self._decoder.is_finished())

    def _process(self, data: bytes) -> bytes:
        try:
            out = self._decoder.process(data, output_buffer_limit=self._step)
        except brotli.error as exc:
            raise DecodeError(f"corrupt brotli body: {exc}") from exc
        return bytes(out)

    def _drain(self, out: bytes) -> Iterator[bytes]:
        # A call that filled its output limit may leave more output inside the decoder (even
        # when `can_accept_more_data()` is already true): ask with empty input until a call
        # comes back short.
        while out:
            yield out
            if self._decoder.is_finished():
                return
            if len(out) < self._step and self._decoder.can_accept_more_data():
                return
            out = self._process(b"")
        if not self._decoder.can_accept_more_data():
            raise DecodeError("brotli decoder made no progress")

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._decoder.is_finished():
            return  # trailing bytes after the end of the stream are ignored
        yield from self._drain(self._process(data))

    def finish(self) -> Iterator[bytes]:
        yield from self.feed(b"")


class BodyDecoder:
    """Streaming decoder for a Content-Encoding list with a cap on every stage's output."""

    def __init__(self, codings: Sequence[str], max_output: int, step: int = STEP) -> None:
        if len(codings) > MAX_STACKED:
            raise DecodeError(f"{len(codings)} stacked content codings: {', '.join(codings)}")
        stages: list[_Stage] = []
        for coding in reversed(codings):  # the last coding applied is undone first
            if coding in {"gzip", "x-gzip", "deflate"}:
                stages.append(_ZlibStage(coding, step))
            elif coding == "br":
                stages.append(_BrotliStage(step))
            else:
                raise DecodeError(f"unsupported content coding {coding!r}")
        self._stages = stages
        self._max_output = max_output
        self._produced = [0] * len(stages)
        self.decoded_bytes = 0  # bytes out of the last stage so far

    def _push(self, index: int, chunks: Iterator[bytes], out: list[bytes]) -> None:
        stage = self._stages[index]
        while True:
            # One byte past the cap is enough to know the cap is exceeded: the decoder never
            # produces more than that, so "decoded bytes" stays within cap + 1.
            stage.limit(self._max_output - self._produced[index] + 1)
            chunk = next(chunks, None)
            if chunk is None:
                return
            self._produced[index] += len(chunk)
            if self._produced[index] > self._max_output:
                if index == len(self._stages) - 1:
                    self.decoded_bytes += len(chunk)
                raise DecodedTooLarge(
                    f"decoding would exceed {self._max_output} bytes "
                    f"(stage {index + 1} of {len(self._stages)})"
                )
            if index + 1 < len(self._stages):
                self._push(index + 1, self._stages[index + 1].feed(chunk), out)
            else:
                self.decoded_bytes += len(chunk)
                out.append(chunk)

    def feed(self, data: bytes) -> bytes:
        """Decode the next raw bytes; raises DecodedTooLarge or DecodeError."""
        if not self._stages:
            self.decoded_bytes += len(data)
            if self.decoded_bytes > self._max_output:
                raise DecodedTooLarge(f"body exceeds {self._max_output} bytes")
            return data
        out: list[bytes] = []
        self._push(0, self._stages[0].feed(data), out)
        return b"".join(out)

    def finish(self) -> bytes:
        """Drain every stage at the end of the body."""
        out: list[bytes] = []
        for index, stage in enumerate(self._stages):
            self._push(index, stage.finish(), out)
        return b"".join(out)

    @property
    def complete(self) -> bool:
        """Whether every coded stream ended (call after `finish`; False for a cut-short body)."""
        return all(stage.complete for stage in self._stages)


def gunzip(data: bytes, max_bytes: int) -> bytes:
    """Decompress a whole gzip file (one or more members), refusing output beyond `max_bytes`.

    DecodeError when the data is corrupt or ends inside a member; DecodedTooLarge past the cap.
    Bytes after the last member that do not start another one are ignored, as gzip(1) does.
    """
    decoder = BodyDecoder(["gzip"], max_bytes)
    try:
        out = decoder.feed(data) + decoder.finish()
    except DecodedTooLarge:
        raise DecodedTooLarge(
            f"gzip body expands beyond {max_bytes} bytes (compressed {len(data)} bytes); "
            "refused as a possible decompression bomb"
        ) from None
    except DecodeError as exc:
        raise DecodeError(f"corrupt gzip data: {exc.__cause__ or exc}") from None
    if not decoder.complete:
        raise DecodeError("truncated gzip data")
    return out
