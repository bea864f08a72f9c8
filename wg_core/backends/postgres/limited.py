"""The PostgreSQL backend's limited claims (mixed into ``PostgresBackend``; the engine's
in sql/limiting.py): in pipeline mode, so that few round trips separate a freed slot
from the next job's start, and the limit's row lock is held for as little as possible.

A queue limited by concurrency alone (the common limit) is claimed by one transaction
sent as one round trip: ``BEGIN``, ``limit_lock``, ``limit_lease`` (the lease of as many
ready jobs as the limit has room for, counted after the lock was granted), ``COMMIT``.
The server runs it without waiting for this process between its statements, so the
lock is held for the server's time only, and other processes' claimers barely queue on
it. Other limits (a rate, per-key) run the engine's transaction, pipelined: the lock
and the count go out with ``BEGIN``, the lease and its starts with ``COMMIT``.
"""

from __future__ import annotations

from typing import Any

from wg_core.backend import Attempt
from wg_core.backends.postgres.listening import Listening
from wg_core.backends.postgres.sessions import Session
from wg_core.backends.sql.session import Body, Row, SqlSession

__all__ = ["PipelinedLimits"]


class PipelinedLimits(Listening):
    """The limited claim's units of work in pipeline mode (see the module docstring)."""

    LEASES_LIMITED_AT_ONCE = True  # limit_lease
    WAKES_ON_FREED_SLOTS = True  # NOTIFY: a freed slot, a job enqueued, a limit changed

    async def _lease_at_once(
        self, queue: str, params: dict[str, Any]
    ) -> tuple[list[Row], list[Row]]:
        async def body(session: SqlSession) -> list[list[Row]]:
            assert isinstance(session, Session)  # what _unit gives this backend's bodies
            return await session.fetch_committed(
                [("limit_lock", {"queue": queue}), ("limit_lease", params)]
            )

        locked, leased = await self._run(body, transaction=False, durable=False)
        return locked, leased

    async def _claim_unit(self, body: Body[list[Attempt]]) -> list[Attempt]:
        """The limited claim (sql/limiting.py) as one transaction in pipeline mode:
        ``BEGIN`` with the limit's lock and count, the candidates, then the lease and
        its starts with the ``COMMIT`` (three round trips; the body reads no count of
        a statement it only executes)."""

        async def pipelined(session: SqlSession) -> list[Attempt]:
            assert isinstance(session, Session)  # what _unit gives this backend's bodies
            async with session.pipelined_transaction():
                return await body(session)

        return await self._run(pipelined, transaction=False, durable=False)
