"""wg's psycopg pools: reconnecting soon after a server outage, whatever its length.

psycopg_pool retries a lost connection after 1 s, 2 s, 4 s, 8 s… (``AttemptWithBackoff``),
separately for each connection slot of each pool. After an outage of a few seconds,
wg's pools therefore came back seconds apart, and seconds after the server: the claim
pool could be back while the pool that acknowledges, or the lease keeper's, still
waited out its backoff, so a worker held jobs it could neither finish nor renew, and
their leases ran out (docs/reliability.md, finding 25). wg's pools keep the backoff
but cap each wait at ``RECONNECT_DELAY_MAX``: every pool is back within that of the
server, a refused connection costs the server next to nothing, and a long outage is
still given up after the pool's ``reconnect_timeout``.
"""

from __future__ import annotations

import functools
import random
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import psycopg_pool

__all__ = ["RECONNECT_DELAY_MAX", "pool_class"]

RECONNECT_DELAY_MAX: Final = 0.5
"""Seconds a pool waits at most before trying again to reconnect (jittered ±10 %)."""


@functools.cache
def pool_class(
    delay_max: float = RECONNECT_DELAY_MAX,
) -> type[psycopg_pool.AsyncConnectionPool[Any]]:
    """``AsyncConnectionPool`` with its reconnection waits capped at ``delay_max``
    seconds. The cap hooks psycopg_pool's ``_add_connection``/``AttemptWithBackoff``
    (stable since 3.1); should a release rename them, the plain pool is used, with its
    own backoff (``tests/backends/test_postgres_outage.py`` then fails)."""
    import psycopg_pool

    try:
        from psycopg_pool.base import AttemptWithBackoff
    except ImportError:
        return psycopg_pool.AsyncConnectionPool
    if not hasattr(psycopg_pool.AsyncConnectionPool, "_add_connection"):
        return psycopg_pool.AsyncConnectionPool

    class CappedAttempt(AttemptWithBackoff):
        def update_delay(self, now: float) -> None:
            super().update_delay(now)
            # After the cap, still no later than psycopg_pool's give-up time.
            self.delay = min(self.delay, delay_max * random.uniform(0.9, 1.1))

    class CappedPool(psycopg_pool.AsyncConnectionPool[Any]):
        attempt_class = CappedAttempt

        async def _add_connection(self, attempt: Any, growing: bool = False) -> None:
            if attempt is None:
                attempt = self.attempt_class(timeout=self.reconnect_timeout)
            await super()._add_connection(attempt, growing=growing)

    return CappedPool
