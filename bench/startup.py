"""Start-up figures of one-off commands: wall clock and CPU of whole `crwatch` invocations.

    ingest-fresh   `crwatch ingest --seeds` into a fresh data folder (temporary Prefect server;
                   the machine cache of compiled vocabularies and the Prefect template warm)
    ingest-cold    the same with an empty machine cache too (the first run on a machine)
    ingest-api     the same with a running Prefect API (`prefect server start` on a free port,
                   started by this bench, or `--api URL`); checks the flow runs are recorded
    ingest-serve   `crwatch ingest --seeds` one-off beside a running `crwatch serve` of the same
                   data folder (it finds serve's API through <home>/serve.json), after serve's
                   first scheduled ingest (live fetching off) has stored the seeds: what a user
                   of serve meets; checks the flow runs are recorded in serve's Prefect
    read           `crwatch sql`, `query`, `status`, `search` on the data folder of `--home`

Each command runs `--repeat` times; the median and range are printed with the CPU seconds
(user + system of the command and its children) and the load average, since wall clock on a
shared machine moves with the load and CPU seconds do not.

`--baseline-root DIR` also times another checkout of crwatch (e.g. `git archive main | tar -x -C
DIR`, run by `--baseline-python`, default this interpreter), alternating with this one command
by command, so both see the same load: "before" and "now" lines for every command.

    .venv/bin/python bench/startup.py [--repeat 5] [--modes ingest-fresh,ingest-api,read]
    .venv/bin/python bench/startup.py --modes read --home H --baseline-root /tmp/before
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.procs import become_subreaper, children_cpu, reap_orphans
from bench.throughput import checkout_command

BIN = Path(sys.executable).parent
CRWATCH = BIN / "crwatch"
# label -> the command that runs that crwatch; "now" is this checkout's.
VERSIONS: dict[str, list[str]] = {"now": [str(CRWATCH)]}


def _load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def run(args: list[str], env: dict[str, str], keep: tuple[int, ...] = ()) -> tuple[float, float]:
    """Wall seconds of one command (until it exits) and CPU seconds of it and every process
    it started, including a temporary server it left to shut down on its own (bench/procs.py).
    """
    before = children_cpu()
    started = time.perf_counter()
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - started
    reap_orphans(keep)
    return wall, children_cpu() - before


def report(label: str, samples: list[tuple[float, float]], loads: list[float]) -> None:
    """One line: median wall (range), median CPU, load average during the samples."""
    walls, cpus = [w for w, _ in samples], [c for _, c in samples]
    print(
        f"{label:52s} wall {statistics.median(walls):5.2f} s ({min(walls):.2f}-{max(walls):.2f})"
        f"  cpu {statistics.median(cpus):5.2f} s  load {min(loads):.1f}-{max(loads):.1f}",
        flush=True,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=1) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def ingest(mode: str, repeat: int, api: str | None) -> None:
    """Time `crwatch ingest --seeds` into fresh data folders."""
    base = {**os.environ, "CRWATCH_PROGRESS": "false", "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}  # fmt: skip
    base.pop("PREFECT_API_URL", None)
    server = None
    if mode == "ingest-api" and api is None:
        port = _free_port()
        prefect_home = tempfile.mkdtemp(prefix="crwatch-bench-prefect-")
        server = subprocess.Popen(
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env={**base, "PREFECT_HOME": prefect_home, "PREFECT_UI_ENABLED": "0"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        api = f"http://127.0.0.1:{port}/api"
        deadline = time.monotonic() + 120
        while not _healthy(api):
            if time.monotonic() > deadline:
                sys.exit("prefect server did not start")
            time.sleep(0.5)
    samples: dict[str, list[tuple[float, float]]] = {label: [] for label in VERSIONS}
    loads: dict[str, list[float]] = {label: [] for label in VERSIONS}
    run_ids: dict[str, list[str]] = {label: [] for label in VERSIONS}
    try:
        for _ in range(repeat):
            for label, command in VERSIONS.items():
                with tempfile.TemporaryDirectory(prefix="crwatch-bench-") as home:
                    env = {**base, "CRWATCH_HOME": home}
                    if mode == "ingest-cold":
                        env["CRWATCH_CACHE_DIR"] = str(Path(home) / "cache")
                    if mode == "ingest-api":
                        env["PREFECT_API_URL"] = str(api)
                    loads[label].append(_load())
                    keep = (server.pid,) if server is not None else ()
                    samples[label].append(run([*command, "ingest", "--seeds"], env, keep))
                    if mode == "ingest-api":
                        from warehouse.db import Warehouse

                        _, rows = Warehouse(Path(home) / "lake").query(  # the default warehouse
                            "SELECT run_id FROM runs WHERE flow = 'ingest'"
                        )
                        run_ids[label].append(str(rows[0][0]) if rows else "")
        for label in VERSIONS:
            report(f"{label:6s} crwatch ingest --seeds ({mode})", samples[label], loads[label])
            if mode == "ingest-api":
                recorded = sum(_state(str(api), run_id) == "COMPLETED" for run_id in run_ids[label])
                print(
                    f"  flow runs recorded in Prefect as COMPLETED: {recorded}/"
                    f"{len(run_ids[label])}"
                )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)


def beside_serve(repeat: int) -> None:
    """Time one-off `crwatch ingest --seeds` while `crwatch serve` runs on the same data folder."""
    from warehouse.db import Warehouse

    with tempfile.TemporaryDirectory(prefix="crwatch-bench-serve-") as home:
        env = {**os.environ, "CRWATCH_HOME": home, "CRWATCH_PROGRESS": "false",
               "CRWATCH_LIVE": "false", "CRWATCH_PREFECT_PORT": str(_free_port())}  # fmt: skip
        env.pop("PREFECT_API_URL", None)
        serve = subprocess.Popen(
            [str(CRWATCH), "serve"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        warehouse = Warehouse(Path(home) / "lake")  # the default warehouse of that folder
        try:
            api = _serve_api(Path(home), serve)
            _wait_for_first_ingest(warehouse, serve)
            samples: dict[str, list[tuple[float, float]]] = {label: [] for label in VERSIONS}
            loads: dict[str, list[float]] = {label: [] for label in VERSIONS}
            for _ in range(repeat):
                for label, command in VERSIONS.items():
                    loads[label].append(_load())
                    samples[label].append(run([*command, "ingest", "--seeds"], env, (serve.pid,)))
            _, rows = warehouse.query(
                "SELECT run_id FROM runs WHERE flow = 'ingest' ORDER BY started_at"
            )
            run_ids = [str(row[0]) for row in rows][1:]  # after serve's own first run
            for label in VERSIONS:
                report(f"{label:6s} crwatch ingest --seeds (beside serve)", samples[label],
                       loads[label])  # fmt: skip
            recorded = sum(_state(api, run_id) == "COMPLETED" for run_id in run_ids)
            print(
                f"  flow runs recorded in serve's Prefect as COMPLETED: {recorded}/{len(run_ids)}"
            )
        finally:
            serve.terminate()
            serve.wait(timeout=60)


def _serve_api(home: Path, serve: subprocess.Popen[bytes]) -> str:
    """The API URL serve records in <home>/serve.json, once it answers."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if serve.poll() is not None:
            sys.exit(f"crwatch serve exited with status {serve.returncode}")
        try:
            api = str(json.loads((home / "serve.json").read_text(encoding="utf-8"))["api_url"])
        except (OSError, ValueError, KeyError):
            api = ""
        if api and _healthy(api):
            return api
        time.sleep(0.5)
    sys.exit("crwatch serve did not start within 180 s")


