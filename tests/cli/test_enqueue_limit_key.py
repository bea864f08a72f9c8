"""A job's limit key (issue 20) in ``wg inspect job`` (table and JSON) and per line of
``wg enqueue --jsonl``."""

from __future__ import annotations

from tests.cli.conftest import Wg


def test_inspect_shows_the_limit_key(wg: Wg) -> None:
    [created] = wg.json("enqueue", "sync", "{}", "--limit-key", "tenant:1")["jobs"]
    assert created["limit_key"] == "tenant:1"
    job = wg.json("inspect", "job", created["id"])["job"]
    assert job["limit_key"] == "tenant:1"
    table = wg("inspect", "job", created["id"])
    assert "limit key" in table.stdout
    assert "tenant:1" in table.stdout
    plain = wg.json("enqueue", "sync", "{}")["jobs"][0]["id"]
    assert wg.json("inspect", "job", plain)["job"]["limit_key"] is None


def test_json_lines_carry_their_own_limit_keys(wg: Wg) -> None:
    lines = "\n".join(
        [
            '{"job_name": "a", "payload": 1, "limit_key": "k1"}',
            '{"job_name": "a", "payload": 2}',
        ]
    )
    jobs = wg.json("enqueue", "--jsonl", "--limit-key", "batch", input=lines)["jobs"]
    assert [job["limit_key"] for job in jobs] == ["k1", "batch"]
    stored = [wg.json("inspect", "job", job["id"])["job"]["limit_key"] for job in jobs]
    assert stored == ["k1", "batch"]


def test_a_bad_line_limit_key_is_a_usage_error(wg: Wg) -> None:
    for bad in ('"limit_key": 5', '"limit_key": ""'):
        line = f'{{"job_name": "a", "payload": 1, {bad}}}'
        result = wg("enqueue", "--jsonl", input=line)
        assert result.exit_code == 2
        assert "line 1" in result.stderr
    assert wg.counts()["queued"] == 0
