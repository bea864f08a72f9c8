"""Named queues and priorities through the CLI: enqueue, status, queues, inspect,
pause/resume, retry and purge with ``--queue``, and the bad input they refuse."""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import Wg
from wg_core import Client, JobInfo, JobState


def _job(wg: Wg, job_id: str) -> JobInfo:
    async def body(client: Client) -> JobInfo:
        job = await client.get_job(job_id)
        assert job is not None
        return job

    return wg.core(body)


def _seed(wg: Wg) -> dict[str, list[str]]:
    """Two jobs in ``emails`` (one at priority 5), one in ``default``, one dead in each."""
    ids = {
        "emails": [
            wg.enqueue("send_email", {"n": 1}, queue="emails"),
            wg.enqueue("send_email", {"n": 2}, queue="emails", priority=5),
        ],
        "default": [wg.enqueue("report", {})],
    }
    wg.enqueue("send_email", {"doomed": True}, queue="emails", priority=-3)
    wg.enqueue("report", {"doomed": True})
    return ids


# -- enqueue -------------------------------------------------------------------------------


def test_enqueue_stores_the_queue_and_priority(wgq: Wg) -> None:
    doc = wgq.json("enqueue", "send_email", "{}", "--queue", "emails", "--priority", "10")
    [reported] = doc["jobs"]
    assert doc["version"] == 3
    assert (reported["queue"], reported["priority"]) == ("emails", 10)
    job = _job(wgq, reported["id"])
    assert (job.queue, job.priority) == ("emails", 10)
    plain = wgq.json("enqueue", "send_email", "{}")["jobs"][0]
    assert (plain["queue"], plain["priority"]) == ("default", 0)


def test_enqueue_jsonl_lines_override_the_batch_queue(wgq: Wg) -> None:
    lines = "\n".join(
        [
            json.dumps({"job_name": "a", "payload": {}}),
            json.dumps({"job_name": "b", "payload": {}, "queue": "critical", "priority": 7}),
            json.dumps({"job_name": "c", "payload": {}, "priority": -2}),
        ]
    )
    doc = wgq.json("enqueue", "--jsonl", "--queue", "bulk", "--priority", "1", input=lines)
    got = [(j["job_name"], j["queue"], j["priority"]) for j in doc["jobs"]]
    assert got == [("a", "bulk", 1), ("b", "critical", 7), ("c", "bulk", -2)]
    stored = [(_job(wgq, j["id"]).queue, _job(wgq, j["id"]).priority) for j in doc["jobs"]]
    assert stored == [("bulk", 1), ("critical", 7), ("bulk", -2)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--queue", ""], "must not be empty"),
        (["--queue", "x" * 65], "too long"),
        (["--queue", "Emails"], "invalid queue name"),
        (["--queue", "has space"], "invalid queue name"),
        (["--priority", "1001"], "out of range"),
        (["--priority", "-1001"], "out of range"),
        (["--priority", "high"], "valid integer"),
        (["--priority", "1.5"], "valid integer"),
    ],
)
def test_enqueue_refuses_a_bad_queue_or_priority_and_stores_nothing(
    wgq: Wg, args: list[str], message: str
) -> None:
    result = wgq("enqueue", "send_email", "{}", *args)
    assert result.exit_code == 2, result.stdout
    assert message in result.stderr
    assert result.stderr.count("\n") == 1  # one line
    assert sum(wgq.counts().values()) == 0


@pytest.mark.parametrize(
    "line",
    [
        {"job_name": "b", "queue": "Bad Name"},
        {"job_name": "b", "queue": 7},
        {"job_name": "b", "priority": 5000},
        {"job_name": "b", "priority": "5"},
        {"job_name": "b", "priority": True},
    ],
)
def test_a_bad_line_in_a_batch_stores_nothing(wgq: Wg, line: dict[str, object]) -> None:
    lines = json.dumps({"job_name": "a", "payload": {}}) + "\n" + json.dumps(line)
    result = wgq("enqueue", "--jsonl", input=lines)
    assert result.exit_code == 2, result.stdout
    assert "line 2" in result.stderr
    assert sum(wgq.counts().values()) == 0


