"""The `crwatch` command line: argument parsing and wiring only; the work is elsewhere."""

from __future__ import annotations

import atexit
import contextlib
import csv
import gc
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from flows.cli.digest import digest
from flows.settings import Settings, cli_settings, open_warehouse

if TYPE_CHECKING:
    from warehouse.db import Warehouse

console = Console(stderr=True)
out = Console()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="crwatch")
def main() -> None:
    """crwatch: monitor China–Russia relations in the news.

    Fetch or replay sources, extract the main text, drop duplicates, judge relevance, and keep
    everything in a DuckDB warehouse. Settings come from crwatch.toml and CRWATCH_* variables.
    """
    _freeze_at_exit()


_exit_hook: list[bool] = []


def _freeze_at_exit() -> None:
    """At exit, freeze every live object out of the interpreter's last garbage collection.

    Python collects once more while it shuts down, scanning every object still alive, for
    nothing: the process is ending and the objects are released as modules are cleared either
    way. Measured: ~0.35 s after importing Prefect and the pipeline unfrozen; the ingest freezes
    its imports already (`_imports_without_gc`), so here it saves what was imported or built
    later (~15 ms of `crwatch sql`). Registered first, so it runs after every other exit handler.
    """
    if not _exit_hook:
        _exit_hook.append(True)
        atexit.register(gc.freeze)


# ---------------------------------------------------------------- ingest / run


def _progress_hook(progress: Progress) -> Callable[[str, int | None], Callable[[Any], None]]:
    def hook(label: str, total_bytes: int | None) -> Callable[[Any], None]:
        task_id = progress.add_task(label, total=total_bytes)

        def advance(item: Any) -> None:
            offset = getattr(item.provenance, "warc_offset", None)
            if total_bytes and offset is not None:
                progress.update(task_id, completed=offset)
            elif not total_bytes:
                progress.advance(task_id)

        return advance

    return hook


