"""``PreparedBlocks``: the engine's named blocks as positional SQLite statements, made
once per block (and per list size) and kept.

A block's ``:name`` parameters become numbered ``?N`` ones, so that a unit binds a
tuple in a known order instead of building a dict per statement, and ``:now_ms`` is
the unit's clock reading. A list parameter written ``IN (:ids)`` in ``sqlite.sql`` is
expanded into ``IN (?N, ?N+1, …)`` for the list's size: on the acknowledgement path
that is several times cheaper than reading a JSON array with ``json_each()`` (about
5 µs against 16-25 µs for one id here). This is the one place query text is derived in
Python, and only mechanically: the text of a named block with its placeholders
numbered and each list placeholder repeated for a size bucket (1-16 exactly, then
powers of two up to ``MAX_LIST``; a short list is padded with copies of its last
value, which leaves the ``IN`` set unchanged). Each variant is built once and cached.
Lists longer than ``MAX_LIST`` are run in chunks of it (the blocks that take lists run
inside a transaction, so the chunks commit together). Parameters read with
``json_each(:name)`` (cold admin blocks) are bound as JSON arrays.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["MAX_LIST", "PreparedBlocks", "Statement"]

MAX_LIST: Final = 512
"""The largest list one statement binds (two lists: about 1 000 variables, far below
SQLite's limit of 32 766)."""
_EXACT: Final = 16  # list sizes up to this get a variant each (claims are mostly <= 10)

_PARAM: Final = re.compile(
    r"IN \(:([a-z_][a-z0-9_]*)\)|json_each\(:([a-z_][a-z0-9_]*)\)|:([a-z_][a-z0-9_]*)"
)
_NOW: Final = "now_ms"
# How each parameter of a statement is bound.
_SCALAR: Final = 0  # as is (a list given anyway is bound as a JSON array, as before)
_JSON: Final = 1  # read with json_each(): a JSON array
_LIST: Final = 2  # IN (:name): one placeholder per value, ``width`` of them
_CLOCK: Final = 3  # :now_ms, the unit's clock reading


@dataclass(frozen=True, slots=True)
class Statement:
    """One positional variant of a block: its text and, in binding order, each
    parameter's name and kind; list parameters take ``width`` placeholders each."""

    text: str
    plan: tuple[tuple[str, int], ...]
    width: int


def _bucket(size: int) -> int:
    if size <= _EXACT:
        return size
    return min(1 << (size - 1).bit_length(), MAX_LIST)


def _compile(block: str, width: int) -> Statement:
    """``block``'s text with numbered placeholders, each list's repeated ``width`` times."""
    lines = [line for line in block.splitlines() if not line.lstrip().startswith("--")]
    first: dict[str, int] = {}  # a parameter's first placeholder number
    plan: list[tuple[str, int]] = []
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        listed, encoded, scalar = match.groups()
        name = listed or encoded or scalar
        if name not in first:
            kind = _LIST if listed else _JSON if encoded else _CLOCK if name == _NOW else _SCALAR
            first[name] = count + 1
            plan.append((name, kind))
            count += width if listed else 1
        number = first[name]
        if listed:
            return "IN (" + ", ".join(f"?{number + i}" for i in range(width)) + ")"
        return f"json_each(?{number})" if encoded else f"?{number}"

    text = _PARAM.sub(replace, "\n".join(lines))
    return Statement(text, tuple(plan), width)


def _has_lists(block: str) -> bool:
    return any(match.group(1) for match in _PARAM.finditer(block))


class PreparedBlocks:
    """The backend's blocks as positional statements, built on first use and kept
    (shared by the backend's connection threads: a variant built twice at once is the
    same text)."""

    __slots__ = ("_fixed", "_listed", "_sized", "_sql")

    def __init__(self, sql: Mapping[str, str]) -> None:
        self._sql = sql
        self._fixed: dict[str, Statement] = {}  # blocks without list parameters
        self._listed: set[str] = set()  # blocks with some
        self._sized: dict[tuple[str, int], Statement] = {}

    def bind(
        self, block: str, params: Mapping[str, Any] | None, now_ms: int
    ) -> list[tuple[str, tuple[Any, ...]]]:
        """The statements (one, unless a list is longer than ``MAX_LIST``) and their
        arguments that run ``block`` with ``params``."""
        statement = self._fixed.get(block)
        if statement is None and block not in self._listed:
            if _has_lists(self._sql[block]):
                self._listed.add(block)
            else:
                statement = self._fixed[block] = _compile(self._sql[block], 0)
        if statement is not None:
            return [(statement.text, _arguments(statement, params, now_ms, 0, 0))]
        if params is None:
            raise ValueError(f"block {block!r} needs its list parameters")
        plan = self._variant(block, 1).plan
        lengths = {len(params[name]) for name, kind in plan if kind == _LIST}
        if len(lengths) != 1:
            raise ValueError(f"block {block!r}: list parameters of different lengths")
        (length,) = lengths
        bound: list[tuple[str, tuple[Any, ...]]] = []
        for start in range(0, max(length, 1), MAX_LIST):
            size = min(length - start, MAX_LIST)
            statement = self._variant(block, _bucket(size))
            bound.append((statement.text, _arguments(statement, params, now_ms, start, size)))
        return bound

    def _variant(self, block: str, width: int) -> Statement:
        key = (block, width)
        statement = self._sized.get(key)
        if statement is None:
            statement = self._sized[key] = _compile(self._sql[block], width)
        return statement


def _arguments(
    statement: Statement, params: Mapping[str, Any] | None, now_ms: int, start: int, size: int
) -> tuple[Any, ...]:
    """The positional arguments of ``statement``: list values from ``start`` (``size``
    of them, padded with copies of the last to the variant's width)."""
    values: list[Any] = []
    for name, kind in statement.plan:
        if kind == _CLOCK:
            values.append(now_ms)
            continue
        if params is None:
            raise ValueError(f"no value for parameter {name!r}")
        value = params[name]
        if kind == _LIST:
            chunk = value[start : start + size]
            values.extend(chunk)
            if size < statement.width:
                values.extend([chunk[-1]] * (statement.width - size))
        elif kind == _JSON and isinstance(value, str):  # already JSON text
            values.append(value)
        elif kind == _JSON or isinstance(value, list | tuple):
            values.append(_json_array(value))
        else:
            values.append(value)
    return tuple(values)


def _json_array(values: Any) -> str:
    # Row ids are most lists: join them, much cheaper than json.dumps; anything else is
    # encoded by json.
    if all(type(value) is int for value in values):
        return f"[{','.join(map(str, values))}]"
    return json.dumps(values)
