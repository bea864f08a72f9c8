"""Fixed, realistic data for the TUI tests: jobs in every state, workers, counters.

Everything is stored through wg's public API (``Client`` to enqueue, the ``Backend``
verbs a worker uses to claim, fail and complete), with fixed job ids and a stepped
clock, so snapshots come out identical on every run and every backend.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Final

from wg_core import Backend, Client, Envelope, JobOptions, JobSpec, WorkerInfo
from wg_core.backend import Completion, NewJob, PeriodicEntry, Progress

T0: Final = 1_767_225_600.0
"""2026-01-01 00:00:00 UTC: when the story starts."""

NOW: Final = T0 + 3600.0
"""When the dashboard looks (one hour later)."""


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


def job_id(n: int) -> str:
    """A fixed, valid, random-looking UUID for the n-th fixture job."""
    digest = hashlib.sha256(f"wg-tui-fixture-{n}".encode()).digest()[:16]
    return str(uuid.UUID(bytes=digest, version=4))


FRESH_WORKER: Final = WorkerInfo(
    "web-1:4242:a1b2c3",
    host="web-1",
    pid=4242,
    concurrency=8,
    running=1,
    started_at=T0,
    queues=("billing", "emails", "default"),
)
"""The worker pool that heartbeats (the other one went silent)."""

WEEK: Final = 7 * 86_400.0
"""How long the fixture keeps its completed jobs."""

RESULTS: Final = (
    {"thumbnail": "thumbs/1.png", "width": 320, "height": 240},
    None,
    {
        "thumbnails": [f"thumbs/3-{size}.png" for size in (64, 128, 256, 512, 1024)],
        "bytes": 1_482_113,
        "note": "[bold]kept as text, never markup[/bold]",
    },
)
"""What the three kept completed jobs returned (one returned nothing)."""

TRACEBACK: Final = """\
ConnectionError: SMTP server smtp.example.com:587 refused the connection
Traceback (most recent call last):
  File "app/jobs.py", line 42, in send_email
    smtp.send_message(message)
  File "/usr/lib/python3.11/smtplib.py", line 986, in send_message
    return self.sendmail(from_addr, to_addrs, flatmsg, mail_options, rcpt_options)