@contextlib.contextmanager
def _imports_without_gc() -> Iterator[None]:
    """Import with the cyclic garbage collector paused, then freeze what was imported.

    Importing Prefect and the pipeline creates ~200k objects (pydantic models, classes), which
    set off a collection every 700 allocations, each scanning the young objects: ~9% of the
    imports' CPU (~0.1 s). Modules live as long as the process, so they are then frozen out of
    later collections (`gc.freeze`), and collecting resumes as before.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _run_ingest(
    settings: Settings, replay: tuple[str, ...], seeds: bool, live: bool = False
) -> dict[str, Any]:
    from flows.runtime.prefect_api import PrefectApiError, one_off_flow_settings, open_api

    # A running API (crwatch serve, PREFECT_API_URL) is used as is; otherwise the temporary
    # server boots from here on, while this process imports Prefect and warms its caches.
    api = open_api(settings)
    # The lake opens and migrates in a thread while this one imports Prefect (runtime/warmup.py).
    from flows.runtime.warmup import start_warehouse

    opening = start_warehouse(settings, then=_sync_catalogue_ahead)
    try:
        with _imports_without_gc():
            from flows.ingest import flow as ingest

        paths = ingest.expand_replay_paths(list(replay))
        missing = [p for p in paths if not p.exists()]
        if missing:
            raise click.ClickException("no such WARC file: " + ", ".join(map(str, missing)))
        ingest.prepare(settings, paths, seeds)
        try:
            api.ready()
        except PrefectApiError as exc:
            raise click.ClickException(str(exc)) from exc
    finally:
        if opening is not None:
            opening.join()  # before the flow's own transactions (or the exit) on the instance
    show = settings.progress and console.is_terminal
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=console, disable=not show, transient=True,
    ) as progress:  # fmt: skip
        caller = ingest.LocalCaller(settings, _progress_hook(progress) if show else None)
        try:
            with one_off_flow_settings(), ingest.called_by(caller):
                return ingest.ingest_flow(replay=list(replay), seeds=seeds, live=live)
        finally:
            ingest.release_prepared()


def _sync_catalogue_ahead(warehouse: Warehouse) -> None:
    """The entity catalogue, synced while Prefect imports (the flow's own sync is then done)."""
    from flows.ingest.pipeline import sync_entity_catalogue

    sync_entity_catalogue(warehouse, ahead=True)


def _print_summary(summary: dict[str, Any]) -> None:
    table = Table(title="ingest summary", show_header=True, header_style="bold")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for label, key in [
        ("items seen", "items_seen"), ("documents new", "docs_new"),
        ("duplicates (copies, re-reads)", "docs_duplicate"),
        ("changed (re-crawl, new text)", "docs_changed"), ("failed (error rows)", "docs_failed"),
        ("relevant: core", "relevant_core"), ("relevant: related", "relevant_related"),
        ("passing mention", "relevant_passing"), ("not relevant", "relevant_none"),
        ("seconds", "seconds"),
    ]:  # fmt: skip
        table.add_row(label, str(summary[key]))
    out.print(table)
    if summary["by_source"]:
        by_source = Table(title="by source", header_style="bold")
        for column in ("source", "new", "duplicate", "changed", "failed"):
            by_source.add_column(column, justify="left" if column == "source" else "right")
        for source, counts in summary["by_source"].items():
            by_source.add_row(
                source,
                *(str(counts.get(k, 0)) for k in ("new", "duplicate", "changed", "failed")),
            )
        out.print(by_source)
    if summary.get("live"):
        live = Table(title="live sources", header_style="bold")
        for column in (
            "source",
            "listing",
            "new URLs",
            "stored before",
            "fetched",
            "failed",
            "robots",
        ):
            live.add_column(column, justify="left" if column in ("source", "listing") else "right")
        for source, health in summary["live"].items():
            failed = health.get("failed") or {}
            live.add_row(
                source, str(health.get("listing", "")), str(health.get("discovered", 0)),
                str(health.get("already_stored", 0)), str(health.get("fetched", 0)),
                ", ".join(f"{k} {v}" for k, v in failed.items()) or "0",
                str(health.get("robots_blocked", 0)),
            )  # fmt: skip
        out.print(live)
    if summary["errors"]:
        errors = ", ".join(f"{kind}: {n}" for kind, n in sorted(summary["errors"].items()))
        out.print(f'errors by kind: {errors}  (details: crwatch sql "SELECT * FROM fetch_errors")')
    out.print(f"warehouse: {summary['warehouse']}")


@main.command()
@click.option(
    "--replay",
    "replay",
    multiple=True,
    metavar="FILE",
    help="WARC/ARC file, directory or glob to replay (repeatable).",
)
@click.option("--seeds/--no-seeds", default=False, help="Also load the seed baseline.")
@click.option(
    "--live/--no-live", default=False, help="Also fetch the enabled sources of sources.toml."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--runner",
    type=click.Choice(["threads", "dask"]),
    default=None,
    help="Where extraction runs (default: the runner setting): local processes or Dask.",
)
def ingest(
    replay: tuple[str, ...], seeds: bool, live: bool, as_json: bool, runner: str | None
) -> None:
    """Ingest WARC replays, the seed baseline and/or the live sources into the warehouse.

    Re-running the same replay adds no documents: every record has a natural key.

    \b
    Example:
        crwatch ingest --replay ../shared/corpus/news/cctv_zh/replay.warc.gz --seeds
        crwatch ingest --live
        crwatch ingest --replay archive/ --runner dask
    """
    if not replay and not seeds and not live:
        raise click.UsageError("nothing to ingest: give --replay FILE, --seeds and/or --live")
    summary = _run_ingest(cli_settings(runner), replay, seeds, live)
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        _print_summary(summary)


@main.command()
def run() -> None:
    """Run the main job: the seed baseline, the configured replays and the live sources.

    This is what `make run` calls. Live sources (seeds/sources.toml) are fetched unless the
    `live` setting is false; an unreachable source is reported and the rest of the job goes on.
    It ends with a digest of the data it has: the last complete week if it has China–Russia
    documents, else the latest week that has them (said so), sent by SMTP when configured, else
    written to the outbox folder; with no news collected yet, a printed preview whose top stories
    are the seed baseline. The scheduled digest (`crwatch serve`) keeps its calendar week.

    \b
    Example:
        CRWATCH_REPLAY=archive/*.warc.gz crwatch run
    """
    settings = cli_settings()
    summary = _run_ingest(settings, settings.replay, True, settings.live)
    _print_summary(summary)
    # Then the digest of the data it has (outbox unless SMTP is configured); a failure is
    # reported and sets the exit status, but the ingest above is already stored.
    from flows.cli.digest import digest_after_run

    if digest_after_run(settings):
        sys.exit(1)


# ---------------------------------------------------------------- extract


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _doc_record(doc: Any) -> dict[str, Any]:
    """An `ExtractedDoc` as JSON-ready fields (without internal extras)."""
    return {k: _jsonable(v) for k, v in asdict(doc).items() if k not in ("extra", "analysis")}


@main.command()
@click.argument(
    "html_file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--warc",
    "warc_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Extract every page record of this WARC file instead.",
)
@click.option("--url", default=None, help="URL to assume for HTML_FILE (helps metadata).")
@click.option("--limit", type=int, default=None, help="Stop after this many WARC records.")
def extract(
    html_file: Path | None, warc_file: Path | None, url: str | None, limit: int | None
) -> None:
    """Print the extracted record(s) as JSON lines, exactly as ingest would extract them.

    Each line has url, title, text, lang, published_at, date_source, author, sitename, or
    error_kind and error for pages that fail. Nothing is stored.

    \b
    Examples:
        crwatch extract page.html --url https://example.com/news/1
        crwatch extract --warc ../shared/corpus/warc/dolma_samples/sample-0000.warc.gz --limit 3
    """
    from extractors.acquire.warc import iter_warc
    from extractors.page.extract import extract_page
    from extractors.records import ExtractedDoc, Provenance, RawPage

    if (html_file is None) == (warc_file is None):
        raise click.UsageError("give either HTML_FILE or --warc FILE")
    settings = cli_settings()
    limits = settings.extraction_limits()

    def items() -> Iterator[Any]:
        if html_file is not None:
            provenance = Provenance(source="cli", origin="file", locator=str(html_file))
            yield RawPage(
                url=url or html_file.resolve().as_uri(),
                body=html_file.read_bytes(),
                provenance=provenance,
            )
        else:
            assert warc_file is not None
            yield from iter_warc(warc_file, max_body_bytes=settings.max_page_bytes)

    for count, item in enumerate(items()):
        if limit is not None and count >= limit:
            break
        if not isinstance(item, RawPage):
            record = {"url": item.url, "error_kind": item.error_kind, "error": item.message}
        else:
            outcome = extract_page(item, limits)
            if isinstance(outcome, ExtractedDoc):
                record = _doc_record(outcome)
            else:
                record = {
                    "url": item.url,
                    "error_kind": outcome.error_kind,
                    "error": outcome.message,
                }
        click.echo(json.dumps(record, ensure_ascii=False))


# ---------------------------------------------------------------- fetch


@main.command()
@click.argument("url")
@click.option("--extract", "with_text", is_flag=True, help="Also print the extracted record.")
def fetch(url: str, with_text: bool) -> None:
    """Fetch one URL exactly as the live ingest would, and print the outcome as JSON.

    Same client, robots.txt rules, private-address guard, size and decompression caps and
    deadline as a run (settings: user_agent, contact_url, allow_hosts, fetch_*). Nothing is
    stored. Use it to check a new source.

    \b
    Example:
        crwatch fetch https://tass.com/rss/v2.xml
        crwatch fetch https://www.example.com/news/1.html --extract
    """
    from extractors.acquire.fetch import fetch_one
    from flows.ingest.live import policy_for

    settings = cli_settings()
    result = fetch_one(url, policy_for(settings))
    record: dict[str, Any] = {
        "url": result.url, "final_url": result.final_url, "status": result.status,
        "outcome": result.outcome, "error_kind": result.error_kind,
        "error": result.error_message, "content_type": result.content_type,
        "bytes": result.raw_bytes, "decoded_bytes": len(result.body),
        "attempts": result.attempts, "seconds": round(result.elapsed, 3),
        "redirects": list(result.redirects), "etag": result.etag,
        "last_modified": result.last_modified,
    }  # fmt: skip
    if with_text and result.outcome == "ok":
        from extractors.page.extract import extract_page
        from extractors.records import ExtractedDoc, Provenance, RawPage

        page = RawPage(
            url=result.final_url or url, body=result.body,
            provenance=Provenance(source="cli", origin="live", locator=url),
            content_type=result.content_type, http_status=result.status, charset=result.charset,
        )  # fmt: skip
        limits = settings.extraction_limits()
        outcome = extract_page(page, limits)
        if isinstance(outcome, ExtractedDoc):
            record["extracted"] = _doc_record(outcome)
        else:
            record["extracted"] = {"error_kind": outcome.error_kind, "error": outcome.message}
    click.echo(json.dumps(record, ensure_ascii=False, indent=2))
    if result.outcome == "error":
        sys.exit(1)


# ---------------------------------------------------------------- classify / reclassify


@main.command()
@click.option(
    "--input",
    "input_file",
    required=True,
    type=click.File("r", encoding="utf-8"),
    help="JSON Lines: `id` and `text` (+ `title`, `lang`, `url`) or `html` (+ `url`); - = stdin.",
)
@click.option(
    "--output",
    "output_file",
    type=click.File("w", encoding="utf-8"),
    default="-",
    show_default=True,
    help="Where to write the results (JSON Lines).",
)
def classify(input_file: Any, output_file: Any) -> None:
    """Classify items without ingesting them: relevance, score, topics, stance, entities.

    HTML is extracted first exactly as ingest would. A line that cannot be classified gets an
    output line with `error_kind` and `error`; the others go on. Nothing is stored.

    \b
    Example:
        echo '{"id": "1", "text": "Си Цзиньпин и Путин провели переговоры в Москве."}' \\
          | crwatch classify --input -
    """
    from flows.classify.items import classify_lines

    settings = cli_settings()
    counts = {"items": 0, "errors": 0}
    for record in classify_lines(input_file, settings):
        counts["items"] += 1
        counts["errors"] += "error_kind" in record
        output_file.write(json.dumps(record, ensure_ascii=False) + "\n")
        output_file.flush()
    console.print(f"{counts['items']} item(s) classified, {counts['errors']} error(s)")


@main.command()
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Only documents published (or first seen) on or after this date; default: all.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def reclassify(since: datetime | None, as_json: bool) -> None:
    """Re-judge stored documents with the current classifier and vocabularies.

    Writes rows under the current classifier version next to the old ones (the views show the
    newest) and reports what changed: levels, topics, stance, entities, with examples.

    \b
    Examples:
        crwatch reclassify
        crwatch reclassify --since 2026-01-01 --json
    """
    import uuid

    from flows.classify.reclassify import reclassify as run_reclassify
    from warehouse.db import WarehouseError

    settings = cli_settings()
    warehouse = open_warehouse(settings)
    if not warehouse.exists():
        raise click.ClickException("no warehouse yet: run `make run` or `crwatch ingest` first")
    try:
        summary = run_reclassify(
            warehouse, uuid.uuid4().hex, since.date() if since else None, settings.batch_size
        ).as_dict()
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2, default=str))
        return
    out.print(
        f"classifier {summary['classifier_version']}: {summary['documents']} document(s)"
        f" re-judged, {summary['changed']} changed, {summary['first_judgement']} judged"
        f" for the first time ({summary['seconds']} s)"
    )
    if summary["changes"]:
        out.print("changed: " + ", ".join(f"{k} {v}" for k, v in summary["changes"].items()))
    if summary["level_changes"]:
        table = Table(title="relevance level changes", header_style="bold")
        for column in ("from", "to", "documents"):
            table.add_column(column, justify="right" if column == "documents" else "left")
        for change in summary["level_changes"]:
            table.add_row(change["from"], change["to"], str(change["documents"]))
        out.print(table)
    for example in summary["examples"][:10]:
        level, stance = example["level"], example["stance"]
        out.print(
            f"  {example['doc_id'][:12]}  {level[0]}→{level[1]}  stance {stance[0]}→{stance[1]}"
            f"  {(example['title'] or '')[:70]}"
        )


