"""The extraction pool: order, time limit, crashes, memory cap, size cap, passthrough."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import slow_extract
from conftest import sample_pages

from extractors.classify import WORKER_PRELOAD
from extractors.classify.analysis import extract_and_analyse
from extractors.page.extract import ExtractionLimits
from extractors.page.pool import ExtractionPool, default_start_method
from extractors.records import (
    AcquisitionError,
    ExtractedDoc,
    ExtractionError,
    Provenance,
    RawPage,
)


def _page(url: str, body: bytes) -> RawPage:
    return RawPage(url=url, body=body, provenance=Provenance("test", "warc", url),
                   content_type="text/html")  # fmt: skip


def _pages(n: int) -> list[RawPage]:
    return [_page(url, body) for url, body in sample_pages(n)]


def test_results_come_back_in_input_order_with_passthrough() -> None:
    pages = _pages(6)
    error = AcquisitionError(Provenance("test", "warc", "x"), "malformed_record", "bad")
    items: list[RawPage | AcquisitionError] = [*pages[:3], error, *pages[3:]]
    with ExtractionPool(2, ExtractionLimits()) as pool:
        results = list(pool.map(items))
    assert [item for item, _ in results] == items
    assert results[3][1] is None, "non-page items pass through without extraction"
    assert all(isinstance(out, ExtractedDoc) for item, out in results if item is not error)


def test_a_hanging_page_times_out_and_the_run_continues() -> None:
    pages = _pages(4)
    hanging = _page("https://example.com/hang", b"<html><body><p>HANG</p></body></html>")
    limits = ExtractionLimits(timeout_seconds=2.0)
    started = time.monotonic()
    with ExtractionPool(2, limits, extract_fn=slow_extract.hang_on_marker) as pool:
        results = list(pool.map([pages[0], hanging, *pages[1:]]))
        stats = pool.stats
    elapsed = time.monotonic() - started
    outcomes = [out for _, out in results]
    assert isinstance(outcomes[1], ExtractionError) and outcomes[1].error_kind == "timeout"
    assert sum(isinstance(o, ExtractedDoc) for o in outcomes) == 4, outcomes
    assert stats.timeouts == 1 and stats.restarts == 1
    print(
        f"\n[figure] hanging page stopped after the {limits.timeout_seconds:g} s limit;"
        f" whole batch {elapsed:.1f} s"
    )
    assert elapsed < 30


START_METHODS = sorted({"spawn", default_start_method()})


@pytest.mark.parametrize("start_method", START_METHODS)
def test_a_crashing_worker_becomes_an_error_row(start_method: str) -> None:
    pages = _pages(3)
    crashing = _page("https://example.com/crash", b"<html><body><p>CRASH</p></body></html>")
    with ExtractionPool(2, ExtractionLimits(), extract_fn=slow_extract.crash_on_marker,
                        start_method=start_method, preload=WORKER_PRELOAD) as pool:  # fmt: skip
        results = list(pool.map([crashing, *pages]))
        stats = pool.stats
    first = results[0][1]
    assert isinstance(first, ExtractionError) and first.error_kind == "crashed"
    assert "exit code 9" in first.message, first.message
    assert all(isinstance(out, ExtractedDoc) for _, out in results[1:])
    assert stats.crashes == 1 and stats.restarts == 1


def test_forked_workers_give_the_records_spawned_ones_do() -> None:
    """The ingest's own job (extraction, language, judgements, signature) on pages in three
    languages: workers forked from the preloaded forkserver and freshly spawned ones agree."""
    pages = _pages(9)
    outcomes = {}
    for method in START_METHODS:
        with ExtractionPool(2, ExtractionLimits(), extract_fn=extract_and_analyse,
                            start_method=method, preload=WORKER_PRELOAD) as pool:  # fmt: skip
            outcomes[method] = [out for _, out in pool.map(pages)]
    spawned = outcomes["spawn"]
    assert all(type(out).__name__ == "AnalysedDoc" for out in spawned), spawned
    assert {out.lang for out in spawned if isinstance(out, ExtractedDoc)} == {"en", "zh", "ru"}
    for method, got in outcomes.items():
        assert got == spawned, f"{method} workers differ from spawned ones"


_PRELOAD_PROBE = """
import sys
from extractors.classify import WORKER_PRELOAD
from extractors.page.extract import ExtractionLimits
from extractors.page.pool import ExtractionPool, start_forkserver
import slow_extract
from conftest import sample_pages
from extractors.records import Provenance, RawPage

