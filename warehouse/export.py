"""Export the warehouse to Parquet: every base table plus the main views, one file each.

Reads through a read-only connection (waits for a running flow's batch like any reader). The
full-text index is not in the warehouse (a tantivy folder beside it, rebuilt from the documents
by `crwatch search --refresh`), so nothing of it is exported; `search_text` and
`search_pending`, the tables of the former DuckDB FTS index, are skipped should a warehouse not
yet migrated still hold them (migration 011 drops them). The derived fact tables
(`document_facts`, `story_facts`, ...) are exported: they are the narrow tables trend analyses
start from.
"""

from __future__ import annotations

from pathlib import Path

from warehouse.db import Warehouse

VIEWS = ("relevant_documents", "stories", "relevant_stories", "reports_by_day")
_SKIP_TABLES = {"search_text", "search_pending"}


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def export_parquet(warehouse: Warehouse, out_dir: Path) -> list[Path]:
    """Write `<out_dir>/<name>.parquet` for each table and main view; return the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with warehouse.reader() as con:
        names = [
            (row[0], row[1])
            for row in con.execute(
                "SELECT table_name, table_type FROM information_schema.tables "
                "WHERE table_schema = 'main' AND table_catalog = current_database() "
                "ORDER BY table_type, table_name"
            ).fetchall()
        ]
        tables = [n for n, kind in names if kind == "BASE TABLE" and n not in _SKIP_TABLES]
        views = {n for n, kind in names if kind == "VIEW"}
        for name in tables + [v for v in VIEWS if v in views]:
            target = (out / f"{name}.parquet").resolve()
            con.execute(
                f"COPY (SELECT * FROM {_quote_ident(name)}) TO {_quote_literal(str(target))} "
                "(FORMAT parquet, COMPRESSION zstd)"
            )
            written.append(target)
    return written
