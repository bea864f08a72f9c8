"""The Django example (``examples/django_shop``): enqueue on commit with the blocking
facade (Django on SQLite), and inside the transaction on PostgreSQL (a subprocess:
Django's settings are set once per process)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.backends import URLS, fresh_namespace
from tests.integrations.conftest import EXAMPLES, FAST

pytest.importorskip("django")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """``django_shop.tasks``, with Django's tables in a fresh SQLite file."""
    directory = tmp_path_factory.mktemp("django")
    saved = {
        name: os.environ.get(name)
        for name in ("DJANGO_DB", "WG_URL", "WG_NAMESPACE", "DJANGO_SETTINGS_MODULE")
    }
    os.environ["DJANGO_DB"] = f"sqlite:{directory / 'django.db'}"
    os.environ["WG_URL"] = f"sqlite:{directory / 'jobs.db'}"
    os.environ["WG_NAMESPACE"] = fresh_namespace()
    os.environ["DJANGO_SETTINGS_MODULE"] = "django_shop.settings"
    try:
        import django_shop.tasks
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        yield django_shop.tasks
        django_shop.tasks.app.close_blocking()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def test_enqueue_on_commit_with_the_blocking_facade(shop: ModuleType) -> None:
    from django.contrib.auth.models import User
    from django.test import Client

    http = Client(raise_request_exception=False)
    created = http.post(
        "/signup", {"username": "ada", "email": "ada@example.com"}, content_type="application/json"
    )
    assert created.status_code == 201
    app = shop.app
    [queued] = app.blocking.list_jobs("queued")
    assert queued.envelope is not None
    assert queued.envelope.payload == {"user_id": created.json()["user_id"]}
    failed = http.post(
        "/signup",
        {"username": "bob", "email": "bob@example.com", "fail": True},
        content_type="application/json",
    )
    assert failed.status_code == 500
    assert not User.objects.filter(username="bob").exists()
    assert app.blocking.counts().queued == 1  # rolled back: nothing was enqueued
    # A worker (here in burst mode, in this process) runs it; the task reads the user.
    asyncio.run(app.pool(**FAST).run(burst=True))
    assert app.blocking.result(queued.job_id, timeout=5) == "welcome sent to ada@example.com"


ORDERS = """
import json, sys
from django.db import connection
from django.test import Client
import django_shop.tasks as shop

with connection.cursor() as cursor:
    cursor.execute("CREATE TEMP TABLE shop_orders (id serial PRIMARY KEY, total int)")
http = Client(raise_request_exception=False)
ok = http.post("/orders", {"total": 30}, content_type="application/json")
failed = http.post("/orders", {"total": 40, "fail": True}, content_type="application/json")
jobs = shop.app.blocking.list_jobs("queued")
print(json.dumps({
    "statuses": [ok.status_code, failed.status_code],
    "order": ok.json(),
    "queued": [[job.job_id, job.envelope.payload] for job in jobs],
}))
shop.app.close_blocking()
"""


@pytest.mark.slow
def test_enqueue_inside_the_transaction_on_postgres() -> None:
    pytest.importorskip("psycopg")
    url = URLS["postgres"]
    done = subprocess.run(
        [sys.executable, "-c", ORDERS],
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(EXAMPLES)]),
            "DJANGO_SETTINGS_MODULE": "django_shop.settings",
            "DJANGO_DB": url,
            "WG_URL": url,
            "WG_NAMESPACE": fresh_namespace(),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0 and "could not connect" in done.stderr.lower():
        pytest.skip("PostgreSQL is not reachable")
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["statuses"] == [201, 500]
    # The committed order's job exists; the rolled-back order's job does not.
    assert report["queued"] == [
        [report["order"]["job_id"], {"order_id": report["order"]["order_id"]}]
    ]
