"""The one declaration of each table's columns (warehouse/tables.py) matches the schema files."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pytest

from warehouse.db import schema_files
from warehouse.load import SCHEMAS, Batch, to_arrow, write_batch
from warehouse.tables import (
    RECORDS,
    FetchRow,
    LinkRow,
    arrow_schema,
    column_names,
    required_columns,
)


@pytest.fixture(scope="module")
def migrated() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with every schema file applied, in order."""
    con = duckdb.connect()
    for _, _, sql in schema_files():
        con.execute(sql)
    return con


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.TABLE)
def test_record_columns_and_types_are_the_tables(
    migrated: duckdb.DuckDBPyConnection, record: type
) -> None:
    table = record.TABLE
    in_ddl = {name: kind for name, kind, *_ in migrated.execute(f"DESCRIBE {table}").fetchall()}
    # The DuckDB type of each declared Arrow type, read the way the loader inserts: from Arrow.
    empty = arrow_schema(record).empty_table()
    migrated.register("_declared", empty)
    try:
        declared = {name: kind for name, kind, *_ in migrated.execute(
            "DESCRIBE SELECT * FROM _declared").fetchall()}  # fmt: skip
    finally:
        migrated.unregister("_declared")
    assert set(declared) == set(in_ddl), (
        f"{table}: warehouse/tables.py {record.__name__} and warehouse/schema/*.sql disagree;"
        f" only in the schema files: {sorted(set(in_ddl) - set(declared))}, only in the"
        f" record: {sorted(set(declared) - set(in_ddl))}. Add the field to the record (or the"
        " column in a new numbered schema file)."
    )
    wrong = {
        name: (declared[name], in_ddl[name]) for name in in_ddl if declared[name] != in_ddl[name]
    }
    assert not wrong, f"{table}: (declared, schema files) types differ: {wrong}"


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.TABLE)
def test_key_columns_are_required_not_null_columns(
    migrated: duckdb.DuckDBPyConnection, record: type
) -> None:
    nullable = {
        name: null for name, _, null, *_ in migrated.execute(f"DESCRIBE {record.TABLE}").fetchall()
    }
    for key in record.KEY:
        assert key in column_names(record)
        assert key in required_columns(record), f"{record.TABLE}.{key} is a key: no default"
        assert nullable[key] == "NO", f"{record.TABLE}.{key} is a key: NOT NULL in the DDL"


def test_records_load_like_dicts(migrated: duckdb.DuckDBPyConnection) -> None:
    now = datetime(2026, 1, 5, tzinfo=UTC)
    record = FetchRow(fetch_id="f1", run_id="r", source="s", origin="warc", locator="x#1",
                      http_status=200, bytes=10, recorded_at=now)  # fmt: skip
    as_dict = {"fetch_id": "f2", "run_id": "r", "source": "s", "origin": "warc",
               "locator": "x#2", "outcome": "error", "recorded_at": now}  # fmt: skip
    table = to_arrow("fetches", [record, as_dict])
    assert table.schema == SCHEMAS["fetches"]
    assert table.column("outcome").to_pylist() == ["new", "error"]
    assert table.column("http_status").type == pa.int32()
    with pytest.raises(ValueError, match="not a row of fetches"):
        to_arrow("fetches", [LinkRow(doc_id="a", linked_doc_id="b", kind="k")])
    with pytest.raises(ValueError, match="unknown column"):
        to_arrow("fetches", [{**as_dict, "_bytes": 3}])
    batch = Batch()
    batch.put(record)
    migrated.execute("BEGIN")
    try:
        assert write_batch(migrated, batch)["fetches"] == 1
        assert write_batch(migrated, batch)["fetches"] == 0, "the key is kept unique"
    finally:
        migrated.execute("ROLLBACK")
