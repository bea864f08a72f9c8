"""The shop's tasks. A worker runs them with::

    WG_URL=postgresql://localhost/shop wg worker fastapi_shop.tasks:app

(from the ``examples`` directory, or with the package installed).
"""

from __future__ import annotations

from wg_core import App, JobContext

app = App(namespace="shop")  # the URL: WG_URL, else sqlite:wg.db


@app.task(max_retries=5, timeout=60)
async def send_receipt(order_id: int, email: str) -> dict[str, object]:
    """Send the order's receipt (here: pretend) and say what was sent."""
    return {"order_id": order_id, "to": email, "sent": True}


@app.task(queue="reports")
def sales_report(day: str, ctx: JobContext) -> dict[str, object]:
    """A slow, sync report: runs in the worker's threads, reports its progress."""
    ctx.progress_sync(0.5, "summing")
    return {"day": day, "orders": 3, "attempt": ctx.attempt}
