"""Backend outages: workers ride out short ones and give up loudly on long ones."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.helpers import new_job, wait_until
from wg_core import BackendUnavailableError, Client, MemoryBackend, WorkerPool
from wg_core.backend import Attempt


class FlakyBackend(MemoryBackend):
    """A memory backend whose every call fails while ``down`` (a fault injector)."""

    down = False

    def _check(self) -> None:
        if self.down:
            raise BackendUnavailableError("connection refused (injected)")

    failed_claims = 0

    async def claim(self, **kwargs: Any) -> list[Attempt]:
        if self.down:
            self.failed_claims += 1
        self._check()
        return await super().claim(**kwargs)

    failed_completes = 0

    async def complete(self, attempts: Any) -> int:
        if self.down:
            self.failed_completes += 1
        self._check()
        return await super().complete(attempts)


FAST = {"fetch_timeout": 0.1, "heartbeat_interval": 0.1, "lease": 5}


async def test_a_short_outage_is_ridden_out_and_nothing_is_lost() -> None:
    backend = FlakyBackend("flaky")
    client = Client(backend)
    done: list[int] = []
    gate = asyncio.Event()

    async def handle(job: dict[str, int]) -> None:
        await gate.wait()
        done.append(job["n"])

    await client.enqueue({"n": 1})
    pool = WorkerPool(handle, backend=backend, max_backend_outage=30, **FAST)
    await pool.start()
    await wait_until(lambda: _running(client))
    backend.down = True  # the ack and the next claims fail
    gate.set()
    await asyncio.sleep(0.3)
    await client.enqueue({"n": 2})
    backend.down = False
    await wait_until(lambda: _empty(client))
    pool.shutdown()
    await pool.wait_closed()
    assert sorted(done) == [1, 2]
    assert pool.stats.processed == 2


class _LongBackoff:
    """The acknowledger's backoff, as after many failures: a minute to the next try."""

    def next(self) -> float:
        return 60.0

    def reset(self) -> None:
        pass


async def test_acknowledgements_resume_as_soon_as_a_claim_gets_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # After an outage the acknowledger must not sleep out its own backoff while the
    # claim loop, back already, claims jobs whose leases then run out unacknowledged
    # (docs/reliability.md, finding 25): a claim that gets through wakes it.
    import wg_core.worker.acks

    monkeypatch.setattr(wg_core.worker.acks, "Backoff", _LongBackoff)
    backend = FlakyBackend("recover")
    client = Client(backend)
    gate = asyncio.Event()

    async def handle(job: dict[str, int]) -> None:
        await gate.wait()

    await client.enqueue({"n": 1})
    pool = WorkerPool(handle, backend=backend, max_backend_outage=120, **FAST)
    await pool.start()
    try:
        await wait_until(lambda: _running(client))
        backend.down = True
        gate.set()  # job 1 finishes; its acknowledgement fails and waits a minute

        async def both_failed() -> bool:
            return backend.failed_claims > 0 and backend.failed_completes > 0

        await wait_until(both_failed)
        backend.down = False
        await client.enqueue({"n": 2})
        await wait_until(lambda: _empty(client))  # within seconds, not a minute
        assert pool.stats.processed == 2
    finally:
        pool.shutdown()
        await pool.wait_closed()


async def test_a_long_outage_stops_the_pool_with_an_error() -> None:
    backend = FlakyBackend("down")
    pool = WorkerPool(lambda job: None, backend=backend, max_backend_outage=0.3, **FAST)
    backend.down = True
    with pytest.raises(BackendUnavailableError, match="unreachable for over"):
        await asyncio.wait_for(pool.run(), timeout=30)


async def _running(client: Client) -> bool:
    return (await client.counts()).running == 1


async def _empty(client: Client) -> bool:
    return (await client.counts()).total == 0


class LateBackend(MemoryBackend):
    """A memory backend that cannot be opened for the first few tries."""

    failures = 2

    async def open(self, *, create: bool = True) -> None:
        if self.failures:
            self.failures -= 1
            raise BackendUnavailableError("connection refused (injected)")
        await super().open(create=create)


async def test_a_pool_started_during_an_outage_comes_up_with_the_backend() -> None:
    backend = LateBackend("late")
    done: list[int] = []

    async def handle(job: dict[str, int]) -> None:
        done.append(job["n"])

    await MemoryBackend.enqueue(backend, [new_job(payload={"n": 1})])  # behind its back
    pool = WorkerPool(handle, backend=backend, wait_for_backend=60, **FAST)
    await pool.start()
    await wait_until(lambda: _empty(Client(backend)))
    pool.shutdown()
    await pool.wait_closed()
    assert done == [1]


async def test_a_pool_that_cannot_open_past_the_outage_limit_raises() -> None:
    backend = LateBackend("never")
    backend.failures = 10**6
    pool = WorkerPool(lambda job: None, backend=backend, **FAST)  # default: fail at once
    with pytest.raises(BackendUnavailableError):
        await asyncio.wait_for(pool.start(), timeout=30)
    assert backend.failures == 10**6 - 1


async def test_shutdown_with_the_backend_down_gives_up_and_loses_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import wg_core.worker.pool

    monkeypatch.setattr(wg_core.worker.pool, "LAST_WRITES_TIMEOUT", 0.2)
    backend = FlakyBackend("stuck")
    client = Client(backend)
    await client.enqueue({"n": 1})
    finished = asyncio.Event()

    async def handle(job: dict[str, int]) -> None:
        backend.down = True  # the completion cannot be written
        finished.set()

    pool = WorkerPool(handle, backend=backend, **FAST)
    await pool.start()
    await asyncio.wait_for(finished.wait(), 10)
    pool.shutdown()
    await asyncio.wait_for(pool.wait_closed(), 10)  # does not hang on the dead backend
    backend.down = False
    counts = await client.counts()
    assert (counts.running, counts.total) == (1, 1)  # still leased: it comes back, not lost
