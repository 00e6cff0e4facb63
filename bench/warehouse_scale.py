"""Warehouse at scale: generate N realistic documents, then time the views, the saved queries
and full-text search against a bare scan.

    .venv/bin/python bench/warehouse_scale.py --docs 50000
    .venv/bin/python bench/warehouse_scale.py            # 1,000,000 documents (~10+ GB temp)
    .venv/bin/python bench/warehouse_scale.py --no-search --keep --db /tmp/w.duckdb
    .venv/bin/python bench/warehouse_scale.py --existing --db /tmp/w.duckdb   # time it again
    .venv/bin/python bench/warehouse_scale.py --lake /tmp/lake                # on a DuckLake

With --lake FOLDER the generated file is moved into a new lake there (`copy_to_lake`, the code
behind `crwatch migrate --to-lake`, counts checked) and everything is timed on the lake.

Texts are recombined from real sentences (../shared/corpus/news: CCTV stories in Chinese,
Russian Telegram posts, English headlines), ~2–3 KB each, generated inside DuckDB from a small
sentence pool (hash-indexed picks), so a million documents take minutes, not hours. Dates span
four years; ~30% of documents belong to multi-report stories; every document has a
classification (levels/topics/stance) and a few entity mentions, and one `fetches` row.

Each query in warehouse/queries/*.sql (if the folder exists; `-- param: name TYPE = default`
headers give the bound defaults) and the views stories, relevant_stories, reports_by_day are
timed (median of 3) as a ratio to `SELECT lang, count(*) FROM documents GROUP BY lang`.

Search (unless --no-search): the tantivy index is built from scratch by `refresh_index` in a
child process, whose peak RSS (`getrusage(RUSAGE_CHILDREN).ru_maxrss`, which also counts the
index files it maps) is reported; then the SEARCHES (zh, ru, en, mixed) are timed one by one
(median), a run's worth of new documents (2,000, each with a marker word) and 500 changed
texts are written and the incremental refresh that makes them searchable is timed, and the
searches are timed again.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from warehouse.db import Warehouse  # noqa: E402
from warehouse.facts import rebuild_facts, refresh_facts  # noqa: E402
from warehouse.queries import bind, list_queries  # noqa: E402
from warehouse.search import index_dir_for, refresh_index, search  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus" / "news"
CHUNK = 100_000
TOPICS = ["energy", "trade", "security", "diplomacy", "finance", "technology", "culture", "arctic"]
ENTITIES = ["xi_jinping", "putin", "lavrov", "wang_yi", "sco", "brics", "moscow", "beijing",
            "gazprom", "cnpc", "power_of_siberia_2", "belt_and_road"]  # fmt: skip
SEARCHES = ["Putin", "Путин", "普京", "energy trade", "Пекин", "北京", "pipeline", "China Russia",
            "习近平", "санкции", "Putin 普京 Путин", "中俄 energy", "全面战略协作伙伴关系",
            "Россия Китай газ"]  # fmt: skip
MARKER = f"zzfresh{int(time.time())}"  # a word only this run's new documents carry


def _sentences(text: str, lang: str) -> list[str]:
    text = re.sub(r"<!--.*?-->|\*\*|https?://\S+", " ", text)
    parts = re.split(r"(?<=[。！？])" if lang == "zh" else r"(?<=[.!?])\s+", text)
    return [" ".join(p.split()) for p in parts if 15 <= len(p.strip()) <= 400]


def load_pool(per_lang: int = 4000) -> dict[str, tuple[list[str], list[str]]]:
    """(sentences, titles) per language from the shared corpus."""
    pool: dict[str, tuple[list[str], list[str]]] = {"zh": ([], []), "ru": ([], []), "en": ([], [])}
    with gzip.open(CORPUS / "cctv_zh" / "stories.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            pool["zh"][1].append(row.get("title") or "")
            pool["zh"][0].extend(_sentences(row.get("text") or "", "zh"))
            if len(pool["zh"][0]) >= per_lang and len(pool["zh"][1]) >= per_lang // 4:
                break
    with gzip.open(CORPUS / "ru_telegram" / "posts.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            sents = _sentences(json.loads(line).get("text") or "", "ru")
            if sents:
                pool["ru"][1].append(sents[0][:90])
                pool["ru"][0].extend(sents)
            if len(pool["ru"][0]) >= per_lang:
                break
    with gzip.open(CORPUS / "en_headlines" / "headlines.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            title = (json.loads(line).get("title") or "").strip()
            if len(title) > 20:
                pool["en"][1].append(title)
                pool["en"][0].append(title.rstrip(".") + ".")
            if len(pool["en"][0]) >= per_lang:
                break
    return {k: ([s for s in v[0] if s][:per_lang], [t for t in v[1] if t]) for k, v in pool.items()}


def generate(path: Path, docs: int) -> float:
    """Create a migrated warehouse at `path` with `docs` documents; return seconds taken."""
    started = time.perf_counter()
    Warehouse(path).migrate()
    pool = load_pool()
    con = duckdb.connect(str(path))
    con.execute(f"SET threads TO {os.cpu_count() or 1}")
    con.execute(
        "CREATE TEMP TABLE pools AS SELECT * FROM (VALUES "
        "(0, 'en', $en_s, $en_t), (1, 'ru', $ru_s, $ru_t), (2, 'zh', $zh_s, $zh_t)) "
        "p(k, lang, sents, titles)",
        {f"{lang}_{x}": pool[lang][i] for lang in pool for i, x in enumerate("st")},
    )
    # Sentences per text so that texts average ~2.5 KB (UTF-8 bytes) in every language.
    con.execute(
        "CREATE TEMP TABLE pools2 AS SELECT *, greatest(3, round(2500 / "
        "(SELECT avg(strlen(s)) FROM unnest(sents) u(s)))::INTEGER) AS per_text FROM pools"
    )
    con.execute("CREATE TEMP MACRO pick(h, n) AS (1 + (h % n))::BIGINT")
    # Four years up to today, so the queries' default windows (this week, 28 days) have data.
    start = "(date_trunc('day', now()) - INTERVAL 1460 DAY)"
    for lo in range(0, docs, CHUNK):
        hi = min(docs, lo + CHUNK)
        con.execute("BEGIN")
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE gen AS
            SELECT i, 'd' || i AS doc_id, p.lang,
                   p.titles[pick(hash(i, 't'), len(p.titles))] AS title,
                   list_transform(range(p.per_text - 2 + (hash(i, 'n') % 5)::INTEGER),
                       x -> p.sents[pick(hash(i, x), len(p.sents))]) AS parts,
                   {start} + to_seconds((hash(i, 'd') % (4 * 365 * 86400))::BIGINT) AS published_at,
                   CASE WHEN hash(i, 's') % 10 < 3 THEN 'd' || (i - i % 4) ELSE 'd' || i END
                       AS story_id,
                   hash(i, 'c') % 100 AS c
            FROM range({lo}, {hi}) t(i) JOIN pools2 p ON p.k = i % 3
            """
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE gen AS SELECT * EXCLUDE (parts), CASE WHEN lang = 'zh' "
            "THEN array_to_string(parts, '') ELSE array_to_string(parts, ' ') END AS text FROM gen"
        )
        con.execute(
            """
            INSERT INTO documents (doc_id, canonical_url, url, source, origin, title, text,
                text_chars, lang, lang_confidence, published_at, date_source, sitename,
                first_seen_at, content_hash, extractor_version, story_id, run_id)
            SELECT doc_id, 'https://site' || (i % 40) || '.example/' || doc_id,
                   'https://site' || (i % 40) || '.example/' || doc_id, 'bench',
                   'warc', title, text, length(text), lang, 0.99, published_at, 'page',
                   'site' || (i % 40), published_at + INTERVAL 2 HOUR, md5(text), 'bench-1',
                   story_id, 'bench'
            FROM gen
            """
        )
        con.execute(
            """
            INSERT INTO classifications (doc_id, classifier_version, relevance_level,
                relevance_score, topics, stance, stance_score, evidence, classified_at,
                stance_evidence)
            SELECT doc_id, 'bench-1',
                   CASE WHEN c < 5 THEN 'core' WHEN c < 15 THEN 'related'
                        WHEN c < 35 THEN 'passing' ELSE 'none' END,
                   (100 - c) / 100.0,
                   CASE WHEN c < 35 THEN [$topics[pick(hash(i, 'a'), 8)],
                                          $topics[pick(hash(i, 'b'), 8)]] ELSE [] END,
                   ['positive', 'neutral', 'negative', 'mixed'][pick(hash(i, 'st'), 4)],
                   (hash(i, 'ss') % 200) / 100.0 - 1,
                   [left(text, 120)], published_at + INTERVAL 3 HOUR, [left(text, 80)]
            FROM gen
            """,
            {"topics": TOPICS},
        )
        con.execute(
            """
            INSERT INTO document_entities (doc_id, classifier_version, entity_id, kind, mentions)
            SELECT DISTINCT ON (doc_id, e)
                   doc_id, 'bench-1', e, 'person', (1 + hash(i, e) % 5)::INTEGER
            FROM (SELECT doc_id, i, $ents[pick(hash(i, x), len($ents))] AS e
                  FROM gen, range((hash(i, 'e') % 4)::INTEGER) r(x))
            """,
            {"ents": ENTITIES},
        )
        con.execute(
            """
            INSERT INTO fetches (fetch_id, run_id, source, origin, locator, url, http_status,
                bytes, outcome, doc_id, fetched_at, recorded_at)
            SELECT 'f' || i, 'bench', 'bench', 'warc', 'bench:' || i, 'u' || i, 200,
                   strlen(text) * 3, 'new', doc_id, published_at, published_at FROM gen
            """
        )
        con.execute("COMMIT")
        print(f"  generated {hi:,} / {docs:,} documents ({time.perf_counter() - started:.0f} s)",
              flush=True)  # fmt: skip
    con.execute("DROP TABLE IF EXISTS gen")
    # The rows above bypassed the write path, so derive the facts as migration 005 does.
    facts = rebuild_facts(con)
    print(f"  facts rebuilt: {facts['documents']:,.0f} documents, {facts['stories']:,.0f} stories"
          f" in {facts['seconds']:.1f} s", flush=True)  # fmt: skip
    con.execute("CHECKPOINT")
    con.close()
    return time.perf_counter() - started


