"""MySQL/MariaDB without the ``TRIGGER`` privilege (docs/mysql.md): creating a namespace
stops with a ``BackendConfigError`` that says which privilege is missing and leaves
nothing that keeps a privileged user from completing it; producers and workers then
need no ``TRIGGER`` privilege, and their writes are counted."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.backends import URLS, fresh_namespace
from tests.backends.mysql_admin import admin_connection, sql
from tests.helpers import new_job
from wg_core import backend_from_url
from wg_core.errors import BackendConfigError

_GRANTS = "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, LOCK TABLES"


@pytest.fixture
def without_trigger() -> Iterator[str]:
    """The URL of a user of the test database with every privilege wg uses but TRIGGER."""
    user, password = "wg" + uuid.uuid4().hex[:10], uuid.uuid4().hex
    parts = urlsplit(URLS["mysql"])
    database = parts.path.lstrip("/")
    with admin_connection() as admin:
        sql(admin, "CREATE USER %s@'%%' IDENTIFIED BY %s", user, password)
        try:
            sql(admin, f"GRANT {_GRANTS} ON `{database}`.* TO %s@'%%'", user)
            netloc = f"{user}:{password}@{parts.hostname}:{parts.port or 3306}"
            yield urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
        finally:
            sql(admin, "DROP USER %s@'%%'", user)


async def test_creating_a_namespace_without_trigger_says_so(without_trigger: str) -> None:
    namespace = fresh_namespace()
    refused = backend_from_url(without_trigger, namespace)
    with pytest.raises(BackendConfigError, match="needs the TRIGGER privilege") as caught:
        await refused.open()
    await refused.close()
    assert "GRANT TRIGGER" in str(caught.value)
    assert without_trigger.split(":")[2].split("@")[0] not in str(caught.value)  # no password
    owner = backend_from_url(URLS["mysql"], namespace)
    await owner.open()  # completes what the refused open left
    try:
        worker = backend_from_url(without_trigger, namespace)
        await worker.open()
        try:
            await worker.enqueue([new_job() for _ in range(3)])
            await worker.enqueue([new_job()])
            assert (await worker.counts()).queued == 4
            [attempt] = await worker.claim(limit=1, lease=30, worker_id="w")
            assert await worker.complete([attempt]) == 1
            counts = await owner.counts()
            assert (counts.queued, counts.running) == (3, 0)
        finally:
            await worker.close()
    finally:
        await owner.destroy()
        await owner.close()
