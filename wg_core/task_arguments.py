"""A task's arguments as a stored payload, and back, by the function's signature.

The payload is a JSON object of the arguments the caller gave, by parameter name::

    @app.task
    def add(a: int, b: int = 0) -> int: ...

    await add.enqueue(2, b=3)   # stores {"a": 2, "b": 3}
    await add.enqueue(2)        # stores {"a": 2}: b takes its default when it runs

Defaults are not stored, so a default changed in the code applies to jobs already
queued. ``*args`` is stored under its name as a list, ``**kwargs`` as an object.
Each value is encoded as a handler's payload is (``wg_core.payloads``: dataclasses,
pydantic-style models, plain JSON values) and must decode again by its parameter's
annotation — the check the worker makes — before anything is stored. A parameter
annotated ``JobContext`` is not an argument: the worker passes the running job's
context there.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any, Final

from wg_core.errors import ConfigError, PayloadError
from wg_core.jobs import JobContext
from wg_core.payloads import PayloadDecodeError, decode_payload, encode_payload

__all__ = ["TaskArgumentError", "TaskSignature"]

_SCALARS: Final = frozenset({str, int, float, bool})


class TaskArgumentError(ConfigError, TypeError):
    """The arguments do not fit the task's signature or annotations: nothing was
    stored. (A ``TypeError``, as Python's own for a bad call, and a ``ValueError``.)"""


class TaskSignature:
    """``func``'s signature, read once: binds a call's arguments into a payload
    (``encode``) and a stored payload back into a call (``decode``)."""

    __slots__ = ("_annotations", "_context", "_full", "_name", "_parameters", "_signature")

    def __init__(self, func: Callable[..., Any], name: str) -> None:
        self._name = name
        try:
            signature = inspect.signature(func)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"cannot read the signature of task {name}: {exc}") from None
        try:
            hints = typing.get_type_hints(func)
        except Exception:  # unresolvable forward references: check nothing
            hints = {}
        context = [
            p.name
            for p in signature.parameters.values()
            if hints.get(p.name) is JobContext or p.annotation in (JobContext, "JobContext")
        ]
        if len(context) > 1:
            raise ConfigError(f"task {name} takes more than one JobContext parameter")
        self._context = context[0] if context else None
        self._full = signature
        # The signature a caller sees: without the context parameter.
        self._signature = signature.replace(
            parameters=[p for p in signature.parameters.values() if p.name != self._context],
            return_annotation=inspect.Signature.empty,
        )
        self._parameters = self._signature.parameters
        self._annotations = {p: hints.get(p, Any) for p in self._parameters}

    @property
    def takes_context(self) -> bool:
        """Whether the function takes the running job's ``JobContext``."""
        return self._context is not None

    @property
    def signature(self) -> inspect.Signature:
        """The signature callers bind to (the context parameter left out)."""
        return self._signature

    def encode(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The payload for ``func(*args, **kwargs)``; ``TaskArgumentError`` when the
        arguments do not bind or a value does not fit its annotation."""
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TaskArgumentError(f"task {self._name}: {exc}") from None
        payload: dict[str, Any] = {}
        for name, value in bound.arguments.items():
            kind = self._parameters[name].kind
            if kind is inspect.Parameter.VAR_POSITIONAL:
                payload[name] = [self._encode_one(name, item) for item in value]
            elif kind is inspect.Parameter.VAR_KEYWORD:
                payload[name] = {key: self._encode_one(key, v, name) for key, v in value.items()}
            else:
                payload[name] = self._encode_one(name, value)
        return payload

    def _encode_one(self, name: str, value: Any, annotation_of: str | None = None) -> Any:
        annotation = self._annotations[annotation_of or name]
        if type(value) is annotation and annotation in _SCALARS:
            return value  # the common case: nothing to convert, nothing else to check
        try:
            encoded = encode_payload(value)
            decode_payload(encoded, annotation)
        except (PayloadError, PayloadDecodeError) as exc:
            raise TaskArgumentError(f"task {self._name}, argument {name!r}: {exc}") from None
        return encoded

    def decode(
        self, payload: Any, context: JobContext | None
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """``(args, kwargs)`` to call the function with, from a stored payload;
        ``PayloadDecodeError`` when it does not fit the signature (a job enqueued by
        other code, or stored before the function changed)."""
        if not isinstance(payload, dict):
            raise PayloadDecodeError(
                f"task {self._name} needs a JSON object of its arguments, "
                f"got {type(payload).__name__}"
            )
        unknown = payload.keys() - self._parameters.keys()
        if unknown:
            raise PayloadDecodeError(
                f"task {self._name} has no parameter {', '.join(sorted(unknown))}"
            )
        arguments: dict[str, Any] = {}
        for name, parameter in self._parameters.items():
            if name not in payload:
                continue
            value, annotation = payload[name], self._annotations[name]
            if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
                if not isinstance(value, list):
                    raise PayloadDecodeError(f"*{name} must be stored as a JSON array")
                arguments[name] = tuple(decode_payload(item, annotation) for item in value)
            elif parameter.kind is inspect.Parameter.VAR_KEYWORD:
                if not isinstance(value, dict):
                    raise PayloadDecodeError(f"**{name} must be stored as a JSON object")
                arguments[name] = {k: decode_payload(v, annotation) for k, v in value.items()}
            else:
                arguments[name] = decode_payload(value, annotation)
        if self._context is not None:
            arguments[self._context] = context
        # In the full signature's order, so the context parameter lands where it is
        # declared, wherever that is.
        ordered = {name: arguments[name] for name in self._full.parameters if name in arguments}
        bound = inspect.BoundArguments(self._full, ordered)
        try:
            self._full.bind(*bound.args, **bound.kwargs)  # every required one given
        except TypeError as exc:
            raise PayloadDecodeError(f"task {self._name}: {exc}") from None
        return tuple(bound.args), dict(bound.kwargs)
