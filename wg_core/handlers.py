"""Handlers: plain functions, async or sync, looked at once when the pool is built.

A handler takes the job's payload as its first parameter, decoded by that parameter's
type annotation (a dataclass, a pydantic-style model, a TypedDict, a JSON type), and
optionally a second parameter that receives a ``JobContext``. Async handlers run on
the event loop; sync ones run in the pool's threads so they never block it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from wg_core.errors import ConfigError
from wg_core.jobs import JobContext
from wg_core.payloads import payload_decoder

__all__ = ["Handler", "HandlerFunc", "build_routes"]

HandlerFunc = Callable[..., Any]
"""``async def f(job) -> None``, ``def f(job, ctx: JobContext) -> None``..."""


@dataclass(frozen=True, slots=True)
class Handler:
    """A handler function with what the pool needs to know about it."""

    func: HandlerFunc
    name: str
    payload_type: Any
    takes_context: bool
    is_async: bool
    decode_payload: Callable[[Any], Any] = field(init=False, compare=False, repr=False)
    """``decode`` itself: ``payload_decoder(payload_type)``, worked out once."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "decode_payload", payload_decoder(self.payload_type))

    @classmethod
    def inspect(cls, func: HandlerFunc) -> Handler:
        """Look at ``func``'s signature; refuse one the pool cannot call."""
        if not callable(func):
            raise ConfigError(f"handler must be callable, got {func!r}")
        name = getattr(func, "__qualname__", None) or type(func).__qualname__
        try:
            signature = inspect.signature(func)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"cannot read the signature of handler {name}: {exc}") from None
        positional = [
            p
            for p in signature.parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        has_varargs = any(p.kind is p.VAR_POSITIONAL for p in signature.parameters.values())
        if not positional and not has_varargs:
            raise ConfigError(f"handler {name} must take the job as its first parameter")
        required = [p for p in positional if p.default is p.empty]
        if len(required) > 2:
            raise ConfigError(f"handler {name} takes at most (job, context), not {len(required)}")
        try:
            target = func if inspect.isfunction(func) or inspect.ismethod(func) else func.__call__  # type: ignore[operator]
            hints = typing.get_type_hints(target)
        except Exception:  # unresolvable forward references: decode nothing
            hints = {}
        payload_type = hints.get(positional[0].name, Any) if positional else Any
        is_async = inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
            getattr(func, "__call__", None)  # noqa: B004 - async callable objects
        )
        return cls(
            func=func,
            name=name,
            payload_type=payload_type,
            takes_context=len(positional) >= 2 or (has_varargs and len(positional) == 1),
            is_async=is_async,
        )

    def decode(self, payload: Any) -> Any:
        """The payload as the handler's first parameter wants it."""
        return self.decode_payload(payload)

    async def call(self, job: Any, context: JobContext | None, executor: Executor) -> Any:
        """Run the handler once (async on the loop, sync in ``executor``); its return
        value (the job's result). ``context`` is given when ``takes_context``."""
        args = (job, context) if self.takes_context else (job,)
        if self.is_async:
            return await self.func(*args)
        loop = asyncio.get_running_loop()
        # Copy the context so contextvars set by the caller (e.g. logging) reach the thread.
        ctx = contextvars.copy_context()
        return await loop.run_in_executor(executor, functools.partial(ctx.run, self.func, *args))


def build_routes(
    handler: HandlerFunc | None, handlers: Mapping[str, HandlerFunc] | None
) -> tuple[dict[str, Handler], Handler | None]:
    """Named routes and the catch-all (``handler=``) of a pool."""
    if handler is None and not handlers:
        raise ConfigError("give a handler= or handlers={job_name: handler}")
    routes: dict[str, Handler] = {}
    for job_name, func in (handlers or {}).items():
        if not isinstance(job_name, str) or not job_name:
            raise ConfigError(f"job names must be non-empty strings, got {job_name!r}")
        routes[job_name] = Handler.inspect(func)
    fallback = Handler.inspect(handler) if handler is not None else None
    return routes, fallback
