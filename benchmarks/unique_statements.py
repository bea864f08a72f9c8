"""Where a MariaDB/MySQL enqueue's time goes, statement by statement: plain against
``unique_key`` (a fresh key per job), one at a time or in batches of 500.

    PYTHONPATH=$PWD .venv/bin/python -m benchmarks.unique_statements [--bulk] [--n 5000]

Three fresh namespaces in alternating chunks (the first alternating too, after one
untimed chunk each): plain jobs, unique jobs, and plain jobs whose payload is as much
longer as a unique job's envelope (its ``"unique_key"``), so that a slower job insert in
the unique transaction can be told from a longer row. Every named block a session runs
is timed on the link's thread (round trip and server work); the rest of a call
(``other``: BEGIN, COMMIT, the client's own work, the hop to the link's thread) is its
wall time minus those. Prints milliseconds per 1,000 jobs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from wg_core import Client, JobSpec
from wg_core.backends.mysql.sessions import Session
from wg_core.urls import backend_from_url

URL = "mysql://root@127.0.0.1:3306/test"
PATHS = ("plain", "unique", "plain, longer payload")

spent: Counter[tuple[str, str]] = Counter()
current = ["warm-up"]


def _timed(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def timed(self: Session, block: str, *args: Any) -> Any:
        started = time.perf_counter()
        try:
            return await method(self, block, *args)
        finally:
            spent[current[0], block] += time.perf_counter() - started

    return timed


def _payload(path: str, i: int) -> dict[str, Any]:
    if "longer" not in path:
        return {"i": i}
    # A unique job's envelope carries ',"unique_key":"k<i>"'; ',"pad":""' is 9 characters.
    return {"i": i, "pad": "x" * (len(f',"unique_key":"k{i}"') - 9)}


async def main(bulk: bool, n: int) -> None:
    for name in ("execute", "fetch", "execute_many"):
        setattr(Session, name, _timed(getattr(Session, name)))
    clients = {path: Client(backend_from_url(URL, "s" + uuid.uuid4().hex[:12])) for path in PATHS}
    for client in clients.values():
        await client.open()
    chunk = 500 if bulk else 50
    total: Counter[str] = Counter()

    async def enqueue(path: str, first: int, last: int) -> None:
        client, unique = clients[path], path == "unique"
        if bulk:
            specs = [
                JobSpec(payload=_payload(path, i), unique_key=f"k{i}" if unique else None)
                for i in range(first, last)
            ]
            await client.enqueue_many(specs, job_name="bench")
            return
        for i in range(first, last):
            key = f"k{i}" if unique else None
            await client.enqueue(_payload(path, i), job_name="bench", unique_key=key)

    try:
        for path in PATHS:
            await enqueue(path, -chunk, 0)
        spent.clear()
        for turn, first in enumerate(range(0, n, chunk)):
            order = PATHS[turn % 3 :] + PATHS[: turn % 3]
            for path in order:
                current[0] = path
                started = time.perf_counter()
                await enqueue(path, first, min(n, first + chunk))
                total[path] += time.perf_counter() - started
    finally:
        for client in clients.values():
            await client.backend.destroy()
            await client.close()
    per = 1000 / n * 1000  # ms per 1,000 jobs
    print(f"{'one at a time' if not bulk else 'batches of 500'}, {n} jobs per path")
    for path in PATHS:
        blocks = {block: t for (p, block), t in spent.items() if p == path}
        print(f"{path}: {total[path] * per:,.0f} ms per 1,000 jobs")
        for block, t in sorted(blocks.items(), key=lambda item: -item[1]):
            print(f"    {block:24} {t * per:8,.1f}")
        print(f"    {'other':24} {(total[path] - sum(blocks.values())) * per:8,.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.unique_statements")
    parser.add_argument("--bulk", action="store_true")
    parser.add_argument("--n", type=int, default=5000)
    args = parser.parse_args(sys.argv[1:])
    asyncio.run(main(args.bulk, args.n))
