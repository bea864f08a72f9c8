"""Turning user objects into JSON payloads and back, by the handler's type annotation.

Supported payload types: dataclasses, pydantic-style models (anything with
``model_dump``/``model_validate``, duck-typed so wg needs no pydantic), ``TypedDict``
and plain JSON values (dict, list, str, int, float, bool, None). JSON only: never
pickle, which would let anyone who can write to the store run code in the worker.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import typing
from collections.abc import Callable
from typing import Any

from wg_core.envelope import DEFAULT_JOB_NAME
from wg_core.errors import PayloadError

__all__ = [
    "PayloadDecodeError",
    "decode_payload",
    "encode_payload",
    "job_name_for",
    "payload_decoder",
]

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_JSON_VALUES = (dict, list, str, int, float, bool, type(None))


class PayloadDecodeError(ValueError):
    """A stored payload does not fit the handler's parameter type."""


def job_name_for(job: object) -> str:
    """The job name for ``job``: a ``job_name`` class attribute if it has one, else the
    class name in snake_case (``EmailJob`` → ``email_job``); plain JSON values get
    ``DEFAULT_JOB_NAME``."""
    explicit = getattr(type(job), "job_name", None)
    if isinstance(explicit, str) and explicit:
        return explicit
    if isinstance(job, _JSON_VALUES):
        return DEFAULT_JOB_NAME
    return _CAMEL_BOUNDARY.sub("_", type(job).__name__).lower()


def encode_payload(job: object) -> Any:
    """A JSON-ready value for ``job``; raises ``PayloadError`` for anything else."""
    if dataclasses.is_dataclass(job) and not isinstance(job, type):
        return dataclasses.asdict(job)
    model_dump = getattr(job, "model_dump", None)
    if callable(model_dump):
        return model_dump(mode="json")
    if isinstance(job, _JSON_VALUES):
        return job
    raise PayloadError(
        f"cannot enqueue a {type(job).__name__}: use a dataclass, a pydantic model, "
        "or plain JSON values (dict, list, str, int, float, bool, None)"
    )


def decode_payload(payload: Any, annotation: Any) -> Any:
    """``payload`` converted to ``annotation`` (the handler parameter's type).

    Raises ``PayloadDecodeError`` with a readable reason when it does not fit.
    """
    return payload_decoder(annotation)(payload)


def _as_is(payload: Any) -> Any:
    return payload


def payload_decoder(annotation: Any) -> Callable[[Any], Any]:
    """``decode_payload`` for one ``annotation``, its kind worked out once: a pool
    looks at each handler once and decodes every job's payload with this (the
    annotation's checks cost microseconds a job, a failed ``getattr`` among them)."""
    if annotation is Any or annotation is object or annotation is None:
        return _as_is
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return functools.partial(_dataclass, annotation)
    model_validate = getattr(annotation, "model_validate", None)
    if callable(model_validate):
        return functools.partial(_model, annotation, model_validate)
    if typing.is_typeddict(annotation):
        return functools.partial(_typed_dict, annotation)
    origin = typing.get_origin(annotation) or annotation
    if origin in (dict, list, str, bool):
        return functools.partial(_json_type, origin)
    if origin is int:
        return _int
    if origin is float:
        return _float
    # Unions, Optional, generics we do not check: hand over the JSON value as is.
    return _as_is


def _dataclass(annotation: Any, payload: Any) -> Any:
    if not isinstance(payload, dict):
        raise PayloadDecodeError(
            f"{annotation.__name__} needs a JSON object, got {type(payload).__name__}"
        )
    try:
        return annotation(**payload)
    except TypeError as exc:
        raise PayloadDecodeError(f"payload does not fit {annotation.__name__}: {exc}") from None


def _model(annotation: Any, model_validate: Callable[[Any], Any], payload: Any) -> Any:
    try:
        return model_validate(payload)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise PayloadDecodeError(f"payload does not fit {annotation.__name__}: {exc}") from None


def _typed_dict(annotation: Any, payload: Any) -> Any:
    if not isinstance(payload, dict):
        raise PayloadDecodeError(f"{annotation.__name__} needs a JSON object")
    required: frozenset[str] = getattr(annotation, "__required_keys__", frozenset())
    missing = required - payload.keys()
    if missing:
        raise PayloadDecodeError(
            f"payload lacks {', '.join(sorted(missing))} for {annotation.__name__}"
        )
    return payload


def _json_type(origin: type, payload: Any) -> Any:
    if not isinstance(payload, origin):
        raise PayloadDecodeError(f"expected {origin.__name__}, got {type(payload).__name__}")
    return payload


def _int(payload: Any) -> Any:
    if isinstance(payload, bool) or not isinstance(payload, int):
        raise PayloadDecodeError(f"expected int, got {type(payload).__name__}")
    return payload


def _float(payload: Any) -> Any:
    if isinstance(payload, bool) or not isinstance(payload, int | float):
        raise PayloadDecodeError(f"expected float, got {type(payload).__name__}")
    return float(payload)