ConnectionRefusedError: [Errno 111] Connection refused"""


@dataclass(frozen=True, slots=True)
class Fixture:
    """Which fixture job is in which state."""

    queued: tuple[str, ...]
    scheduled: tuple[str, ...]
    retry: tuple[str, ...]
    running: tuple[str, ...]
    dead: tuple[str, ...]
    completed: tuple[str, ...]
    cancelled: tuple[str, ...]
    fresh_worker: str
    stale_worker: str


async def _fail(
    backend: Backend,
    worker: str,
    *,
    error: str,
    dead: bool,
    clock: FakeClock,
    delay: float = 20,
    fatal: bool = False,
    queue: str = "default",
) -> str:
    """Claim the next queued job of ``queue`` and fail it (retry in ``delay`` s, or bury
    it).

    As the worker does, a fatal failure buries the job without counting it in
    ``retry_count``."""
    [attempt] = await backend.claim(limit=1, lease=30, worker_id=worker, queues=(queue,))
    envelope = Envelope.decode(attempt.raw)
    failed = envelope.evolve(
        retry_count=envelope.retry_count + (0 if fatal else 1),
        status="Dead" if dead else "Retry",
        last_error=error,
    )
    clock.advance(2)
    if dead:
        assert await backend.bury(attempt, raw=failed.encode(), error=failed.last_error)
    else:
        assert await backend.retry(
            attempt, raw=failed.encode(), delay=delay, error=failed.last_error
        )
    return envelope.id


async def populate(client: Client, clock: FakeClock) -> Fixture:
    """Store the fixture through ``client`` (whose backend uses ``clock``); ends at ``NOW``."""
    backend = client.backend
    clock.now = T0
    fresh, stale = FRESH_WORKER.worker_id, "web-2:977:d4e5f6"

    # Completed work, for the counters and the history: three jobs kept for a week with
    # their results (one of them long), two kept nothing (as keep_finished=0 does).
    for n in range(1, 6):
        await client.enqueue({"n": n}, job_name="resize_image", job_id=job_id(100 + n))
    attempts = await backend.claim(limit=5, lease=30, worker_id=fresh)
    for n, attempt in enumerate(attempts[:3], start=1):
        clock.advance(n * 1.5)
        result = RESULTS[n - 1]
        await backend.complete([Completion(attempt, result=json.dumps(result), keep=WEEK)])
    clock.advance(5)
    await backend.complete(attempts[3:])

    # Two dead jobs (one out of retries, one failed fatally on its first run) and two
    # waiting for a retry. Emails and payments have queues of their own.
    await client.enqueue(
        {"to": "ann@example.com", "subject": "Welcome"},
        job_name="send_email",
        job_id=job_id(31),
        options=JobOptions(max_retries=0),
        queue="emails",
    )
    await client.enqueue(
        {"invoice": 1017, "amount_cents": 129900},
        job_name="charge_card",
        job_id=job_id(32),
        queue="billing",
        priority=10,
    )
    await client.enqueue(
        {"to": "bob@example.com", "subject": "Your invoice"},
        job_name="send_email",
        job_id=job_id(21),
        queue="emails",
    )
    await client.enqueue(
        {"report": "daily", "day": "2025-12-31"}, job_name="build_report", job_id=job_id(22)
    )
    clock.advance(60)
    dead = (
        await _fail(backend, fresh, error=TRACEBACK, dead=True, clock=clock, queue="emails"),
        await _fail(
            backend,
            fresh,
            error="CardDeclined: insufficient funds (code 51)",
            dead=True,
            clock=clock,
            fatal=True,
            queue="billing",
        ),
    )
    clock.advance(1200)
    retry = (
        await _fail(
            backend, fresh, error=TRACEBACK, dead=False, clock=clock, delay=2400, queue="emails"
        ),
        await _fail(
            backend,
            stale,
            error="TimeoutError: job exceeded its 300s timeout",
            dead=False,
            clock=clock,
            delay=7200,
        ),
    )

    # A newsletter cancelled before it ran.
    clock.now = NOW - 900
    await client.enqueue(
        {"list": "customers", "issue": 12}, job_name="send_newsletter", job_id=job_id(51)
    )
    clock.advance(20)
    assert await client.cancel(job_id(51))

    # One running job, claimed ten minutes before NOW, 40 % done a minute ago.
    clock.now = NOW - 600
    await client.enqueue(
        {"video": "intro.mp4", "preset": "1080p"}, job_name="transcode", job_id=job_id(41)
    )
    [running_attempt] = await backend.claim(limit=1, lease=900, worker_id=fresh)
    clock.now = NOW - 60
    assert await backend.set_progress(
        running_attempt, Progress(0.4, "transcoded 24 of 60 segments")
    )

    # Scheduled for later, and three jobs waiting in the queue.
    clock.now = NOW - 300
    scheduled = (
        await client.enqueue(
            {"to": "cy@example.com", "subject": "Reminder"},
            job_name="send_email",
            job_id=job_id(11),
            delay=900,
            queue="emails",
        ),
        await client.enqueue(
            {"report": "weekly"}, job_name="build_report", job_id=job_id(12), delay=86_400
        ),
    )
    queued = []
    for n, (name, payload, queue, priority) in enumerate(
        [
            ("send_email", {"to": "dee@example.com", "subject": "Password reset"}, "emails", 5),
            ("resize_image", {"key": "uploads/cat.png", "width": 640}, "default", 0),
            ("send_email", {"to": "eve@example.com", "subject": "Receipt #1018"}, "emails", 0),
        ],
        start=1,
    ):
        clock.advance(45)
        queued.append(
            await client.enqueue(
                payload, job_name=name, job_id=job_id(n), queue=queue, priority=priority
            )
        )

    # Periodic entries the pools registered: a daily digest that last ran at midnight
    # (its job done and not kept), and a sweep every 15 minutes that has not run yet.
    await backend.register_periodic(
        [
            PeriodicEntry(
                name="daily-digest",
                schedule="0 0 * * * UTC",
                job_name="send_digest",
                queue="emails",
                baseline=T0 - 86_400,
                next_run=T0,
            ),
            PeriodicEntry(
                name="sweep-carts",
                schedule="every 900s",
                job_name="sweep_carts",
                priority=-5,
                baseline=NOW - 900,
                next_run=NOW + 900,
            ),
        ],
        now=T0 - 60,
    )
    digest = Envelope(
        id=job_id(61),
        job_name="send_digest",
        payload={"day": "2025-12-31"},
        max_retries=3,
        retry_count=0,
        timeout=300,
        retry_delay=10,
        status="Pending",
        created_at=int(T0),
    )
    await backend.fire_periodic(
        "daily-digest",
        tick=T0,
        job=NewJob(job_id=digest.id, job_name="send_digest", raw=digest.encode(), queue="emails"),
        now=T0 + 0.4,
        next_run=T0 + 86_400,
    )
    await backend.delete_jobs([digest.id])

    # Workers: one heartbeating now, one silent for five minutes.
    clock.now = NOW - 300
    await backend.heartbeat(
        WorkerInfo(
            stale,
            host="web-2",
            pid=977,
            concurrency=4,
            started_at=T0 - 86_400,
            queues=("emails", "default"),
        ),
        attempts=[],
        lease=30,
    )
    clock.now = NOW
    await backend.heartbeat(
        FRESH_WORKER,
        attempts=[running_attempt],
        lease=900,
    )
    return Fixture(
        queued=tuple(queued),
        scheduled=scheduled,
        retry=retry,
        running=(job_id(41),),
        dead=dead,
        completed=(job_id(101), job_id(102), job_id(103)),
        cancelled=(job_id(51),),
        fresh_worker=fresh,
        stale_worker=stale,
    )


TRAFFIC: Final = ((12, 0), (18, 1), (25, 0), (21, 3), (30, 1), (27, 0), (16, 2), (24, 0))
"""(processed, failed) per refresh interval, for the throughput sparkline."""


async def traffic_step(
    client: Client, clock: FakeClock, step: int, *, processed: int, failed: int
) -> None:
    """One refresh interval's work: enqueue, then complete ``processed`` and fail
    ``failed`` jobs (they wait in retry), then let two seconds pass."""
    backend = client.backend
    total = processed + failed
    await client.enqueue_many(
        [
            JobSpec(
                payload={"key": f"uploads/{step}-{k}.png"},
                job_name="resize_image",
                job_id=job_id(10_000 + step * 100 + k),
            )
            for k in range(total)
        ]
    )
    attempts = await backend.claim(limit=total, lease=30, worker_id=FRESH_WORKER.worker_id)
    await backend.complete(attempts[:processed])
    for attempt in attempts[processed:]:
        envelope = Envelope.decode(attempt.raw)
        raw = envelope.evolve(
            retry_count=envelope.retry_count + 1,
            status="Retry",
            last_error="OSError: image decoder ran out of memory",
        ).encode()
        await backend.retry(
            attempt, raw=raw, delay=60, error="OSError: image decoder ran out of memory"
        )
    clock.advance(2)
    # A live worker keeps heartbeating while it works.
    await backend.heartbeat(FRESH_WORKER, attempts=[], lease=30)
