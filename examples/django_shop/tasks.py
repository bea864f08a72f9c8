"""The shop's tasks. Run a worker with::

    DJANGO_SETTINGS_MODULE=django_shop.settings WG_URL=... wg worker django_shop.tasks:app

A worker imports this module first, so it sets Django up (``django.setup()``) before
any task touches the ORM. Sync tasks run in the worker's threads, each with its own
database connection, as Django expects.
"""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_shop.settings")
django.setup()

from django.contrib.auth.models import User  # noqa: E402 - after django.setup()
from django.db import close_old_connections  # noqa: E402

from wg_core import App  # noqa: E402

app = App(namespace=os.environ.get("WG_NAMESPACE", "shop"))  # the URL: WG_URL


@app.task(max_retries=5)
def send_welcome(user_id: int) -> str:
    """Welcome a new user (here: say whom). Runs after the signup committed, so the
    user is there to read."""
    close_old_connections()  # as a request would: drop connections past CONN_MAX_AGE
    user = User.objects.get(pk=user_id)
    return f"welcome sent to {user.email}"


@app.task
def ship_order(order_id: int) -> int:
    """Ship an order (here: nothing to do but say which)."""
    return order_id
