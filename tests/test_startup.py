"""Fixed costs of one-off commands: which Prefect API they use, lazy extraction workers, the
compiled vocabulary cache, and the week a first `crwatch run` digests (no timing assertions)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from extractors import compiled
from extractors.page.extract import ExtractionLimits
from extractors.page.pool import ExtractionPool
from extractors.records import Provenance, RawPage, SeedText
from flows.runtime.prefect_api import SHUTDOWN_SECONDS, choose_api, serve_api

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private compiled-cache folder."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("CRWATCH_CACHE_DIR", str(folder))
    return folder


# ------------------------------------------------------------------ which Prefect API


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        ok = self.path == "/api/health"
        self.send_response(200 if ok else 404)
        self.end_headers()
        self.wfile.write(b"true" if ok else b"")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[str]:
    """A fake Prefect API on 127.0.0.1 answering /api/health; yields its API URL."""
    server = HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()
        server.server_close()


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _write_state(home: Path, state: object) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "serve.json").write_text(json.dumps(state), encoding="utf-8")


def test_live_serve_with_healthy_api_is_used(tmp_path: Path, health_server: str) -> None:
    _write_state(tmp_path, {"pid": os.getpid(), "api_url": health_server, "port": 1})
    assert serve_api(tmp_path) == health_server
    choice = choose_api(tmp_path, environ={})
    assert (choice.kind, choice.url) == ("serve", health_server)


@pytest.mark.parametrize(
    "state",
    [
        None,  # no file
        "{not json",  # corrupt
        ["a", "list"],  # wrong shape
        {"api_url": "http://127.0.0.1:9/api"},  # no pid
        {"pid": "12", "api_url": "http://127.0.0.1:9/api"},  # pid not a number
        {"pid": os.getpid()},  # no URL
        {"pid": os.getpid(), "api_url": "file:///etc/passwd"},  # not an HTTP URL
    ],
)
def test_missing_or_broken_state_file_means_temporary_server(tmp_path: Path, state: object) -> None:
    if isinstance(state, str):
        (tmp_path / "serve.json").write_text(state, encoding="utf-8")
    elif state is not None:
        _write_state(tmp_path, state)
    assert serve_api(tmp_path) is None
    assert choose_api(tmp_path, environ={}).kind == "temporary"


def test_dead_pid_or_silent_api_is_not_used(tmp_path: Path, health_server: str) -> None:
    _write_state(tmp_path, {"pid": _dead_pid(), "api_url": health_server})
    assert serve_api(tmp_path) is None  # the server answers, but serve is gone
    silent = health_server.rsplit(":", 1)[0] + ":9/api"  # discard port: nothing answers
    _write_state(tmp_path, {"pid": os.getpid(), "api_url": silent})
    assert serve_api(tmp_path) is None
    wrong_path = health_server.removesuffix("/api") + "/elsewhere"  # answers 404
    _write_state(tmp_path, {"pid": os.getpid(), "api_url": wrong_path})
    assert serve_api(tmp_path) is None


def test_prefect_api_url_wins_over_serve_state(tmp_path: Path, health_server: str) -> None:
    _write_state(tmp_path, {"pid": os.getpid(), "api_url": health_server})
    choice = choose_api(tmp_path, environ={"PREFECT_API_URL": "http://10.1.2.3:4200/api"})
    assert (choice.kind, choice.url) == ("env", "http://10.1.2.3:4200/api")


def test_profile_api_url_counts_as_configured(tmp_path: Path) -> None:
    prefect_home = tmp_path / "prefect"
    prefect_home.mkdir()
    (prefect_home / "profiles.toml").write_text(
        'active = "work"\n[profiles.work]\nPREFECT_API_URL = "http://127.0.0.1:4999/api"\n',
        encoding="utf-8",
    )
    choice = choose_api(tmp_path, environ={"PREFECT_HOME": str(prefect_home)})
    assert (choice.kind, choice.url) == ("env", "http://127.0.0.1:4999/api")


def test_template_seeds_only_a_fresh_prefect_home(tmp_path: Path, cache_dir: Path) -> None:
    from flows.runtime.prefect_api import seed_prefect_home, template_path

    home = tmp_path / "prefect"
    assert not seed_prefect_home(home, "k1")  # no template yet
    template = template_path("k1")
    template.parent.mkdir(parents=True)
    template.write_bytes(b"migrated")
    assert seed_prefect_home(home, "k1")
    assert (home / "prefect.db").read_bytes() == b"migrated"
    assert (home / "crwatch-template.txt").read_text().strip() == "k1"
    (home / "prefect.db").write_bytes(b"has runs")
    assert not seed_prefect_home(home, "k1")  # an existing database is never replaced
    assert (home / "prefect.db").read_bytes() == b"has runs"


# ------------------------------------------------------------------ lazy extraction workers


def _page(i: int) -> RawPage:
    html = f"<html><body><article><h1>Title {i}</h1><p>{'Text of the article. ' * 20}</p>"
    html += "</article></body></html>"
    return RawPage(
        url=f"https://lazy.example/{i}.html",
        body=html.encode(),
        provenance=Provenance(source="t", origin="warc", locator=f"t:{i}"),
    )


def _seed(i: int) -> SeedText:
    return SeedText(
        seed_id=f"s{i}", title="t", text="text", lang="en",
        provenance=Provenance(source="seed", origin="seed", locator=f"seed:{i}"),
    )  # fmt: skip


@pytest.mark.parametrize(("pages", "workers"), [(0, 0), (1, 1), (5, 2)])
def test_pool_starts_only_the_workers_the_input_needs(pages: int, workers: int) -> None:
    items = [_seed(0), *(_page(i) for i in range(pages)), _seed(1)]
    with ExtractionPool(2, ExtractionLimits()) as pool:
        assert pool.running == 0  # nothing starts before there is work
        results = list(pool.map(items))
        assert pool.running == workers
    assert [item for item, _ in results] == items  # order kept, nothing lost
    assert sum(outcome is not None for _, outcome in results) == pages


@pytest.mark.parametrize("launched_ahead", [False, True])
def test_pool_grows_when_pages_arrive_after_a_long_stretch_without(launched_ahead: bool) -> None:
    # e.g. a re-run of a replay: the first records are already stored, new pages come later
    items = [*(_seed(i) for i in range(40)), *(_page(i) for i in range(6))]
    with ExtractionPool(2, ExtractionLimits()) as pool:
        if launched_ahead:  # as `flows.ingest.flow.prepare` does for a replay
            pool.launch()
        results = list(pool.map(items))
        assert pool.running == 2
    assert [item for item, _ in results] == items
    assert sum(outcome is not None for _, outcome in results) == 6


# ------------------------------------------------------------------ compiled vocabulary cache


def test_cached_builds_once_and_rebuilds_on_a_new_key(cache_dir: Path) -> None:
    calls: list[str] = []

    def build(tag: str) -> dict[str, object]:
        calls.append(tag)
        return {"tag": tag, "rx": re.compile(r"(?P<w>\bxi\b|习近平)", re.IGNORECASE)}

    first = compiled.cached("thing", "k1", lambda: build("a"))
    again = compiled.cached("thing", "k1", lambda: build("b"))
    assert calls == ["a"] and again["tag"] == "a"
    rx = again["rx"]
    assert isinstance(rx, re.Pattern) and rx == first["rx"]  # same program, flags and groups
    assert rx.search("Meet XI now")["w"] == "XI"  # type: ignore[index]
    assert compiled.cached("thing", "k2", lambda: build("c"))["tag"] == "c"
    assert [p.name for p in cache_dir.glob("thing-*.pickle")] == ["thing-k2.pickle"]  # old gone
    (cache_dir / "thing-k2.pickle").write_bytes(b"garbage")  # a damaged entry is rebuilt
    assert compiled.cached("thing", "k2", lambda: build("d"))["tag"] == "d"


def test_vocabulary_edit_invalidates_the_compiled_cache(tmp_path: Path, cache_dir: Path) -> None:
    from extractors.classify import entities

    vocab = tmp_path / "entities.toml"
    shutil.copy(REPO / "seeds" / "entities.toml", vocab)
    text = "The Zorbian envoy met Putin."
    before = entities.extract_entities(None, text, "en", entities.load_gazetteer(vocab))
    assert "zorbia_test" not in {e.entity_id for e in before}
    assert len(list(cache_dir.glob("gazetteer-*.pickle"))) == 1
    # An analyst adds an entity: the next process (here: the cleared in-process cache) must
    # not read the stale compiled gazetteer.
    with vocab.open("a", encoding="utf-8") as handle:
        handle.write('\n[entity.zorbia_test]\nkind = "place"\nname = "Zorbia"\n'
                     'en = ["Zorbian"]\n')  # fmt: skip
    entities._load_cached.cache_clear()
    after = entities.extract_entities(None, text, "en", entities.load_gazetteer(vocab))
    assert "zorbia_test" in {e.entity_id for e in after}
    entities._load_cached.cache_clear()
    reloaded = entities.load_gazetteer(vocab)  # now from the new cache entry
    assert "zorbia_test" in reloaded.entities
    assert len(list(cache_dir.glob("gazetteer-*.pickle"))) == 1


def test_cached_taxonomy_classifies_like_a_fresh_compile(cache_dir: Path) -> None:
    from extractors.classify import matching, topics
    from extractors.classify.classifier import classify

    texts = [
        ("Си Цзиньпин и Путин провели переговоры в Москве о торговле и энергетике.", "ru"),
        ("习近平同俄罗斯总统普京举行会谈，双方同意深化能源合作。", "zh"),
        ("China and Russia signed a gas pipeline deal; Beijing and Moscow hailed it.", "en"),
    ]
    matching._load_cached.cache_clear()
    topics._load_cached.cache_clear()
    fresh = [classify(None, t, lang) for t, lang in texts]  # compiled, then written
    assert list(cache_dir.glob("taxonomy-*.pickle")) and list(cache_dir.glob("cues-*.pickle"))
    matching._load_cached.cache_clear()
    topics._load_cached.cache_clear()
    topics.focus.cache_clear()
    from_cache = [classify(None, t, lang) for t, lang in texts]  # read back from the pickles
    assert from_cache == fresh


# ------------------------------------------------------------------ first-run digest week


def _facts_warehouse(tmp_path: Path, rows: list[tuple[str, dt.date, bool, bool]]) -> object:
    """A warehouse whose document_facts hold (doc_id, day, is_seed, relevant) rows only."""
    from warehouse.db import Warehouse

    warehouse = Warehouse(tmp_path / "w.duckdb")
    warehouse.migrate()
    with warehouse.writer() as con:
        for doc_id, day, is_seed, relevant in rows:
            con.execute(
                "INSERT INTO document_facts (doc_id, story_id, source, is_seed, day,"
                " first_seen_at, date_missing, text_chars, relevant, entity_ids,"
                " entity_mentions) VALUES (?, ?, 't', ?, ?, now(), false, 100, ?, [], [])",
                [doc_id, doc_id, is_seed, day, relevant],
            )
    return warehouse


def test_run_week_is_the_last_complete_week_when_it_has_news(tmp_path: Path) -> None:
    from flows.digest.weeks import choose_run_week

    warehouse = _facts_warehouse(tmp_path, [
        ("a", dt.date(2024, 5, 14), False, True),  # 2024-W20
        ("b", dt.date(2024, 5, 22), False, True),  # 2024-W21, the current week
    ])  # fmt: skip
    choice = choose_run_week(warehouse, dt.date(2024, 5, 23))  # type: ignore[arg-type]
    assert choice.week_start == dt.date(2024, 5, 13) and choice.complete and not choice.note


def test_run_week_falls_back_to_the_latest_week_with_relevant_news(tmp_path: Path) -> None:
    from flows.digest.weeks import choose_run_week

    warehouse = _facts_warehouse(tmp_path, [
        ("a", dt.date(2024, 5, 14), False, True),  # 2024-W20: relevant
        ("b", dt.date(2024, 5, 28), False, False),  # 2024-W22: only an irrelevant report
        ("s", dt.date(2024, 6, 4), True, True),  # a seed: not news
    ])  # fmt: skip
    choice = choose_run_week(warehouse, dt.date(2024, 6, 5))  # type: ignore[arg-type]
    assert choice.week_start == dt.date(2024, 5, 13)
    assert choice.complete and not choice.include_seeds
    assert "2024-W22" in choice.note and "2024-W20" in choice.note


def test_run_week_may_be_the_current_week_then_it_is_not_complete(tmp_path: Path) -> None:
    from flows.digest.weeks import choose_run_week

    warehouse = _facts_warehouse(tmp_path, [("a", dt.date(2024, 6, 4), False, True)])
    choice = choose_run_week(warehouse, dt.date(2024, 6, 5))  # type: ignore[arg-type]
    assert choice.week_start == dt.date(2024, 6, 3) and not choice.complete


def test_run_week_without_news_shows_the_seed_baseline(tmp_path: Path) -> None:
    from flows.digest.weeks import choose_run_week

    warehouse = _facts_warehouse(tmp_path, [
        ("s1", dt.date(2023, 1, 3), True, True),
        ("s2", dt.date(2024, 6, 4), True, True),
        ("x", dt.date(2024, 6, 4), False, False),
    ])  # fmt: skip
    choice = choose_run_week(warehouse, dt.date(2024, 6, 12))  # type: ignore[arg-type]
    assert choice.include_seeds and not choice.complete
    assert choice.week_start == dt.date(2024, 6, 3) and "seed baseline" in choice.note
    empty = _facts_warehouse(tmp_path / "e", [])
    plain = choose_run_week(empty, dt.date(2024, 6, 12))  # type: ignore[arg-type]
    assert plain.week_start == dt.date(2024, 6, 3) and plain.complete and not plain.include_seeds


def test_seed_baseline_digest_lists_every_relevant_seed_story(
    crwatch_home: Path, cache_dir: Path
) -> None:
    from flows.digest.content import top_stories
    from flows.digest.weeks import choose_run_week
    from flows.ingest.flow import run_ingest
    from flows.settings import load_settings
    from warehouse.db import Warehouse

    settings = load_settings(overrides={"progress": False})
    run_ingest(settings, [], seeds=True, run_id="seeds-only")
    warehouse = Warehouse(settings.warehouse)
    choice = choose_run_week(warehouse, dt.date.today())
    assert choice.include_seeds
    _, rows = warehouse.query(
        "SELECT count(DISTINCT story_id) FROM document_facts WHERE is_seed AND relevant"
    )
    stories = top_stories(warehouse, choice.week_start, 10, include_seeds=True)
    assert len(stories) == rows[0][0] >= 5
    assert top_stories(warehouse, choice.week_start, 10) == []  # a normal digest ignores seeds


# ------------------------------------------------------------------ the real one-off path


def test_one_off_ingest_starts_and_stops_its_own_temporary_server(tmp_path: Path) -> None:
    """Two one-off commands in fresh data folders: the first migrates Prefect's database and
    leaves the template, the second starts from it; both record their flow run and leave no
    server behind."""
    from warehouse.db import Warehouse

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CRWATCH_"))}
    env.update(DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false",
               CRWATCH_CACHE_DIR=str(tmp_path / "cache"), CRWATCH_PROGRESS="false")  # fmt: skip
    crwatch = Path(sys.executable).with_name("crwatch")
    for name in ("first", "second"):
        home = tmp_path / name
        done = subprocess.run(
            [str(crwatch), "ingest", "--seeds", "--json"], env={**env, "CRWATCH_HOME": str(home)},
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert summary["docs_new"] == 6
        _, status = Warehouse(home / "lake").query(  # the default warehouse
            "SELECT status FROM runs WHERE run_id = ?", [summary["run_id"]]
        )
        assert status == [("completed",)]
        assert list((tmp_path / "cache").glob("prefect-template-*.db"))
        assert (home / "prefect" / "crwatch-template.txt").exists() == (name == "second")
    # The command asks its server to stop and does not wait for its shutdown (bounded at
    # SHUTDOWN_SECONDS by uvicorn): the servers are gone shortly after.
    deadline = time.monotonic() + SHUTDOWN_SECONDS + 5
    while _servers_under(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _servers_under(tmp_path) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_temporary_server_dies_with_a_killed_command(tmp_path: Path) -> None:
    """kill -9 of a one-off command (no exit handlers run) still ends its temporary server."""
    import signal

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CRWATCH_"))}
    env.update(DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false",
               CRWATCH_CACHE_DIR=str(tmp_path / "cache"), CRWATCH_PROGRESS="false",
               CRWATCH_HOME=str(tmp_path / "home"))  # fmt: skip
    crwatch = Path(sys.executable).with_name("crwatch")
    command = subprocess.Popen(
        [str(crwatch), "ingest", "--seeds"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not _servers_under(tmp_path) and time.monotonic() < deadline:
            assert command.poll() is None, "the command ended before its server was seen"
            time.sleep(0.05)
        assert _servers_under(tmp_path), "no temporary server started"
    finally:
        command.send_signal(signal.SIGKILL)
        command.wait()
    deadline = time.monotonic() + SHUTDOWN_SECONDS + 10
    while _servers_under(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _servers_under(tmp_path) == []


def _servers_under(root: Path) -> list[int]:
    """Pids of Prefect server processes whose PREFECT_HOME lies under `root` (Linux /proc)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"create_app" in cmdline and any(
            entry.startswith(b"PREFECT_HOME=" + str(root).encode()) for entry in environ
        ):
            found.append(int(proc.name))
    return found