# -- status and queues ---------------------------------------------------------------------


def test_status_carries_every_queue_and_the_layout(wgq: Wg) -> None:
    _seed(wgq)
    wgq.kill(1, "boom", queues=("emails",))
    doc = wgq.json("status")
    assert doc["version"] == 3
    assert doc["layout_version"] == 4
    queues = {q["name"]: q for q in doc["queues"]}
    assert list(queues) == ["default", "emails"]  # sorted by name
    emails = queues["emails"]
    assert emails["counts"] == {
        "queued": 2,
        "scheduled": 0,
        "retry": 0,
        "running": 0,
        "dead": 1,
        "completed": 0,
        "cancelled": 0,
        "total": 3,
    }
    assert (emails["paused"], emails["processed"], emails["failed"]) == (False, 0, 1)
    assert queues["default"]["counts"]["queued"] == 2
    # The namespace's totals are every queue's.
    assert doc["counts"]["queued"] == 4


def test_status_table_has_a_row_per_queue(wgq: Wg) -> None:
    _seed(wgq)
    result = wgq("status")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    emails = next(line for line in lines if line.lstrip().startswith("emails"))
    assert emails.split()[:7] == ["emails", "3", "0", "0", "0", "0", "no"]
    assert "layout v4" in result.stdout


def test_queues_command(wgq: Wg) -> None:
    _seed(wgq)
    doc = wgq.json("queues")
    assert [q["name"] for q in doc["queues"]] == ["default", "emails"]
    assert doc["paused"] is False
    names = wgq("queues", "-o", "id")
    assert names.stdout.split() == ["default", "emails"]
    lines = wgq("queues", "-o", "jsonl").stdout.splitlines()
    assert [json.loads(line)["name"] for line in lines] == ["default", "emails"]
    table = wgq("queues").stdout
    assert all(word in table for word in ("emails", "paused", "processed"))


def test_an_empty_namespace_lists_the_default_queue(wgq: Wg) -> None:
    assert [q["name"] for q in wgq.json("queues")["queues"]] == ["default"]


# -- inspect -------------------------------------------------------------------------------


def test_inspect_filters_by_queue_and_rows_carry_queue_and_priority(wgq: Wg) -> None:
    ids = _seed(wgq)
    doc = wgq.json("inspect", "queued", "--queue", "emails")
    assert doc["filters"]["queue"] == "emails"
    assert doc["total"] == 3
    rows = {j["id"]: (j["queue"], j["priority"]) for j in doc["jobs"]}
    assert rows[ids["emails"][0]] == ("emails", 0)
    assert rows[ids["emails"][1]] == ("emails", 5)
    assert sorted(p for _, p in rows.values()) == [-3, 0, 5]
    assert {q for q, _ in rows.values()} == {"emails"}
    everything = wgq.json("inspect", "queued")
    assert everything["filters"]["queue"] is None
    assert everything["count"] == 5
    none = wgq("inspect", "queued", "--queue", "nothing-here")
    assert none.exit_code == 0
    assert "No queued jobs of queue 'nothing-here'" in none.stdout


def test_inspect_table_shows_queue_and_priority_only_when_used(wgq: Wg) -> None:
    wgq.enqueue("report", {})
    plain = wgq("inspect", "queued").stdout.splitlines()[1].split()
    assert not {"queue", "prio"} & set(plain)
    _seed(wgq)
    mixed = wgq("inspect", "queued").stdout
    header = mixed.splitlines()[1].split()
    assert {"queue", "prio"} <= set(header)
    assert "emails" in mixed


def test_inspect_job_shows_queue_and_priority(wgq: Wg) -> None:
    job_id = wgq.enqueue("send_email", {}, queue="emails", priority=-7)
    doc = wgq.json("inspect", "job", job_id)
    assert (doc["job"]["queue"], doc["job"]["priority"]) == ("emails", -7)
    table = wgq("inspect", "job", job_id).stdout
    assert any(line.split() == ["queue", "emails"] for line in table.splitlines())
    assert any(line.split() == ["priority", "-7"] for line in table.splitlines())


