"""``SqliteSession``: the engine's named blocks on one ``sqlite3`` connection, on the
connection's own thread."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from wg_core.backends.sql.session import Call, Params, Row, fetch_each
from wg_core.backends.sqlite.database import statements
from wg_core.backends.sqlite.prepared import PreparedBlocks

__all__ = ["SqliteSession"]


class SqliteSession:
    """Runs named blocks for one unit of work. Every statement is bound ``now_ms`` (the
    backend's clock, read once for the unit: SQLite has no server clock wg uses); list
    values either fill an ``IN (…)`` list or are bound as JSON arrays (``prepared.py``).

    The methods are ``async`` for the engine's bodies but never suspend: each call runs
    the statement on this thread (the driver drives the body by hand). A connection
    thread keeps one session and sets ``now_ms`` for each unit."""

    __slots__ = ("_blocks", "_sql", "connection", "now_ms")

    def __init__(
        self, connection: sqlite3.Connection, blocks: PreparedBlocks, sql: dict[str, str]
    ) -> None:
        self.connection = connection
        self.now_ms = 0
        self._blocks = blocks
        self._sql = sql

    async def fetch(self, block: str, params: Params | None = None) -> list[Row]:
        """Run ``block`` and return its rows."""
        execute = self.connection.execute
        bound = self._blocks.bind(block, params, self.now_ms)
        if len(bound) == 1:
            text, arguments = bound[0]
            return execute(text, arguments).fetchall()
        rows: list[Row] = []
        for text, arguments in bound:
            rows.extend(execute(text, arguments).fetchall())
        return rows

    async def execute(self, block: str, params: Params | None = None) -> int:
        """Run ``block``; the number of rows it changed."""
        execute = self.connection.execute
        return sum(
            execute(text, arguments).rowcount
            for text, arguments in self._blocks.bind(block, params, self.now_ms)
        )

    async def fetch_many(self, calls: Sequence[Call]) -> list[list[Row]]:
        """Each block's rows, one after the other (no round trips to save)."""
        return await fetch_each(self, calls)

    async def script(self, block: str) -> None:
        """Run a block of several statements (DDL), inside the unit's transaction."""
        for statement in statements(self._sql[block]):
            self.connection.execute(statement)
