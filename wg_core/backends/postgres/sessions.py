"""Sessions: the engine's named blocks run on one psycopg connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any

from wg_core.backends.postgres.driver import query
from wg_core.backends.sql.session import Call, Params, Row, fetch_each

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

    async def fetch_many(self, calls: Sequence[Call]) -> list[list[Row]]:
        # Pipeline mode: every statement sent at once, results read back in order (the
        # server still runs them one after the other, each with its own snapshot).
        connection = self._connection
        async with connection.pipeline():
            cursors = [
                await connection.execute(query(self._sql[block]), params or {})
                for block, params in calls
            ]
        return [await cursor.fetchall() for cursor in cursors]

    async def fetch_committed(self, calls: Sequence[Call]) -> list[list[Row]]:
        """``BEGIN``, each block, ``COMMIT``: one transaction in one round trip
        (pipeline mode), so the locks it takes are held only while the server runs
        it; rolled back if a statement fails. Each block's rows."""
        connection = self._connection
        try:
            async with connection.pipeline():
                await connection.execute("BEGIN")
                cursors = [
                    await connection.execute(query(self._sql[block]), params or {})
                    for block, params in calls
                ]
                await connection.execute("COMMIT")
        except BaseException:
            with suppress(Exception):  # a dead connection has no transaction to roll back
                await connection.rollback()
            raise
        return [await cursor.fetchall() for cursor in cursors]

    @asynccontextmanager
    async def pipelined_transaction(self) -> AsyncIterator[None]:
        """A transaction in pipeline mode: its ``BEGIN`` goes out with the first
        statement whose rows are read, and statements only executed (their counts not
        read) go out with the ``COMMIT``, one round trip for all of them."""
        connection = self._connection
        async with connection.pipeline(), connection.transaction():
            yield

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

    async def fetch_many(self, calls: Sequence[Call]) -> list[list[Row]]:
        return await fetch_each(self, calls)

    async def script(self, block: str) -> None:
        await asyncio.to_thread(self._connection.execute, query(self._sql[block]))