# -- pause, retry, purge -------------------------------------------------------------------


def test_pause_and_resume_one_queue(wgq: Wg) -> None:
    _seed(wgq)
    doc = wgq.json("pause", "--queue", "emails")
    assert (doc["paused"], doc["queue"]) == (True, "emails")

    async def flags(client: Client) -> tuple[bool, bool, bool]:
        return (
            await client.is_paused(),
            await client.is_paused(queue="emails"),
            await client.is_paused(queue="default"),
        )

    assert wgq.core(flags) == (False, True, False)
    queues = {q["name"]: q["paused"] for q in wgq.json("status")["queues"]}
    assert queues == {"default": False, "emails": True}
    said = wgq("resume", "--queue", "emails")
    assert said.exit_code == 0
    assert "Queue 'emails'" in said.stdout
    assert wgq.core(flags) == (False, False, False)


def test_resuming_a_queue_says_the_namespace_is_still_paused(wgq: Wg) -> None:
    assert wgq("pause").exit_code == 0
    assert wgq("pause", "--queue", "emails").exit_code == 0
    said = wgq("resume", "--queue", "emails")
    assert "still paused" in said.stdout
    said = wgq("resume")
    assert "Still paused on their own: emails" not in said.stdout  # resumed above
    assert wgq("pause", "--queue", "emails").exit_code == 0
    assert "Still paused on their own: emails" in wgq("resume").stdout


def test_retry_all_of_one_queue(wgq: Wg) -> None:
    wgq.enqueue("a", {}, queue="emails")
    wgq.enqueue("b", {})
    [emails_dead] = wgq.kill(1, queues=("emails",))
    [default_dead] = wgq.kill(1)
    doc = wgq.json("retry", "--all", "--queue", "emails", "--yes")
    assert (doc["matched"], doc["retried"], doc["filters"]["queue"]) == (1, 1, "emails")
    assert _job(wgq, emails_dead).state is JobState.QUEUED
    assert _job(wgq, emails_dead).queue == "emails"  # back in its own queue
    assert _job(wgq, default_dead).state is JobState.DEAD
    dry = wgq.json("retry", "--all", "--queue", "default", "--dry-run")
    assert dry["ids"] == [default_dead]


def test_retry_queue_needs_all(wgq: Wg) -> None:
    result = wgq("retry", "6f1c2d0e-8a4b-4c1e-9f3a-2b7d5e6a9c01", "--queue", "emails")
    assert result.exit_code == 2
    assert "--queue filter --all" in result.stderr


def test_purge_one_queue(wgq: Wg) -> None:
    _seed(wgq)
    dry = wgq.json("purge", "queued", "--queue", "emails", "--dry-run")
    assert (dry["matched"], dry["queue"]) == ({"queued": 3}, "emails")
    doc = wgq.json("purge", "queued", "--queue", "emails", "--yes")
    assert doc["deleted"] == {"queued": 3}
    queues = {q["name"]: q["counts"]["queued"] for q in wgq.json("queues")["queues"]}
    assert queues["default"] == 2
    assert queues.get("emails", 0) == 0


@pytest.mark.parametrize(
    "args",
    [
        ["inspect", "dead", "--queue", "Bad"],
        ["pause", "--queue", ""],
        ["resume", "--queue", "a b"],
        ["purge", "dead", "--queue", "x" * 65, "--yes"],
        ["retry", "--all", "--queue", "Ünï", "--yes"],
    ],
)
def test_a_bad_queue_name_is_a_usage_error_that_changes_nothing(wgq: Wg, args: list[str]) -> None:
    wgq.enqueue("a", {})
    wgq.kill(1)
    result = wgq(*args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "invalid --queue" in result.stderr
    assert wgq.counts()["dead"] == 1

    async def paused(client: Client) -> bool:
        return await client.is_paused()

    assert wgq.core(paused) is False
