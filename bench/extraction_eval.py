"""Score main-text extraction against the public extraction test sets in ../shared/corpus.

For every set, crwatch's `extract_page` and bare `trafilatura.extract(html)` (library defaults)
run on the same pages in the same process, so the two columns are directly comparable.

Scoring
- Full-text sets (fundus, readability, newspaper): the extracted text and the expected text are
  tokenised (lower-cased NFKC words; every Han/kana character is a token of its own, since CJK has
  no spaces) and cut into overlapping shingles of `SHINGLE_SIZE` tokens. Per page, precision and
  recall are the multiset overlap of shingles; F1 is their harmonic mean. A set's figures are the
  macro average over its pages (mean of per-page P, R and F1). A failure (no text, an
  `ExtractionError`, or an exception) scores P = R = F1 = 0 and is counted in the `fail` column.
- trafilatura set (snippets): a `with` snippet found in the output is a true positive, a missing
  one a false negative, a `without` snippet found is a false positive (whitespace-normalised
  substring test). Counts are summed over the set (micro average, as in trafilatura's own
  evaluation), because a page has only a handful of snippets. A failure counts every `with`
  snippet as missed.

Usage
    python bench/extraction_eval.py                       # all sets, table on stdout
    python bench/extraction_eval.py --limit 40 --sets fundus,readability
    python bench/extraction_eval.py --json bench/out/extraction.json
    python bench/extraction_eval.py --speed               # CCTV pages/s, bare vs crwatch
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from itertools import islice
from pathlib import Path

import lxml.html

# Runnable as a script from anywhere: the repository root must be importable.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from extractors.page.extract import ExtractionLimits, extract_page  # noqa: E402
from extractors.records import ExtractedDoc, Provenance, RawPage  # noqa: E402
from extractors.scripts import HAN, HAN_COMPAT, KANA  # noqa: E402

CORPUS = REPO_ROOT.parent / "shared" / "corpus"
EXTRACTION = CORPUS / "extraction"
CCTV_WARC = CORPUS / "news" / "cctv_zh" / "replay.warc.gz"
CCTV_STORIES = CORPUS / "news" / "cctv_zh" / "stories.jsonl.gz"

FULLTEXT_SETS = ("fundus", "readability", "newspaper")
# cctv: the production replay stream (not a target set, but the one we must not get wrong)
ALL_SETS = (*FULLTEXT_SETS, "trafilatura", "cctv")

# Shingles of 4 tokens reward text in the right order and penalise duplicated or scrambled text;
# single words would give credit to a menu that happens to share the article's vocabulary.
SHINGLE_SIZE = 4

_CJK_CHAR = f"[{KANA}{HAN}{HAN_COMPAT}]"  # Hangul stays out: Korean pages score as words
_TOKEN = re.compile(rf"{_CJK_CHAR}|(?:(?!{_CJK_CHAR})\w)+")
_SPACES = re.compile(r"\s+")
# Readability's expected output is HTML; these tags end a line when it is turned into text.
_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "td", "th"}
    | {"table", "blockquote", "pre", "section", "article", "header", "footer", "figure"}
    | {"figcaption", "dd", "dt", "dl", "hr"}
)


@dataclass(frozen=True, slots=True)
class EvalPage:
    """One test page: its bytes and what a good extractor should return for it."""

    set_name: str
    page_id: str
    url: str
    html: bytes
    expected: str = ""  # full-text sets
    with_snippets: tuple[str, ...] = ()  # trafilatura set
    without_snippets: tuple[str, ...] = ()


@dataclass(slots=True)
class SetScore:
    """Aggregated figures of one extractor on one set."""

    pages: int = 0
    failures: int = 0
    precision: float = 0.0
    recall: float = 0.0
    f1: float = 0.0
    seconds: float = 0.0
    per_page: dict[str, tuple[float, float, float]] = field(default_factory=dict)


Extractor = Callable[[EvalPage], str | None]


# ---------------------------------------------------------------------------- loading


def corpus_available() -> bool:
    """True when the shared extraction corpus is present beside the repository."""
    return EXTRACTION.is_dir()


def _gunzip(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes())


def html_to_text(html: str) -> str:
    """Visible text of an HTML fragment, one line per block element."""
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    for bad in root.xpath(".//script|.//style|.//noscript"):
        bad.drop_tree()
    for elem in root.iter():
        if isinstance(elem.tag, str) and elem.tag.lower() in _BLOCK_TAGS:
            elem.tail = "\n" + (elem.tail or "")
    return str(root.text_content())


def _load_fundus() -> Iterator[EvalPage]:
    base = EXTRACTION / "fundus_testdata"
    with (base / "fundus_index.jsonl").open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    rows = [row for row in rows if (row.get("body_text") or "").strip()]
    for row in rows:
        yield EvalPage(
            "fundus",
            row["html_file"],
            row["url"],
            _gunzip(base / row["html_file"]),
            expected=row["body_text"],
        )


def _load_readability() -> Iterator[EvalPage]:
    base = EXTRACTION / "readability_testpages"
    dirs = sorted(d for d in base.iterdir() if (d / "source.html.gz").is_file())
    for folder in dirs:
        expected = html_to_text(_gunzip(folder / "expected.html.gz").decode("utf-8"))
        if expected.strip():
            yield EvalPage(
                "readability",
                folder.name,
                "http://fakehost/test/page.html",
                _gunzip(folder / "source.html.gz"),
                expected=expected,
            )


def is_curator_note(text: str) -> bool:
    """True for the newspaper 2015 "expected" files that hold a note instead of article text.

    About twenty of them read like "MISSED LAST PARAGRAPH" or "FAILED, ENTIRE ARTICLE LOADED VIA
    JS": short and in capitals. Real text, even a short one, is mostly lower case.
    """
    cased = [c for c in text if c.isalpha() and c.isupper() != c.islower()]
    upper = sum(1 for c in cased if c.isupper())
    return len(text.strip()) < 300 and bool(cased) and upper > 0.5 * len(cased)


def _newspaper_pairs() -> list[tuple[str, Path, Path]]:
    pairs = []
    for sub, text_dir in (("newspaper_fulltext_2015", "text"), ("newspaper4k_multilingual", "txt")):
        base = EXTRACTION / sub
        for html_path in sorted((base / "html").glob("*.html.gz")):
            stem = html_path.name.removesuffix(".html.gz")
            text_path = base / text_dir / f"{stem}.txt"
            if text_path.is_file():  # a few pages (redirect stubs, RSS) have no expected text
                pairs.append((f"{sub}/{stem}", html_path, text_path))
    return pairs


def _load_newspaper() -> Iterator[EvalPage]:
    for page_id, html_path, text_path in _newspaper_pairs():
        expected = text_path.read_text(encoding="utf-8", errors="replace")
        if expected.strip() and not is_curator_note(expected):
            stem = page_id.rsplit("/", 1)[1]
            # The sets carry no URLs; a neutral placeholder keeps URL-based heuristics out of it.
            yield EvalPage(
                "newspaper",
                page_id,
                f"http://example.org/{stem}",
                _gunzip(html_path),
                expected=expected,
            )


def _load_trafilatura() -> Iterator[EvalPage]:
    base = EXTRACTION / "trafilatura_eval"
    data = json.loads((base / "evaldata.json").read_text(encoding="utf-8"))
    for url, item in sorted(data.items()):
        yield EvalPage(
            "trafilatura",
            item["file"],
            url,
            _gunzip(base / "html" / f"{item['file']}.gz"),
            with_snippets=tuple(item.get("with") or ()),
            without_snippets=tuple(item.get("without") or ()),
        )


_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)


def _load_cctv() -> Iterator[EvalPage]:
    expected: dict[str, str] = {}
    with gzip.open(CCTV_STORIES, "rt", encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            if str(row.get("html_staged")) == "True":
                # markdown with <!--repaste...--> markers around the body; the markers are not text
                expected[row["url"]] = _HTML_COMMENT.sub("", row["text"])
    for url, body in cctv_pages(None):
        if url in expected and expected[url].strip():
            yield EvalPage("cctv", url.rsplit("/", 1)[-1], url, body, expected=expected[url])


LOADERS: dict[str, Callable[[], Iterator[EvalPage]]] = {
    "fundus": _load_fundus,
    "readability": _load_readability,
    "newspaper": _load_newspaper,
    "trafilatura": _load_trafilatura,
    "cctv": _load_cctv,
}


def load_set(name: str, limit: int | None = None) -> list[EvalPage]:
    """Pages of one set in a fixed order (the first `limit` usable ones if given)."""
    return list(islice(LOADERS[name](), limit))


# ---------------------------------------------------------------------------- scoring


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens; each Han or kana character is a token."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).lower())


def shingles(text: str, size: int = SHINGLE_SIZE) -> Counter[tuple[str, ...]]:
    """Multiset of overlapping token n-grams (the whole text if it is shorter than n)."""
    toks = tokens(text)
    if len(toks) <= size:
        return Counter([tuple(toks)]) if toks else Counter()
    return Counter(tuple(toks[i : i + size]) for i in range(len(toks) - size + 1))


def score_text(predicted: str | None, expected: str) -> tuple[float, float, float]:
    """(precision, recall, F1) of predicted against expected text; a failure scores zeros."""
    gold = shingles(expected)
    pred = shingles(predicted or "")
    if not gold or not pred:
        return 0.0, 0.0, 0.0
    overlap = sum((gold & pred).values())
    precision = overlap / sum(pred.values())
    recall = overlap / sum(gold.values())
    f1 = 2 * precision * recall / (precision + recall) if overlap else 0.0
    return precision, recall, f1


def snippet_counts(predicted: str | None, page: EvalPage) -> tuple[int, int, int]:
    """(true positives, false negatives, false positives) of the snippet test on one page."""
    if not predicted:
        return 0, len(page.with_snippets), 0
    text = _SPACES.sub(" ", predicted)
    found = sum(1 for s in page.with_snippets if _SPACES.sub(" ", s).strip() in text)
    unwanted = sum(1 for s in page.without_snippets if _SPACES.sub(" ", s).strip() in text)
    return found, len(page.with_snippets) - found, unwanted


# ---------------------------------------------------------------------------- extractors


def run_bare(page: EvalPage) -> str | None:
    """Bare trafilatura with its defaults, as a baseline."""
    import trafilatura

    result: str | None = trafilatura.extract(page.html)
    return result


_LIMITS = ExtractionLimits()


def run_crwatch(page: EvalPage) -> str | None:
    """crwatch's extractor on the same bytes (no HTTP charset: the sets carry no headers)."""
    raw = RawPage(
        url=page.url,
        body=page.html,
        provenance=Provenance(source=f"bench:{page.set_name}", origin="warc", locator=page.page_id),
        content_type="text/html",
    )
    result = extract_page(raw, _LIMITS)
    return result.text if isinstance(result, ExtractedDoc) else None