# ------------------------------------------------------------------ the lake attach


def test_extension_signatures_are_checked_once_per_unchanged_file(
    tmp_path: Path, cache_dir: Path
) -> None:
    """The first load checks signatures and records the files; a later one trusts only files
    that are byte-for-byte where they were (a touched or replaced file is checked again)."""
    from warehouse import extensions
    from warehouse.db import Warehouse

    paths = Warehouse(tmp_path / "lake").extensions()
    assert not extensions.verified(paths)
    extensions.connect_with(paths).close()  # checked: nothing recorded yet
    assert extensions.verified(paths)
    con = extensions.connect_with(paths)
    unsigned = con.execute("SELECT current_setting('allow_unsigned_extensions')").fetchone()
    con.close()
    assert unsigned == (True,)
    copy = tmp_path / paths[0].name  # the same bytes at another path are not the checked file
    shutil.copyfile(paths[0], copy)
    assert not extensions.verified([copy, *paths[1:]])
    record = json.loads((cache_dir / extensions.RECORD).read_text())
    record["files"][str(paths[0].resolve())][1] -= 1  # as if the file had been modified since
    (cache_dir / extensions.RECORD).write_text(json.dumps(record))
    assert not extensions.verified(paths)
    (cache_dir / extensions.RECORD).write_text("{not json")
    assert not extensions.verified(paths)
    extensions.connect_with(paths).close()  # checked again, and recorded again
    assert extensions.verified(paths)


