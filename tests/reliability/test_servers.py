"""The private servers of scenario 12 (``chaos.servers``): a cheap smoke test of each.

Each server starts on a port of its own, survives every fault the scenario injects
with a committed write intact (a crash is recovered, not a fresh start), and is gone
after ``stop()`` — every process it ever ran, by pid, and its data directory — also
when the code using it raised. The scenario itself (``12-server-crash``) is in the
large profile: ``python -m chaos run --scenario 12-server-crash``.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from chaos.servers import PrivateServer, ServerMissing, private_server

if TYPE_CHECKING:
    from pymysql.cursors import Cursor

pytestmark = pytest.mark.slow


def _write(server: PrivateServer) -> None:
    if server.kind == "postgres":
        import psycopg

        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE marker (v text)")
            conn.execute("INSERT INTO marker VALUES ('kept')")
    elif server.kind == "mysql":
        with _mysql(server) as cursor:
            cursor.execute("CREATE TABLE test.marker (v text)")
            cursor.execute("INSERT INTO test.marker VALUES ('kept')")
    else:
        assert _redis(server, b"SET marker kept").startswith(b"+OK")


def _read(server: PrivateServer) -> str:
    if server.kind == "postgres":
        import psycopg

        with psycopg.connect(server.url) as conn:
            row = conn.execute("SELECT v FROM marker").fetchone()
            return str(row[0]) if row else ""
    if server.kind == "mysql":
        with _mysql(server) as cursor:
            cursor.execute("SELECT v FROM test.marker")
            row = cursor.fetchone()
            return str(row[0]) if row else ""
    return "kept" if _redis(server, b"GET marker") == b"$4\r\nkept\r\n" else ""


@contextmanager
def _mysql(server: PrivateServer) -> Iterator[Cursor]:
    import pymysql

    conn = pymysql.connect(
        host="127.0.0.1", port=server.port, user="root", password="", autocommit=True
    )
    try:
        yield conn.cursor()
    finally:
        conn.close()


def _redis(server: PrivateServer, command: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=2) as conn:
        conn.sendall(command + b"\r\n")
        return conn.recv(64)


@pytest.mark.parametrize("kind", ["postgres", "mysql", "redis"])
async def test_a_private_server_crashes_restarts_and_leaves_nothing(kind: str) -> None:
    try:
        server = private_server(kind)
    except ServerMissing as exc:
        pytest.skip(str(exc))
    await server.start()
    try:
        assert urlsplit(server.url).port == server.port
        _write(server)
        first = server.main_pid()
        for fault in server.faults:
            await server.fault(fault)
            assert _read(server) == "kept", f"{kind}: the write did not survive {fault}"
        assert server.main_pid() not in (None, first), "the fault did not restart the server"
        assert server.leftovers(), "the running server's processes are not tracked"
    finally:
        await server.stop()
    assert server.leftovers() == set()
    assert not server.root.exists()


async def test_a_server_is_stopped_whatever_happens() -> None:
    try:
        server = private_server("redis")
    except ServerMissing as exc:
        pytest.skip(str(exc))
    pids: list[int | None] = []

    async def scenario() -> None:
        async with server:
            pids.append(server.main_pid())
            raise RuntimeError("the scenario broke")

    with pytest.raises(RuntimeError, match="the scenario broke"):
        await scenario()
    assert pids[0] is not None
    assert server.leftovers() == set()
    assert server.main_pid() is None