EXTRACTORS: dict[str, Extractor] = {"bare": run_bare, "crwatch": run_crwatch}


def _safe(extractor: Extractor, page: EvalPage) -> str | None:
    try:
        return extractor(page)
    except Exception as err:  # a crash is a failure of the extractor, not of the benchmark
        print(f"  ! {page.set_name}/{page.page_id}: {type(err).__name__}: {err}", file=sys.stderr)
        return None


def evaluate(pages: list[EvalPage], extractor: Extractor) -> SetScore:
    """Run one extractor over one set's pages and aggregate the scores."""
    score = SetScore(pages=len(pages))
    if not pages:
        return score
    tp = fn = fp = 0
    for page in pages:
        start = time.process_time()
        text = _safe(extractor, page)
        score.seconds += time.process_time() - start
        if not (text or "").strip():
            score.failures += 1
        if page.set_name == "trafilatura":
            p_tp, p_fn, p_fp = snippet_counts(text, page)
            tp, fn, fp = tp + p_tp, fn + p_fn, fp + p_fp
            score.per_page[page.page_id] = (float(p_tp), float(p_fn), float(p_fp))
        else:
            score.per_page[page.page_id] = score_text(text, page.expected)
    if pages[0].set_name == "trafilatura":
        score.precision = tp / (tp + fp) if tp + fp else 0.0
        score.recall = tp / (tp + fn) if tp + fn else 0.0
    else:
        n = len(score.per_page)
        score.precision = sum(v[0] for v in score.per_page.values()) / n
        score.recall = sum(v[1] for v in score.per_page.values()) / n
        score.f1 = sum(v[2] for v in score.per_page.values()) / n
    if pages[0].set_name == "trafilatura" and score.precision + score.recall:
        score.f1 = 2 * score.precision * score.recall / (score.precision + score.recall)
    return score


