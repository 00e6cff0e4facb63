"""`crwatch label`, `crwatch train`, `crwatch eval`: analyst corrections and the learned layer."""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import asdict
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from flows.settings import cli_settings, open_warehouse

out = Console()


def _author(given: str | None) -> str:
    if given:
        return given
    env = os.environ.get("CRWATCH_AUTHOR")
    if env:
        return env
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a container
        return "unknown"


@click.command()
@click.argument("doc_id", required=False)
@click.option(
    "--relevance",
    type=click.Choice(["core", "related", "passing", "none"]),
    help="The right relevance level.",
)
@click.option("--topics", help="Comma-separated topics (core/related only).")
@click.option(
    "--stance",
    type=click.Choice(["positive", "skeptical", "neutral"]),
    help="The right stance (core/related only; default neutral).",
)
@click.option("--note", help="Why (one sentence).")
@click.option("--author", help="Who corrects (default: $CRWATCH_AUTHOR, else the user name).")
@click.option(
    "--from",
    "from_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Store every correction of a labels JSON Lines file (id, relevance, topics, stance,"
    " note).",
)
@click.option(
    "--export",
    "export_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the corrections in force as a labels file for `crwatch train`.",
)
def label(
    doc_id: str | None,
    relevance: str | None,
    topics: str | None,
    stance: str | None,
    note: str | None,
    author: str | None,
    from_file: Path | None,
    export_file: Path | None,
) -> None:
    """Correct the automatic judgement of a stored document (or export the corrections).

    The correction is stored with its author and time and is in force at once: views, named
    queries (`crwatch query topic_mix_weekly`), stories and the next digest use it instead of
    the classifier's judgement, and a reclassify never undoes it. The newest correction of a
    document wins; all are kept (`crwatch sql "SELECT * FROM label_corrections"`).

    \b
    Examples:
        crwatch label 3f2a…  --relevance related --topics trade_economy --stance skeptical \\
            --note "Chinese banks refusing Russian payments"
        crwatch label --from corrections.jsonl
        crwatch label --export my_labels.jsonl
    """
    from flows.classify.corrections import (
        LabelError,
        export_labels,
        parse_correction,
        read_corrections_file,
    )
    from flows.classify.corrections import store as store_corrections
    from warehouse.db import WarehouseError

    modes = sum(x is not None for x in (doc_id, from_file, export_file))
    if modes != 1:
        raise click.UsageError("give one of: DOC_ID (with --relevance), --from FILE, --export FILE")
    if doc_id is not None and relevance is None:
        raise click.UsageError("--relevance is required with a DOC_ID")
    if doc_id is None and (relevance or topics or stance or note):
        raise click.UsageError("--relevance/--topics/--stance/--note go with a DOC_ID")
    settings = cli_settings()
    warehouse = open_warehouse(settings)
    if not warehouse.exists():
        raise click.ClickException("no warehouse yet: run `make run` or `crwatch ingest` first")
    who = _author(author)
    try:
        if export_file is not None:
            n = export_labels(warehouse, export_file)
            out.print(f"{n} correction(s) written to {export_file}")
            return
        if from_file is not None:
            corrections = read_corrections_file(from_file, who)
        else:
            assert doc_id is not None and relevance is not None
            corrections = [parse_correction(doc_id, relevance, topics, stance, note, who)]
        added = store_corrections(warehouse, corrections)
    except (LabelError, WarehouseError) as exc:
        raise click.ClickException(str(exc)) from exc
    out.print(
        f"{added} correction(s) stored by {who}"
        + (f" ({len(corrections) - added} already stored)" if added < len(corrections) else "")
    )


@click.command()
@click.argument(
    "labels", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, dir_okay=False)
)
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Model file to write (default: <seeds_dir>/relevance_model.json, the one the classifier"
    " reads).",
)
@click.option(
    "--corpus",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where labelled ids without a text are looked up (default ../shared/corpus).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def train(
    labels: tuple[Path, ...], output: Path | None, corpus: Path | None, as_json: bool
) -> None:
    """Fit the learned relevance layer on labels files (deterministic) and write its model file.

    Texts come from the rows (`crwatch label --export` writes them), else the warehouse, else
    the corpus. Rules alone and rules + model are cross-validated by outlet (5 folds); the
    model is enabled in the file only when it beat the rules. Its digest is then part of the
    classifier version: run `crwatch reclassify` after training.

    \b
    Example:
        crwatch train ../shared/corpus/labels_dev.jsonl ../shared/corpus/labels_train.jsonl
    """
    from extractors.vocabulary import MODEL_FILE
    from flows.classify.corrections import LabelError
    from flows.classify.corrections import train as run_train

    settings = cli_settings()
    warehouse = open_warehouse(settings)
    try:
        model = output or settings.seeds_dir / MODEL_FILE
        result = run_train(list(labels), model, corpus, warehouse)
    except LabelError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    out.print(
        f"trained on {result['items']} item(s) ({result['relevant']} relevant)"
        f" → {result['output']}\ncross-validated relevance F1 ({result['k']} folds by outlet):"
        f" rules {result['rules_f1']:.3f}, rules + model {result['combined_f1']:.3f} → model "
        + ("ENABLED" if result["enabled"] else "not enabled (it did not beat the rules)")
    )


@click.command(name="eval")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def eval_cmd(as_json: bool) -> None:
    """Score the current classifier against the stored corrections (P/R/F1 per language).

    Each corrected document is judged again with the current classifier and vocabularies and
    compared with the correction in force: precision, recall and F1 of "relevant" (core or
    related) per language, and how often the level itself agrees.

    \b
    Example:
        crwatch eval
        crwatch eval --json
    """
    from flows.classify.corrections import evaluate_corrections
    from warehouse.db import WarehouseError

    settings = cli_settings()
    warehouse = open_warehouse(settings)
    if not warehouse.exists():
        raise click.ClickException("no warehouse yet: run `make run` or `crwatch ingest` first")
    try:
        result = evaluate_corrections(warehouse)
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        payload = {
            **result,
            "by_language": {k: asdict(v) for k, v in result["by_language"].items()},
            "all": asdict(result["all"]),
        }
        click.echo(json.dumps(payload, indent=2))
        return
    if not result["corrections"]:
        out.print("no corrections stored yet: `crwatch label DOC_ID --relevance …` adds one")
        return
    table = Table(title=f"classifier vs {result['corrections']} correction(s)", header_style="bold")
    for column in ("language", "items", "relevant", "precision", "recall", "F1"):
        table.add_column(column, justify="left" if column == "language" else "right")

    def fmt(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    for lang, s in [*result["by_language"].items(), ("all", result["all"])]:
        table.add_row(lang, str(s.n), str(s.relevant), fmt(s.precision), fmt(s.recall), fmt(s.f1))
    out.print(table)
    out.print(f"level agreement: {fmt(result['level_agreement'])}")