# ---------------------------------------------------------------- sql / status


FORMATS = ["table", "csv", "json", "markdown"]


def _emit(columns: list[str], rows: list[tuple[Any, ...]], fmt: str) -> None:
    if fmt == "json":
        for row in rows:
            click.echo(
                json.dumps(
                    dict(zip(columns, map(_jsonable, row), strict=True)),
                    ensure_ascii=False,
                    default=str,
                )
            )
    elif fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    elif fmt == "markdown":

        def cell(value: Any) -> str:
            text = "" if value is None else str(_jsonable(value))
            return text.replace("|", "\\|").replace("\n", " ")

        click.echo("| " + " | ".join(columns) + " |")
        click.echo("|" + "---|" * len(columns))
        for row in rows:
            click.echo("| " + " | ".join(cell(v) for v in row) + " |")
    else:
        table = Table(header_style="bold")
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*("" if v is None else str(v)[:300] for v in row))
        out.print(table)
        console.print(f"{len(rows)} row(s)")


@main.command()
@click.argument("query")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
)
@click.option(
    "--as-of",
    "as_of",
    default=None,
    metavar="RUN",
    help="Read the lake as a past run left it (run id or its last 8 characters, a snapshot"
    " number, or an ISO time).",
)
def sql(query: str, fmt: str, as_of: str | None) -> None:
    """Run read-only SQL against the warehouse (one consistent snapshot of the lake).

    \b
    Example:
        crwatch sql "SELECT relevance_level, count(*) FROM latest_classifications GROUP BY 1"
        crwatch sql --as-of 3f9c2a1b "SELECT count(*) FROM documents"
    """
    from warehouse.db import WarehouseError

    settings = cli_settings()
    try:
        if as_of is None:
            columns, rows = open_warehouse(settings).query(query)
        else:
            from warehouse.lake import query_as_of

            snapshot, columns, rows = query_as_of(open_warehouse(settings), query, as_of)
            console.print(
                f"as of snapshot {snapshot.version} ({snapshot.time:%Y-%m-%d %H:%M:%S %Z}):"
                f" {snapshot.reason}"
            )
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from exc
    _emit(columns, rows, fmt)


