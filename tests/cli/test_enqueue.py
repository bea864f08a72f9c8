"""``wg enqueue``: one job, a payload from stdin, many jobs from JSON lines."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.cli.conftest import Wg
from wg_cli.main import app


def test_enqueue_prints_the_new_id_and_stores_the_job(wg: Wg) -> None:
    result = wg("enqueue", "send_email", '{"to": "ada@example.com"}')
    assert result.exit_code == 0, result.stderr
    job_id = result.stdout.strip()
    uuid.UUID(job_id)  # a plain id alone on stdout: `id=$(wg enqueue ...)` works
    job = wg.json("inspect", "job", job_id)["job"]
    assert job["id"] == job_id
    assert job["job_name"] == "send_email"
    assert job["state"] == "queued"
    assert job["payload"] == {"to": "ada@example.com"}
    assert job["retry_count"] == 0
    assert job["max_retries"] == 3
    assert job["timeout_seconds"] == 300.0
    assert job["retry_delay_seconds"] == 10.0
    assert job["envelope"]["options"] == {
        "max_retries": 3,
        "retry_count": 0,
        "timeout": 300000,
        "retry_delay": 10000,
    }


def test_enqueue_json_document(wg: Wg) -> None:
    doc = wg.json("enqueue", "report", "[1, 2]", "--in", "1h30m")
    assert doc["version"] == 3
    assert doc["namespace"] == wg.namespace
    assert len(doc["jobs"]) == 1
    job = doc["jobs"][0]
    assert job["job_name"] == "report"
    assert job["state"] == "scheduled"
    due = datetime.fromisoformat(job["due_at"])
    expected = datetime.now(UTC) + timedelta(hours=1, minutes=30)
    assert abs((due - expected).total_seconds()) < 60
    assert wg.counts()["scheduled"] == 1


def test_default_payload_and_options(wg: Wg) -> None:
    job_id = wg(
        "enqueue", "cleanup", "{}", "--max-retries", "7", "--timeout", "none", "--retry-delay", "2m"
    ).stdout.strip()
    job = wg.json("inspect", "job", job_id)["job"]
    assert job["payload"] == {}
    assert job["max_retries"] == 7
    assert job["timeout_seconds"] is None
    assert job["retry_delay_seconds"] == 120.0


def test_payload_from_stdin(wg: Wg) -> None:
    result = wg("enqueue", "resize", "-", input='{"path": "a.png", "width": 64}\n')
    assert result.exit_code == 0, result.stderr
    job = wg.json("inspect", "job", result.stdout.strip())["job"]
    assert job["payload"] == {"path": "a.png", "width": 64}


def test_at_without_offset_is_utc(wg: Wg) -> None:
    when = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0, tzinfo=None)
    doc = wg.json("enqueue", "later", "{}", "--at", when.isoformat())
    assert doc["jobs"][0]["due_at"] == when.isoformat() + "Z"


def test_at_with_offset(wg: Wg) -> None:
    when = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    india = when.astimezone(timezone(timedelta(hours=5, minutes=30)))
    doc = wg.json("enqueue", "later", "{}", "--at", india.isoformat())
    assert datetime.fromisoformat(doc["jobs"][0]["due_at"]) == when


def test_jsonl_with_a_job_name_reads_one_payload_per_line(wg: Wg) -> None:
    lines = "\n".join(json.dumps({"to": f"u{n}@example.com"}) for n in range(5)) + "\n\n"
    result = wg("enqueue", "send_email", "--jsonl", input=lines)
    assert result.exit_code == 0, result.stderr
    ids = result.stdout.split()
    assert len(ids) == 5
    listed = wg.json("inspect", "queued")["jobs"]
    assert [job["id"] for job in listed] == ids
    assert [job["payload"]["to"] for job in listed] == [f"u{n}@example.com" for n in range(5)]


def test_jsonl_objects_choose_name_delay_and_options(wg: Wg) -> None:
    lines = "\n".join(
        [
            json.dumps({"job_name": "a", "payload": {"n": 1}}),
            json.dumps({"job_name": "b", "payload": [], "in": "10m", "max_retries": 0}),
            json.dumps({"job_name": "c", "timeout": 5, "retry_delay": "1s"}),
        ]
    )
    doc = wg.json("enqueue", "--jsonl", input=lines)
    assert [(job["job_name"], job["state"]) for job in doc["jobs"]] == [
        ("a", "queued"),
        ("b", "scheduled"),
        ("c", "queued"),
    ]
    b = wg.json("inspect", "job", doc["jobs"][1]["id"])["job"]
    assert b["max_retries"] == 0
    c = wg.json("inspect", "job", doc["jobs"][2]["id"])["job"]
    assert (c["timeout_seconds"], c["retry_delay_seconds"], c["payload"]) == (5.0, 1.0, {})


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["enqueue", "x", "{bad"], None, "PAYLOAD_JSON is not valid JSON"),
        (["enqueue", "x", '{"n": NaN}'], None, "NaN is not valid JSON"),
        (["enqueue", "x", "-"], "not json", "PAYLOAD_JSON is not valid JSON"),
        (["enqueue", "x", "--in", "5x"], None, "'5x' is not a duration"),
        (["enqueue", "x", "--in", "-3s"], None, "not a duration"),
        (["enqueue", "x", "--timeout", "soon"], None, "invalid --timeout"),
        (["enqueue", "x", "--at", "tomorrow"], None, "'tomorrow' is not an ISO 8601 time"),
        (["enqueue", "x", "--at", "2030-01-01", "--in", "5s"], None, "--in or --at"),
        (["enqueue", "x", "--max-retries", "-1"], None, "'--max-retries'"),
        (["enqueue"], None, "missing JOB_NAME"),
        (["enqueue", "x", "{}", "--jsonl"], "{}", "give no PAYLOAD"),
        (["enqueue", "--jsonl"], '{"job_name": "a"}\n{oops\n', "line 2 is not valid JSON"),
        (["enqueue", "--jsonl"], '{"payload": 1}\n', "line 1: job_name must be"),
        (["enqueue", "--jsonl"], '{"job_name": "a", "when": 1}\n', "unknown key(s) when"),
        (["enqueue", "--jsonl"], '{"job_name": "a", "in": "never"}\n', "'never' is not a"),
        (["enqueue", "--jsonl"], "[1]\n", "expected an object"),
        (["enqueue", "x", "-"], '"' + "x" * 600_000 + '"', "-byte cap"),
        # No payload and a stdin that is not a terminal: never a silent {}.
        (["enqueue", "x"], "", "missing PAYLOAD_JSON"),
        (["enqueue", "x"], '{"n": 1}', "missing PAYLOAD_JSON"),
        # The core's bounds and allowed sets, as usage errors.
        (["enqueue", "has space", "{}"], None, "invalid job name 'has space'"),
        (["enqueue", "x", "{}", "--id", "order 17"], None, "job ids are UUIDs"),
        (["enqueue", "x", "{}", "--max-retries", "9" * 20], None, "max_retries must be at most"),
        (["enqueue", "x", "{}", "--in", "99999999d"], None, "--in must be at most"),
        (["enqueue", "x", "{}", "--at", "9999-12-31T00:00:00Z"], None, "must be at most"),
        (["enqueue", "x", "{}", "--timeout", "99999999d"], None, "timeout must be at most"),
        (["enqueue", "x", "{}", "--retry-delay", "1e30"], None, "retry_delay must be at most"),
        (["enqueue", "--jsonl"], '{"job_name": "a b"}\n', "line 1: invalid job name"),
        (["enqueue", "--jsonl"], '{"job_name": "a", "id": "x"}\n', "line 1: invalid job id"),
        (
            ["enqueue", "--jsonl"],
            '{"job_name": "a", "max_retries": 99999999999999999999}\n',
            "max_retries must be at most",
        ),
        (["enqueue", "--jsonl"], '{"job_name": "a", "in": "99999999d"}\n', "line 1: the delay"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_enqueued(
    wg: Wg, args: list[str], stdin: str | None, message: str
) -> None:
    result = wg(*args, input=stdin)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert "Traceback" not in result.stderr
    assert sum(wg.counts().values()) == 0


def test_bad_input_in_json_mode_is_one_json_line(wg: Wg) -> None:
    result = wg("enqueue", "x", "{bad", "--json")
    assert result.exit_code == 2
    error = json.loads(result.stderr)
    assert error["version"] == 3
    assert error["error"]["code"] == 2
    assert error["error"]["kind"] == "usage"
    assert "not valid JSON" in error["error"]["message"]


def test_past_at_runs_now(wg: Wg) -> None:
    doc = wg.json("enqueue", "x", "{}", "--at", "2001-01-01T00:00:00Z")
    assert doc["jobs"][0]["state"] == "queued"
    assert wg.counts()["queued"] == 1


def test_a_duplicate_id_is_refused(wg: Wg) -> None:
    given = "0B7F5C9E-3D1A-4F2B-9C8E-5A6D7E8F9012"
    assert wg("enqueue", "x", "{}", "--id", given).stdout == given.lower() + "\n"
    again = wg("enqueue", "x", '{"n": 2}', "--id", given.lower())
    assert again.exit_code == 1
    assert again.stderr.startswith("error: not enqueued: ")
    assert given.lower() in again.stderr
    assert wg.counts()["queued"] == 1


def test_settings_from_the_environment(wg: Wg) -> None:
    wg.enqueue("x", {})
    result = wg.runner.invoke(
        app, ["-o", "json", "status"], env={"WG_URL": wg.url, "WG_NAMESPACE": wg.namespace}
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["namespace"], doc["counts"]["queued"]) == (wg.namespace, 1)
