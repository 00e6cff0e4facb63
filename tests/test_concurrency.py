"""Readers during an ingest in another process: they wait for batch boundaries, never fail."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from conftest import PARAGRAPHS, article_html, has_documents_table, write_warc

from warehouse.db import Warehouse, WarehouseBusy

REPO = Path(__file__).resolve().parent.parent
PAGES = 300
QUERIES = [
    "SELECT count(*) FROM documents",
    "SELECT count(*), max(published_at) FROM relevant_documents",
    "SELECT count(*), sum(reports) FROM stories",
    "SELECT outcome, count(*) FROM fetches GROUP BY outcome",
]


def _pages(count: int) -> list[tuple[str, bytes]]:
    langs = ["en", "ru", "zh"]
    pages = []
    for i in range(count):
        lang = langs[i % 3]
        base = PARAGRAPHS[lang]
        # Distinct texts (no near-duplicates): a page-specific sentence in each paragraph.
        paragraphs = [f"{p} ({lang} report {i}, part {k}, code {i * 7919 % 100003})"
                      for k, p in enumerate(base)]  # fmt: skip
        html = article_html(f"Report {i} ({lang})", paragraphs)
        pages.append((f"https://load.example.com/{lang}/{i}.html", html.encode("utf-8")))
    return pages


def test_readers_wait_for_a_writer_in_another_process(tmp_path: Path) -> None:
    home = tmp_path / "home"
    warc = write_warc(tmp_path / "load.warc.gz", _pages(PAGES))
    env = {**os.environ, "CRWATCH_HOME": str(home), "PYTHONPATH": str(REPO)}
    env.pop("CRWATCH_CONFIG", None)
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from flows.settings import load_settings
        from flows.ingest.flow import run_ingest
        settings = load_settings(overrides={{"workers": 1, "batch_size": 20, "progress": False}})
        s = run_ingest(settings, [Path({str(warc)!r})], seeds=False, run_id="load")
        print("SUMMARY", s.items_seen, s.docs_new, s.docs_duplicate, s.docs_failed)
        """
    )
    from flows.settings import load_settings

    wh_path = load_settings(environ={**env}).warehouse
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        warehouse = Warehouse(wh_path, lock_wait_seconds=30)
        deadline = time.monotonic() + 30
        while not has_documents_table(warehouse) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert has_documents_table(warehouse), "the ingest never created its warehouse"
        answered = lock_errors = 0
        waits: list[float] = []
        counts: list[int] = []
        during = 0
        for i in range(50):
            sql = QUERIES[i % len(QUERIES)]
            started = time.perf_counter()
            try:
                _, rows = warehouse.query(sql)
            except WarehouseBusy:
                lock_errors += 1
                continue
            waits.append(time.perf_counter() - started)
            answered += 1
            during += proc.poll() is None
            if i % len(QUERIES) == 0:
                counts.append(rows[0][0])
            time.sleep(0.05)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-3000:]
    print(f"[figure] queries answered: {answered}/50 ({during} while the ingest ran)")
    print(f"[figure] lock errors reaching the caller: {lock_errors}")
    print(f"[figure] longest wait: {max(waits) * 1000:.0f} ms, median "
          f"{sorted(waits)[len(waits) // 2] * 1000:.0f} ms")  # fmt: skip
    assert answered == 50 and lock_errors == 0
    assert during >= 5, "the ingest finished before the readers got going; use more pages"
    assert counts == sorted(counts), "document counts went backwards"

    summary = [line for line in out.splitlines() if line.startswith("SUMMARY")]
    assert summary, out
    _, columns = Warehouse(wh_path).query(
        "SELECT (SELECT count(*) FROM documents), "
        "(SELECT count(*) FROM fetches WHERE outcome = 'error'), "
        "(SELECT count(*) FROM fetches WHERE outcome = 'duplicate'), "
        "(SELECT count(*) FROM fetches)"
    )
    documents, errors, duplicates, fetches = columns[0]
    print(f"[figure] after ingest: {documents} documents + {errors} errors + {duplicates} "
          f"duplicates = {documents + errors + duplicates} of {PAGES} pages")  # fmt: skip
    assert documents + errors + duplicates == PAGES == fetches
