"""Near-duplicate detection: MinHash signatures over script-aware shingles, banded LSH, guards.

    text ─► tokenize ─► shingles ─► Signature(minhash, numbers, tokens, cjk)   stored per doc
                                        │
    NearDupIndex.match ─► LSH candidates (25 bands × 5 rows) ─► a near-duplicate when all hold:
      · estimated Jaccard (share of equal MinHash values) >= 0.6, or >= 0.78 for CJK texts;
      · short texts (< 25 tokens: headlines, one-line posts): exact copies only;
      · number guard: not a template look-alike (both texts have numbers the other lacks, and
        those are more than a fifth of all their numbers: daily reports, market figures);
      · day window: when both publication days are known, at most 7 days apart (2 for short
        texts): recurring announcements and headlines reuse last year's words.

Tokens: NFKC, case-folded, ё -> е, a comma between digits read as a point; each CJK character
(Han, kana, hangul) is one token; other letters and digits form word tokens, and a token of
digits only (or a decimal) is a number. Shingles: a text whose tokens are at least a third CJK
gives character bigrams; any other text gives character 5-grams of its tokens joined by single
spaces (they survive typos and inflection: with 3% character typos word 3-grams found 1–7% of
the copies, these 96–99%). Parameters were chosen with bench/dedup_eval.py.

Signatures are 128 32-bit MinHash values (rensa RMinHash, fixed seed): the same text gives the
same bytes in any process, so they are stored once and the index is rebuilt from storage with
`NearDupIndex.from_rows`. Suggested DuckDB columns: `minhash BLOB` (512 bytes, 128 × uint32
little-endian; `Signature.minhash_values()` suits a `UINTEGER[128]` column instead),
`numbers UINTEGER[]` (<= 32 values), `tokens INTEGER`, `cjk BOOLEAN`, `day DATE` (publication
date, else first seen) and `SIGNATURE_VERSION`, so rows made under other parameters are
recomputed rather than compared. The index is in memory (~2 KB per document) and not
thread-safe.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import rensa

from extractors.scripts import CJK, HAN_SUPPLEMENT, HANGUL_JAMO

NUM_PERM = 128
SEED = 20241101  # part of the stored format, like everything in SIGNATURE_VERSION
CJK_SHINGLE = 2  # tokens (= characters) per shingle for CJK texts
CHAR_SHINGLE = 5  # characters per shingle for other texts
NUMBER_SKETCH = 32  # numbers fingerprint: the smallest 32 hashes of "number#occurrence"
# Bump the leading "neardup1" whenever tokenization changes the stored values.
SIGNATURE_VERSION = (
    f"neardup1-rensa-rminhash{rensa.RMinHash.ALGORITHM_VERSION}-p{NUM_PERM}-s{SEED}"
    f"-cjk{CJK_SHINGLE}-chr{CHAR_SHINGLE}-num{NUMBER_SKETCH}"
)

_CJK = HANGUL_JAMO + CJK + HAN_SUPPLEMENT  # see extractors.scripts
# Decimals; runs of letters and digits (g20, 4k, r1cus in a URL are words, not numbers); CJK.
_TOKEN = re.compile(rf"\d+(?:\.\d+)+(?![^\W_{_CJK}])|[^\W_{_CJK}]+|[{_CJK}]")
_NUMBER = re.compile(r"\d+(?:\.\d+)*")
_CJK_CHAR = re.compile(f"[{_CJK}]")
_DECIMAL_COMMA = re.compile(r"(?<=\d),(?=\d)")  # 1,184 / 3,5 -> 1.184 / 3.5 (en and ru styles)
_CJK_MODE_SHARE = 1 / 3
_NO_DAY = np.iinfo(np.int32).min
_U32 = np.dtype("<u4")


@dataclass(frozen=True, slots=True)
class Tokens:
    """A text reduced to tokens, with what the shingler and the number guard need."""

    words: list[str]
    cjk: int  # how many tokens are CJK characters
    numbers: list[str]  # the numeric tokens, in order


def tokenize(text: str) -> Tokens:
    """Split normalised text into CJK-character, word and number tokens."""
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    folded = _DECIMAL_COMMA.sub(".", text.casefold().replace("ё", "е"))
    words: list[str] = _TOKEN.findall(folded)
    numbers = [w for w in words if w[0].isdigit() and _NUMBER.fullmatch(w)]
    cjk = len(_CJK_CHAR.findall(folded)) if folded and max(folded) >= "\u1100" else 0
    return Tokens(words, cjk, numbers)


def _is_cjk(tokens: Tokens) -> bool:
    return tokens.cjk > 0 and tokens.cjk >= _CJK_MODE_SHARE * len(tokens.words)


def _shingles(tokens: Tokens) -> list[str]:
    words = tokens.words
    if not words:
        return []
    if _is_cjk(tokens):
        k = CJK_SHINGLE
        if len(words) <= k:
            return [" ".join(words)]
        return [" ".join(words[i : i + k]) for i in range(len(words) - k + 1)]
    joined = " ".join(words)
    k = CHAR_SHINGLE
    if len(joined) <= k:
        return [joined]
    return [joined[i : i + k] for i in range(len(joined) - k + 1)]


def shingles(text: str) -> list[str]:
    """Shingles of `text`: token bigrams for CJK texts, else character 5-grams of the tokens."""
    return _shingles(tokenize(text))


def number_fingerprint(numbers: Iterable[str]) -> tuple[int, ...]:
    """Sorted bottom-k sketch of the numbers as a multiset (CRC-32 of "number#occurrence").

    A multiset, so that "3月4日下午3时 … 4K" is not taken for a part of "3月10日 … 4K": with
    plain sets every number of the first text appears in the second.
    """
    seen: Counter[str] = Counter()
    hashes = set()
    for number in numbers:
        hashes.add(zlib.crc32(f"{number}#{seen[number]}".encode("ascii", "replace")))
        seen[number] += 1
    return tuple(sorted(hashes)[:NUMBER_SKETCH])


def numbers_compatible(a: Sequence[int], b: Sequence[int], max_changed: float = 0.2) -> bool:
    """False for a template look-alike: each text has numbers the other lacks, and those
    exchanged numbers are more than `max_changed` of all numbers of the two.

    Numbers only added or removed (one multiset inside the other) pass: a copy with an extra
    paragraph or dateline. With full sketches only values up to the smaller maximum are
    compared, which keeps the share unbiased for long lists of numbers.
    """
    if not a or not b:
        return True
    limit = min(
        a[-1] if len(a) >= NUMBER_SKETCH else 0xFFFFFFFF,
        b[-1] if len(b) >= NUMBER_SKETCH else 0xFFFFFFFF,
    )
    set_a = {v for v in a if v <= limit}
    set_b = {v for v in b if v <= limit}
    changed = min(len(set_a - set_b), len(set_b - set_a))
    return changed == 0 or changed / len(set_a | set_b) <= max_changed


def _minhash_bytes(value: bytes | bytearray | memoryview | Sequence[int]) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
    else:
        raw = np.asarray(value, dtype=_U32).tobytes()
    if len(raw) != 4 * NUM_PERM:
        raise ValueError(f"a minhash is {NUM_PERM} uint32 values ({4 * NUM_PERM} bytes), "
                         f"got {len(raw)} bytes")  # fmt: skip
    return raw


@dataclass(frozen=True, slots=True)
class Signature:
    """What is stored per document: MinHash bytes, numbers fingerprint, token count, script."""

    minhash: bytes  # NUM_PERM uint32 values, little-endian (512 bytes)
    numbers: tuple[int, ...] = ()  # number_fingerprint: sorted, at most NUMBER_SKETCH values
    tokens: int = 0  # below NearDupConfig.short_tokens only exact copies count
    cjk: bool = False  # shingled as CJK: decides which similarity threshold applies

    def __post_init__(self) -> None:
        _minhash_bytes(self.minhash)

    @classmethod
    def from_stored(
        cls,
        minhash: bytes | bytearray | memoryview | Sequence[int],
        numbers: Sequence[int] = (),
        tokens: int = 0,
        cjk: bool = False,
    ) -> Signature:
        """Rebuild from stored columns (minhash as BLOB bytes or a list of NUM_PERM ints)."""
        numbers = tuple(sorted(int(n) for n in numbers))
        return cls(_minhash_bytes(minhash), numbers, int(tokens), bool(cjk))

    def minhash_values(self) -> list[int]:
        """The MinHash values as ints (for a `UINTEGER[128]` column)."""
        return [int(v) for v in np.frombuffer(self.minhash, dtype=_U32)]

    def jaccard(self, other: Signature) -> float:
        """Estimated Jaccard similarity of the two shingle sets (share of equal values)."""
        a = np.frombuffer(self.minhash, dtype=_U32)
        b = np.frombuffer(other.minhash, dtype=_U32)
        return float(np.count_nonzero(a == b)) / NUM_PERM

    def row(self, doc_id: str, day: date | None = None) -> SignatureRow:
        """This signature as a storable row."""
        return SignatureRow(doc_id, self.minhash, self.numbers, self.tokens, self.cjk, day)


class SignatureRow(NamedTuple):
    """One persisted signature, as `NearDupIndex.from_rows` reads it back."""

    doc_id: str
    minhash: bytes | bytearray | memoryview | Sequence[int]
    numbers: Sequence[int]
    tokens: int
    cjk: bool = False
    day: date | None = None


def signature(text: str) -> Signature:
    """Signature of one text (stable across processes and restarts)."""
    return signatures([text])[0]


def signatures(texts: Sequence[str]) -> list[Signature]:
    """Signatures of many texts in one rensa call (the same values as one by one)."""
    tokenized = [tokenize(t) for t in texts]
    sets = [_shingles(t) for t in tokenized]
    non_empty = [s for s in sets if s]
    rows: list[list[int]] = []
    if non_empty:
        rows = rensa.RMinHash.digest_matrix_from_token_sets(non_empty, NUM_PERM, SEED).to_rows()
    empty = np.full(NUM_PERM, 0xFFFFFFFF, dtype=_U32).tobytes()  # what rensa gives for no input
    values = iter(rows)
    out = []
    for toks, sh in zip(tokenized, sets, strict=True):
        minhash = np.asarray(next(values), dtype=_U32).tobytes() if sh else empty
        numbers = number_fingerprint(toks.numbers)
        out.append(Signature(minhash, numbers, len(toks.words), _is_cjk(toks)))
    return out


@dataclass(frozen=True, slots=True)
class NearDupConfig:
    """Index parameters (signatures do not depend on them, so they can change freely)."""

    bands: int = 25
    rows: int = 5  # bands * rows <= NUM_PERM; the LSH uses the first bands * rows values
    threshold: float = 0.6  # estimated Jaccard that makes two texts near-duplicates
    cjk_threshold: float = 0.78  # CJK bigrams: formulaic stories of other events reach ~0.75
    number_max_changed: float = 0.2  # see numbers_compatible
    short_tokens: int = 25  # below this many tokens (either text) only exact copies count
    window_days: int | None = 7  # None: no limit
    short_window_days: int | None = 2  # identical headlines a week apart are other stories

    def __post_init__(self) -> None:
        if self.bands < 1 or self.rows < 1 or self.bands * self.rows > NUM_PERM:
            raise ValueError(f"need 1 <= bands * rows <= {NUM_PERM}")


DEFAULT_CONFIG = NearDupConfig()


class NearDupMatch(NamedTuple):
    """A verified near-duplicate (doc id and estimated Jaccard), or (None, 0.0)."""

    doc_id: str | None
    similarity: float


NO_MATCH = NearDupMatch(None, 0.0)


class _LshObjects:
    """Builds the rensa RMinHash objects that RMinHashLSH takes, from stored values.

    rensa has no constructor from values, but unpickles an RMinHash from a postcard header
    followed by its values as LEB128 varints; the header is taken from a fresh object and the
    round trip is checked at once. The LSH only compares bands for equality, so it is given
    the top 13 bits of each value (+128: always two varint bytes), which is fast to encode;
    random band collisions stay below 2^-65 and candidates are verified on all 32 bits.
    """

    def __init__(self, num_perm: int) -> None:
        self.num_perm = num_perm
        fresh: bytes = rensa.RMinHash(num_perm, SEED).__getstate__()
        empty_tail = b"\xff\xff\xff\xff\x0f" * num_perm
        if not fresh.endswith(empty_tail):
            raise RuntimeError("unknown rensa RMinHash state format: pin rensa==0.5.0")
        self.prefix = fresh[: -len(empty_tail)]
        probe = np.resize(np.array([0, 1, 2**19, 2**25, 2**31, 2**32 - 1], _U32), num_perm)
        expected = ((probe >> 19) + 128).tolist()
        if self.build(probe.reshape(1, num_perm))[0].digest() != expected:
            raise RuntimeError("rensa RMinHash state round trip failed: pin rensa==0.5.0")

    def build(self, values: npt.NDArray[np.uint32]) -> list[Any]:
        """One RMinHash per row of a (n, >= num_perm) uint32 matrix (its first columns)."""
        top = (values[:, : self.num_perm] >> 19) + 128  # 128 ..< 8320
        varints = np.empty((*top.shape, 2), dtype=np.uint8)
        varints[..., 0] = (top & 0x7F) | 0x80
        varints[..., 1] = top >> 7
        flat = varints.tobytes()
        size = 2 * self.num_perm
        objects = []
        for start in range(0, len(flat), size):
            obj = rensa.RMinHash.__new__(rensa.RMinHash, self.num_perm, SEED)
            obj.__setstate__(self.prefix + flat[start : start + size])
            objects.append(obj)
        return objects


@dataclass(eq=False)
class NearDupIndex:
    """Signatures of the documents seen so far: "is this a near-duplicate of one of them?".

    Incremental: `add` documents one at a time, or rebuild from stored rows with `from_rows`.
    `match` never adds; add every document you keep (near-duplicates too, so that a copy of a
    copy still finds its group). Adding a known doc_id again replaces its signature.
    """

    config: NearDupConfig = DEFAULT_CONFIG
    _ids: list[str] = field(default_factory=list, init=False, repr=False)
    _keys: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _numbers: list[tuple[int, ...]] = field(default_factory=list, init=False, repr=False)
    _minhash: npt.NDArray[np.uint32] = field(init=False, repr=False)
    _tokens: npt.NDArray[np.int32] = field(init=False, repr=False)
    _cjk: npt.NDArray[np.bool_] = field(init=False, repr=False)
    _days: npt.NDArray[np.int32] = field(init=False, repr=False)
    _lsh: Any = field(init=False, repr=False)
    _objects: _LshObjects = field(init=False, repr=False)
    _last: tuple[bytes, Any] = field(default=(b"", None), init=False, repr=False)

    def __post_init__(self) -> None:
        band_perm = self.config.bands * self.config.rows
        self._objects = _LshObjects(band_perm)
        self._lsh = rensa.RMinHashLSH(self.config.threshold, band_perm, self.config.bands)
        self._minhash = np.empty((1024, NUM_PERM), dtype=np.uint32)
        self._tokens = np.empty(1024, dtype=np.int32)
        self._cjk = np.empty(1024, dtype=np.bool_)
        self._days = np.empty(1024, dtype=np.int32)

    @classmethod
    def from_rows(
        cls, rows: Iterable[SignatureRow], config: NearDupConfig = DEFAULT_CONFIG
    ) -> NearDupIndex:
        """An index holding stored rows (doc_id, minhash, numbers, tokens, cjk, day)."""
        index = cls(config)
        index.add_many(rows)
        return index

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._keys

    def add(self, doc_id: str, sig: Signature, day: date | None = None) -> None:
        """Remember one document; `day` is its publication day (else first seen), if known."""
        self.add_many([sig.row(doc_id, day)])

    def add_many(self, rows: Iterable[SignatureRow]) -> None:
        """Remember many documents (~10–15 µs each: 100k rebuild in ~1–1.5 s on this machine)."""
        batch: list[SignatureRow] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= 8192:
                self._add_batch(batch)
                batch = []
        if batch:
            self._add_batch(batch)

    def _add_batch(self, rows: list[SignatureRow]) -> None:
        values = np.frombuffer(b"".join(_minhash_bytes(r.minhash) for r in rows), dtype=_U32)
        values = values.reshape(len(rows), NUM_PERM)
        keys: list[int] = []
        for row in rows:
            key = self._keys.setdefault(row.doc_id, len(self._ids))
            if key == len(self._ids):
                self._ids.append(row.doc_id)
                self._numbers.append(())
            self._numbers[key] = tuple(sorted(int(n) for n in row.numbers))
            keys.append(key)
        if len(self._ids) > len(self._tokens):
            size = max(len(self._ids), 2 * len(self._tokens))
            self._minhash = np.resize(self._minhash, (size, NUM_PERM))
            self._tokens = np.resize(self._tokens, size)
            self._cjk = np.resize(self._cjk, size)
            self._days = np.resize(self._days, size)
        index = np.asarray(keys, dtype=np.int64)
        self._minhash[index] = values
        self._tokens[index] = [r.tokens for r in rows]
        self._cjk[index] = [bool(r.cjk) for r in rows]
        self._days[index] = [_NO_DAY if r.day is None else r.day.toordinal() for r in rows]
        if len(rows) == 1:
            objects = [self._lsh_object(values.tobytes())]
        else:
            objects = self._objects.build(values)
        self._lsh.insert_pairs(list(zip(keys, objects, strict=True)))

    def _lsh_object(self, minhash: bytes) -> Any:
        # match() then add() of the same document build the same object: keep the last one.
        if self._last[0] != minhash:
            values = np.frombuffer(minhash, dtype=_U32).reshape(1, NUM_PERM)
            self._last = (minhash, self._objects.build(values)[0])
        return self._last[1]

    def _lsh_query(self, minhash: bytes) -> list[int]:
        found: list[int] = self._lsh.query(self._lsh_object(minhash))
        return found

    def candidates(self, sig: Signature) -> list[str]:
        """Raw LSH candidates (unverified), for diagnostics."""
        return [self._ids[k] for k in self._lsh_query(sig.minhash)]

    def query(
        self, sig: Signature, day: date | None = None, exclude: str | None = None
    ) -> list[NearDupMatch]:
        """Every verified near-duplicate of `sig`, best first (ties: earliest added first)."""
        if sig.tokens == 0 or not self._ids:
            return []
        cfg = self.config
        values = np.frombuffer(sig.minhash, dtype=_U32)
        keys = np.asarray(self._lsh_query(sig.minhash), dtype=np.int64)
        if exclude is not None and exclude in self._keys:
            keys = keys[keys != self._keys[exclude]]
        if not len(keys):
            return []
        equal = np.count_nonzero(self._minhash[keys] == values, axis=1)
        sims = equal / NUM_PERM
        tokens = self._tokens[keys]
        short = (tokens < cfg.short_tokens) | (sig.tokens < cfg.short_tokens)
        exact = (equal == NUM_PERM) & (tokens == sig.tokens)
        threshold = np.where(self._cjk[keys] | sig.cjk, cfg.cjk_threshold, cfg.threshold)
        ok = np.where(short, exact, sims >= threshold)
        if day is not None:
            days = self._days[keys]
            gap = np.abs(days.astype(np.int64) - day.toordinal())
            for is_short, window in ((True, cfg.short_window_days), (False, cfg.window_days)):
                if window is not None:
                    ok &= (days == _NO_DAY) | (short != is_short) | (gap <= window)
        found = []
        for i in np.flatnonzero(ok):
            key = int(keys[i])
            if numbers_compatible(sig.numbers, self._numbers[key], cfg.number_max_changed):
                found.append((-float(sims[i]), key))
        found.sort()
        return [NearDupMatch(self._ids[key], -neg) for neg, key in found]

    def match(self, doc_id: str, sig: Signature, day: date | None = None) -> NearDupMatch:
        """Best verified near-duplicate of document `doc_id` among the others, or NO_MATCH."""
        found = self.query(sig, day, exclude=doc_id)
        return found[0] if found else NO_MATCH

    def explain(self, sig: Signature, other_id: str, day: date | None = None) -> tuple[bool, str]:
        """Whether stored `other_id` is a near-duplicate of `sig`, and why (for audits)."""
        key = self._keys.get(other_id)
        if key is None:
            return False, f"{other_id} is not indexed"
        if sig.tokens == 0:
            return False, "no tokens in the text"
        cfg = self.config
        values = np.frombuffer(sig.minhash, dtype=_U32)
        equal = int(np.count_nonzero(self._minhash[key] == values))
        sim = equal / NUM_PERM
        tokens = int(self._tokens[key])
        short = min(tokens, sig.tokens) < cfg.short_tokens
        threshold = cfg.cjk_threshold if sig.cjk or self._cjk[key] else cfg.threshold
        stored_day = int(self._days[key])
        gap = None if day is None or stored_day == _NO_DAY else abs(stored_day - day.toordinal())
        window = cfg.short_window_days if short else cfg.window_days
        if key not in self._lsh_query(sig.minhash):
            return False, f"not an LSH candidate (similarity {sim:.2f})"
        if short and not (equal == NUM_PERM and tokens == sig.tokens):
            return False, f"short text ({min(tokens, sig.tokens)} tokens), not an exact copy"
        if not short and sim < threshold:
            return False, f"similarity {sim:.2f} below {threshold}"
        if gap is not None and window is not None and gap > window:
            return False, f"published {gap} days apart (window {window})"
        if not numbers_compatible(sig.numbers, self._numbers[key], cfg.number_max_changed):
            return False, f"numbers changed (similarity {sim:.2f}): a template look-alike"
        return True, f"near-duplicate (similarity {sim:.2f})"