def run_quality(sets: list[str], limit: int | None) -> dict[str, dict[str, SetScore]]:
    """Score every extractor on every requested set."""
    results: dict[str, dict[str, SetScore]] = {}
    for name in sets:
        pages = load_set(name, limit)
        results[name] = {label: evaluate(pages, fn) for label, fn in EXTRACTORS.items()}
    return results


def format_table(results: dict[str, dict[str, SetScore]]) -> str:
    """Markdown table: per set, bare trafilatura vs crwatch."""
    lines = [
        "| set | pages | bare P | bare R | bare F1 | bare fail "
        "| crwatch P | crwatch R | crwatch F1 | crwatch fail | ΔF1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, by_extractor in results.items():
        bare, ours = by_extractor["bare"], by_extractor["crwatch"]
        lines.append(
            f"| {name} | {bare.pages} | {bare.precision:.3f} | {bare.recall:.3f} | {bare.f1:.3f} "
            f"| {bare.failures} | {ours.precision:.3f} | {ours.recall:.3f} | {ours.f1:.3f} "
            f"| {ours.failures} | {ours.f1 - bare.f1:+.3f} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------- speed


def cctv_pages(count: int | None) -> list[tuple[str, bytes]]:
    """(url, body) of the first `count` (or all) response records of the CCTV replay WARC."""
    from warcio.archiveiterator import ArchiveIterator

    pages: list[tuple[str, bytes]] = []
    with CCTV_WARC.open("rb") as stream:
        for record in ArchiveIterator(stream):
            if record.rec_type != "response":
                continue
            url = record.rec_headers.get_header("WARC-Target-URI") or ""
            pages.append((url, record.content_stream().read()))
            if count is not None and len(pages) >= count:
                break
    return pages


def _bare_body(body: bytes) -> bool:
    import trafilatura

    return trafilatura.extract(body) is not None


def _crwatch_body(item: tuple[str, bytes]) -> bool:
    url, body = item
    page = RawPage(url, body, Provenance("bench:cctv", "warc", url), content_type="text/html")
    return isinstance(extract_page(page, _LIMITS), ExtractedDoc)


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def run_speed(count: int, workers: int) -> dict[str, float]:
    """Pages/s of bare extract (1 core) vs extract_page (1 core, and `workers` processes).

    The single-core loops are interleaved page by page, so both extractors see the same machine
    load; CPU seconds (process time) give the cost ratio, wall seconds the pages/s.
    """
    pages = cctv_pages(count)
    for i in range(3):  # warm-up: imports, stoplists and the language model load once
        _bare_body(pages[i][1])
        _crwatch_body(pages[i])
    n = len(pages)
    bare_wall = bare_cpu = ours_wall = ours_cpu = 0.0
    for item in pages:
        wall, cpu = _timed(partial(_bare_body, item[1]))
        bare_wall, bare_cpu = bare_wall + wall, bare_cpu + cpu
        wall, cpu = _timed(partial(_crwatch_body, item))
        ours_wall, ours_cpu = ours_wall + wall, ours_cpu + cpu
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(_crwatch_body, pages[: 4 * workers]))  # warm every worker up
        start = time.perf_counter()
        list(pool.map(_crwatch_body, pages, chunksize=8))
        pool_wall = time.perf_counter() - start
    return {
        "pages": float(n),
        "bare_1core_pages_per_s": n / bare_wall,
        "crwatch_1core_pages_per_s": n / ours_wall,
        f"crwatch_{workers}proc_pages_per_s": n / pool_wall,
        "bare_cpu_ms_per_page": 1000 * bare_cpu / n,
        "crwatch_cpu_ms_per_page": 1000 * ours_cpu / n,
        "cpu_cost_ratio": ours_cpu / bare_cpu,
        "pool_speedup_vs_bare_1core": bare_wall / pool_wall,
    }


# ---------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--limit", type=int, default=None, help="first N pages of each set")
    parser.add_argument("--sets", default=",".join(ALL_SETS), help="comma-separated set names")
    parser.add_argument("--json", type=Path, default=None, help="write scores (and per page)")
    parser.add_argument("--speed", action="store_true", help="time CCTV pages instead of scoring")
    parser.add_argument("--speed-pages", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    if not corpus_available():
        print(f"corpus not found at {CORPUS}; nothing to do", file=sys.stderr)
        return 2
    if args.speed:
        timings = run_speed(args.speed_pages, args.workers)
        for key, value in timings.items():
            print(f"{key:>30}: {value:.3f}")
        output: dict[str, object] = {"speed": timings}
    else:
        sets = [s.strip() for s in args.sets.split(",") if s.strip()]
        unknown = set(sets) - set(ALL_SETS)
        if unknown:
            parser.error(f"unknown sets: {sorted(unknown)}")
        results = run_quality(sets, args.limit)
        print(format_table(results))
        print(
            "\nFull-text sets: macro mean over pages of shingle P/R/F1 "
            f"(n={SHINGLE_SIZE}); trafilatura: micro snippet P/R/F1. Failures score 0."
        )
        output = {
            name: {label: asdict(score) for label, score in by.items()}
            for name, by in results.items()
        }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(output, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
