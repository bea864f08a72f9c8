"""MySQL's part of the state counts (``wg_core/backends/sql/counting.py``): its DDL
commits statement by statement, and it has no ``DELETE … RETURNING``."""

from __future__ import annotations

from contextlib import suppress

from wg_core.backends.sql.counting import FOLDED, CountVerbs
from wg_core.backends.sql.session import Row, SqlSession
from wg_core.errors import BackendConfigError

__all__ = ["MySqlCountVerbs"]


class MySqlCountVerbs(CountVerbs):
    """The upgrade under ``LOCK TABLES``, and the fold in one transaction."""

    async def _install_counts(self, session: SqlSession) -> None:
        """The triggers first, then the rows already stored counted under ``LOCK
        TABLES`` (which waits for every transaction writing those tables and keeps the
        rest out): a write committed before the lock is in the count, one after it
        fires the triggers, so no job is missed or counted twice."""
        try:
            await session.script("schema_counts")
        except Exception as exc:
            if _denied_triggers(exc):
                raise BackendConfigError(_NO_TRIGGER_PRIVILEGE.format(exc=exc)) from exc
            raise
        await self._count_rows(session)

    async def _count_rows(self, session: SqlSession) -> None:
        """``count_rows`` (``LOCK TABLES``, then the count), and ``count_unlock``
        whatever happens."""
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


_NO_TRIGGER_PRIVILEGE = (
    "creating the namespace needs the TRIGGER privilege once (its state counts are kept "
    "by triggers, docs/mysql.md): GRANT TRIGGER to this user, or create the namespace "
    "with a user that has it (`wg init`); workers and producers then need no TRIGGER "
    "privilege ({exc})"
)


def _denied_triggers(exc: BaseException) -> bool:
    """Whether ``exc`` is MySQL's refusal to create a trigger (error 1142 on TRIGGER)."""
    args = exc.args
    return len(args) >= 2 and args[0] == 1142 and "TRIGGER" in str(args[1])


def _sums(rows: list[Row]) -> dict[tuple[str, str], int]:
    sums: dict[tuple[str, str], int] = {}
    for queue, state, _shard, n in rows:
        key = (str(queue), str(state))
        sums[key] = sums.get(key, 0) + int(n)
    return dict(sorted(sums.items()))
