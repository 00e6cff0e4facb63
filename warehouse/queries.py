"""Named queries: reviewed SQL files in `warehouse/queries/` with typed, always-bound parameters.

Each file starts with a comment header:

    -- name: weekly_reports_stories
    -- description: Reports and stories per ISO week ...
    -- param: since DATE = 2000-01-01 (first day counted)
    -- param: week DATE (any day inside the week; default: today)

A parameter line is `-- param: <name> <TYPE> [= <default>] [(<help>)]`; TYPE is one of DATE,
TIMESTAMP, INTEGER, DOUBLE, VARCHAR. Without a default the parameter is bound as NULL and the SQL
decides (e.g. `coalesce($week::DATE, current_date)`). Values reach DuckDB only as named
parameters (`$name`), never formatted into the SQL text, and queries run on a read-only
connection.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import duckdb

from warehouse.db import QueryError, Warehouse

TYPES = ("DATE", "TIMESTAMP", "INTEGER", "DOUBLE", "VARCHAR")

_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_HEADER = re.compile(r"^--\s*(name|description|param):\s*(.*?)\s*$")
_PARAM = re.compile(
    r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s+(?P<type>[A-Za-z]+)"
    r"(?:\s*=\s*(?P<default>[^()]*?))?\s*(?:\((?P<help>.*)\))?$"
)
_INT_MAX = 2**31 - 1


@dataclass(frozen=True)
class Param:
    """One declared parameter: name, DuckDB type, default as text (None: NULL), help."""

    name: str
    type: str
    default: str | None = None
    help: str = ""


@dataclass(frozen=True)
class NamedQuery:
    """A named query file: its header and its SQL text (the whole file)."""

    name: str
    description: str
    params: list[Param] = field(default_factory=list)
    sql: str = ""

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)


def parse_query(text: str, source: str = "<query>") -> NamedQuery:
    """Read the header of one query file; ValueError when the header is malformed."""
    name = ""
    description = ""
    params: list[Param] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("--"):
            break  # the header ends with the first SQL line
        match = _HEADER.match(stripped)
        if not match:
            continue  # an ordinary comment
        key, value = match.groups()
        if key == "name":
            name = value
        elif key == "description":
            description = value
        else:
            pmatch = _PARAM.match(value)
            if not pmatch:
                raise ValueError(f"{source}: cannot read parameter line {stripped!r}")
            ptype = pmatch.group("type").upper()
            if ptype not in TYPES:
                raise ValueError(f"{source}: parameter type {ptype} is not one of {TYPES}")
            default = pmatch.group("default")
            if default is not None and (default == "" or default.upper() == "NULL"):
                default = None
            params.append(
                Param(pmatch.group("name"), ptype, default, (pmatch.group("help") or "").strip())
            )
    if not _NAME.fullmatch(name):
        raise ValueError(f"{source}: missing or invalid `-- name:` header")
    if not description:
        raise ValueError(f"{source}: missing `-- description:` header")
    names = [p.name for p in params]
    if len(set(names)) != len(names):
        raise ValueError(f"{source}: a parameter is declared twice")
    query = NamedQuery(name, description, params, text)
    for p in params:  # every default must itself be a valid value
        if p.default is not None:
            _convert(query, p, p.default)
    return query


def list_queries() -> list[NamedQuery]:
    """Every named query shipped in `warehouse/queries/`, sorted by name."""
    found = []
    for entry in resources.files("warehouse").joinpath("queries").iterdir():
        if entry.name.endswith(".sql"):
            query = parse_query(entry.read_text(encoding="utf-8"), entry.name)
            if f"{query.name}.sql" != entry.name:
                raise ValueError(f"{entry.name}: header names the query {query.name!r}")
            found.append(query)
    return sorted(found, key=lambda q: q.name)


def get_query(name: str) -> NamedQuery:
    """The named query; KeyError listing the known names when there is none by that name."""
    queries = {q.name: q for q in list_queries()}
    if name not in queries:
        raise KeyError(f"no named query {name!r}; known queries: {', '.join(sorted(queries))}")
    return queries[name]


def _convert(query: NamedQuery, param: Param, raw: str) -> object:
    def bad(expected: str) -> ValueError:
        shown = raw if len(raw) <= 40 else raw[:40] + "…"
        return ValueError(
            f"query {query.name}: parameter {param.name} ({param.type}) expects {expected},"
            f" got {shown!r}"
        )

    text = raw.strip()
    if param.type == "VARCHAR":
        if "\x00" in raw:
            # No stored text holds one, and the lake's file pruning passes filter constants to
            # its catalog database, which cuts a string at a NUL (a parser error, not a miss).
            raise bad("text without NUL characters")
        return raw
    if param.type == "DATE":
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise bad("a date like 2024-05-16") from None
    if param.type == "TIMESTAMP":
        try:
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise bad("an ISO time like 2024-05-16T08:00:00 or 2024-05-16") from None
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if param.type == "INTEGER":
        if not re.fullmatch(r"[+-]?\d{1,10}", text) or abs(int(text)) > _INT_MAX:
            raise bad("a whole number")
        return int(text)
    # DOUBLE
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
        raise bad("a number like 0.1")
    number = float(text)
    if not math.isfinite(number):
        raise bad("a finite number")
    return number


def bind(query: NamedQuery, given: dict[str, str]) -> dict[str, object]:
    """Convert the given text values to the declared types; defaults fill the rest.

    ValueError on an unknown parameter name or a value that is not of the declared type.
    """
    known = {p.name for p in query.params}
    unknown = sorted(set(given) - known)
    if unknown:
        names = ", ".join(sorted(known)) or "none"
        raise ValueError(
            f"query {query.name} has no parameter {', '.join(unknown)}; its parameters: {names}"
        )
    bound: dict[str, object] = {}
    for p in query.params:
        raw = given.get(p.name, p.default)
        bound[p.name] = None if raw is None else _convert(query, p, raw)
    return bound


def run_query(
    warehouse: Warehouse, name: str, given: dict[str, str] | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run a named query read-only with bound parameters; return (column names, rows)."""
    query = get_query(name)
    params = bind(query, given or {})
    with warehouse.reader() as con:
        try:
            cursor = con.execute(query.sql, params)
        except duckdb.Error as exc:
            raise QueryError(f"query {name} failed: {str(exc).strip()}") from exc
        if cursor.description is None:
            return [], []
        columns = [d[0] for d in cursor.description]
        return columns, cursor.fetchall()
