"""``App``: a namespace's tasks, where they are stored, and the pool that runs them.

```python
from wg_core import App, JobContext

app = App()  # WG_URL, else sqlite:wg.db; namespace "wg"

@app.task
async def add(a: int, b: int) -> int:
    return a + b

@app.task(queue="reports", max_retries=5, timeout=600)
def report(day: str, ctx: JobContext) -> str:
    ...

async with app:  # opens the app's client (e.g. in a web app's lifespan)
    job_id = await add.enqueue(2, b=3)
    print(await app.result(job_id, timeout=30))   # 5

add.blocking.enqueue(2, b=3)   # from sync code (Django views, scripts)
```

``wg worker myapp.tasks:app`` (or ``await app.pool().run()``) serves every task.
See ``wg_core.tasks`` for job names and ``wg_core.task_arguments`` for the payload.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType, TracebackType
from typing import Any, ParamSpec, Self, TypeVar, overload

from wg_core.backend import Backend
from wg_core.blocking import BlockingClient
from wg_core.client import Client
from wg_core.errors import ConfigError
from wg_core.handlers import HandlerFunc
from wg_core.namespace import validate_namespace
from wg_core.options import Duration, JobOptions
from wg_core.queues import DEFAULT_QUEUE
from wg_core.tasks import KeySpec, Task
from wg_core.unique import UniqueKey
from wg_core.urls import DEFAULT_URL, backend_from_url
from wg_core.worker import WorkerPool

__all__ = ["App"]

P = ParamSpec("P")
R = TypeVar("R")

_DEFAULTS = JobOptions()


class App:
    """Tasks of one namespace (``backend=``: an existing backend instead of a URL, its
    namespace taken). ``url=None``: the ``WG_URL`` environment variable, else
    the embedded SQLite default (``sqlite:wg.db``), as the ``wg`` command does — read
    when the app first connects, so setting ``WG_URL`` after import works.

    The app keeps one async ``Client`` (``client()``; ``async with app`` opens it and
    closes it at the end: do that in a web app's lifespan) and, for sync code, one
    ``BlockingClient`` (``blocking``) per process.
    """

    def __init__(
        self, url: str | None = None, namespace: str = "wg", *, backend: Backend | None = None
    ) -> None:
        if url is not None and backend is not None:
            raise ConfigError("give url= or backend=, not both")
        self._url = url
        self._backend = backend
        """A backend to use instead of connecting to ``url`` (tests; its namespace)."""
        self.namespace = validate_namespace(namespace if backend is None else backend.namespace)
        """The namespace its jobs are stored under."""
        self._tasks: dict[str, Task[Any, Any]] = {}
        self._client: Client | None = None
        self._blocking: BlockingClient | None = None
        self._blocking_lock = threading.Lock()

    @property
    def url(self) -> str:
        """The backend URL: as given, else ``WG_URL``, else ``DEFAULT_URL``."""
        if self._url is not None:
            return self._url
        return os.environ.get("WG_URL", "").strip() or DEFAULT_URL

    def __repr__(self) -> str:
        return f"<App namespace={self.namespace!r} tasks={len(self._tasks)}>"

    # -- registering -----------------------------------------------------------------

    @overload
    def task(self, func: Callable[P, R], /) -> Task[P, R]: ...

    @overload
    def task(
        self,
        func: None = None,
        /,
        *,
        name: str | None = None,
        queue: str | None = None,
        priority: int = 0,
        max_retries: int = _DEFAULTS.max_retries,
        timeout: Duration | None = _DEFAULTS.timeout,
        retry_delay: Duration | None = _DEFAULTS.retry_delay,
        keep_finished: Duration | None = None,
        unique_key: KeySpec[UniqueKey] | None = None,
        unique_for: Duration | None = None,
        limit_key: KeySpec[str] | None = None,
    ) -> Callable[[Callable[P, R]], Task[P, R]]: ...

    def task(
        self,
        func: Callable[P, R] | None = None,
        /,
        *,
        name: str | None = None,
        queue: str | None = None,
        priority: int = 0,
        max_retries: int = _DEFAULTS.max_retries,
        timeout: Duration | None = _DEFAULTS.timeout,
        retry_delay: Duration | None = _DEFAULTS.retry_delay,
        keep_finished: Duration | None = None,
        unique_key: KeySpec[UniqueKey] | None = None,
        unique_for: Duration | None = None,
        limit_key: KeySpec[str] | None = None,
    ) -> Task[P, R] | Callable[[Callable[P, R]], Task[P, R]]:
        """Register ``func`` (async or sync) as a task: bare ``@app.task`` or
        ``@app.task(name=..., queue=..., priority=..., max_retries=..., timeout=...,
        retry_delay=..., keep_finished=..., unique_key=..., unique_for=..., limit_key=...)``
        (``unique_key`` and ``limit_key``: a key, ``UNIQUE_BY_PAYLOAD``, or a function of
        the task's arguments returning the key; see ``wg_core.unique``, ``wg_core.limits``).
        The name defaults to the function's
        module-qualified name (``myapp.tasks.add``; see ``wg_core.tasks``). Every option
        is checked here (``ConfigError``), and so is a second task of the same name."""
        options = JobOptions(
            max_retries=max_retries,
            timeout=timeout,
            retry_delay=retry_delay,
            keep_finished=keep_finished,
        )

        def register(function: Callable[P, R]) -> Task[P, R]:
            task = Task(
                function,
                app=self,
                name=name,
                queue=queue,
                priority=priority,
                options=options,
                unique_key=unique_key,
                unique_for=unique_for,
                limit_key=limit_key,
            )
            if task.name in self._tasks:
                raise ConfigError(
                    f"two tasks are named {task.name!r}: give one of them @app.task(name=...)"
                )
            self._tasks[task.name] = task
            return task

        return register if func is None else register(func)

    @property
    def tasks(self) -> Mapping[str, Task[Any, Any]]:
        """The registered tasks by job name (read-only)."""
        return MappingProxyType(self._tasks)

    @property
    def queues(self) -> tuple[str, ...]:
        """The queues the tasks use, in strict order for a pool: ``default`` first when
        a task uses it, then the others in the order tasks named them."""
        named = dict.fromkeys(task.queue for task in self._tasks.values())
        if DEFAULT_QUEUE in named or not named:
            return (DEFAULT_QUEUE, *(q for q in named if q != DEFAULT_QUEUE))
        return tuple(named)

    def handlers(self) -> dict[str, HandlerFunc]:
        """``{job_name: handler}`` for ``WorkerPool(handlers=...)``."""
        if not self._tasks:
            raise ConfigError(f"{self!r} has no tasks: decorate functions with @app.task")
        return {name: task.handler() for name, task in self._tasks.items()}

    # -- producing and reading -------------------------------------------------------

    def client(self) -> Client:
        """The app's async client (made on first use, connecting on its first call).

        Its connections belong to the event loop that first uses it: open it with
        ``async with app`` in that loop (a web app's lifespan), which also closes it."""
        if self._client is None:
            backend = self._backend or backend_from_url(self.url, self.namespace)
            self._client = Client(backend)
        return self._client

    async def __aenter__(self) -> Self:
        await self.client().open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the async client (a later call makes a new one)."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def result(self, job_id: str, *, timeout: Duration | None = None) -> Any:
        """Wait for a job and return its function's return value (``Client.result``)."""
        return await self.client().result(job_id, timeout=timeout)

    @property
    def blocking(self) -> BlockingClient:
        """The app's ``BlockingClient``, for sync code: one per app, shared by every
        thread, made and connected on first use (it reconnects by itself in a
        forked child). ``close_blocking()`` closes it."""
        with self._blocking_lock:
            if self._blocking is None:
                if self._backend is not None:
                    self._blocking = BlockingClient(self._backend)
                else:
                    self._blocking = BlockingClient.connect(self.url, self.namespace)
            return self._blocking

    def close_blocking(self) -> None:
        """Close the blocking client (a later use connects a new one)."""
        with self._blocking_lock:
            blocking, self._blocking = self._blocking, None
        if blocking is not None:
            blocking.close()

    # -- working ---------------------------------------------------------------------

    def pool(self, **config: Any) -> WorkerPool:
        """A ``WorkerPool`` serving every task, on the app's URL and namespace, claiming
        from ``queues`` (default: the tasks' queues, see ``queues``). ``config``:
        ``WorkerConfig`` fields (``workers=8``, ``queues=[...]``) or ``config=``;
        ``url=`` or ``backend=`` to work elsewhere."""
        if "backend" not in config and "url" not in config:
            if self._backend is not None:
                config["backend"] = self._backend
            else:
                config["url"] = self.url
        if "config" not in config:
            config.setdefault("namespace", self.namespace)
            config.setdefault("queues", list(self.queues))
        return WorkerPool(handlers=self.handlers(), **config)