def main() -> None:
    start_forkserver(WORKER_PRELOAD)
    assert "extractors.classify.preload" not in sys.modules, "the parent itself preloads nothing"
    pages = [RawPage(url=u, body=b, provenance=Provenance("t", "warc", u), content_type="text/html")
             for u, b in sample_pages(2)]
    with ExtractionPool(2, ExtractionLimits(), extract_fn=slow_extract.report_process,
                        preload=WORKER_PRELOAD) as pool:
        for _, out in pool.map(pages):
            print(out.message, flush=True)
        print("workers", " ".join(str(w.process.pid) for w in pool._workers), flush=True)
        if "--hang" in sys.argv:
            import time
            time.sleep(600)


if __name__ == "__main__":  # the forkserver's workers import this file as __mp_main__
    main()
"""


def _probe(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    script = tmp_path / "probe.py"
    script.write_text(_PRELOAD_PROBE)
    tests = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests), str(tests.parent)])}
    return subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip


@pytest.mark.skipif(default_start_method() != "forkserver", reason="no forkserver here")
def test_workers_are_forks_of_the_preloaded_forkserver(tmp_path: Path) -> None:
    probe = _probe(tmp_path)
    out, err = probe.communicate(timeout=120)
    assert probe.returncode == 0, err
    lines = out.splitlines()
    reports = [line for line in lines if line.startswith("parent=")]
    assert len(reports) == 2, out
    for line in reports:
        parent, preloaded = (part.split("=")[1] for part in line.split())
        assert int(parent) != probe.pid, "a worker is a child of the forkserver, not the pool"
        assert preloaded == "True", "the worker started with the preloaded modules"


@pytest.mark.skipif(
    default_start_method() != "forkserver" or not sys.platform.startswith("linux"),
    reason="needs a forkserver, PR_SET_PDEATHSIG and /proc (Linux)",
)
def test_forked_workers_die_with_the_killed_parent(tmp_path: Path) -> None:
    """kill -9 of the ingest: its forkserver sees its pipe close and exits, and the workers
    (PR_SET_PDEATHSIG on the forkserver) die with it; nothing lives on as an orphan."""
    probe = _probe(tmp_path, "--hang")
    assert probe.stdout is not None
    workers: list[int] = []
    deadline = time.monotonic() + 120
    while not workers and time.monotonic() < deadline:
        line = probe.stdout.readline()
        if line.startswith("workers"):
            workers = [int(pid) for pid in line.split()[1:]]
        elif not line and probe.poll() is not None:
            break
    if len(workers) != 2:
        probe.kill()
        _, err = probe.communicate()
        pytest.fail(f"the probe did not start its workers: {err}")
    server = int(Path(f"/proc/{workers[0]}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert server != probe.pid
    os.kill(probe.pid, signal.SIGKILL)
    probe.communicate()  # reaps it and closes its pipes
    deadline = time.monotonic() + 10
    alive = [server, *workers]
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _running(pid)]
        time.sleep(0.1)
    assert not alive, f"left running after the parent was killed: {alive}"


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_memory_cap_stops_an_allocation_bomb() -> None:
    bloat = _page("https://example.com/bloat", b"<html><body><p>BLOAT</p></body></html>")
    pages = _pages(2)
    with ExtractionPool(1, ExtractionLimits(), memory_mb=1024,
                        extract_fn=slow_extract.allocate_on_marker) as pool:  # fmt: skip
        results = list(pool.map([bloat, *pages]))
    first = results[0][1]
    assert isinstance(first, ExtractionError) and first.error_kind == "too_large"
    assert all(isinstance(out, ExtractedDoc) for _, out in results[1:])


def test_size_cap_is_applied_before_parsing() -> None:
    huge = _page("https://example.com/huge", b"<html><body>" + b"<p>word</p>" * 200_000)
    with ExtractionPool(1, ExtractionLimits(max_bytes=1_000_000)) as pool:
        ((_, outcome),) = list(pool.map([huge]))
    assert isinstance(outcome, ExtractionError) and outcome.error_kind == "too_large"


def test_a_failing_preload_never_takes_the_forkserver_down() -> None:
    """The preload module swallows a failure (the workers meet it again, visibly, as before)."""
    code = (
        "import gc, extractors.classify.analysis as analysis\n"
        "def boom(*args): raise ValueError('broken vocabulary')\n"
        "analysis.extract_and_analyse = boom\n"
        "import extractors.classify.preload\n"
        "print('imported', gc.get_freeze_count() > 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parent.parent)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported True"
