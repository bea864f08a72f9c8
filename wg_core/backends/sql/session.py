"""What a dialect gives the engine to run SQL on: a session over one connection."""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from typing import Any, Protocol, TypeVar

__all__ = ["Params", "Row", "SqlSession", "drive", "micros"]

T = TypeVar("T")

Row = tuple[Any, ...]
Params = Mapping[str, Any]


class SqlSession(Protocol):
    """One connection's view for a unit of work: runs named blocks with bound values."""

    async def fetch(self, block: str, params: Params | None = None) -> list[Row]:
        """Run ``block`` and return its rows."""
        ...

    async def execute(self, block: str, params: Params | None = None) -> int:
        """Run ``block``; returns the number of rows it matched."""
        ...

    async def script(self, block: str) -> None:
        """Run a block of several statements without parameters (DDL)."""
        ...


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
