"""Errors of the warehouse package, and why a run failed (the `runs.error_kind` column).

    CrwatchError (extractors.errors)
     └── WarehouseError           terminal  the warehouse cannot do what was asked (RuntimeError)
          ├── WarehouseBusy       transient the lock was still held after waiting
          ├── WarehouseConflict   transient a concurrent writer changed the same rows first
          ├── QueryError          terminal  the SQL is wrong, or writes through a read-only path
          ├── UnknownDocuments    terminal  corrections name documents the warehouse lacks
          ├── CompactionFailed    terminal  the lake compaction's child crashed, failed or hung
          └── SearchIndexError    terminal  the search index folder cannot be used
               ├── SearchIndexBusy     transient another process is writing the index
               └── SearchIndexMissing  terminal  no index was built yet

Callers may keep importing each class from the module that raises it (`warehouse.db`,
`warehouse.search_index`, `warehouse.search`, `warehouse.corrections`,
`warehouse.compaction`). Transient vs terminal: see `extractors.errors` (`transient` is the one
property a retry decision reads).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum, unique

from extractors.errors import CrwatchError, TransientError


class WarehouseError(CrwatchError, RuntimeError):
    """Base class for warehouse problems (terminal unless a subclass says otherwise)."""


class WarehouseBusy(TransientError, WarehouseError):
    """Another process held the DuckDB write lock for longer than we waited."""


class WarehouseConflict(TransientError, WarehouseError):
    """Another writer committed conflicting changes to the lake first; retry the transaction."""


class QueryError(WarehouseError):
    """The SQL failed: syntax, unknown table, or an attempt to write through a read-only path."""


class UnknownDocuments(WarehouseError):
    """Corrections name documents the warehouse does not hold (nothing was written)."""

    def __init__(self, missing: Sequence[str]) -> None:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        super().__init__(
            f'no such document: {shown} (doc ids are in `crwatch sql "SELECT doc_id, title FROM'
            ' documents"`); no correction was stored'
        )
        self.missing = list(missing)


class CompactionFailed(WarehouseError):
    """The compaction child crashed, failed or was stopped; the lake is as its last call left it."""

    def __init__(self, message: str, call: str | None, signal_name: str | None = None) -> None:
        super().__init__(message)
        self.call = call  # the maintenance call that was running (None: before the first)
        self.signal_name = signal_name  # e.g. "SIGSEGV" when a signal ended the child


class SearchIndexError(WarehouseError):
    """The index folder cannot be used (damaged, or of another format)."""


class SearchIndexBusy(TransientError, SearchIndexError):
    """Another process is writing the index and did not finish in time."""


class SearchIndexMissing(SearchIndexError):
    """No index was built yet: run `crwatch search --refresh` (an ingest builds it too)."""


@unique
class RunErrorKind(StrEnum):
    """Why a flow run failed: the `runs.error_kind` column, the attempts journal, `doctor`."""

    WAREHOUSE_BUSY = "warehouse_busy"
    WAREHOUSE_ERROR = "warehouse_error"
    LOCK_BUSY = "lock_busy"
    INTERRUPTED = "interrupted"
    OUT_OF_MEMORY = "out_of_memory"
    OS_ERROR = "os_error"
    ERROR = "error"
    KILLED = "killed"  # the process died without closing its row (serve, mark_crashed_if_dead)
