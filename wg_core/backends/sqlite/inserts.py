"""Bulk enqueue's duplicate checks: a batch is refused whole if any of its ids is stored
in another table (each table's unique index covers its own), ``{ns}_finished`` included:
a kept COMPLETED or CANCELLED job holds its id until it is pruned or deleted."""

from __future__ import annotations

import sqlite3
from typing import Any, Final

from wg_core.backend import NewJob
from wg_core.backends.sql.session import micros
from wg_core.errors import DuplicateJobError

__all__ = ["IdLookups", "insert_new", "job_row"]

_ID_CHUNK: Final = 512  # job ids looked up by one statement at most (a power of two)
_TABLES: Final = ("jobs", "scheduled", "retry", "dead", "finished")  # table_spans's order


def job_row(job: NewJob, now_ms: int) -> dict[str, Any]:
    """The values the enqueue blocks bind for ``job`` (each uses those it names)."""
    return {
        "raw": job.raw,
        "job_id": job.job_id,
        "job_name": job.job_name,
        "delay_us": micros(job.delay),
        "now_ms": now_ms,
        "queue": job.queue,
        "priority": job.priority,
    }


def insert_new(connection: sqlite3.Connection, statement: str, rows: list[dict[str, Any]]) -> None:
    """Store new jobs' ``rows``; an id the table's unique index refuses is a
    ``DuplicateJobError`` naming it."""
    before = connection.total_changes
    try:
        connection.executemany(statement, rows)
    except sqlite3.IntegrityError as exc:
        if "UNIQUE" not in str(exc):
            raise
        # The rows before the refused one went in: their count points at it.
        failed = rows[min(connection.total_changes - before, len(rows) - 1)]
        raise DuplicateJobError(f"job id already stored: {failed['job_id']}") from exc


class IdLookups:
    """Finds a batch's ids in the other tables, with the size-bucketed statements it
    needs built once (the ``{table}`` and ``{ids}`` of a named block filled in)."""

    def __init__(self, sql: dict[str, str]) -> None:
        self._sql = sql
        self._sized: dict[tuple[str, str, int], str] = {}

    def taken_elsewhere(
        self, connection: sqlite3.Connection, target: str, ids: list[str]
    ) -> str | None:
        """The first of ``ids`` (new jobs for table ``target``) stored in another table.

        Runs on the writer thread. Each other table is checked the cheaper way: all its
        ids read when it holds no more rows than the batch, else its index probed.
        """
        if not ids:
            return None
        spans = connection.execute(self._sql["table_spans"]).fetchone()
        wanted: set[str] | None = None
        for table, span in zip(_TABLES, spans, strict=True):
            if table == target or not span:
                continue
            if span <= len(ids):
                wanted = wanted or set(ids)
                for (job_id,) in connection.execute(self._query("job_ids_in", table)):
                    if job_id in wanted:
                        return str(job_id)
                continue
            for start in range(0, len(ids), _ID_CHUNK):
                chunk = ids[start : start + _ID_CHUNK]
                size = len(chunk)
                if size < _ID_CHUNK:  # a few statement sizes serve every batch (cached)
                    size = 1 << (size - 1).bit_length()
                    chunk += chunk[:1] * (size - len(chunk))
                query = self._query("ids_taken_in", table, size)
                row = connection.execute(query, chunk).fetchone()
                if row is not None:
                    return str(row[0])
        return None

    def _query(self, name: str, table: str, size: int = 0) -> str:
        """Block ``name`` for ``table`` (and ``size`` ids), built once and kept."""
        key = (name, table, size)
        text = self._sized.get(key)
        if text is None:
            ids = ", ".join(f"?{i}" for i in range(1, size + 1))
            text = self._sql[name].replace("{table}", table).replace("{ids}", ids)
            self._sized[key] = text
        return text
