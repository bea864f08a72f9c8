"""What a dialect gives the engine to run SQL on: a session over one connection."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, Protocol, TypeAlias, TypeVar

__all__ = [
    "Body",
    "Call",
    "Params",
    "Row",
    "SqlSession",
    "UnitRunner",
    "drive",
    "fetch_each",
    "micros",
]

T = TypeVar("T")

Row = tuple[Any, ...]
Params = Mapping[str, Any]
Call: TypeAlias = tuple[str, "Params | None"]
"""A block to run and its values."""


class SqlSession(Protocol):
    """One connection's view for a unit of work: runs named blocks with bound values."""

    async def fetch(self, block: str, params: Params | None = None) -> list[Row]:
        """Run ``block`` and return its rows."""
        ...

    async def execute(self, block: str, params: Params | None = None) -> int:
        """Run ``block``; returns the number of rows it matched."""
        ...

    async def fetch_many(self, calls: Sequence[Call]) -> list[list[Row]]:
        """Run each ``(block, params)`` in order, each a statement of its own (under
        READ COMMITTED, each reads what was committed when it starts: after the locks
        the ones before it took), and return each one's rows. A dialect whose driver
        can sends them in one round trip."""
        ...

    async def script(self, block: str) -> None:
        """Run a block of several statements without parameters (DDL)."""
        ...


Body: TypeAlias = Callable[[SqlSession], Awaitable[T]]
"""A unit of work: the statements to run on one session, returning their outcome."""


class UnitRunner(abc.ABC):
    """What the engine's verbs (``WorkVerbs``, ``AdminVerbs``) are written over;
    ``SqlBackend`` provides it."""

    @abc.abstractmethod
    async def _run(
        self, body: Body[T], *, transaction: bool = True, durable: bool = True, read: bool = False
    ) -> T:
        """Run a unit of work (see ``SqlBackend._run``)."""

    @abc.abstractmethod
    def _signal(self) -> None:
        """Wake this process's idle claimers."""

    @abc.abstractmethod
    async def _announce(self, session: SqlSession) -> None:
        """Tell other processes that jobs became ready (see ``SqlBackend``)."""


async def fetch_each(session: SqlSession, calls: Sequence[Call]) -> list[list[Row]]:
    """``fetch_many`` one statement at a time (for a driver that cannot do better)."""
    return [await session.fetch(block, params) for block, params in calls]


def micros(seconds: float) -> int:
    """Whole microseconds in ``seconds`` (never negative): how durations are bound."""
    return max(0, round(seconds * 1_000_000))


def drive(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a unit of work's coroutine that never suspends to its end, on this thread.

    Drivers whose connection lives on a thread of its own (SQLite, MySQL) run the
    engine's ``async`` bodies there: every statement blocks that thread (which exists
    for that), so the coroutine completes in one ``send``."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        result: T = stop.value
        return result
    coroutine.close()
    raise RuntimeError("a unit of work run on a connection's thread must not suspend")
