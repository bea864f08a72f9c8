"""Example job handlers: what ``wg demo`` runs, and a module to try ``wg worker`` with.

    wg enqueue send_email '{"to": "ada@example.com", "subject": "Hi"}'
    wg worker wg_cli.demo_jobs:handlers          # every job name below
    wg worker wg_cli.demo_jobs:send_email --job-name send_email

Each handler shows one way a job can end:

* ``send_email`` (async): succeeds; an address without ``@`` is a ``JobError.fatal``,
  so the job goes straight to the dead-letter queue.
* ``resize_image`` (sync, runs in a worker thread): succeeds.
* ``charge_card`` (async, takes a ``JobContext``): fails ``fail_times`` attempts with a
  retryable error (a flaky payment gateway), then succeeds.
* ``sync_inventory`` (sync): raises a plain exception every time; once its retries are
  used up the job is dead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wg_core import JobContext, JobError

__all__ = [
    "ChargeCard",
    "Email",
    "InventorySync",
    "ResizeImage",
    "charge_card",
    "handlers",
    "resize_image",
    "send_email",
    "sync_inventory",
]


@dataclass
class Email:
    """An email to send."""

    to: str
    subject: str = ""
    work_ms: int = 50


@dataclass
class ResizeImage:
    """An image to resize."""

    path: str
    width: int = 640
    work_ms: int = 80


@dataclass
class ChargeCard:
    """A payment whose gateway times out ``fail_times`` times before it goes through."""

    order: str
    cents: int
    fail_times: int = 1


@dataclass
class InventorySync:
    """A sync against a supplier whose API is down."""

    supplier: str


async def send_email(job: Email) -> None:
    """Send an email; a malformed address can never succeed, so it is fatal."""
    if "@" not in job.to:
        raise JobError.fatal(f"invalid address {job.to!r}: no retry can fix it")
    await asyncio.sleep(job.work_ms / 1000)


def resize_image(job: ResizeImage) -> None:
    """Resize an image (sync: the pool runs it in a thread, the event loop stays free)."""
    time.sleep(job.work_ms / 1000)


async def charge_card(job: ChargeCard, ctx: JobContext) -> None:
    """Charge a card; the first ``fail_times`` attempts hit a gateway timeout."""
    await asyncio.sleep(0.03)
    if ctx.attempt <= job.fail_times:
        raise JobError.retryable(f"payment gateway timeout (attempt {ctx.attempt})")


def sync_inventory(job: InventorySync) -> None:
    """Always fails: after its retries the job lands in the dead-letter queue."""
    raise ConnectionError(f"supplier API {job.supplier!r} is down (HTTP 503)")


handlers: dict[str, Callable[..., Any]] = {
    "send_email": send_email,
    "resize_image": resize_image,
    "charge_card": charge_card,
    "sync_inventory": sync_inventory,
}
"""Every demo job name and its handler: ``wg worker wg_cli.demo_jobs:handlers``."""
