"""The JSON decoder of the worker's hot path: orjson when the ``fast`` extra is
installed, else the standard library, with the same meaning either way.

Every claimed job's envelope is decoded once; with ``pip install 'wg[fast]'`` that is
orjson (about 3x faster than ``json.loads`` on an envelope). orjson differs from
Python's ``json`` in a few corners, and each one falls back to the standard decoder so
that a document means exactly what it meant before:

- what orjson refuses (``NaN`` and infinities, ``1e999``, lone surrogate escapes, text
  that is not UTF-8, nesting deeper than 1024) is decoded again by ``json``, which
  accepts or reports it as it always did;
- integers beyond 64 bits, which orjson reads as floats: a document holding any float
  of 2**64 or more, or of -2**63 or less (orjson reads integers down to int64's
  minimum, and ``-9223372036854775809`` as the float ``-2**63``), is decoded again by
  ``json`` (a walk over the decoded values: ~1 us for an envelope, where a
  regular-expression scan of the text cost more than the decode itself).

``WG_JSON=stdlib`` in the environment turns orjson off (for A/B measurements).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Final

__all__ = ["fast_decoder"]

_BEYOND_UINT64: Final = float(2**64)
_INT64_MIN: Final = float(-(2**63))


def _has_huge_float(value: Any) -> bool:
    """Whether a float >= 2**64 or <= -2**63 is anywhere in ``value``: orjson's reading
    of an integer beyond 64 bits (or a float literal, which json reads the same)."""
    kind = type(value)
    if kind is dict:
        value = value.values()
    elif kind is not list:
        return kind is float and not _INT64_MIN < value < _BEYOND_UINT64
    # Plain loops, not any(<generator>): this runs once per claimed job.
    for item in value:
        kind = type(item)
        if kind is float:
            if not _INT64_MIN < item < _BEYOND_UINT64:
                return True
        elif (kind is dict or kind is list) and _has_huge_float(item):
            return True
    return False


def fast_decoder(fallback: Callable[[str], Any]) -> Callable[[str | bytes], Any]:
    """A decoder with ``fallback``'s meaning (a ``json`` decoder of ``str``), through
    orjson where it is installed and agrees; ``fallback`` itself (on ``str``) otherwise."""
    if os.environ.get("WG_JSON", "").lower() == "stdlib":
        return _plain(fallback)
    try:
        import orjson
    except ModuleNotFoundError:
        return _plain(fallback)
    loads = orjson.loads
    error = orjson.JSONDecodeError

    def decode(raw: str | bytes) -> Any:
        try:
            document = loads(raw)
        except error:
            pass
        else:
            if not _has_huge_float(document):
                return document
        return fallback(raw if isinstance(raw, str) else raw.decode())

    return decode


def _plain(fallback: Callable[[str], Any]) -> Callable[[str | bytes], Any]:
    def decode(raw: str | bytes) -> Any:
        return fallback(raw if isinstance(raw, str) else raw.decode())

    return decode
