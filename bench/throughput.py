"""Throughput: the whole `crwatch ingest --replay` command vs a bare single-core trafilatura loop.

What a user times: the command from start to exit (Python start-up, imports, the Prefect API,
the extraction workers, the ingest, the search bookkeeping) into a fresh data folder, against a
plain `trafilatura.extract(body)` loop over the same WARC's pages on one core (its own process,
reading the WARC included). The two alternate `--repeat` times on the same machine and the
median ratio is the figure, with its range: shared 2-core machines are noisy, ratios less so.

The machine-level cache (`CRWATCH_CACHE_DIR`: compiled vocabularies, the migrated Prefect
database template) is warm unless `--cold-cache`, which gives every crwatch pass an empty one.
`--in-process` times only `run_ingest` inside one process (the figure this bench reported
before 2026-12-05: no start-up, no Prefect).

`--baseline-root DIR` also runs the command of another checkout (e.g. `git archive main | tar
-x -C DIR`, with this interpreter) in every round, right after this one's, so code before and
after a change are compared in the same run. Each command's CPU is split per process (the
command, its extraction workers, the forkserver, Prefect's temporary server: bench/proctree.py);
`--timeline` prints it per second.

    .venv/bin/python bench/throughput.py [--repeat 3] [--warc FILE] [--cold-cache] [--in-process]
                                         [--baseline-root DIR] [--timeline] [--pages N]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.procs import become_subreaper, children_cpu, reap_orphans  # noqa: E402
from bench.proctree import ProcessTreeCPU  # noqa: E402

DEFAULT_WARC = REPO.parent / "shared" / "corpus" / "news" / "cctv_zh" / "replay.warc.gz"
CRWATCH = Path(sys.executable).with_name("crwatch")


def bare_loop(warc: Path, limit: int | None = None) -> int:
    """Read response records and run `trafilatura.extract` on each; return the page count."""
    import trafilatura
    from warcio.archiveiterator import ArchiveIterator

    pages = 0
    with warc.open("rb") as handle:
        records = (r for r in ArchiveIterator(handle) if r.rec_type == "response")
        for record in itertools.islice(records, limit):
            trafilatura.extract(record.content_stream().read())
            pages += 1
    return pages


def time_bare(warc: Path) -> tuple[int, float, float]:
    """The bare loop as its own process (interpreter start and imports included);
    (pages, wall seconds, CPU seconds)."""
    started, cpu = time.perf_counter(), children_cpu()
    done = subprocess.run(
        [sys.executable, __file__, "--bare-only", "--warc", str(warc)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return int(done.stdout.strip()), time.perf_counter() - started, children_cpu() - cpu


def checkout_command(root: Path, python: str) -> list[str]:
    """A command running the crwatch CLI of another checkout, run from that checkout's folder
    with its modules first on the path of the command and of every process it starts: the
    extraction workers' forkserver and Prefect's server are new `python -c` interpreters, whose
    path starts with the working folder and `PYTHONPATH` (an in-process `sys.path` change does
    not reach them; Python 3.11's forkserver ignores the `sys_path` it is handed), so from this
    checkout's folder they would import this checkout's modules."""
    code = f"import sys; sys.path.insert(0, {str(root)!r}); sys.argv[0] = 'crwatch'; "
    code += "from flows.cli.app import main; main()"
    return ["env", "-C", str(root), f"PYTHONPATH={root}", python, "-c", code]


def time_command(
    warc: Path, cold_cache: bool, command: list[str] | None = None
) -> tuple[int, float, dict[str, int], float, ProcessTreeCPU]:
    """`crwatch ingest --replay WARC --json` into a fresh data folder; (items, wall seconds,
    counts, CPU seconds of the command, its workers and its server, the per-process split)."""
    with tempfile.TemporaryDirectory(prefix="crwatch-bench-") as home:
        env = {**os.environ, "CRWATCH_HOME": home, "CRWATCH_PROGRESS": "false"}
        env.pop("PREFECT_API_URL", None)  # a one-off command on its own: temporary server
        if cold_cache:
            env["CRWATCH_CACHE_DIR"] = str(Path(home) / "cache")
        argv = [*(command or [str(CRWATCH)]), "ingest", "--replay", str(warc), "--json"]
        started, cpu = time.perf_counter(), children_cpu()
        process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        with ProcessTreeCPU(process.pid) as tree:
            stdout, stderr = process.communicate()
        seconds = time.perf_counter() - started
        reap_orphans()  # the temporary server it left to stop on its own (bench/procs.py)
        if process.returncode:
            sys.exit(f"crwatch ingest failed ({process.returncode}):\n{stderr[-3000:]}")
    summary = json.loads(stdout)
    # Workers forked by a forkserver are its children, not the command's, and the forkserver
    # and the temporary server are not waited for by the command: this process adopts them
    # (subreaper) and reaps them, so its rusage counts them; the poller sees every descendant
    # while the command runs.
    cpu = max(children_cpu() - cpu, tree.total())
    return summary["items_seen"], seconds, summary, cpu, tree


def time_in_process(warc: Path) -> tuple[int, float, dict[str, int]]:
    """`run_ingest` alone, in this process, into a fresh warehouse (no start-up, no Prefect)."""
    from flows.ingest.flow import run_ingest
    from flows.settings import load_settings

    with tempfile.TemporaryDirectory(prefix="crwatch-bench-") as home:
        settings = load_settings(environ={"CRWATCH_HOME": home}, overrides={"progress": False})
        started = time.perf_counter()
        summary = run_ingest(settings, [warc], seeds=False, run_id="bench")
        seconds = time.perf_counter() - started
        return summary.items_seen, seconds, summary.counts()


def _copy_records(source: Path, target: Path, limit: int) -> None:
    """Copy the first `limit` response records byte for byte (each is one gzip member)."""
    from warcio.archiveiterator import ArchiveIterator

    with source.open("rb") as handle:
        iterator = ArchiveIterator(handle)
        offsets = []
        for record in iterator:
            if record.rec_type == "response":
                offsets.append(iterator.get_record_offset())
                if len(offsets) > limit:
                    break
    with source.open("rb") as handle, target.open("wb") as out:
        end = offsets[limit] if len(offsets) > limit else None
        handle.seek(offsets[0])
        out.write(handle.read() if end is None else handle.read(end - offsets[0]))


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def main() -> None:
    """Alternate the two passes `--repeat` times and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warc", type=Path, default=DEFAULT_WARC)
    parser.add_argument("--repeat", type=int, default=3, help="alternating pairs of passes")
    parser.add_argument("--cold-cache", action="store_true", help="empty machine cache per pass")
    parser.add_argument("--in-process", action="store_true", help="time run_ingest only")
    parser.add_argument("--bare-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--baseline-root",
        type=Path,
        default=None,
        help='another crwatch checkout whose command also runs in each round ("before")',
    )
    parser.add_argument(
        "--timeline", action="store_true", help="print CPU per second per process role"
    )
    parser.add_argument(
        "--pages", type=int, default=None, help="only the first N pages (start-up dominates)"
    )
    args = parser.parse_args()
    become_subreaper()
    if not args.warc.exists():
        sys.exit(f"WARC not found: {args.warc} (needs ../shared/corpus beside the repo)")
    if args.bare_only:
        print(bare_loop(args.warc))
        return
    if args.pages is not None:
        with tempfile.TemporaryDirectory(prefix="crwatch-bench-warc-") as folder:
            source, args.warc = args.warc, Path(folder) / f"first{args.pages}.warc.gz"
            _copy_records(source, args.warc, args.pages)
            _rounds(args)
        return
    _rounds(args)


def _rounds(args: argparse.Namespace) -> None:
    """Alternate the passes `args.repeat` times over `args.warc`; print each and the medians."""
    what = "run_ingest in-process" if args.in_process else "whole `crwatch ingest` command"
    versions: dict[str, list[str] | None] = {"now": None}
    if args.baseline_root is not None and not args.in_process:
        versions = {"before": checkout_command(args.baseline_root.resolve(), sys.executable),
                    "now": None}  # fmt: skip
    ratios: dict[str, list[float]] = {name: [] for name in versions}
    full_times: dict[str, list[float]] = {name: [] for name in versions}
    bare_times: list[float] = []
    for round_no in range(1, args.repeat + 1):
        load_before = _load()
        pages, bare_seconds, bare_cpu = time_bare(args.warc)
        bare_times.append(bare_seconds)
        print(
            f"round {round_no}: bare loop {bare_seconds:6.1f} s ({pages / bare_seconds:5.1f}"
            f" pages/s), CPU {bare_cpu:.1f} s  [load {load_before} -> {_load()}]",
            flush=True,
        )
        for name, command in versions.items():
            load_before = _load()
            tree = None
            if args.in_process:
                items, full_seconds, counts = time_in_process(args.warc)
                full_cpu = float("nan")  # this process's own CPU is not separated out
            else:
                items, full_seconds, counts, full_cpu, tree = time_command(
                    args.warc, args.cold_cache, command
                )
            full_times[name].append(full_seconds)
            ratios[name].append(bare_seconds / full_seconds)
            label = what if len(versions) == 1 else f"{what} ({name})"
            print(
                f"  {label} {full_seconds:6.1f} s ({items / full_seconds:5.1f} pages/s),"
                f" ratio {ratios[name][-1]:.2f}x; CPU {full_cpu:.1f} s"
                f"  [load {load_before} -> {_load()}]",
                flush=True,
            )
            if tree is not None:
                print(f"    {tree.report()}", flush=True)
                if args.timeline:
                    print(tree.timeline_report(), flush=True)
    print(f"warc: {args.warc.name}  pages: {pages}  rounds: {args.repeat}")
    print(f"bare trafilatura.extract loop, 1 core : {statistics.median(bare_times):6.1f} s median")
    for name in versions:
        label = what if len(versions) == 1 else f"{what} ({name})"
        print(f"{label:38s}: {statistics.median(full_times[name]):6.1f} s median")
        print(
            f"ratio bare time / crwatch time         : {statistics.median(ratios[name]):6.2f}x"
            f" median (range {min(ratios[name]):.2f}-{max(ratios[name]):.2f};"
            " target >= 1.3x, goal 1.5x)"
        )
    print(
        f"ingest counts: new {counts['docs_new']}, duplicate {counts['docs_duplicate']},"
        f" failed {counts['docs_failed']}, core {counts['relevant_core']},"
        f" related {counts['relevant_related']}"
    )


if __name__ == "__main__":
    main()
