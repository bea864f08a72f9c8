"""The no-op task that ``benchmarks.processes`` drains (``wg worker benchmarks.task_app:app``)."""

from __future__ import annotations

from wg_core import App

app = App()  # the URL and namespace come from the command line


@app.task(name="bench")
async def bench(i: int) -> None:
    """Does nothing: the drain measures wg's own cost per job."""
