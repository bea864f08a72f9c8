"""Sessions: the engine's named blocks run on one psycopg connection."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from wg_core.backends.postgres.driver import query
from wg_core.backends.sql.session import Params, Row

if TYPE_CHECKING:
    import psycopg

__all__ = ["Session", "ThreadSession"]


class Session:
    """Runs named blocks on one async connection."""

    def __init__(self, connection: psycopg.AsyncConnection[Any], sql: dict[str, str]) -> None:
        self._connection = connection
        self._sql = sql

    async def fetch(self, block: str, params: Params | None = None) -> list[Row]:
        cursor = await self._connection.execute(query(self._sql[block]), params or {})
        return await cursor.fetchall()

    async def execute(self, block: str, params: Params | None = None) -> int:
        cursor = await self._connection.execute(query(self._sql[block]), params or {})
        return cursor.rowcount

    async def script(self, block: str) -> None:
        # No parameters: psycopg sends the text as one simple query, all statements in
        # one implicit transaction.
        await self._connection.execute(query(self._sql[block]))


class ThreadSession:
    """Runs named blocks on a caller's *sync* connection, off the event loop."""

    def __init__(self, connection: psycopg.Connection[Any], sql: dict[str, str]) -> None:
        self._connection = connection
        self._sql = sql

    def _run(self, block: str, params: Params | None, fetch: bool) -> Any:
        cursor = self._connection.execute(query(self._sql[block]), params or {})
        return cursor.fetchall() if fetch else cursor.rowcount

    async def fetch(self, block: str, params: Params | None = None) -> list[Row]:
        rows: list[Row] = await asyncio.to_thread(self._run, block, params, True)
        return rows

    async def execute(self, block: str, params: Params | None = None) -> int:
        count: int = await asyncio.to_thread(self._run, block, params, False)
        return count

    async def script(self, block: str) -> None:
        await asyncio.to_thread(self._connection.execute, query(self._sql[block]))