def test_a_tampered_extension_is_refused_when_not_recorded(tmp_path: Path, cache_dir: Path) -> None:
    import duckdb

    from warehouse import extensions
    from warehouse.db import Warehouse

    original = Warehouse(tmp_path / "lake").extensions()[0]
    tampered = tmp_path / original.name
    data = bytearray(original.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    with pytest.raises(duckdb.Error):
        extensions.connect_with([tampered])
    assert not extensions.verified([tampered])


def test_nested_readers_share_one_snapshot_and_survive_a_failed_query(crwatch_home: Path) -> None:
    from warehouse.db import QueryError, Warehouse

    warehouse = Warehouse(crwatch_home / "lake")
    warehouse.migrate()
    with warehouse.reader() as outer:
        outer.execute("SELECT count(*) FROM schema_migrations").fetchall()  # snapshot taken
        with warehouse.reader() as inner:
            assert inner is outer
        with warehouse.writer() as con:  # committed while the outer reader is open
            con.execute("INSERT INTO schema_migrations VALUES (999, 'test', now())")
        assert warehouse.query("SELECT count(*) FROM schema_migrations WHERE version = 999")[1] == [
            (0,)
        ], "a nested query reads the outer reader's snapshot"
        with pytest.raises(QueryError):
            warehouse.query("SELECT * FROM no_such_table")
        assert warehouse.query("SELECT 1")[1] == [(1,)], "the outer reader still works"
    assert warehouse.query("SELECT count(*) FROM schema_migrations WHERE version = 999")[1] == [
        (1,)
    ]


def test_entity_sync_writes_only_what_changed(crwatch_home: Path) -> None:
    import datetime as _dt

    from warehouse.db import Warehouse
    from warehouse.load import sync_entities

    warehouse = Warehouse(crwatch_home / "lake")
    warehouse.migrate()
    rows = [{"entity_id": "a", "kind": "person", "name": "A", "aliases": ["a1"]},
            {"entity_id": "b", "kind": "place", "name": "B", "aliases": ["b1"]}]  # fmt: skip
    first = _dt.datetime(2026, 1, 1, tzinfo=_dt.UTC)
    warehouse.transact(lambda con: sync_entities(con, rows, first))

    def snapshots() -> int:
        return int(
            warehouse.query("SELECT max(snapshot_id) FROM ducklake_snapshots('lake')")[1][0][0]
        )

    before = snapshots()
    later = first + _dt.timedelta(days=1)
    warehouse.transact(lambda con: sync_entities(con, rows, later))
    assert snapshots() == before, "an unchanged catalogue is not rewritten"
    rows[1] = {**rows[1], "aliases": ["b1", "b2"]}
    warehouse.transact(lambda con: sync_entities(con, rows, later))
    _, stored = warehouse.query("SELECT entity_id, aliases, updated_at FROM entities ORDER BY 1")
    assert [(r[0], r[1], r[2] == later) for r in stored] == [
        ("a", ["a1"], False), ("b", ["b1", "b2"], True)
    ]  # fmt: skip


def test_catalogue_synced_ahead_spares_the_flow_one_sync(
    crwatch_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A one-off command syncs the entity catalogue before its flow; that flow's own sync is
    then skipped, once: the next sync (a later flow in `crwatch serve`) writes again."""
    from flows.ingest import pipeline
    from warehouse.db import Warehouse

    warehouse = Warehouse(crwatch_home / "lake")
    warehouse.migrate()
    from warehouse.load import sync_entities

    writes: list[int] = []

    def counted(con: Any, rows: Any, now: Any) -> None:
        writes.append(1)
        sync_entities(con, rows, now)

    monkeypatch.setattr(pipeline, "sync_entities", counted)
    pipeline.sync_entity_catalogue(warehouse, ahead=True)
    assert warehouse.query("SELECT count(*) FROM entities")[1][0][0] > 100
    pipeline.sync_entity_catalogue(warehouse)  # the flow's: already done
    pipeline.sync_entity_catalogue(warehouse)  # a later run's: done again
    assert len(writes) == 2


def test_one_off_flow_settings_drop_only_the_heartbeat() -> None:
    from prefect.settings import get_current_settings

    from flows.runtime.prefect_api import one_off_flow_settings

    before = get_current_settings()
    with one_off_flow_settings():
        inside = get_current_settings()
        assert inside.flows.heartbeat_frequency is None
        assert inside.model_dump(exclude={"flows"}) == before.model_dump(exclude={"flows"})
        assert inside.flows.model_dump(exclude={"heartbeat_frequency"}) == before.flows.model_dump(
            exclude={"heartbeat_frequency"}
        )
    assert get_current_settings().flows.heartbeat_frequency == before.flows.heartbeat_frequency


def test_warehouse_is_not_opened_ahead_beside_an_old_single_file(crwatch_home: Path) -> None:
    from flows.runtime.warmup import start_warehouse
    from flows.settings import load_settings
    from warehouse.db import Warehouse

    settings = load_settings()
    Warehouse(crwatch_home / "crwatch.duckdb").migrate()  # what an earlier crwatch left
    assert start_warehouse(settings) is None
    assert not (crwatch_home / "lake").exists(), "no empty lake beside the old file"
    (crwatch_home / "crwatch.duckdb").unlink()
    opening = start_warehouse(settings)
    assert opening is not None
    opening.join(timeout=120)
    assert Warehouse(crwatch_home / "lake").exists()
