"""``SqliteSession``: the engine's named blocks on one ``sqlite3`` connection, on the
connection's own thread."""

from __future__ import annotations

import json
import sqlite3

from wg_core.backends.sql.session import Params, Row
from wg_core.backends.sqlite.database import statements

__all__ = ["SqliteSession"]


class SqliteSession:
    """Runs named blocks for one unit of work. Every statement is bound ``now_ms`` (the
    backend's clock, read once for the unit: SQLite has no server clock wg uses), and
    list values as JSON arrays (the blocks read them with ``json_each``).

    The methods are ``async`` for the engine's bodies but never suspend: each call runs
    the statement on this thread (the driver drives the body by hand)."""

    __slots__ = ("_sql", "connection", "now_ms")

    def __init__(self, connection: sqlite3.Connection, sql: dict[str, str], now_ms: int) -> None:
        self.connection = connection
        self.now_ms = now_ms
        self._sql = sql

    def bind(self, params: Params | None) -> dict[str, object]:
        """``params`` as SQLite binds them."""
        bound: dict[str, object] = {"now_ms": self.now_ms}
        if params:
            for name, value in params.items():
                bound[name] = _json_array(value) if isinstance(value, list | tuple) else value
        return bound

    async def fetch(self, block: str, params: Params | None = None) -> list[Row]:
        """Run ``block`` and return its rows."""
        return self.connection.execute(self._sql[block], self.bind(params)).fetchall()

    async def execute(self, block: str, params: Params | None = None) -> int:
        """Run ``block``; the number of rows it changed."""
        return self.connection.execute(self._sql[block], self.bind(params)).rowcount

    async def script(self, block: str) -> None:
        """Run a block of several statements (DDL), inside the unit's transaction."""
        for statement in statements(self._sql[block]):
            self.connection.execute(statement)


def _json_array(values: list[object] | tuple[object, ...]) -> str:
    # Row ids are most lists (every acknowledgement's): join them, much cheaper than
    # json.dumps on this hot path; anything else is encoded by json.
    if all(type(value) is int for value in values):
        return f"[{','.join(map(str, values))}]"
    return json.dumps(values)
