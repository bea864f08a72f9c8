"""After a PostgreSQL outage, every pool of the backend is back soon after the server
(docs/reliability.md, finding 25): the claim pool must not come back while the pool
that acknowledges, or the one that renews leases, still waits out psycopg_pool's
growing backoff (1 s, 2 s, 4 s, 8 s…) — the worker would hold jobs it could neither
finish nor renew. Runs a private server of its own (chaos.servers), stopped while the
backend is open."""

from __future__ import annotations

import random
from typing import Any

import pytest

from chaos.servers import ServerMissing, private_server
from tests.backends import fresh_namespace
from tests.helpers import new_job, wait_until
from wg_core.backend import WorkerInfo
from wg_core.errors import BackendError

pytest.importorskip("psycopg")

from wg_core.backends.postgres import PostgresBackend
from wg_core.backends.postgres.pools import RECONNECT_DELAY_MAX, pool_class

pytestmark = pytest.mark.slow

WORKER = WorkerInfo(worker_id="w-outage", host="h", pid=1, concurrency=1, started_at=1.0)
FAILED_RECONNECTS = 5
"""Reconnections each pool sees fail before the server is back: psycopg_pool's own
backoff would then wait 16 s before the next one."""
SERVE_WITHIN = 6.0
"""Seconds a call may wait for a pooled connection after the server is back (the
backend's connect_timeout): well above the capped wait, well below the uncapped one."""


def test_reconnection_waits_are_capped_but_still_give_up() -> None:
    pool = pool_class()
    attempt_class = getattr(pool, "attempt_class", None)
    assert attempt_class is not None, "psycopg_pool's hooks moved: the cap is not applied"
    random.seed(16)
    attempt = attempt_class(timeout=10.0)
    now, waits = 100.0, []
    while not attempt.time_to_give_up(now):  # what psycopg_pool does after each failure
        attempt.update_delay(now)
        waits.append(attempt.delay)
        now += attempt.delay
    assert max(waits) <= RECONNECT_DELAY_MAX * 1.1
    assert len(waits) >= 10 / (RECONNECT_DELAY_MAX * 1.1)  # tried all along
    assert now == pytest.approx(110.0, abs=RECONNECT_DELAY_MAX * 1.1)  # and gave up


def _pools(backend: PostgresBackend) -> list[Any]:
    return [backend._pool, backend._lease_pool]


async def test_every_pool_serves_soon_after_a_long_outage() -> None:
    try:
        server = private_server("postgres")
    except ServerMissing as exc:
        pytest.skip(str(exc))
    async with server:
        backend = PostgresBackend(
            server.url, fresh_namespace(), pool_size=1, connect_timeout=SERVE_WITHIN
        )
        await backend.open()
        try:
            await backend.enqueue([new_job()])
            attempts = await backend.claim(limit=1, lease=60, worker_id=WORKER.worker_id)
            assert len(attempts) == 1
            # A durable commit flushes the WAL up to it, the claim's (not durable) too:
            # the crash below must not forget the claim itself.
            await backend.enqueue([new_job()])

            await server._polite_stop()  # every connection dies; the port refuses
            with pytest.raises(BackendError):  # the pools learn it and start reconnecting
                await backend.heartbeat(WORKER, attempts=attempts, lease=60)

            async def reconnects_failed() -> bool:
                return all(
                    pool.get_stats().get("connections_errors", 0) >= FAILED_RECONNECTS
                    for pool in _pools(backend)
                )

            # Uncapped, this takes 1 + 2 + 4 + 8 s; capped, about 5 * RECONNECT_DELAY_MAX.
            await wait_until(reconnects_failed, timeout=60, interval=0.05)
            await server.start()

            # Each pool must serve within SERVE_WITHIN (its pool timeout), however long
            # its backoff had grown: the lease pool renews, the main pool acknowledges.
            reply = await backend.heartbeat(WORKER, attempts=attempts, lease=60)
            assert reply.lost == frozenset()
            assert await backend.complete(attempts) == 1
        finally:
            await backend.close()


def test_the_cap_is_below_a_call_s_wait() -> None:
    assert RECONNECT_DELAY_MAX * 1.1 < SERVE_WITHIN / 2
