"""A producer process for the SQLite outage scenario: enqueue batches until killed.

    python -m chaos.producer URL NAMESPACE JOURNAL --batches N --size K

Before each batch it appends ``I <ids>`` to JOURNAL, after the enqueue returns
``A <ids>`` (one ``os.write`` each). A SIGKILL mid-transaction must leave either the
whole batch or none of it; every acknowledged (``A``) batch must be processed. Each
batch spreads over every queue and priority (``chaos.placement.placement_of``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid

from chaos.placement import placement_of
from wg_core import Client, JobOptions, JobSpec


async def _produce(args: argparse.Namespace) -> None:
    fd = os.open(args.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    options = JobOptions(max_retries=50, retry_delay=0.05, timeout=60)
    async with await Client.connect(args.url, args.namespace) as client:
        for _ in range(args.batches):
            ids = [str(uuid.uuid4()) for _ in range(args.size)]
            os.write(fd, f"I {','.join(ids)}\n".encode())
            specs = [
                JobSpec(
                    payload={"n": n, "ms": 5},
                    job_name="work",
                    options=options,
                    job_id=i,
                    queue=placement_of(n)[0],
                    priority=placement_of(n)[1],
                )
                for n, i in enumerate(ids)
            ]
            await client.enqueue_many(specs)
            os.write(fd, f"A {','.join(ids)}\n".encode())


def main() -> None:
    """Parse the command line and produce."""
    parser = argparse.ArgumentParser(prog="python -m chaos.producer")
    parser.add_argument("url")
    parser.add_argument("namespace")
    parser.add_argument("journal")
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--size", type=int, default=10)
    asyncio.run(_produce(parser.parse_args()))


if __name__ == "__main__":
    main()
