"""The MySQL backend's sessions (the SQL engine's ``SqlSession``) and the statement
runners they use: plain functions of a PyMySQL connection, called on a link's thread
(``Session``) or in a worker thread on the caller's own connection
(``ForeignSession``)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any, Final, TypeVar

from wg_core.backends.mysql.link import Link
from wg_core.backends.sql.session import Body, Call, Params, Row, SqlSession, fetch_each

__all__ = [
    "BatchedTransaction",
    "ForeignSession",
    "Session",
    "batched",
    "begin",
    "claim",
    "commit",
    "fetch_joined",
    "fetch_one",
    "rollback",
    "run",
    "script_counts",
]

T = TypeVar("T")


def split_statements(text: str) -> list[str]:
    """The statements of a block, for drivers that run one statement a call: split at
    each semicolon that ends a line (a trigger's body keeps its inner ones mid-line)."""
    return [statement.strip() for statement in _STATEMENT_END.split(text) if statement.strip()]


_STATEMENT_END: Final = re.compile(r";[ \t]*(?:\n|$)")


def run(connection: Any, sql: str, params: Params | None, fetch: bool) -> Any:
    """One statement: its rows (``fetch``) or its affected-row count."""
    with connection.cursor() as cursor:
        count = cursor.execute(sql, params or {})
        return list(cursor.fetchall()) if fetch else count


def run_many(connection: Any, sql: str, rows: Sequence[Params]) -> int:
    """One statement for each of ``rows``; a plain ``INSERT … VALUES`` is sent as
    multi-row INSERTs instead (PyMySQL's rewriting)."""
    with connection.cursor() as cursor:
        # PyMySQL rewrites only a text that starts with INSERT: a block's leading
        # comment made it send one INSERT (and one round trip) per row.
        return int(cursor.executemany(_LEADING_COMMENTS.sub("", sql), rows) or 0)


_LEADING_COMMENTS: Final = re.compile(r"\A(?:[ \t]*(?:--[^\n]*)?\n)+")


def script(connection: Any, statements: list[str]) -> None:
    """Each statement in turn, without parameters."""
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def fetch_one(connection: Any, sql: str, params: Params | None = None) -> Row | None:
    """A query's first row (``None`` if it has none)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row: Row | None = cursor.fetchone()
    return row


def claim(
    connection: Any,
    sql: tuple[str, str, str],
    params: dict[str, Any],
    queues: Sequence[str],
) -> list[Row]:
    """The claim transaction: two round trips for one queue (``claim_begin``, then
    ``claim_lease``), one more per further queue while the batch is short
    (``claim_select``, in the pool's queue order, in the same transaction)."""
    begin, more, lease = sql
    limit = params["limit"]
    try:
        with connection.cursor() as cursor:
            cursor.execute(begin, {**params, "queue": queues[0]})
            cursor.nextset()  # START TRANSACTION's result, then the SELECT's
            rows: list[Row] = list(cursor.fetchall())
            for queue in queues[1:]:
                if len(rows) >= limit:
                    break
                cursor.execute(more, {"queue": queue, "limit": limit - len(rows)})
                rows.extend(cursor.fetchall())
            if rows:
                params["ids"] = [row[0] for row in rows]
                cursor.execute(lease, params)
                while cursor.nextset():  # the COMMIT's result: read, or the next
                    pass  # statement on this connection would be out of sync
            else:
                connection.commit()  # nothing locked; just end the transaction
    except BaseException:
        with suppress(Exception):  # a dead connection has no transaction to roll back
            connection.rollback()
        raise
    return rows


def script_counts(
    connection: Any, sql: str, params: dict[str, Any], commits: bool = False
) -> list[int]:
    """Run a multi-statement transaction (``START TRANSACTION; …``) in one round trip,
    then ``COMMIT`` once every result is read (two round trips; one if the script
    ``commits`` itself, its last statement); each statement's affected-row count. On
    any error the rest of the statements did not run: the open transaction is rolled
    back."""
    counts: list[int] = []
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            counts.append(cursor.rowcount)
            while cursor.nextset():  # reads (and raises) each statement's result
                counts.append(cursor.rowcount)
        if not commits:
            connection.commit()
    except BaseException:
        with suppress(Exception):  # a dead connection has no transaction to roll back
            connection.rollback()
        raise
    return counts


def fetch_joined(
    connection: Any, sqls: Sequence[str], params: Sequence[Params | None]
) -> list[list[Row]]:
    """Several statements' rows, sent as one multi-statement query (one round trip):
    each bound on the client, as ``run`` binds one."""
    with connection.cursor() as cursor:
        text = ";\n".join(
            cursor.mogrify(sql, values or {}) for sql, values in zip(sqls, params, strict=True)
        )
        cursor.execute(text)
        results: list[list[Row]] = [list(cursor.fetchall())]
        while cursor.nextset():
            results.append(list(cursor.fetchall()))
    return results


def begin(connection: Any) -> None:
    """Open a transaction."""
    connection.begin()


def commit(connection: Any) -> None:
    """Commit the open transaction."""
    connection.commit()


def rollback(connection: Any) -> None:
    """Roll the open transaction back (none on a dead connection)."""
    with suppress(Exception):
        connection.rollback()


class Session:
    """Runs named blocks on a link, from the link's own thread (so each call simply
    blocks that thread, which exists for this)."""

    def __init__(self, link: Link, sql: dict[str, str]) -> None:
        self._link = link
        self._sql = sql

    async def fetch(self, block: str, params: Params | None = None) -> list[Row]:
        """The rows of ``block``."""
        rows: list[Row] = self._link.call(run, self._sql[block], params, True)
        return rows

    async def execute(self, block: str, params: Params | None = None) -> int:
        """``block``'s affected-row count."""
        count: int = self._link.call(run, self._sql[block], params, False)
        return count

    async def execute_many(self, block: str, rows: Sequence[Params]) -> int:
        """``block`` once for each of ``rows``."""
        return self._link.call(run_many, self._sql[block], rows)

    async def fetch_many(self, calls: Sequence[Call]) -> list[list[Row]]:
        """The rows of each block, in one round trip (a multi-statement query)."""
        sqls = [self._sql[block] for block, _ in calls]
        return self._link.call(fetch_joined, sqls, [params for _, params in calls])

    async def script(self, block: str) -> None:
        """Every statement of ``block``."""
        self._link.call(script, split_statements(self._sql[block]))

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """``function(connection, *args)`` on the link's thread (it already is)."""
        return self._link.call(function, *args)


class BatchedTransaction:
    """One transaction on a ``Session`` in few round trips, for a body that reads no
    count of the statements it only executes (the limited claim): ``START
    TRANSACTION`` goes out with the first statement whose rows are read, each run of
    executed statements with the next read, the last ones with ``COMMIT``
    (``commit``). Each statement still runs on its own, in order, in one
    multi-statement query."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._pending: list[tuple[str, Params | None]] = [("START TRANSACTION", None)]

    def _send(self, calls: Sequence[Call]) -> list[list[Row]]:
        sent = [*self._pending, *((self._session._sql[block], p) for block, p in calls)]
        self._pending = []
        results = self._session.call(
            fetch_joined, [sql for sql, _ in sent], [params for _, params in sent]
        )
        return results[len(results) - len(calls) :]

    async def fetch(self, block: str, params: Params | None = None) -> list[Row]:
        """The rows of ``block`` (sent with the statements pending)."""
        return self._send([(block, params)])[0]

    async def fetch_many(self, calls: Sequence[Call]) -> list[list[Row]]:
        """The rows of each block (sent with the statements pending)."""
        return self._send(calls)

    async def execute(self, block: str, params: Params | None = None) -> int:
        """Queue ``block`` for the next round trip; its count is not known (0)."""
        self._pending.append((self._session._sql[block], params))
        return 0

    async def script(self, block: str) -> None:
        """Not for a batched transaction."""
        raise NotImplementedError(block)

    def commit(self) -> None:
        """Send what is pending, and ``COMMIT``."""
        self._pending.append(("COMMIT", None))
        self._send([])


async def batched(body: Body[T], session: SqlSession) -> T:
    """``body`` as a ``BatchedTransaction`` on ``session`` (a ``Session``): committed,
    or rolled back if it fails."""
    assert isinstance(session, Session)  # what MySqlBackend._unit gives its bodies
    transaction = BatchedTransaction(session)
    try:
        result = await body(transaction)
        transaction.commit()
    except BaseException:
        session.call(rollback)
        raise
    return result


class ForeignSession:
    """Runs named blocks on a caller's PyMySQL connection, in a worker thread."""

    def __init__(self, connection: Any, sql: dict[str, str]) -> None:
        self._connection = connection
        self._sql = sql

    async def fetch(self, block: str, params: Params | None = None) -> list[Row]:
        """The rows of ``block``."""
        rows: list[Row] = await asyncio.to_thread(
            run, self._connection, self._sql[block], params, True
        )
        return rows

    async def execute(self, block: str, params: Params | None = None) -> int:
        """``block``'s affected-row count."""
        count: int = await asyncio.to_thread(run, self._connection, self._sql[block], params, False)
        return count

    async def execute_many(self, block: str, rows: Sequence[Params]) -> int:
        """``block`` once for each of ``rows``."""
        return await asyncio.to_thread(run_many, self._connection, self._sql[block], rows)

    async def fetch_many(self, calls: Sequence[Call]) -> list[list[Row]]:
        """The rows of each block, one statement at a time."""
        return await fetch_each(self, calls)

    async def script(self, block: str) -> None:
        """Every statement of ``block``."""
        await asyncio.to_thread(script, self._connection, split_statements(self._sql[block]))