@main.command()
@click.argument("name", required=False)
@click.option(
    "--param", "params", multiple=True, metavar="KEY=VALUE", help="A query parameter (repeatable)."
)
@click.option("--list", "list_only", is_flag=True, help="List the named queries and parameters.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
def query(name: str | None, params: tuple[str, ...], list_only: bool, fmt: str) -> None:
    """Run a named trend query (warehouse/queries/*.sql) with bound parameters.

    \b
    Examples:
        crwatch query --list
        crwatch query weekly_reports_stories --param since=2026-01-01
        crwatch query entity_movers --param week=2026-11-16 --format markdown
    """
    from warehouse.db import WarehouseError
    from warehouse.queries import get_query, list_queries, run_query

    if list_only or name is None:
        for named in list_queries():
            out.print(f"[bold]{named.name}[/bold]  {named.description}")
            for p in named.params:
                default = f" = {p.default}" if p.default is not None else ""
                out.print(f"    --param {p.name}=<{p.type}>{default}  {p.help}")
        if name is None and not list_only:
            raise click.UsageError("give a query NAME (see the list above)")
        return
    given: dict[str, str] = {}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"--param expects KEY=VALUE, got {item!r}")
        given[key.strip()] = value
    settings = cli_settings()
    try:
        get_query(name)
        columns, rows = run_query(open_warehouse(settings), name, given)
    except KeyError as exc:
        raise click.UsageError(str(exc.args[0])) from exc
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from exc
    _emit(columns, rows, fmt)


