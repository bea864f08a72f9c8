"""State counts of the SQL engine (layout 5): ``counts()`` in O(1) of the jobs stored.

``{ns}_counts`` holds signed deltas per (queue, state, priority, shard), summed on read
(the ``counts`` and ``counts_by_queue`` blocks). They count the rows of each job table
(``{ns}_jobs`` as ``jobs``: queued and running together; ``{ns}_scheduled``,
``{ns}_retry``, ``{ns}_dead``; ``{ns}_finished`` by its ``state``) and are written by
triggers in the transaction of the write that moves a job, so the counts are exact at
every commit, and any writer is counted: wg's own statements, a Rust producer's plain
``INSERT``, an operator's ``DELETE``. Running jobs are counted when asked, from the
lease index (their rows only: bounded by the workers' slots, not by the backlog), and
queued = ``jobs`` - running. How each dialect keeps this cheap:

* **PostgreSQL**: statement-level ``INSERT`` / ``DELETE`` triggers with transition
  tables. A statement that moves 500 jobs (a bulk enqueue, an acknowledged batch)
  writes one counter row per (queue, priority) it touched, not one per job. A claim or
  a release is an ``UPDATE`` of the lease columns only: it changes no count and fires
  no trigger (the ``UPDATE`` triggers are row-level, on ``queue`` and ``priority``, and
  a finished job's ``state``: columns wg's own updates never set, except a finished
  job's replacement). The shard is ``pg_backend_pid()``: two live sessions never share
  a counter row, so concurrent producers and workers never wait on each other's counts
  (and cannot deadlock over them); ``TRUNCATE`` forgets its table's states.
* **MySQL / MariaDB**: row-level triggers only (MySQL has no other kind), and a row
  trigger's upsert costs a multi-row insert several times its own time (1 000 rows:
  36 ms bare, 131 ms with one, MariaDB 10.11). So the triggers count only the writers
  that do not count themselves: their body is ``IF @wg_counting IS NULL THEN … END
  IF`` (about 5 µs a row when skipped). wg's bulk enqueue and its acknowledgement set
  ``@wg_counting`` around their ``INSERT`` / ``DELETE`` and add their counts, one row
  per queue, in the same transaction (``count_enqueued``; ``complete_queue`` from the
  ``DELETE``'s ``ROW_COUNT()``); a failed acknowledgement resets it. Every other
  statement (a single enqueue, retries, promotions, admin) is counted by the triggers.
  The shard is ``CONNECTION_ID()``. Priorities are not kept here: the oldest queued job
  comes from a loose scan of the claim index per (queue, priority). MySQL's
  ``TRUNCATE`` fires no trigger: after one, ``recount`` (``count_rows`` again).
* **SQLite** counts its tables when asked (``KEEPS_COUNTS`` false): its ``count(*)``
  reads its smallest index, 38 ms at a million jobs (under the 50 ms target), and a
  row trigger keeping counts cost 52 % of a bulk insert there.

The shards of sessions that are gone are folded into shard 0 by the pruner
(``fold_counts``: rows locked ``SKIP LOCKED``, deleted and added into shard 0 in one
statement), which keeps the table at a few rows per queue, state and live session.

The oldest queued job (``oldest_queued_at``) is the first ready row, in id order, of
each (queue, priority) that holds queued jobs, one probe of the claim's index each (ids
are the FIFO order), the earliest of those.

Upgrading from layout 4 (``CountVerbs._install_counts``) creates the table and the
triggers and counts the rows already stored, exactly: on PostgreSQL in one transaction
(one simple query) that first locks the five job tables against writes (``SHARE ROW
EXCLUSIVE``), so a write committed before is in the count and one after fires the
triggers; on MySQL, whose DDL commits statement by statement, the triggers first, then
the count under ``LOCK TABLES`` (``MySqlCountVerbs``). At a million jobs the lock holds
writers back for the count's duration (about a second).
"""

from __future__ import annotations

from typing import ClassVar, Final

from wg_core.backends.sql.session import SqlSession, UnitRunner

__all__ = ["CountVerbs"]

FOLDED: Final = 1000
"""Counter rows of finished sessions folded per pruner pass."""


class CountVerbs(UnitRunner):
    """The counters' upgrade and chore, written over ``_run``; ``SqlBackend`` provides
    it."""

    KEEPS_COUNTS: ClassVar[bool] = False
    """Whether the dialect keeps ``{ns}_counts`` (its blocks ``schema_counts`` and
    ``fold_counts``), rather than counting each table when asked."""

    async def _install_counts(self, session: SqlSession) -> None:
        """Create ``{ns}_counts`` and the triggers keeping it, and count the rows already
        there, so that no write between the count and the triggers is lost or counted
        twice (``schema_counts``: one transaction that locks the job tables first, or
        runs inside SQLite's ``BEGIN IMMEDIATE``; a dialect whose DDL commits on its own
        overrides this). Runs under the schema lock."""
        if self.KEEPS_COUNTS:
            await session.script("schema_counts")

    async def recount(self) -> bool:
        """Count the rows of the job tables again and make ``{ns}_counts`` that count,
        under the same lock as the upgrade's count (see the module docstring), so that
        no write running meanwhile is lost or counted twice."""
        if not self.KEEPS_COUNTS:
            return False

        async def body(session: SqlSession) -> None:
            await self._count_rows(session)

        await self._run(body, transaction=False)
        return True

    async def _count_rows(self, session: SqlSession) -> None:
        """The rows counted into ``{ns}_counts`` under a lock: on PostgreSQL
        ``schema_counts`` again, one transaction that replaces the table's rows."""
        await session.script("schema_counts")

    async def _fold_counts(self) -> int:
        """Fold up to ``FOLDED`` counter rows of sessions gone into shard 0."""
        if not self.KEEPS_COUNTS:
            return 0

        async def body(session: SqlSession) -> int:
            return await session.execute("fold_counts", {"limit": FOLDED})

        return await self._run(body, transaction=False)
