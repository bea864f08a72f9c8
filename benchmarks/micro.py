"""``python -m benchmarks.micro``: CPU cost of the per-job pieces of wg, in isolation.

What docs/benchmarks.md's "Per job, in the worker" table reports: a task with
``asyncio.wait_for`` vs ``asyncio.timeout`` around a no-op handler, ``Envelope.decode`` vs
bare ``json.loads``, ``Envelope.encode``, and the producer's ``Client._new_job``.
CPU time (``time.process_time``), median of 5 rounds, so other tenants matter little.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable

from wg_core import Client, MemoryBackend
from wg_core.envelope import Envelope

ROUNDS = 5


async def _noop() -> None:
    return None


async def _with_wait_for() -> None:
    await asyncio.wait_for(_noop(), 300)


async def _with_timeout() -> None:
    async with asyncio.timeout(300):
        await _noop()


async def _tasks(body: Callable[[], Awaitable[None]], n: int = 20_000) -> float:
    started = time.process_time()
    await asyncio.gather(*(asyncio.create_task(body()) for _ in range(n)))  # type: ignore[arg-type]
    return (time.process_time() - started) / n * 1e6


def _per_call(body: Callable[[], object], n: int = 50_000) -> float:
    started = time.process_time()
    for _ in range(n):
        body()
    return (time.process_time() - started) / n * 1e6


async def main() -> None:
    """Print one line per piece: median CPU µs per job."""
    for name, body in (
        ("task + asyncio.wait_for", _with_wait_for),
        ("task + asyncio.timeout", _with_timeout),
        ("task alone", _noop),
    ):
        cost = statistics.median([await _tasks(body) for _ in range(ROUNDS)])
        print(f"{name:34} {cost:6.1f} µs/job")
    client = Client(MemoryBackend("micro"))
    # _new_job is private, but it is exactly the piece measured: everything an enqueue
    # does before it reaches the backend.
    new = client._new_job({"i": 1, "t": time.time()}, job_name="bench", options=None, delay=None)
    envelope = Envelope.decode(new.raw)
    pieces: tuple[tuple[str, Callable[[], object]], ...] = (
        ("Envelope.decode", lambda: Envelope.decode(new.raw)),
        ("json.loads (same text)", lambda: json.loads(new.raw)),
        ("Envelope.encode", envelope.encode),
        (
            "Client._new_job (producer)",
            lambda: client._new_job({"i": 1, "t": 1.0}, job_name="bench", options=None, delay=None),
        ),
    )
    for name, call in pieces:
        cost = statistics.median([_per_call(call) for _ in range(ROUNDS)])
        print(f"{name:34} {cost:6.1f} µs/job")


if __name__ == "__main__":
    asyncio.run(main())