@main.command()
@click.argument("text", required=False)
@click.option("--lang", default=None, help="Only documents in this language (zh, ru, en, ...).")
@click.option("--limit", default=20, show_default=True, help="At most this many results.")
@click.option(
    "--refresh",
    is_flag=True,
    help="Rebuild the search index from the warehouse first (ingest keeps it current; this "
    "repairs a missing or damaged index).",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
def search(text: str | None, lang: str | None, limit: int, refresh: bool, fmt: str) -> None:
    """Full-text search over titles and texts (tantivy BM25; Chinese by character bigrams).

    \b
    Examples:
        crwatch search "Power of Siberia"
        crwatch search 普京 --lang zh --limit 5
        crwatch search Лавров --format json
    """
    from warehouse.db import WarehouseError
    from warehouse.search import refresh_index
    from warehouse.search import search as run_search

    if text is None and not refresh:
        raise click.UsageError("give the TEXT to search for (or --refresh)")
    settings = cli_settings()
    warehouse = open_warehouse(settings)
    try:
        if refresh:
            stats = refresh_index(warehouse, full=True)
            console.print(
                f"search index rebuilt: {stats['documents']} documents, {stats['seconds']:.1f} s"
            )
        if text is not None:
            columns, rows = run_search(warehouse, text, lang=lang, limit=limit)
            _emit(columns, rows, fmt)
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.option(
    "--parquet",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write one Parquet file per table and main view into.",
)
def export(out_dir: Path) -> None:
    """Export the warehouse to Parquet (tables, relevant_documents, stories, ...).

    \b
    Example:
        crwatch export --parquet exports/2026-12-01
    """
    from warehouse.db import WarehouseError
    from warehouse.export import export_parquet

    settings = cli_settings()
    try:
        paths = export_parquet(open_warehouse(settings), out_dir)
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from exc
    for path in paths:
        out.print(str(path))
    console.print(f"{len(paths)} file(s) in {out_dir}")


@main.command()
def status() -> None:
    """Show the data folder, serve, failed attempts, what the warehouse holds and the last runs.

    Shows whether `crwatch serve` runs (pid, API health) and the next scheduled runs (or that
    nothing will run them), the failed, skipped and crashed attempts of the last 24 h with
    their reason (also those the warehouse could not record: <home>/attempts.jsonl), the last
    runs (a run whose process died shows as crashed), failing sources, the sizes of the
    warehouse and the WARC archive, and the ingest lock holder.

    \b
    Example:
        crwatch status
    """
    from flows.cli.ops import show_status

    show_status(cli_settings(), out, _emit)


from flows.cli.label import eval_cmd, train  # noqa: E402
from flows.cli.label import label as label_cmd  # noqa: E402
from flows.cli.lake import connect, migrate  # noqa: E402
from flows.cli.ops import backup, doctor, maintain, serve  # noqa: E402

main.add_command(serve)
main.add_command(doctor)
main.add_command(backup)
main.add_command(maintain)
main.add_command(connect)
main.add_command(migrate)

main.add_command(digest)
main.add_command(label_cmd)
main.add_command(train)
main.add_command(eval_cmd)

if __name__ == "__main__":
    main()
