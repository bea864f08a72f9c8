"""An app of tasks for the ``wg worker MODULE:APP`` tests (``tests/cli/test_worker_tasks.py``).

``app`` takes its URL from ``WG_URL`` (the tests pass ``--url``/``--namespace``)."""

from __future__ import annotations

import asyncio
import os

from wg_core import App, JobContext

app = App()


@app.task
def add(a: int, b: int) -> int:
    return a + b


@app.task(queue="slow")
async def sleepy(seconds: float, ctx: JobContext) -> dict[str, object]:
    """Sleeps, then says which process and worker ran it."""
    await asyncio.sleep(seconds)
    return {"pid": os.getpid(), "worker_id": ctx.worker_id}
