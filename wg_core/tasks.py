"""Tasks: functions that ``@app.task`` turned into job names (see ``wg_core.app``).

A ``Task`` is still the function (``add(2, 3)`` runs it, which is how its tests call
it) and also enqueues it: ``await add.enqueue(2, b=3)`` checks the arguments against
the signature and annotations (``TaskArgumentError`` at the call, nothing stored),
stores them as a JSON object by parameter name (``wg_core.task_arguments``) and returns
the job id. ``add.blocking.enqueue(...)`` is the same for sync code (the app's
``BlockingClient``: ``blocking`` is where the blocking facade's names live), and
``add.with_options(delay=..., queue=..., priority=...)`` sets those for one call.

**Job names.** A task's job name is its module-qualified function name
(``myapp.tasks.add``) unless ``name=`` is given: stable across restarts and machines
as long as the function keeps its module and name, so rename with ``name=`` set to
the old one while jobs of the old name may still be queued. A function defined in a
script run as ``python myapp/tasks.py`` (module ``__main__``) is named after the
module a worker imports it as: the script's file name (``tasks.add``), or the module
given to ``python -m``. Functions without a stable module-level name (nested ones,
lambdas) need ``name=``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import sys
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeAlias, TypeVar

from wg_core.errors import ConfigError, JobError
from wg_core.handlers import HandlerFunc
from wg_core.jobs import JobContext
from wg_core.new_jobs import validate_job_name
from wg_core.options import Duration, JobOptions
from wg_core.payloads import PayloadDecodeError
from wg_core.queues import DEFAULT_QUEUE, validate_priority, validate_queue
from wg_core.task_arguments import TaskArgumentError, TaskSignature
from wg_core.unique import UniqueKey, UniqueKeyRule

if TYPE_CHECKING:
    from wg_core.app import App

__all__ = ["Task", "TaskArgumentError", "TaskCall", "default_task_name"]

P = ParamSpec("P")
R = TypeVar("R")


def default_task_name(func: Callable[..., Any]) -> str:
    """``func``'s default job name: ``module.qualname`` (see the module docstring)."""
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if module == "__main__":
        module = _main_module_name()
    if not module or not qualname or "<" in qualname:
        raise ConfigError(f"{func!r} has no stable module-level name: give @app.task(name=...)")
    return f"{module}.{qualname}"


def _task_name(func: Callable[..., Any], name: str | None) -> str:
    if name is not None:
        return validate_job_name(name)
    default = default_task_name(func)
    try:
        return validate_job_name(default)
    except ConfigError as exc:  # e.g. a module or function name with non-ASCII letters
        raise ConfigError(f"{exc}; give @app.task(name=...)") from None


def _main_module_name() -> str | None:
    """What a worker imports ``__main__`` as: the ``-m`` module, else the script's stem."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    name = getattr(spec, "name", None)
    if isinstance(name, str) and name:
        return name
    path = getattr(main, "__file__", None)
    if not isinstance(path, str) or not path:
        return None  # an interactive session
    return os.path.splitext(os.path.basename(path))[0]


K = TypeVar("K")

KeySpec: TypeAlias = K | Callable[..., K]
"""A key, or a function of the task's own arguments that returns it: a task's
``unique_key=lambda invoice_id: f"invoice:{invoice_id}"`` keys each call by its
arguments."""


def _key(spec: KeySpec[K] | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> K | None:
    """``spec``, or what it returns for these arguments when it is a function."""
    if spec is None or isinstance(spec, str | UniqueKeyRule):
        return spec
    if callable(spec):
        return spec(*args, **kwargs)
    return spec


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _CallOptions:
    """Where and when one enqueue puts the job (``with_options``)."""

    queue: str = DEFAULT_QUEUE
    priority: int = 0
    delay: Duration | None = None
    at: datetime | None = None
    job_id: str | None = None
    connection: object | None = None
    unique_key: KeySpec[UniqueKey] | None = None
    unique_for: Duration | None = None
    limit_key: KeySpec[str] | None = None

    def enqueue_arguments(
        self, task: Task[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The payload of ``task(*args, **kwargs)`` (checked) and the keywords of
        ``Client.enqueue`` (and ``BlockingClient.enqueue``) that store it."""
        payload = task.signature.encode(args, kwargs)
        return payload, {
            "job_name": task.name,
            "options": task.options,
            "queue": self.queue,
            "priority": self.priority,
            "delay": self.delay,
            "at": self.at,
            "job_id": self.job_id,
            "connection": self.connection,
            "unique_key": _key(self.unique_key, args, kwargs),
            "unique_for": self.unique_for,
            "limit_key": _key(self.limit_key, args, kwargs),
        }


class TaskCall:
    """A task with options for one call: ``add.with_options(delay=60).enqueue(2, 3)``.
    ``enqueue`` and ``blocking.enqueue`` as on ``Task``."""

    __slots__ = ("_call", "_task")

    def __init__(self, task: Task[Any, Any], call: _CallOptions) -> None:
        self._task = task
        self._call = call

    async def enqueue(self, *args: Any, **kwargs: Any) -> str:
        """Check the arguments, store the job, return its id (see ``Task.enqueue``)."""
        payload, settings = self._call.enqueue_arguments(self._task, args, kwargs)
        return await self._task.app.client().enqueue(payload, **settings)

    @property
    def blocking(self) -> BlockingTaskCall:
        """``enqueue`` for sync code, through the app's ``BlockingClient``."""
        return BlockingTaskCall(self._task, self._call)


