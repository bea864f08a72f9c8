"""``BlockingClient``: the ``Client`` API for synchronous code (Flask, Django, scripts).

It runs a private event loop on a daemon thread and forwards each call to an async
``Client`` there, so it works from any thread, including inside an app that has its
own event loop elsewhere.

- **Lifetime**: create one per process (at import or app start-up) and keep it; each
  call reuses its connections. ``close()`` (or ``with``) closes the backend and stops
  the thread; a closed client raises ``RuntimeError``.
- **Threads**: one client may be shared by every thread of the process; calls from
  several threads run concurrently on its loop (the backend's connection pool sizes
  how many at once).
- **Fork**: after ``os.fork()`` (gunicorn ``--preload``, uwsgi, ``multiprocessing``
  with the fork start method) the child has no loop thread and shares the parent's
  sockets. The first call in the child notices the new process id and reconnects: a
  fresh loop thread and a fresh backend (``Backend.clone()``); the parent's
  connections are left alone (never closed from the child, which would break them for
  the parent). Creating the client after the fork (a ``post_fork`` hook) avoids even
  that.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
from collections.abc import Callable, Coroutine, Sequence
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

from wg_core.backend import Backend
from wg_core.client import Client
from wg_core.middleware import JobMiddleware

__all__ = ["BlockingClient"]

T = TypeVar("T")
P = ParamSpec("P")


def _blocking(
    method: Callable[Concatenate[Client, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[BlockingClient, P], T]:
    """``Client.<method>`` as a blocking method of ``BlockingClient``: same signature,
    same docstring, run on the client's loop thread."""
    name = method.__name__

    def call(self: BlockingClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        bound: Callable[P, Coroutine[Any, Any, T]] = getattr(self._client, name)
        return self._run(bound(*args, **kwargs))

    call.__name__ = call.__qualname__ = name
    # help() and inspect.signature() show Client's parameters, not *args/**kwargs.
    call.__signature__ = inspect.signature(method)  # type: ignore[attr-defined]
    call.__doc__ = f"``Client.{name}``, blocking.\n\n{inspect.getdoc(method) or ''}".rstrip()
    return call


class BlockingClient:
    """Enqueue and inspect jobs without ``async``.

    ``BlockingClient.connect("sqlite:jobs.db", "myapp")`` or ``BlockingClient(backend)``.
    Every method mirrors ``Client``'s and blocks until it is done.
    """

    def __init__(self, backend: Backend, **client_options: Any) -> None:
        self._client_options = client_options
        self._loop, self._thread = self._start_loop()
        self._async_client = Client(backend, **client_options)
        self._closed = False
        self._pid = os.getpid()
        self._fork_lock = threading.Lock()
        # What a forked child inherited: kept referenced, never closed or collected
        # there (a driver closing a socket it shares with the parent breaks the parent).
        self._inherited: list[object] = []

    @staticmethod
    def _start_loop() -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="wg-blocking-client", daemon=True)
        thread.start()
        return loop, thread

    def _after_fork(self) -> None:
        """In a forked child: a new loop thread and a new backend on the same storage."""
        with self._fork_lock:
            if self._pid == os.getpid():
                return  # another thread of this child did it first
            old = self._async_client
            self._inherited.append((self._loop, self._thread, old))
            self._loop, self._thread = self._start_loop()
            self._async_client = Client(old.backend.clone(), **self._client_options)
            self._pid = os.getpid()

    @property
    def _client(self) -> Client:
        # Every method builds its coroutine from this: after a fork, from the new client.
        if self._pid != os.getpid():
            self._after_fork()
        return self._async_client

    @classmethod
    def connect(
        cls,
        url: str,
        namespace: str = "wg",
        *,
        create: bool = True,
        middleware: Sequence[JobMiddleware] | None = None,
        **backend_options: Any,
    ) -> BlockingClient:
        """Open the backend named by ``url`` and return a blocking client
        (``create=False``: as a reader, see ``Client.connect``; ``middleware``: its
        enqueue hooks, see ``wg_core.middleware``)."""
        from wg_core.urls import backend_from_url

        backend = backend_from_url(url, namespace, **backend_options)
        client = cls(backend, create=create, middleware=middleware)
        try:
            client.open()
        except BaseException:
            client.close()
            raise
        return client

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            coroutine.close()
            raise RuntimeError("this BlockingClient is closed")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    @property
    def client(self) -> Client:
        """The async client underneath (for use on its own loop only)."""
        return self._client

    @property
    def namespace(self) -> str:
        """The namespace jobs are stored under."""
        return self._client.namespace

    def open(self) -> None:
        """Open the backend (done on first use anyway)."""
        self._run(self._client.open())

    def close(self) -> None:
        """Close the backend and stop the loop thread. Safe to call twice."""
        if self._closed:
            return
        try:
            self._run(self._client.close())
        finally:
            self._closed = True
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            if not self._thread.is_alive():
                self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- producing, inspecting and administering: Client's methods, blocking -----------
    # Each is Client's own signature (ParamSpec keeps it for type checkers), so the two
    # APIs cannot drift apart.

    enqueue = _blocking(Client.enqueue)
    enqueue_unique = _blocking(Client.enqueue_unique)
    schedule = _blocking(Client.schedule)
    enqueue_with_options = _blocking(Client.enqueue_with_options)
    enqueue_many = _blocking(Client.enqueue_many)
    enqueue_stream = _blocking(Client.enqueue_stream)
    layout_version = _blocking(Client.layout_version)
    counts = _blocking(Client.counts)
    counters = _blocking(Client.counters)
    recount = _blocking(Client.recount)
    queues = _blocking(Client.queues)
    list_jobs = _blocking(Client.list_jobs)
    get_job = _blocking(Client.get_job)
    result = _blocking(Client.result)
    workers = _blocking(Client.workers)
    is_paused = _blocking(Client.is_paused)
    retry_jobs = _blocking(Client.retry_jobs)
    retry_all = _blocking(Client.retry_all)
    run_now = _blocking(Client.run_now)
    cancel = _blocking(Client.cancel)
    cancel_jobs = _blocking(Client.cancel_jobs)
    delete_jobs = _blocking(Client.delete_jobs)
    purge = _blocking(Client.purge)
    pause = _blocking(Client.pause)
    resume = _blocking(Client.resume)
    stop_worker = _blocking(Client.stop_worker)
    set_limit = _blocking(Client.set_limit)
    limits = _blocking(Client.limits)
    clear_limit = _blocking(Client.clear_limit)
    periodic_entries = _blocking(Client.periodic_entries)
    run_periodic = _blocking(Client.run_periodic)