def _open(path: Path, lake: Path | None, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A connection to the DuckDB file, or a cursor of the lake (as crwatch's readers use)."""
    if lake is None:
        return duckdb.connect(str(path), read_only=read_only)
    return Warehouse(lake)._open(read_only=read_only)


def time_refresh(
    path: Path, docs: int, batch: int = 500, lake: Path | None = None
) -> tuple[float, float]:
    """Seconds to refresh the facts of one ingest batch: newest documents, then random ones.

    A live batch holds recent documents (a few days and weeks to recompute); a replay of old
    archives can hold documents from all four years (every week's distinct counts recomputed).
    """
    con = _open(path, lake, read_only=False)
    con.execute("SET threads TO 1")  # as the ingest writer does
    recent = [
        str(row[0])
        for row in con.execute(
            "SELECT doc_id FROM document_facts ORDER BY day DESC LIMIT ?", [batch]
        ).fetchall()
    ]
    spread = [f"d{i}" for i in range(max(0, docs - batch), docs)]
    medians = []
    for ids in (recent, spread):
        times = []
        for _ in range(3):
            con.execute("BEGIN")
            started = time.perf_counter()
            refresh_facts(con, ids)
            times.append(time.perf_counter() - started)
            con.execute("ROLLBACK")
        medians.append(statistics.median(times))
    con.close()
    return medians[0], medians[1]


def _time(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object] | None = None, n: int = 3
) -> tuple[float, int]:
    times: list[float] = []
    rows = 0
    for _ in range(n):
        started = time.perf_counter()
        # Arrow, as analysts' tools read results; Python tuples would time the conversion.
        rows = con.execute(sql, params or {}).to_arrow_table().num_rows
        times.append(time.perf_counter() - started)
    return statistics.median(times), rows


def _search_latency(wh: Warehouse, show: bool = False) -> tuple[float, int]:
    """Median seconds of the SEARCHES queries (20 results each), and the hits they found."""
    latencies = []
    hits = 0
    for text in SEARCHES:
        started = time.perf_counter()
        found = len(search(wh, text, limit=20)[1])
        latencies.append(time.perf_counter() - started)
        hits += found
        if show:
            print(f"    search {text!r}: {latencies[-1]:.3f} s, {found} rows", flush=True)
    return statistics.median(latencies), hits


BUILD_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from warehouse.db import Warehouse
from warehouse.search import refresh_index
stats = refresh_index(Warehouse(Path(sys.argv[2])), full=True)
print(json.dumps(stats))
"""


def _build_index(path: Path) -> tuple[dict[str, object], float]:
    """Build the search index in a child process: (its stats, its peak RSS in GB)."""
    done = subprocess.run(
        [sys.executable, "-c", BUILD_SCRIPT, str(REPO), str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    last = [line for line in done.stdout.splitlines() if line.startswith("{")][-1]
    return json.loads(last), peak_kb / 1e6


def _folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


class _Results(list[tuple[str, float, float, int, str]]):
    """Rows of the report, each printed as soon as it is measured."""

    def append(self, row: tuple[str, float, float, int, str]) -> None:
        super().append(row)
        name, seconds, ratio, rows, note = row
        print(f"{name:<38} {seconds:>9.3f} {ratio:>8.1f} {rows:>9,}  {note}", flush=True)


def run(
    docs: int,
    path: Path,
    keep: bool,
    skip_search: bool,
    existing: bool = False,
    reuse_index: bool = False,
    search_only: bool = False,
    lake: Path | None = None,
) -> None:
    if existing:
        with duckdb.connect(str(path), read_only=True) as con:
            row = con.execute("SELECT count(*) FROM documents").fetchone()
        docs = int(row[0]) if row else 0
        print(f"using {path}: {docs:,} documents")
    else:
        print(f"generating {docs:,} documents into {path}")
        gen_seconds = generate(path, docs)
        print(f"generated in {gen_seconds:.1f} s")
    size_mb = path.stat().st_size / 1e6
    print(f"\n{docs:,} documents, file {size_mb:,.0f} MB\n")
    if lake is not None:
        from warehouse.lake import copy_to_lake
        from warehouse.maintenance import folder_size, live_files

        started = time.perf_counter()
        copies = copy_to_lake(path, Warehouse(lake))
        print(f"copied into the lake {lake} in {time.perf_counter() - started:.1f} s:"
              f" {len(copies)} tables, counts equal; {folder_size(lake) / 1e6:,.0f} MB,"
              f" {live_files(Warehouse(lake))} files\n")  # fmt: skip
    print(f"{'what':<38} {'seconds':>9} {'x scan':>8} {'rows':>9}  note", flush=True)
    con = _open(path, lake, read_only=True)
    base, _ = _time(con, "SELECT lang, count(*) FROM documents GROUP BY lang")
    results = _Results()
    results.append(("baseline: lang count scan", base, 1.0, 3, ""))
    if search_only:
        con.close()
    else:
        _time_queries(path, docs, con, base, results, lake)
    if not skip_search:
        _time_search(lake or path, docs, base, results, reuse_index)
    print(f"file {path.stat().st_size / 1e6:,.0f} MB at the end")
    if not keep:
        path.unlink(missing_ok=True)
        Path(str(path) + ".wal").unlink(missing_ok=True)
        shutil.rmtree(index_dir_for(Warehouse(path)), ignore_errors=True)


def _time_queries(
    path: Path,
    docs: int,
    con: duckdb.DuckDBPyConnection,
    base: float,
    results: _Results,
    lake: Path | None = None,
) -> None:
    """The facts refresh per batch, the story views and the named queries."""
    con.close()
    refresh = time_refresh(path, docs, lake=lake)
    con = _open(path, lake, read_only=True)
    results.append(("facts refresh, 500 newest docs", refresh[0], refresh[0] / base, 500,
                    "writer, per live batch"))  # fmt: skip
    results.append(("facts refresh, 500 docs over 4 years", refresh[1], refresh[1] / base, 500,
                    "writer, per replay batch"))  # fmt: skip
    for view in ["stories", "relevant_stories", "reports_by_day"]:
        seconds, rows = _time(con, f"SELECT * FROM {view}")
        results.append((f"view {view}", seconds, seconds / base, rows, ""))
    # The named queries with their declared defaults, bound exactly as `crwatch query` binds them.
    for named in list_queries():
        try:
            seconds, rows = _time(con, named.sql, bind(named, {}))
            results.append((f"query {named.name}", seconds, seconds / base, rows, ""))
        except duckdb.Error as exc:
            results.append((f"query {named.name}", float("nan"), float("nan"), 0,
                            str(exc).splitlines()[0][:60]))  # fmt: skip
    con.close()


def _time_search(path: Path, docs: int, base: float, results: _Results, reuse: bool) -> None:
    """Build the search index (child process), time searches and a run's incremental update."""
    wh = Warehouse(path)
    if reuse and (index_dir_for(wh) / "CURRENT").is_file():
        print(f"reusing the search index in {index_dir_for(wh)}")
    else:
        stats, peak_gb = _build_index(path)
        seconds = float(stats["seconds"])  # type: ignore[arg-type]
        size = _folder_mb(index_dir_for(wh))
        results.append(("search index build (child process)", seconds, seconds / base, docs,
                        f"peak RSS {peak_gb:.2f} GB, index {size:,.0f} MB"))  # fmt: skip
    med, hits = _search_latency(wh, show=True)
    results.append((f"search (median of {len(SEARCHES)})", med, med / base, hits, ""))
    # A run's worth of new documents (0.2%, at most 2,000), stored as an ingest stores
    # them (first_seen_at = now, appended); then a run re-crawling 500 old documents
    # (last_changed_at = now, texts changed in place all over the table).
    extra = min(2000, max(1, docs // 500))
    with wh.writer() as wcon:
        wcon.execute(
            f"INSERT INTO documents SELECT * REPLACE ('{MARKER}' || doc_id AS doc_id,"
            f" '{MARKER}' || canonical_url AS canonical_url,"
            f" '{MARKER}' || content_hash AS content_hash, title || ' {MARKER}' AS title,"
            " now() AS first_seen_at)"
            f" FROM documents WHERE doc_id LIKE 'd%' USING SAMPLE {extra} ROWS"
        )
    started = time.perf_counter()
    stats = refresh_index(wh)
    found = len(search(wh, MARKER, limit=10_000)[1])
    seconds = time.perf_counter() - started
    note = f"+{stats['added']:,}, refresh {stats['seconds']:.2f} s; {found:,} found"
    results.append(("run adding documents: searchable after", seconds, seconds / base,
                    extra, note))  # fmt: skip
    changed = min(500, extra)
    with wh.writer() as wcon:
        wcon.execute(
            f"UPDATE documents SET text = text || ' {MARKER}x', last_changed_at = now(),"
            " content_hash = 'c' || content_hash WHERE doc_id IN"
            f" (SELECT doc_id FROM documents WHERE doc_id LIKE 'd%' USING SAMPLE"
            f" {changed} ROWS)"
        )
    started = time.perf_counter()
    stats = refresh_index(wh)
    found = len(search(wh, f"{MARKER}x", limit=10_000)[1])
    seconds = time.perf_counter() - started
    note = f"~{stats['replaced']:,} replaced, refresh {stats['seconds']:.2f} s; {found:,} found"
    results.append(("run re-crawling old documents", seconds, seconds / base, changed, note))
    med, hits = _search_latency(wh)
    results.append(("search after the run (median)", med, med / base, hits, ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, help="DuckDB file to create (default: a temp file)")
    parser.add_argument("--keep", action="store_true", help="keep the generated file")
    parser.add_argument(
        "--no-search", "--no-fts", action="store_true", help="skip the search index and searches"
    )
    parser.add_argument(
        "--existing", action="store_true", help="time an existing --db made with --keep"
    )
    parser.add_argument(
        "--reuse-index",
        action="store_true",
        help="with --existing: keep the search index already built (time searches and a run)",
    )
    parser.add_argument(
        "--search-only", action="store_true", help="skip the facts refresh, views and queries"
    )
    parser.add_argument("--lake", type=Path, help="copy into a new lake here and time that")
    args = parser.parse_args()
    if args.lake is not None and args.lake.exists():
        sys.exit(f"{args.lake} exists: --lake needs a new folder")
    path = args.db or Path(tempfile.mkdtemp(prefix="crwatch-scale-")) / "scale.duckdb"
    if args.existing and not path.exists():
        sys.exit(f"--existing: no file {path}")
    if path.exists() and not args.existing:
        sys.exit(f"{path} exists: the benchmark needs a fresh file (or --existing)")
    run(
        args.docs,
        path,
        args.keep or args.existing,
        args.no_search,
        args.existing,
        args.reuse_index,
        args.search_only,
        args.lake,
    )


if __name__ == "__main__":
    main()
