"""``wg status --recount`` on every backend: the kept state counts made the stored jobs'
count again (PostgreSQL, MySQL/MariaDB), a note that there is nothing to recount
elsewhere; on MySQL, after a ``TRUNCATE`` that its triggers never saw."""

from __future__ import annotations

import pytest

from tests.backends.mysql_admin import admin_connection, sql
from tests.cli.conftest import Wg

KEEPS_COUNTS = ("postgresql", "mysql")


def test_status_recount(wga: Wg) -> None:
    wga.enqueue("plain")
    wga.kill(1, "boom")
    wga.enqueue("plain")
    assert wga.json("status")["counts"]["dead"] == 1
    result = wga("status", "--recount", "-o", "json")
    assert result.exit_code == 0, result.stderr
    if wga.url.startswith(KEEPS_COUNTS):
        assert "recounted the stored jobs" in result.stderr
    else:
        assert "nothing to recount" in result.stderr
    assert '"dead": 1' in result.stdout


@pytest.mark.parametrize("wga", ["mysql"], indirect=True)
def test_status_recount_repairs_a_truncate_on_mysql(wga: Wg) -> None:
    """Only MySQL's TRUNCATE bypasses the counting triggers."""

    wga.enqueue("plain")
    wga.kill(1, "boom")
    with admin_connection() as admin:
        sql(admin, f"TRUNCATE `{wga.namespace}_dead`")
    assert wga.json("status")["counts"]["dead"] == 1  # wrong, and not detectable cheaply
    assert wga.json("status", "--recount")["counts"]["dead"] == 0
    assert wga.json("status")["counts"]["dead"] == 0
