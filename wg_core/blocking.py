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
import os
import threading
from collections.abc import Coroutine, Iterable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

from wg_core.backend import Backend, Counters, JobState, StateCounts, WorkerInfo
from wg_core.client import Client
from wg_core.jobs import JobInfo
from wg_core.options import Duration, JobOptions

__all__ = ["BlockingClient"]

T = TypeVar("T")


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
        cls, url: str, namespace: str = "wg", *, create: bool = True, **backend_options: Any
    ) -> BlockingClient:
        """Open the backend named by ``url`` and return a blocking client
        (``create=False``: as a reader, see ``Client.connect``)."""
        from wg_core.urls import backend_from_url

        client = cls(backend_from_url(url, namespace, **backend_options), create=create)
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

    # -- producing -----------------------------------------------------------------------

    def enqueue(
        self,
        job: Any,
        *,
        job_name: str | None = None,
        options: JobOptions | None = None,
        delay: Duration | None = None,
        at: datetime | None = None,
        job_id: str | None = None,
        connection: object | None = None,
    ) -> str:
        """See ``Client.enqueue``."""
        return self._run(
            self._client.enqueue(
                job,
                job_name=job_name,
                options=options,
                delay=delay,
                at=at,
                job_id=job_id,
                connection=connection,
            )
        )

    def schedule(
        self,
        job: Any,
        when: Duration | datetime,
        *,
        job_name: str | None = None,
        options: JobOptions | None = None,
        connection: object | None = None,
    ) -> str:
        """See ``Client.schedule``."""
        return self._run(
            self._client.schedule(
                job, when, job_name=job_name, options=options, connection=connection
            )
        )

    def enqueue_with_options(
        self, job: Any, options: JobOptions, *, job_name: str | None = None
    ) -> str:
        """See ``Client.enqueue_with_options``."""
        return self._run(self._client.enqueue_with_options(job, options, job_name=job_name))

    def enqueue_many(
        self,
        jobs: Iterable[Any],
        *,
        job_name: str | None = None,
        options: JobOptions | None = None,
        delay: Duration | None = None,
        connection: object | None = None,
    ) -> list[str]:
        """See ``Client.enqueue_many``."""
        return self._run(
            self._client.enqueue_many(
                list(jobs), job_name=job_name, options=options, delay=delay, connection=connection
            )
        )

    # -- inspecting and administering ----------------------------------------------------

    def counts(self) -> StateCounts:
        """See ``Client.counts``."""
        return self._run(self._client.counts())

    def counters(self) -> Counters:
        """See ``Client.counters``."""
        return self._run(self._client.counters())

    def list_jobs(
        self,
        state: JobState | str,
        *,
        limit: int = 50,
        offset: int = 0,
        newest_first: bool = False,
        job_name: str | None = None,
        error_contains: str | None = None,
    ) -> list[JobInfo]:
        """See ``Client.list_jobs``."""
        return self._run(
            self._client.list_jobs(
                state,
                limit=limit,
                offset=offset,
                newest_first=newest_first,
                job_name=job_name,
                error_contains=error_contains,
            )
        )

    def get_job(self, job_id: str) -> JobInfo | None:
        """See ``Client.get_job``."""
        return self._run(self._client.get_job(job_id))

    def workers(self) -> list[WorkerInfo]:
        """See ``Client.workers``."""
        return self._run(self._client.workers())

    def is_paused(self) -> bool:
        """See ``Client.is_paused``."""
        return self._run(self._client.is_paused())

    def retry_jobs(self, job_ids: Sequence[str]) -> int:
        """See ``Client.retry_jobs``."""
        return self._run(self._client.retry_jobs(job_ids))

    def retry_all(
        self,
        state: JobState | str = JobState.DEAD,
        *,
        job_name: str | None = None,
        error_contains: str | None = None,
    ) -> int:
        """See ``Client.retry_all``."""
        return self._run(
            self._client.retry_all(state, job_name=job_name, error_contains=error_contains)
        )

    def run_now(self, job_ids: Sequence[str]) -> int:
        """See ``Client.run_now``."""
        return self._run(self._client.run_now(job_ids))

    def delete_jobs(self, job_ids: Sequence[str]) -> int:
        """See ``Client.delete_jobs``."""
        return self._run(self._client.delete_jobs(job_ids))

    def purge(self, state: JobState | str) -> int:
        """See ``Client.purge``."""
        return self._run(self._client.purge(state))

    def pause(self) -> None:
        """See ``Client.pause``."""
        self._run(self._client.pause())

    def resume(self) -> None:
        """See ``Client.resume``."""
        self._run(self._client.resume())

    def stop_worker(self, worker_id: str) -> bool:
        """See ``Client.stop_worker``."""
        return self._run(self._client.stop_worker(worker_id))
