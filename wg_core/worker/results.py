"""Results: a handler's return value, encoded as JSON to be stored with the job."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Final

from wg_core.failures import describe_exception
from wg_core.options import MAX_RESULT_BYTES

__all__ = ["ResultError", "encode_result"]

_ENCODE: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


class ResultError(ValueError):
    """A handler's return value that cannot be stored; the message says why."""


def encode_result(value: Any, *, limit: int = MAX_RESULT_BYTES) -> str | None:
    """The JSON text stored for ``value`` (``None`` for ``None``: nothing to store).
    Dataclasses and pydantic-style models are encoded as payloads are; anything that
    is not JSON, or more than ``limit`` bytes encoded, raises ``ResultError`` (the job
    then goes dead with that reason: a result is never stored cut short)."""
    if value is None:
        return None
    try:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.asdict(value)
        else:
            model_dump = getattr(value, "model_dump", None)
            if callable(model_dump):
                value = model_dump(mode="json")
        text = _ENCODE(value)
        size = len(text) if text.isascii() else len(text.encode())
    except (TypeError, ValueError, RecursionError) as exc:
        raise ResultError(
            f"the handler's result is not JSON ({describe_exception(exc)}): return a "
            "dataclass, a pydantic model or plain JSON values (dict, list, str, int, "
            "float, bool, None)"
        ) from None
    if size > limit:
        raise ResultError(
            f"the handler's result is {size} bytes encoded, over the {limit}-byte limit "
            "(MAX_RESULT_BYTES): store large results elsewhere and return a reference"
        )
    return text