class BlockingTaskCall:
    """``TaskCall`` for sync code: ``add.blocking.enqueue(2, b=3)``."""

    __slots__ = ("_call", "_task")

    def __init__(self, task: Task[Any, Any], call: _CallOptions) -> None:
        self._task = task
        self._call = call

    def enqueue(self, *args: Any, **kwargs: Any) -> str:
        """``Task.enqueue``, blocking (from any thread, no event loop needed)."""
        payload, settings = self._call.enqueue_arguments(self._task, args, kwargs)
        return self._task.app.blocking.enqueue(payload, **settings)


class Task(Generic[P, R]):
    """A function registered with ``App.task``; calling it runs the function."""

    def __init__(
        self,
        func: Callable[P, R],
        *,
        app: App,
        name: str | None = None,
        queue: str | None = None,
        priority: int = 0,
        options: JobOptions,
        unique_key: KeySpec[UniqueKey] | None = None,
        unique_for: Duration | None = None,
        limit_key: KeySpec[str] | None = None,
    ) -> None:
        if not callable(func):
            raise ConfigError(f"a task must be a function, got {func!r}")
        self.func: Callable[P, R] = func
        """The function itself."""
        self.app = app
        """The app the task belongs to (where it is enqueued)."""
        self.name: str = _task_name(func, name)
        """The job name its jobs are stored under."""
        self.options = options
        """Retries, timeout and retry delay of its jobs."""
        self.signature = TaskSignature(func, self.name)
        """How its arguments become a payload and back."""
        self.is_async = inspect.iscoroutinefunction(func)
        self._default = _CallOptions(
            queue=validate_queue(DEFAULT_QUEUE if queue is None else queue),
            priority=validate_priority(priority),
            unique_key=unique_key,
            unique_for=unique_for,
            limit_key=limit_key,
        )
        if unique_for is not None and unique_key is None:
            raise ConfigError(f"task {self.name}: unique_for needs a unique_key")
        functools.update_wrapper(self, func)

    @property
    def queue(self) -> str:
        """The queue its jobs wait in unless ``with_options`` says otherwise."""
        return self._default.queue

    @property
    def priority(self) -> int:
        """The priority of its jobs unless ``with_options`` says otherwise."""
        return self._default.priority

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the function now, in this process (no job is stored)."""
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Task {self.name} queue={self.queue!r}>"

    async def enqueue(self, *args: Any, **kwargs: Any) -> str:
        """Store a job that calls the function with these arguments; its id.

        The arguments are bound to the function's signature and checked against its
        annotations first: ``TaskArgumentError`` (a ``TypeError`` and ``ValueError``)
        if they do not fit, and nothing is stored. Read the return value with
        ``app.result(job_id)``."""
        return await TaskCall(self, self._default).enqueue(*args, **kwargs)

    @property
    def blocking(self) -> BlockingTaskCall:
        """``enqueue`` for sync code: ``add.blocking.enqueue(2, b=3)``."""
        return BlockingTaskCall(self, self._default)

    def with_options(
        self,
        *,
        delay: Duration | None = None,
        at: datetime | None = None,
        queue: str | None = None,
        priority: int | None = None,
        job_id: str | None = None,
        connection: object | None = None,
        unique_key: KeySpec[UniqueKey] | None = None,
        unique_for: Duration | None = None,
        limit_key: KeySpec[str] | None = None,
    ) -> TaskCall:
        """This task with options for one call: run after ``delay`` (or ``at``), in
        ``queue`` at ``priority``, under the caller's ``job_id``, stored through the
        caller's database ``connection`` (inside its transaction, on backends that
        support it); with this call's ``unique_key`` / ``unique_for`` / ``limit_key``
        instead of the task's (a key, or a function of the task's arguments). Checked
        here, before anything is stored."""
        if delay is not None and at is not None:
            raise ConfigError("give delay or at, not both")
        return TaskCall(
            self,
            _CallOptions(
                queue=self.queue if queue is None else validate_queue(queue),
                priority=self.priority if priority is None else validate_priority(priority),
                delay=delay,
                at=at,
                job_id=job_id,
                connection=connection,
                unique_key=self._default.unique_key if unique_key is None else unique_key,
                unique_for=self._default.unique_for if unique_for is None else unique_for,
                limit_key=self._default.limit_key if limit_key is None else limit_key,
            ),
        )

    def handler(self) -> HandlerFunc:
        """The pool's handler for this task's jobs: decodes the stored arguments by the
        signature (a payload that does not fit is a fatal error: the job goes dead,
        it cannot fit on a retry either) and calls the function."""
        signature, func = self.signature, self.func

        def arguments(payload: Any, context: JobContext) -> tuple[tuple[Any, ...], dict[str, Any]]:
            try:
                return signature.decode(payload, context)
            except PayloadDecodeError as exc:
                raise JobError.fatal(str(exc)) from None

        if self.is_async:

            async def run_async(payload: Any, context: JobContext) -> Any:
                args, kwargs = arguments(payload, context)
                return await func(*args, **kwargs)  # type: ignore[misc]

            return run_async

        def run(payload: Any, context: JobContext) -> Any:
            args, kwargs = arguments(payload, context)
            return func(*args, **kwargs)

        return run
