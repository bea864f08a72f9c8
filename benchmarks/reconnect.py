"""How soon a PostgreSQL backend's pools serve again after an outage (finding 25 of
docs/reliability.md): a private server (``chaos.servers``) is stopped while a backend
holds a claimed job, until each of the backend's pools has seen ``FAILED``
reconnections fail, then started again; printed: seconds from the restart until a
lease renewal (the ``:lease`` pool), then an acknowledgement (the main pool), got
through.

    PYTHONPATH=$PWD .venv/bin/python -m benchmarks.reconnect [FAILED ...]   # default: 3 4

Run it from two trees in turn (``PYTHONPATH=<tree>``) to compare them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time

from chaos.servers import private_server
from tests.backends import fresh_namespace
from tests.helpers import new_job, wait_until
from wg_core.backend import WorkerInfo
from wg_core.backends.postgres import PostgresBackend
from wg_core.errors import BackendError

WORKER = WorkerInfo(worker_id="bench", host="h", pid=1, concurrency=1, started_at=1.0)


async def measure(failed: int) -> str:
    """One line: seconds to renew and to acknowledge after the restart."""
    server = private_server("postgres")
    async with server:
        backend = PostgresBackend(server.url, fresh_namespace(), pool_size=1, connect_timeout=30)
        await backend.open()
        try:
            await backend.enqueue([new_job()])
            attempts = await backend.claim(limit=1, lease=120, worker_id=WORKER.worker_id)
            await backend.enqueue([new_job()])  # flushes the WAL: the crash keeps the claim
            await server._polite_stop()  # an immediate stop: every connection dies
            # A failing call is what has the pools check their connections and reconnect.
            with contextlib.suppress(BackendError):
                await backend.heartbeat(WORKER, attempts=attempts, lease=120)
            pools = (backend._pool, backend._lease_pool)

            async def failing() -> bool:
                return all(
                    pool is not None and pool.get_stats().get("connections_errors", 0) >= failed
                    for pool in pools
                )

            await wait_until(failing, timeout=300, interval=0.02)
            await server.start()
            started = time.monotonic()
            await backend.heartbeat(WORKER, attempts=attempts, lease=120)
            renewed = time.monotonic() - started
            await backend.complete(attempts)
            acked = time.monotonic() - started
        finally:
            await backend.close()
    return f"failed reconnections {failed}: renew {renewed:.2f} s, acknowledge {acked:.2f} s"


def main() -> None:
    logging.disable(logging.WARNING)  # psycopg_pool's "error connecting" lines
    for failed in [int(arg) for arg in sys.argv[1:]] or [3, 4]:
        print(asyncio.run(measure(failed)), flush=True)


if __name__ == "__main__":
    main()
