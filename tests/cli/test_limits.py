"""``wg limit set / ls / clear`` (issue 20): what they store, list and refuse."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Wg
from wg_cli.commands.limits import parse_rate
from wg_core import Client


def test_set_ls_and_clear(wgq: Wg) -> None:
    doc = wgq.json("limit", "set", "api", "--concurrency", "3", "--rate", "20/1s", "--per-key")
    assert doc["limit"] == {
        "queue": "api",
        "concurrency": 3,
        "rate": 20,
        "per": 1.0,
        "per_key": True,
        "running": 0,
        "started": 0,
        "keys": 0,
    }
    wgq.json("limit", "set", "mail", "-c", "1")
    wgq.enqueue("call_api", {}, queue="api", limit_key="customer:7")

    async def run_one(client: Client) -> int:
        claimed = await client.backend.claim(limit=5, lease=300, worker_id="t", queues=["api"])
        return len(claimed)

    assert wgq.core(run_one) == 1

    listed = wgq.json("limit", "ls")["limits"]
    assert [(item["queue"], item["concurrency"], item["rate"]) for item in listed] == [
        ("api", 3, 20),
        ("mail", 1, None),
    ]
    assert (listed[0]["running"], listed[0]["started"], listed[0]["keys"]) == (1, 1, 1)
    table = wgq("limit", "ls")
    assert table.exit_code == 0
    assert "api" in table.stdout
    assert "20/1s" in table.stdout

    assert wgq.json("limit", "clear", "mail")["cleared"] is True
    assert wgq.json("limit", "clear", "mail")["cleared"] is False
    assert [item["queue"] for item in wgq.json("limit", "ls")["limits"]] == ["api"]
    said = wgq("limit", "clear", "api")
    assert "limit removed" in said.stdout

    async def limits(client: Client) -> int:
        return len(await client.limits())

    assert wgq.core(limits) == 0


@pytest.mark.parametrize(
    "args",
    [
        ("limit", "set", "api"),
        ("limit", "set", "api", "--concurrency", "0"),
        ("limit", "set", "api", "--rate", "0/1s"),
        ("limit", "set", "api", "--rate", "5/0s"),
        ("limit", "set", "api", "--rate", "lots"),
        ("limit", "set", "Not A Queue", "-c", "1"),
    ],
)
def test_bad_limits_are_refused(wg: Wg, args: tuple[str, ...]) -> None:
    result = wg(*args)
    assert result.exit_code != 0
    assert "Traceback" not in result.stderr

    async def limits(client: Client) -> int:
        return len(await client.limits())

    assert wg.core(limits) == 0


def test_rates_read_as_people_write_them() -> None:
    assert parse_rate("20/1s") == (20, 1.0)
    assert parse_rate("100/1m") == (100, 60.0)
    assert parse_rate("5/s") == (5, 1.0)
    assert parse_rate("7") == (7, 1.0)
    with pytest.raises(ValueError, match="N/WINDOW"):
        parse_rate("x/1s")


def test_enqueue_takes_a_limit_key(wgq: Wg) -> None:
    wgq.json("limit", "set", "cust", "-c", "1", "--per-key")
    for key in ("a", "a", "b"):
        wgq.json("enqueue", "sync", "{}", "--queue", "cust", "--limit-key", key)

    async def claim(client: Client) -> int:
        claimed = await client.backend.claim(limit=5, lease=300, worker_id="t", queues=["cust"])
        return len(claimed)

    assert wgq.core(claim) == 2  # one of key a, one of key b
    refused = wgq("enqueue", "sync", "{}", "--limit-key", "x" * 300)
    assert refused.exit_code == 2