def _wait_for_first_ingest(warehouse: Any, serve: subprocess.Popen[bytes]) -> None:
    """Wait until serve's first scheduled ingest has finished (it runs at start; timing beside it
    would time its lock instead)."""
    from warehouse.errors import WarehouseError

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if serve.poll() is not None:
            sys.exit(f"crwatch serve exited with status {serve.returncode}")
        try:
            _, rows = warehouse.query(
                "SELECT count(*) FILTER (status <> 'running'), count(*) FILTER (status = 'running')"
                " FROM runs WHERE flow = 'ingest'"
            )
        except WarehouseError:  # no warehouse yet: serve's first run creates it
            rows = [(0, 0)]
        if rows[0][0] >= 1 and rows[0][1] == 0:
            return
        time.sleep(0.5)
    sys.exit("crwatch serve's first scheduled ingest did not finish within 300 s")


def _state(api: str, run_id: str) -> str:
    """The state type Prefect's API reports for a flow run (COMPLETED, FAILED, ...)."""
    with urllib.request.urlopen(f"{api}/flow_runs/{run_id}", timeout=5) as reply:
        return str(json.load(reply).get("state_type"))


def reads(repeat: int, home: str | None) -> None:
    """Time the read commands on an existing data folder."""
    env = {**os.environ}
    if home:
        env["CRWATCH_HOME"] = home
    commands = [
        ["sql", "SELECT relevance_level, count(*) FROM latest_classifications GROUP BY 1"],
        ["query", "weekly_reports_stories"],
        ["status"],
        ["search", "Putin"],
    ]
    for command in commands:
        samples: dict[str, list[tuple[float, float]]] = {label: [] for label in VERSIONS}
        loads: dict[str, list[float]] = {label: [] for label in VERSIONS}
        for _ in range(repeat):
            for label, version in VERSIONS.items():
                loads[label].append(_load())
                samples[label].append(run([*version, *command], env))
        for label in VERSIONS:
            report(f"{label:6s} crwatch " + " ".join(command)[:30], samples[label], loads[label])


def main() -> None:
    """Run the chosen modes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--modes", default="ingest-fresh,ingest-cold,ingest-api,read")
    parser.add_argument("--api", default=None, help="use this running Prefect API")
    parser.add_argument("--home", default=None, help="data folder for the read commands")
    parser.add_argument(
        "--baseline-root",
        type=Path,
        default=None,
        help='another crwatch checkout to time alternately ("before")',
    )
    parser.add_argument(
        "--baseline-python",
        default=sys.executable,
        help="the interpreter (virtualenv) that runs --baseline-root",
    )
    args = parser.parse_args()
    become_subreaper()  # a command's temporary server, left to stop on its own, counts too
    if args.baseline_root:
        VERSIONS.clear()
        VERSIONS["before"] = checkout_command(args.baseline_root.resolve(), args.baseline_python)
        VERSIONS["now"] = [str(CRWATCH)]
    for mode in args.modes.split(","):
        if mode == "read":
            reads(args.repeat, args.home)
        elif mode == "ingest-serve":
            beside_serve(args.repeat)
        else:
            ingest(mode, args.repeat, args.api)


if __name__ == "__main__":
    main()
