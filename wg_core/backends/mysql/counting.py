"""MySQL's part of the state counts (``wg_core/backends/sql/counting.py``): its DDL
commits statement by statement, and it has no ``DELETE … RETURNING``."""

from __future__ import annotations

from contextlib import suppress

from wg_core.backends.sql.counting import FOLDED, CountVerbs
from wg_core.backends.sql.session import Row, SqlSession

__all__ = ["MySqlCountVerbs"]


class MySqlCountVerbs(CountVerbs):
    """The upgrade under ``LOCK TABLES``, and the fold in one transaction."""

    async def _install_counts(self, session: SqlSession) -> None:
        """The triggers first, then the rows already stored counted under ``LOCK
        TABLES`` (which waits for every transaction writing those tables and keeps the
        rest out): a write committed before the lock is in the count, one after it
        fires the triggers, so no job is missed or counted twice."""
        await session.script("schema_counts")
        try:
            await session.script("count_rows")
        finally:
            with suppress(Exception):  # a dead connection holds no lock
                await session.script("count_unlock")

    async def _fold_counts(self) -> int:
        """Fold up to ``FOLDED`` counter rows of connections gone into shard 0: read
        them locked (``SKIP LOCKED``), delete exactly those, add their sums."""

        async def body(session: SqlSession) -> int:
            rows = await session.fetch("fold_counts", {"limit": FOLDED})
            if not rows:
                return 0
            await session.execute("fold_counts_delete", {"keys": [tuple(r[:3]) for r in rows]})
            for (queue, state), n in _sums(rows).items():
                await session.execute(
                    "fold_counts_add",
                    {"queue": queue, "state": state, "n": n},
                )
            return len(rows)

        return await self._run(body)


def _sums(rows: list[Row]) -> dict[tuple[str, str], int]:
    sums: dict[tuple[str, str], int] = {}
    for queue, state, _shard, n in rows:
        key = (str(queue), str(state))
        sums[key] = sums.get(key, 0) + int(n)
    return dict(sorted(sums.items()))
