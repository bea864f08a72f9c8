"""Fixtures for the CLI tests: a ``wg`` runner bound to a fresh SQLite file and namespace."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from typer.testing import CliRunner, Result

import wg_cli.commands.upgrade
import wg_core.client
from tests.backends import ALL_BACKENDS, backend_url, fresh_namespace, unreachable
from wg_cli.main import app
from wg_core import Backend, Client, Envelope, MemoryBackend
from wg_core.backend import Attempt, Completion
from wg_core.errors import BackendUnavailableError

T = TypeVar("T")


@dataclass
class Wg:
    """Runs ``wg -u URL -n NAMESPACE ARGS...`` in-process and seeds data through the core."""

    url: str
    namespace: str
    connect: Callable[[], Coroutine[Any, Any, Client]]
    runner: CliRunner

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return self.runner.invoke(
            app, ["-u", self.url, "-n", self.namespace, *args], input=input, catch_exceptions=False
        )

    def json(self, *args: str, input: str | None = None, code: int = 0) -> Any:
        """Run with ``-o json``; assert the exit code and that stdout is one JSON document."""
        result = self(*args, "-o", "json", input=input)
        assert result.exit_code == code, (result.stdout, result.stderr)
        return json.loads(result.stdout)

    def core(self, body: Callable[[Client], Coroutine[Any, Any, T]]) -> T:
        """Run ``body(client)`` against the same namespace (to seed or check state)."""

        async def main() -> T:
            client = await self.connect()
            try:
                return await body(client)
            finally:
                await client.close()

        return asyncio.run(main())

    def enqueue(self, job_name: str = "send_email", payload: Any = None, **kwargs: Any) -> str:
        """Enqueue one job through the core; returns its id."""

        async def body(client: Client) -> str:
            return await client.enqueue(
                {"to": "a@b.c"} if payload is None else payload, job_name=job_name, **kwargs
            )

        return self.core(body)

    def kill(
        self, count: int = 1, error: str = "boom", queues: tuple[str, ...] = ("default",)
    ) -> list[str]:
        """Claim ``count`` queued jobs of ``queues`` and bury them with ``error`` (as a
        worker would)."""

        async def body(client: Client) -> list[str]:
            backend = client.backend
            attempts = await backend.claim(limit=count, lease=30, worker_id="test", queues=queues)
            ids = []
            for attempt in attempts:
                envelope = Envelope.decode(attempt.raw)
                dead = envelope.evolve(status="Dead", last_error=error)
                assert await backend.bury(attempt, raw=dead.encode(), error=dead.last_error)
                ids.append(envelope.id)
            return ids

        return self.core(body)

    def complete(
        self, results: list[Any], *, keep: float = 3600.0, queues: tuple[str, ...] = ("default",)
    ) -> list[str]:
        """Claim ``len(results)`` queued jobs of ``queues`` and complete them with
        ``results`` (kept ``keep`` seconds), as a worker would; returns their ids."""

        async def body(client: Client) -> list[str]:
            backend = client.backend
            attempts = await backend.claim(
                limit=len(results), lease=30, worker_id="test", queues=queues
            )
            assert len(attempts) == len(results)
            done = [
                Completion(attempt, result=json.dumps(result), keep=keep)
                for attempt, result in zip(attempts, results, strict=True)
            ]
            assert await backend.complete(done) == len(done)
            return [Envelope.decode(attempt.raw).id for attempt in attempts]

        return self.core(body)

    def claim(self, count: int = 1) -> list[Attempt]:
        """Claim ``count`` queued jobs for a worker ``test`` (they stay running)."""

        async def body(client: Client) -> list[Attempt]:
            return await client.backend.claim(limit=count, lease=300, worker_id="test")

        return self.core(body)

    def counts(self) -> dict[str, int]:
        """Jobs per state, read through the core."""

        async def body(client: Client) -> dict[str, int]:
            counts = await client.counts()
            return {
                s: getattr(counts, s) for s in ("queued", "scheduled", "retry", "running", "dead")
            }

        return self.core(body)


@pytest.fixture
def wg(tmp_path: Path) -> Wg:
    """``wg`` on a SQLite file under ``tmp_path``, with a fresh namespace."""
    namespace = fresh_namespace()
    url = f"sqlite:{tmp_path / 'wg.db'}"

    async def connect() -> Client:
        return await Client.connect(url, namespace)

    async def create() -> None:
        # Readers create nothing (exit 4 on a missing namespace): the tests start from
        # an existing, empty one, as after `wg init`.
        await (await connect()).close()

    asyncio.run(create())
    return Wg(url, namespace, connect, CliRunner())


QUEUE_BACKENDS = ("memory", "sqlite")
"""Backends the queue commands are tested on through the CLI (the server backends go
through the same Client calls, covered by the conformance suite)."""


@pytest.fixture(params=QUEUE_BACKENDS)
def wgq(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Wg:
    """``wg`` on a fresh namespace of each backend in ``QUEUE_BACKENDS``.

    ``memory:`` normally gives every ``wg`` invocation its own empty store; here every
    connection of the test (the CLI's and the seeding client's) gets the same
    ``MemoryBackend``, as if it were a server, so that each command sees the last one's
    work. The backend itself is the real one.
    """
    if request.param == "sqlite":
        return request.getfixturevalue("wg")
    return _shared_memory(monkeypatch)


def _shared_memory(monkeypatch: pytest.MonkeyPatch) -> Wg:
    """``wg`` on ``memory:`` with one ``MemoryBackend`` behind every connection of the
    namespace (see ``wgq``)."""
    namespace = fresh_namespace()
    shared = MemoryBackend(namespace)
    real = wg_core.client.backend_from_url

    def backend_from_url(url: str, name: str = "wg", **options: Any) -> Backend:
        if url == "memory:" and name == namespace:
            return shared
        return real(url, name, **options)

    monkeypatch.setattr(wg_core.client, "backend_from_url", backend_from_url)
    monkeypatch.setattr(wg_cli.commands.upgrade, "backend_from_url", backend_from_url)

    async def connect() -> Client:
        return await Client.connect("memory:", namespace)

    return Wg("memory:", namespace, connect, CliRunner())


@pytest.fixture(params=ALL_BACKENDS)
def wga(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Wg]:
    """``wg`` on a fresh namespace of every backend (``tests.backends.ALL_BACKENDS``): for
    what a backend stores that only the CLI shows. The server backends' namespaces are
    destroyed afterwards; an unreachable server skips (fails under ``CI=true``)."""
    name: str = request.param
    if name == "memory":
        yield _shared_memory(monkeypatch)
        return
    if name == "sqlite":
        yield request.getfixturevalue("wg")
        return
    namespace = fresh_namespace()
    url = backend_url(name, tmp_path)

    async def connect() -> Client:
        return await Client.connect(url, namespace)

    async def create() -> None:
        await (await connect()).close()

    async def destroy() -> None:
        client = await connect()
        try:
            await client.backend.destroy()
        finally:
            await client.close()

    try:
        asyncio.run(create())
    except BackendUnavailableError as exc:
        unreachable(name, exc)
    try:
        yield Wg(url, namespace, connect, CliRunner())
    finally:
        asyncio.run(destroy())
