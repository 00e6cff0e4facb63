"""The warehouse on DuckLake: analysts' plain DuckDB beside scheduled runs, several writers on a
PostgreSQL catalog, snapshots (`sql --as-of`), `migrate --to-lake`, compaction, `connect`."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import distinct_pages, ingest_command, ingest_env, write_warc
from pgserver import postgres_server, skip_reason

from flows.cli.app import main
from flows.settings import load_settings
from warehouse.db import Warehouse, lake_ddl, schema_files
from warehouse.maintenance import checkpoint

REPO = Path(__file__).resolve().parent.parent
COUNTS = {
    "documents": "SELECT count(*) FROM documents",
    "distinct documents": "SELECT count(DISTINCT doc_id) FROM documents",
    "fetches": "SELECT count(*) FROM fetches",
    "distinct fetches": "SELECT count(DISTINCT fetch_id) FROM fetches",
    "classifications": "SELECT count(*) FROM classifications",
    "entities rows": "SELECT count(*) FROM document_entities",
    "document_facts": "SELECT count(*) FROM document_facts",
    "stories": "SELECT count(*) FROM story_facts",
    "story reports": "SELECT coalesce(sum(reports), 0) FROM story_facts",
    "day_facts": "SELECT count(*), coalesce(sum(documents), 0) FROM day_facts",
    "week_facts": "SELECT count(*), coalesce(sum(reports), 0) FROM week_facts",
    "fetch stats": "SELECT coalesce(sum(fetches), 0) FROM source_fetch_stats",
}

# A reader that uses nothing of crwatch: duckdb and the statements `crwatch connect --sql`
# printed. Mode "loop": a new connection per round, as a script re-run; "hold": one connection
# for the whole test, each round a transaction held open for a while (a notebook left open).
READER = textwrap.dedent(
    """
    import json, os, sys, time
    import duckdb
    statements, stop, out, mode = sys.argv[1:5]
    setup = open(statements).read()
    queries = ["SELECT count(*) FROM documents", "SELECT count(*), sum(reports) FROM stories",
               "SELECT count(*) FROM relevant_documents", "SELECT status, count(*) FROM runs"
               " GROUP BY ALL", "SELECT week, documents FROM day_facts JOIN (SELECT 1) ON true"
               " LIMIT 0"]
    errors, answered, counts, inconsistent = [], 0, [], 0
    held = duckdb.connect() if mode == "hold" else None
    if held is not None:
        held.execute(setup)
    while not os.path.exists(stop):
        try:
            con = held if held is not None else duckdb.connect()
            if held is None:
                con.execute(setup)
            con.execute("BEGIN TRANSACTION")
            first = con.execute(queries[0]).fetchone()[0]
            for q in queries[1:4]:
                con.execute(q).fetchall()
            if mode == "hold":
                time.sleep(1.5)  # a long read: the writer commits meanwhile
            again = con.execute(queries[0]).fetchone()[0]
            inconsistent += first != again  # one transaction reads one snapshot
            con.execute("COMMIT")
            counts.append(first)
            answered += 1
            if held is None:
                con.close()
        except Exception as exc:  # every failure is counted, none may happen
            errors.append(repr(exc)[:300])
        time.sleep(0.1)
    json.dump({"answered": answered, "errors": errors, "counts": counts,
               "inconsistent": inconsistent}, open(out, "w"))
    """
)


def _counts(warehouse: Warehouse) -> dict[str, object]:
    return {name: warehouse.query(sql)[1][0] for name, sql in COUNTS.items()}


def _connect_sql(home: Path, path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli.app", "connect", "--sql"], env=ingest_env(home),
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    path.write_text(done.stdout, encoding="utf-8")


def test_schema_files_apply_to_the_lake_without_key_clauses() -> None:
    for _, name, sql in schema_files():
        converted = lake_ddl(sql)
        code = "\n".join(line.split("--")[0] for line in converted.splitlines())
        assert "PRIMARY KEY" not in code.upper() and "UNIQUE" not in code.upper(), name
    assert "run_id            VARCHAR NOT NULL," in lake_ddl(schema_files()[0][2])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_plain_duckdb_readers_during_scheduled_ingests(tmp_path: Path) -> None:
    runs, pages, batch = 3, 120, 20
    warcs = [
        write_warc(tmp_path / f"{host}.warc.gz", distinct_pages(pages, f"{host}.example.com"))
        for host in ("a", "b", "c")[:runs]
    ]
    # The single-writer result: the same runs, nobody reading.
    reference = tmp_path / "reference"
    for i, warc in enumerate(warcs):
        done = subprocess.run(ingest_command(f"ref-{i}", batch, warc), env=ingest_env(reference),
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
    expected = _counts(Warehouse(reference / "lake"))

    home = tmp_path / "home"
    lake = Warehouse(home / "lake")
    lake.migrate()  # an installed crwatch: the lake exists before the analysts connect
    statements = tmp_path / "connect.sql"
    _connect_sql(home, statements)
    assert "ATTACH 'ducklake:sqlite:" in statements.read_text() and "READ_ONLY" in (
        statements.read_text()
    )
    stop = tmp_path / "stop"
    readers = {
        mode: subprocess.Popen(
            [
                sys.executable,
                "-c",
                READER,
                str(statements),
                str(stop),
                str(tmp_path / f"{mode}.json"),
                mode,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mode in ("loop", "hold")
    }
    try:
        time.sleep(3)  # both readers connected (the holder keeps its connection throughout)
        started = time.monotonic()
        for i, warc in enumerate(warcs):  # scheduled one after another, a short pause between
            done = subprocess.run(ingest_command(f"run-{i}", batch, warc), env=ingest_env(home),
                                  capture_output=True, text=True, timeout=300)  # fmt: skip
            assert done.returncode == 0, done.stderr[-3000:]
            time.sleep(1.0)
        ingest_seconds = time.monotonic() - started
    finally:
        stop.touch()
        for proc in readers.values():
            try:
                proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
    results = {mode: json.loads((tmp_path / f"{mode}.json").read_text()) for mode in readers}
    _, statuses = lake.query("SELECT run_id, status FROM runs ORDER BY started_at")
    final = _counts(lake)
    for mode, result in results.items():
        print(f"[figure] reader {mode}: {result['answered']} rounds, errors"
              f" {len(result['errors'])}, snapshot changes inside a transaction"
              f" {result['inconsistent']}, documents seen {result['counts'][:1]} ->"
              f" {result['counts'][-1:]}")  # fmt: skip
    print(f"[figure] {runs} ingests of {pages} pages in {ingest_seconds:.1f} s with two readers;"
          f" runs: {statuses}")  # fmt: skip
    for mode, result in results.items():
        assert result["errors"] == [], (mode, result["errors"][:3])
        assert result["inconsistent"] == 0
        assert result["counts"] == sorted(result["counts"]), "counts went backwards"
        assert result["answered"] >= 5, mode
    assert [s for _, s in statuses] == ["completed"] * runs
    assert final == expected
    assert final["documents"] == final["distinct documents"] == (runs * pages,)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(skip_reason() is not None, reason=str(skip_reason()))
def test_two_writers_at_once_on_a_postgresql_catalog(tmp_path: Path) -> None:
    pages, batch = 100, 20
    warcs = [
        write_warc(tmp_path / f"{host}.warc.gz", distinct_pages(pages, f"{host}.example.com"))
        for host in ("east", "west")
    ]
    with postgres_server() as dsn:
        catalog = f"postgres:{dsn}"
        data = tmp_path / "shared-data"
        # Two machines: each its own data folder (and writer lock), one catalog, one data path.
        envs = [
            {**ingest_env(tmp_path / name), "CRWATCH_WAREHOUSE": catalog,
             "CRWATCH_LAKE_DATA_PATH": str(data)}
            for name in ("machine-a", "machine-b")
        ]  # fmt: skip
        procs = [
            subprocess.Popen(ingest_command(f"writer-{i}", batch, warc), env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i, (warc, env) in enumerate(zip(warcs, envs, strict=True))
        ]  # fmt: skip
        outputs = [p.communicate(timeout=400) for p in procs]
        for p, (_, err) in zip(procs, outputs, strict=True):
            assert p.returncode == 0, err[-3000:]
        retries = sum(err.count("conflicted with another writer") for _, err in outputs)
        lake = Warehouse(tmp_path / "lake", catalog=catalog, data_path=str(data))
        counts = _counts(lake)
        _, runs = lake.query(
            "SELECT run_id, status, started_at, finished_at FROM runs ORDER BY run_id"
        )
    (_, _, a_start, a_end), (_, _, b_start, b_end) = runs
    overlap = (min(a_end, b_end) - max(a_start, b_start)).total_seconds()
    print(f"[figure] two writers on PostgreSQL: {counts['documents'][0]} documents of"
          f" {2 * pages} pages, write windows overlap {overlap:.1f} s, batches retried after a"
          f" conflict: {retries}")  # fmt: skip
    assert [r[1] for r in runs] == ["completed", "completed"]
    assert overlap > 0, "the two ingests did not write at the same time"
    total = (2 * pages,)
    assert counts["documents"] == counts["distinct documents"] == total  # none lost, no dups
    assert counts["fetches"] == counts["distinct fetches"] == total
    assert counts["document_facts"] == counts["story reports"] == total
    assert counts["fetch stats"] == total


def _ingest(home: Path, run_id: str, warc: Path, extra: dict[str, str] | None = None) -> None:
    env = {**ingest_env(home), **(extra or {})}
    done = subprocess.run(ingest_command(run_id, 20, warc), env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
def test_sql_as_of_a_run_and_maintain_keep_history_and_bound_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("CRWATCH_HOME", str(home))
    monkeypatch.delenv("CRWATCH_CONFIG", raising=False)
    _ingest(home, "first-run-0001", write_warc(tmp_path / "a.warc.gz", distinct_pages(30, "a.x")))
    _ingest(home, "second-run-002", write_warc(tmp_path / "b.warc.gz", distinct_pages(20, "b.x")))
    runner = CliRunner()
    now = runner.invoke(main, ["sql", "SELECT count(*) AS n FROM documents", "--format", "csv"])
    assert now.exit_code == 0 and now.output.splitlines()[-1] == "50", now.output
    past = runner.invoke(main, ["sql", "--as-of", "run-0001", "--format", "csv",
                                "SELECT count(*) AS n FROM documents"])  # fmt: skip
    assert past.exit_code == 0, past.output
    assert past.output.splitlines()[-1] == "30" and "run first-run-0001" in past.output
    bad = runner.invoke(main, ["sql", "--as-of", "no-such-run", "SELECT 1"])
    assert bad.exit_code != 0 and "no run with that id" in bad.output

    warehouse = Warehouse(home / "lake")
    before = checkpoint(warehouse, keep_days=7, grace=timedelta(0))
    # History kept: files that past snapshots still read stay beside the merged ones.
    assert before.snapshots_expired == 0 and before.live_files <= before.files_after
    again = runner.invoke(main, ["sql", "--as-of", "run-0001", "--format", "csv",
                                 "SELECT count(*) FROM documents"])  # fmt: skip
    assert again.output.splitlines()[-1] == "30", "compaction lost the history"
    checkpoint(warehouse, keep_days=0, grace=timedelta(0))
    report = checkpoint(warehouse, keep_days=0, grace=timedelta(0))  # deletes what that merged
    print(f"[figure] 2 runs: Parquet files {before.files_before} -> {before.files_after}"
          f" (7 days kept) -> {report.files_after} (none kept),"
          f" live {report.live_files}")  # fmt: skip
    assert report.files_after == report.live_files <= before.files_after
    assert warehouse.query("SELECT count(*) FROM documents")[1] == [(50,)]
    gone = runner.invoke(main, ["sql", "--as-of", "run-0001", "SELECT 1"])
    assert gone.exit_code != 0 and "snapshot" in gone.output


@pytest.mark.slow
def test_migrate_to_lake_copies_every_table_with_equal_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    file = home / "crwatch.duckdb"
    _ingest(home, "old-run", write_warc(tmp_path / "a.warc.gz", distinct_pages(30, "a.x")),
            {"CRWATCH_WAREHOUSE": str(file)})  # fmt: skip
    monkeypatch.setenv("CRWATCH_HOME", str(home))
    monkeypatch.delenv("CRWATCH_CONFIG", raising=False)
    result = CliRunner().invoke(main, ["migrate", "--to-lake"])
    assert result.exit_code == 0, result.output
    assert "counts equal" in result.output and "documents" in result.output
    lake, single = Warehouse(home / "lake"), Warehouse(file)
    assert _counts(lake) == _counts(single)
    again = CliRunner().invoke(main, ["migrate", "--to-lake"])
    assert again.exit_code != 0 and "already holds" in again.output
    settings = load_settings()
    assert settings.warehouse == home / "lake"


def test_an_old_single_file_warehouse_is_not_left_behind(crwatch_home: Path) -> None:
    from flows.ingest.flow import run_ingest
    from warehouse.db import WarehouseError

    settings = load_settings(overrides={"workers": 1, "progress": False})
    Warehouse(crwatch_home / "crwatch.duckdb").migrate()  # what an earlier crwatch left
    with pytest.raises(WarehouseError, match="migrate --to-lake"):
        run_ingest(settings, [], seeds=True, run_id="after-upgrade")
    assert not Warehouse(settings.warehouse).exists()


def test_connect_prints_cli_python_and_sql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRWATCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CRWATCH_CONFIG", raising=False)
    runner = CliRunner()
    missing = runner.invoke(main, ["connect"])
    assert missing.exit_code != 0 and "no warehouse" in missing.output
    Warehouse(tmp_path / "home" / "lake").migrate()
    shown = runner.invoke(main, ["connect"])
    assert shown.exit_code == 0, shown.output
    assert "duckdb -cmd" in shown.output and "import duckdb" in shown.output
    sql = runner.invoke(main, ["connect", "--sql"])
    lines = sql.output.strip().splitlines()
    assert lines[0].startswith("LOAD '") and lines[-1] == "USE crwatch;"
    assert any("READ_ONLY" in line for line in lines)
    # The statements work in a DuckDB that knows nothing of crwatch, and writing is refused.
    import duckdb

    con = duckdb.connect()
    con.execute("\n".join(lines))
    assert con.execute("SELECT count(*) FROM documents").fetchone() == (0,)
    with pytest.raises(duckdb.Error, match=r"read-only|read only"):
        con.execute("DELETE FROM documents")
    con.close()
    from flows.cli.lake import duckdb_cli

    if duckdb_cli() is None:
        pytest.skip("no duckdb shell (pip install duckdb-cli==1.5.5; make does)")
    query = "SELECT 'rows=' || count(*) || ' in ' || current_database() AS r FROM documents;"
    shell = subprocess.run(
        [sys.executable, "-m", "flows.cli.app", "connect", "--duckdb"], cwd=REPO, timeout=120,
        input=query, text=True, capture_output=True, env=ingest_env(tmp_path / "home"),
    )  # fmt: skip
    assert shell.returncode == 0, shell.stderr
    assert "rows=0 in crwatch" in shell.stdout
