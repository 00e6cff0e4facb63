"""A compaction child that misbehaves at one DuckLake call (tests/test_maintenance_isolation.py).

    python compaction_child.py MODE CALL

runs `warehouse.compaction`'s real child (same stdin request, same report lines) but at CALL:
`segv` runs the call inside a transaction, then kills itself with SIGSEGV before the commit
(the call's work done, nothing committed: what a native crash in it leaves); `hang` sleeps
forever instead of running it.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

import duckdb

from warehouse import compaction

MODE, TARGET = sys.argv[1], sys.argv[2]
_real = compaction.execute


def misbehaving(
    con: duckdb.DuckDBPyConnection, call: compaction.Call, params: list[Any]
) -> list[tuple[Any, ...]]:
    """The real call, except at TARGET."""
    if call.name != TARGET:
        return _real(con, call, params)
    if MODE == "segv":
        con.execute("BEGIN TRANSACTION")
        _real(con, call, params)
        os.kill(os.getpid(), signal.SIGSEGV)
    elif MODE == "hang":
        time.sleep(3600)
    raise SystemExit(f"unknown mode {MODE!r}")


compaction.execute = misbehaving
raise SystemExit(compaction.main())
