"""``python -m benchmarks.micro``: CPU cost of the per-job pieces of wg, in isolation.

What docs/benchmarks.md's "Per job, in the worker" table reports: a task with
``asyncio.wait_for`` vs ``asyncio.timeout`` around a no-op handler, ``Envelope.decode`` vs
bare ``json.loads``, ``Envelope.encode``, and the producer's ``JobBuilder.one`` (``Client``'s).
CPU time (``time.process_time``), median of 5 rounds, so other tenants matter little.

``python -m benchmarks.micro sqlite [DIR]``: the SQLite backend's own cost per operation
(CPU of the whole process, connection threads included), on a scratch file in ``DIR``
(default: ``/dev/shm`` where it exists, so no disk wait hides in it): one-at-a-time
enqueue, a claim-10/complete loop, a claim-1/complete-1 loop. It uses only the backend
contract, so the same script measures another checkout side by side:
``PYTHONPATH=/other/checkout python benchmarks/micro.py sqlite``.

``python -m benchmarks.micro tasks``: what a task's enqueue adds (binding the arguments
to the signature, checking them against the annotations) to ``Client.enqueue`` of the
same payload, on the memory backend so that no storage cost hides it (issue 21).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

from wg_core import JobOptions
from wg_core.backend import NewJob
from wg_core.backends.sqlite import SqliteBackend
from wg_core.envelope import Envelope
from wg_core.new_jobs import JobBuilder
from wg_core.options import DEFAULT_MAX_PAYLOAD_BYTES

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
    # The client's JobBuilder: everything an enqueue does before it reaches the backend.
    builder = JobBuilder(
        default_options=JobOptions(), max_payload_bytes=DEFAULT_MAX_PAYLOAD_BYTES, clock=time.time
    )

    def new_job(payload: object) -> NewJob:
        return builder.one(
            payload, job_name="bench", options=None, delay=None, queue="default", priority=0
        )

    new = new_job({"i": 1, "t": time.time()})
    envelope = Envelope.decode(new.raw)
    pieces: tuple[tuple[str, Callable[[], object]], ...] = (
        ("Envelope.decode", lambda: Envelope.decode(new.raw)),
        ("json.loads (same text)", lambda: json.loads(new.raw)),
        ("Envelope.encode", envelope.encode),
        ("JobBuilder.one (producer)", lambda: new_job({"i": 1, "t": 1.0})),
    )
    for name, call in pieces:
        cost = statistics.median([_per_call(call) for _ in range(ROUNDS)])
        print(f"{name:34} {cost:6.1f} µs/job")


def _jobs(prefix: str, n: int) -> list[NewJob]:
    raw = '{"id":"%s","job_name":"bench","payload":{"i":1,"t":1.0}}'
    return [NewJob(f"{prefix}{i}", "bench", raw % f"{prefix}{i}") for i in range(n)]


async def _sqlite_round(directory: str, n: int = 2_000) -> dict[str, float]:
    costs: dict[str, float] = {}
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        backend = SqliteBackend(os.path.join(scratch, "micro.db"), "micro")
        await backend.open()
        try:
            jobs = _jobs("e", n)
            started = time.process_time()
            for job in jobs:
                await backend.enqueue([job])
            costs["enqueue, one at a time"] = (time.process_time() - started) / n * 1e6
            for name, limit in (("claim 10 + complete", 10), ("claim 1 + complete 1", 1)):
                if name != "claim 10 + complete":
                    await backend.enqueue(_jobs(f"c{limit}-", n))
                done = 0
                started = time.process_time()
                while attempts := await backend.claim(limit=limit, lease=60, worker_id="w"):
                    done += await backend.complete(attempts)
                costs[name] = (time.process_time() - started) / done * 1e6
        finally:
            await backend.close()
    return costs


async def sqlite_main(directory: str) -> None:
    """Print the SQLite backend's CPU µs per job for each operation: the median of the
    rounds, and their minimum (other tenants only ever add to it)."""
    rounds = [await _sqlite_round(directory) for _ in range(ROUNDS)]
    for name in rounds[0]:
        samples = [costs[name] for costs in rounds]
        median, least = statistics.median(samples), min(samples)
        print(f"{name:34} {median:6.1f} µs/job (min {least:6.1f})")


async def bench_task(i: int, t: float) -> None:
    """The task whose enqueue ``tasks_main`` measures (never run)."""


async def _enqueue_round(n: int = 20_000) -> dict[str, float]:
    from wg_core import App

    costs: dict[str, float] = {}
    # A fresh store for each: the memory backend's cost grows with what it holds.
    client = App(backend=_memory()).client()
    await client.open()
    started = time.process_time()
    for i in range(n):
        await client.enqueue({"i": i, "t": 1.0}, job_name="bench")
    costs["Client.enqueue (memory)"] = (time.process_time() - started) / n * 1e6
    app = App(backend=_memory())
    task = app.task(name="bench")(bench_task)
    await app.client().open()
    started = time.process_time()
    for i in range(n):
        await task.enqueue(i, t=1.0)
    costs["Task.enqueue (memory)"] = (time.process_time() - started) / n * 1e6
    started = time.process_time()
    for i in range(n):
        task.signature.encode((i,), {"t": 1.0})
    costs["TaskSignature.encode alone"] = (time.process_time() - started) / n * 1e6
    return costs


def _memory() -> Any:
    from wg_core import MemoryBackend

    return MemoryBackend("micro")


async def tasks_main() -> None:
    """Print the CPU µs per enqueue of a task and of ``Client.enqueue`` (median of the
    rounds), and their ratio."""
    rounds = [await _enqueue_round() for _ in range(ROUNDS)]
    medians = {name: statistics.median(r[name] for r in rounds) for name in rounds[0]}
    for name, cost in medians.items():
        print(f"{name:34} {cost:6.1f} µs/job")
    ratio = medians["Task.enqueue (memory)"] / medians["Client.enqueue (memory)"]
    print(f"{'task / client':34} {ratio:6.2f}x")


if __name__ == "__main__":
    if sys.argv[1:2] == ["tasks"]:
        asyncio.run(tasks_main())
    elif sys.argv[1:2] == ["sqlite"]:
        default = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
        asyncio.run(sqlite_main(sys.argv[2] if len(sys.argv) > 2 else default))
    else:
        asyncio.run(main())
