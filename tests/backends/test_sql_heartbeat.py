"""The server dialects' heartbeat holds no row lock between its round trips: a worker
frozen (SIGSTOP) in the middle of a heartbeat must not keep the rows of the jobs it
renewed locked, or no other worker's reaper (``SKIP LOCKED``) could recover them until
it resumed (docs/reliability.md, finding 6)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.backends import URLS, open_backend, unreachable
from tests.helpers import new_job
from wg_core.backend import WorkerInfo
from wg_core.backends.sql import SqlBackend

WORKER = WorkerInfo(worker_id="w-beat", host="h", pid=1, concurrency=1, started_at=1.0)


def _postgres_probe(namespace: str) -> Callable[[], list[Any]]:
    psycopg = pytest.importorskip("psycopg")

    def probe() -> list[Any]:
        # A connection of another session, as another worker's reaper.
        with psycopg.connect(URLS["postgres"], autocommit=True) as conn:
            return conn.execute(
                f'SELECT id FROM "{namespace}_jobs" FOR UPDATE SKIP LOCKED'
            ).fetchall()

    return probe


def _mysql_probe(namespace: str) -> Callable[[], list[Any]]:
    pytest.importorskip("pymysql")
    from tests.backends.mysql_admin import admin_connection

    def probe() -> list[Any]:
        with admin_connection() as conn, conn.cursor() as cursor:
            cursor.execute(f"SELECT id FROM `{namespace}_jobs` FOR UPDATE SKIP LOCKED")
            return list(cursor.fetchall())

    return probe


PROBES = {"postgres": _postgres_probe, "mysql": _mysql_probe}


class _Probing:
    """A session that, right after the lease renewal, asks another connection which
    job rows it could lock: what a reaper would see if this worker froze there."""

    def __init__(self, session: Any, probe: Callable[[], list[Any]], seen: list[Any]) -> None:
        self._session = session
        self._probe = probe
        self._seen = seen

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    async def execute(self, block: str, params: Any = None) -> int:
        count: int = await self._session.execute(block, params)
        if block == "renew":
            self._seen.append(self._probe())
        return count


@pytest.mark.parametrize("name", sorted(PROBES))
async def test_a_heartbeat_keeps_no_lock_between_its_round_trips(name: str, tmp_path: Path) -> None:
    try:
        opened = open_backend(name, tmp_path)
        backend = await opened.__aenter__()
    except Exception as exc:  # no server here
        unreachable(name, exc)
    try:
        assert isinstance(backend, SqlBackend)
        probe = PROBES[name](backend.namespace)
        await backend.enqueue([new_job()])
        attempts = await backend.claim(limit=1, lease=30, worker_id=WORKER.worker_id)
        assert len(attempts) == 1
        seen: list[Any] = []
        unit = backend._unit

        async def probing_unit(body: Any, *, transaction: bool, durable: bool) -> Any:
            async def wrapped(session: Any) -> Any:
                return await body(_Probing(session, probe, seen))

            return await unit(wrapped, transaction=transaction, durable=durable)

        backend._unit = probing_unit  # type: ignore[method-assign]
        reply = await backend.heartbeat(WORKER, attempts=attempts, lease=30)
        assert reply.lost == frozenset()
        assert seen, "the heartbeat renewed no lease"
        assert len(seen[0]) == 1, "the renewed job's row stayed locked after the renewal"
    finally:
        await opened.__aexit__(None, None, None)
