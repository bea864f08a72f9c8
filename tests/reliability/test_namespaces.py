"""Scenario 10: namespace fuzzing.

Invalid namespaces are refused with ``ConfigError`` before any I/O: the test points
every server URL at a socket of its own and checks that nobody connected, and the
SQLite file is never created. Valid ones — SQL reserved words included, up to the
maximum length — round-trip a job on every backend with no quoting error.
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.backends import ALL_BACKENDS, make_backend, unreachable
from wg_core import Client, JobContext, WorkerPool, backend_from_url
from wg_core.errors import BackendUnavailableError, ConfigError
from wg_core.namespace import MAX_NAMESPACE_LENGTH, validate_namespace

RESERVED = ("select", "order", "group", "table", "from", "where", "key", "index", "user")


def _is_valid(name: str) -> bool:
    try:
        validate_namespace(name)
    except ConfigError:
        return False
    return True


INVALID = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="aZ_09-.;'\"` \x00é{}:", max_size=40),
    st.sampled_from(["", "Wg", "1abc", "_x", "a-b", "a;drop table x", "a" * 33, "ns`", "ñs"]),
).filter(lambda name: not _is_valid(name))


@pytest.fixture(scope="module")
def listener() -> Iterator[socket.socket]:
    """A local TCP socket standing in for every server: it must never see a connection."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.setblocking(False)
    yield server
    server.close()


def _nobody_connected(server: socket.socket) -> bool:
    try:
        connection, _ = server.accept()
    except BlockingIOError:
        return True
    connection.close()
    return False


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(namespace=INVALID)
def test_invalid_namespaces_are_refused_before_any_io(
    namespace: str, listener: socket.socket
) -> None:
    port = listener.getsockname()[1]
    scratch = Path(tempfile.mkdtemp())
    urls = [
        f"redis://127.0.0.1:{port}/0",
        f"postgresql://postgres@127.0.0.1:{port}/test",
        f"mysql://root@127.0.0.1:{port}/test",
        f"sqlite:{scratch / 'wg.db'}",
        "memory:",
    ]
    for url in urls:
        with pytest.raises(ConfigError):
            backend_from_url(url, namespace)
        with pytest.raises(ConfigError):
            asyncio.run(Client.connect(url, namespace))
        with pytest.raises(ConfigError):
            WorkerPool(lambda job: None, url=url, namespace=namespace)
    assert _nobody_connected(listener), f"a connection was attempted for {namespace!r}"
    assert list(scratch.iterdir()) == [], f"files were created for {namespace!r}"


VALID = st.one_of(
    st.sampled_from(RESERVED),
    st.from_regex(rf"[a-z][a-z0-9_]{{11,{MAX_NAMESPACE_LENGTH - 1}}}", fullmatch=True),
)


@pytest.mark.parametrize("name", ALL_BACKENDS)
def test_valid_namespaces_round_trip(name: str, tmp_path: Path) -> None:
    @settings(max_examples=4, deadline=None, database=None)
    @given(namespace=VALID)
    def round_trip(namespace: str) -> None:
        asyncio.run(_round_trip(name, namespace, Path(tempfile.mkdtemp(dir=tmp_path))))

    try:
        round_trip()
    except BackendUnavailableError as exc:
        unreachable(name, exc)


async def _round_trip(name: str, namespace: str, workdir: Path) -> None:
    backend = make_backend(name, namespace, workdir)
    await backend.open()
    try:
        await backend.destroy()  # a leftover of an earlier run under the same name
        await backend.open()
        client = Client(backend)
        job_id = await client.enqueue({"n": 1}, job_name="rt")
        stored = await client.get_job(job_id)
        assert stored is not None
        assert stored.job_id == job_id
        seen: list[str] = []

        async def handle(job: dict[str, int], ctx: JobContext) -> None:
            seen.append(ctx.job_id)

        pool = WorkerPool(handlers={"rt": handle}, backend=backend, fetch_timeout=0.2)
        await pool.start()
        for _ in range(200):
            if (await client.counters()).processed == 1:
                break
            await asyncio.sleep(0.02)
        pool.shutdown()
        await pool.wait_closed()
        assert seen == [job_id]
        assert (await client.counts()).total == 0
    finally:
        await backend.destroy()
        await backend.close()
