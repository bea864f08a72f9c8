"""The spec's EmailJob flow on embedded SQLite: processed, scheduled, retried, dead.

    python examples/quickstart.py        (or: make demo)

Writes ``quickstart.db`` in the current directory; afterwards
``wg --url sqlite:quickstart.db -n myapp inspect dead`` shows the dead-lettered job.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from wg_core import Client, JobContext, JobError, JobOptions, JobState, WorkerPool

URL = "sqlite:quickstart.db"
NAMESPACE = "myapp"


@dataclass
class EmailJob:
    to: str
    subject: str
    body: str


async def process_email(job: EmailJob, ctx: JobContext) -> None:
    """Send an email (here: print it). Fails once for the flaky address."""
    if not job.to:
        raise JobError.fatal("Invalid email address")  # straight to the dead-letter queue
    if job.to.startswith("flaky") and ctx.attempt == 1:
        raise JobError.retryable("Service unavailable")  # retried with backoff
    print(f"  sent {job.subject!r:14} to {job.to:22} (attempt {ctx.attempt})")


async def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="  %(levelname)s %(message)s")
    client = await Client.connect(URL, NAMESPACE)
    await client.backend.destroy()  # start from a clean slate on every run
    await client.backend.open()

    print("enqueueing: 3 now, 1 in 2 s, 1 flaky (retried after 1 s), 1 invalid")
    for n in range(3):
        await client.enqueue(EmailJob(to=f"user{n}@example.com", subject="Hello", body="World"))
    await client.schedule(
        EmailJob(to="user@example.com", subject="Reminder", body="Don't forget!"),
        timedelta(seconds=2),
    )
    await client.enqueue_with_options(
        EmailJob(to="flaky@example.com", subject="Retry me", body="..."),
        JobOptions(max_retries=5, timeout=60, retry_delay=1),
    )
    await client.enqueue(EmailJob(to="", subject="Broken", body="..."))

    pool = WorkerPool(handler=process_email, url=URL, namespace=NAMESPACE, workers=4)
    await pool.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        counts = await client.counts()
        if counts.queued + counts.scheduled + counts.retry + counts.running == 0:
            break
        await asyncio.sleep(0.1)
    pool.shutdown()
    await pool.wait_closed()

    stats = pool.stats
    print(f"\nprocessed {stats.processed}, retried {stats.retried}, dead {stats.dead}")
    for job in await client.list_jobs(JobState.DEAD):
        print(f"dead: {job.job_id} {job.job_name} - {job.last_error}")
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
