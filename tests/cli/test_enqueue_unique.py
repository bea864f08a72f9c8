"""``wg enqueue --unique-key K [--unique-for D]`` (issue 19) and the unique key in
``wg inspect job``."""

from __future__ import annotations

from tests.cli.conftest import Wg


def test_a_duplicate_prints_the_holder_and_stores_nothing(wg: Wg) -> None:
    first = wg("enqueue", "invoice", '{"n": 42}', "--unique-key", "invoice:42")
    assert first.exit_code == 0, first.stderr
    job_id = first.stdout.strip()
    again = wg("enqueue", "invoice", '{"n": 43}', "--unique-key", "invoice:42")
    assert again.exit_code == 0, again.stderr
    assert again.stdout.strip() == job_id
    assert f"not stored: job {job_id} holds its unique key" in again.stderr
    assert wg.counts()["queued"] == 1

    job = wg.json("inspect", "job", job_id)["job"]
    assert job["unique_key"] == "invoice:42"
    assert job["envelope"]["unique_key"] == "invoice:42"
    table = wg("inspect", "job", job_id)
    assert "unique key" in table.stdout
    assert "invoice:42" in table.stdout


def test_the_json_document_says_whether_the_job_was_created(wg: Wg) -> None:
    doc = wg.json("enqueue", "report", "{}", "--unique-key", "r", "--unique-for", "1h")
    [created] = doc["jobs"]
    assert (created["created"], created["unique_key"], created["state"]) == (True, "r", "queued")
    [duplicate] = wg.json("enqueue", "report", "{}", "--unique-key", "r")["jobs"]
    assert (duplicate["id"], duplicate["created"]) == (created["id"], False)


def test_json_lines_carry_their_own_keys_and_the_first_wins(wg: Wg) -> None:
    lines = "\n".join(
        [
            '{"job_name": "a", "payload": 1, "unique_key": "k"}',
            '{"job_name": "a", "payload": 2, "unique_key": "k"}',
            '{"job_name": "a", "payload": 3, "unique_key": "other", "unique_for": "5m"}',
        ]
    )
    jobs = wg.json("enqueue", "--jsonl", input=lines)["jobs"]
    assert [job["created"] for job in jobs] == [True, False, True]
    assert jobs[1]["id"] == jobs[0]["id"]
    assert wg.counts()["queued"] == 2


def test_bad_unique_options_are_usage_errors(wg: Wg) -> None:
    assert wg("enqueue", "x", "{}", "--unique-key", "").exit_code == 2
    assert wg("enqueue", "x", "{}", "--unique-key", "k" * 256).exit_code == 2
    assert wg("enqueue", "x", "{}", "--unique-for", "1h").exit_code == 2
    assert wg("enqueue", "x", "{}", "--unique-key", "k", "--unique-for", "soon").exit_code == 2
    bad_line = '{"job_name": "a", "payload": 1, "unique_key": 5}'
    assert wg("enqueue", "--jsonl", input=bad_line).exit_code == 2
    assert wg.counts()["queued"] == 0
