"""``wg retry``, ``delete``, ``purge``, ``pause``, ``resume``: bulk outcomes, exit codes
3/4/5, confirmation, dry runs that change nothing."""

from __future__ import annotations

import json

import pytest

import wg_cli.session
from tests.cli.conftest import Wg
from wg_core import Client


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend stdin is a terminal, so destructive commands ask instead of refusing."""
    monkeypatch.setattr(wg_cli.session, "stdin_is_terminal", lambda: True)


MISSING = "00000000-0000-4000-8000-000000000001"  # a well-formed id no job has
OTHER_MISSING = "00000000-0000-4000-8000-000000000002"


def _dead(wg: Wg, count: int, error: str = "boom", job_name: str = "send_email") -> list[str]:
    for n in range(count):
        wg.enqueue(job_name, {"n": n})
    return wg.kill(count, error)


def test_retry_ids_requeues_and_resets_the_retry_count(wg: Wg) -> None:
    ids = _dead(wg, 2)
    doc = wg.json("retry", *ids)
    assert doc["action"] == "retry"
    assert doc["dry_run"] is False
    assert doc["requested"] == 2
    assert doc["retried"] == 2
    assert doc["ids"] == ids
    assert doc["failed"] == []
    assert wg.counts() == {"queued": 2, "scheduled": 0, "retry": 0, "running": 0, "dead": 0}
    job = wg.json("inspect", "job", ids[0])["job"]
    assert (job["state"], job["status"], job["retry_count"]) == ("queued", "Pending", 0)
    assert job["last_error"] == "boom"  # kept for the record


def test_retry_partial_failure_is_exit_3(wg: Wg) -> None:
    (dead,) = _dead(wg, 1)
    queued = wg.enqueue("other", {})
    result = wg("retry", dead, MISSING, queued, "--json")
    assert result.exit_code == 3
    doc = json.loads(result.stdout)
    assert doc["retried"] == 1
    assert doc["ids"] == [dead]
    assert doc["failed"] == [
        {"id": MISSING, "reason": "not found"},
        {"id": queued, "reason": "is queued, cannot be retried"},
    ]
    error = json.loads(result.stderr)["error"]
    assert error["code"] == 3
    assert error["message"] == "2 of 3 job(s) not retried"


def test_retry_unknown_ids_is_exit_4_and_changes_nothing(wg: Wg) -> None:
    _dead(wg, 1)
    result = wg("retry", MISSING, OTHER_MISSING)
    assert result.exit_code == 4
    assert result.stderr.strip().endswith("error: 2 of 2 job(s) not retried")
    assert wg.counts()["dead"] == 1


def test_retry_of_a_job_that_cannot_be_retried_is_exit_1(wg: Wg) -> None:
    queued = wg.enqueue("x", {})
    assert wg("retry", queued).exit_code == 1


def test_retry_ids_from_stdin_needs_yes(wg: Wg) -> None:
    ids = _dead(wg, 3)
    refused = wg("retry", "-", input="\n".join(ids))
    assert refused.exit_code == 5
    assert "--yes" in refused.stderr
    assert wg.counts()["dead"] == 3
    done = wg("retry", "-", "--yes", input="\n".join(ids) + "\n")
    assert done.exit_code == 0, done.stderr
    assert "3 of 3 job(s) retried" in done.stdout
    assert wg.counts()["queued"] == 3


def test_the_pipe_idiom(wg: Wg) -> None:
    """`wg inspect dead -o id | wg retry - --yes` retries every dead job."""
    ids = _dead(wg, 60)  # more than a table page
    listed = wg("inspect", "dead", "-o", "id")
    assert listed.stdout.split() == ids
    result = wg("retry", "-", "--yes", "-o", "id", input=listed.stdout)
    assert result.exit_code == 0
    assert result.stdout.split() == ids
    assert wg.counts()["dead"] == 0


def test_retry_dry_run_changes_nothing(wg: Wg) -> None:
    ids = _dead(wg, 2)
    doc = wg.json("retry", *ids, MISSING, "--dry-run", code=3)
    assert doc["dry_run"] is True
    assert doc["matched"] == 2
    assert doc["retried"] == 0
    assert doc["failed"] == [{"id": MISSING, "reason": "not found"}]
    assert wg.counts()["dead"] == 2


def test_retry_all_with_filters(wg: Wg) -> None:
    reset = _dead(wg, 2, "connection reset", "a")
    _dead(wg, 1, "bad data", "b")
    dry = wg.json("retry", "--all", "--error-contains", "RESET", "--dry-run")
    assert dry["dry_run"] is True
    assert dry["from"] == "dead"
    assert dry["filters"] == {"job_name": None, "error_contains": "RESET", "queue": None}
    assert dry["matched"] == 2
    assert dry["ids"] == reset
    assert wg.counts()["dead"] == 3
    assert wg("retry", "--all", "--error-contains", "reset").exit_code == 5  # not confirmed
    assert wg.counts()["dead"] == 3
    doc = wg.json("retry", "--all", "--error-contains", "reset", "--yes")
    assert (doc["matched"], doc["retried"]) == (2, 2)
    assert wg.counts() == {"queued": 2, "scheduled": 0, "retry": 0, "running": 0, "dead": 1}
    doc = wg.json("retry", "--all", "--job-name", "b", "--yes")
    assert doc["retried"] == 1


def test_retry_all_from_retry(wg: Wg) -> None:
    wg.enqueue("x", {})

    async def fail_once(client: Client) -> None:
        (attempt,) = await client.backend.claim(limit=1, lease=30, worker_id="t")
        assert await client.backend.retry(attempt, raw=attempt.raw, delay=3600, error=None)

    wg.core(fail_once)
    assert wg.counts()["retry"] == 1
    doc = wg.json("retry", "--all", "--from", "retry", "--yes")
    assert doc["retried"] == 1
    assert wg.counts()["queued"] == 1


def test_retry_all_with_nothing_matching_is_success(wg: Wg) -> None:
    result = wg("retry", "--all")
    assert result.exit_code == 0
    assert "0 dead job(s) retried" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["retry"], "give one or more job ids"),
        (["retry", "a", "--all"], "ids or --all"),
        (["retry", "a", "--job-name", "x"], "filter --all"),
        (["retry", "-", "a"], "give it alone"),
        (["retry", "--all", "--from", "queued"], "'--from'"),
        (["delete"], "give one or more job ids"),
        (["purge", "running"], "running jobs cannot be purged"),
        (["purge", "everything"], "dead, completed, cancelled, all"),
        (["retry", "has space"], "not a job id: 'has space'"),
        (["retry", "notauuid", "--dry-run"], "job ids are UUIDs"),
        (["delete", "--yes", "x"], "not a job id: 'x'"),
        (["purge"], "Missing argument"),
    ],
)
def test_admin_usage_errors(wg: Wg, args: list[str], message: str) -> None:
    _dead(wg, 1)
    result = wg(*args)
    assert result.exit_code == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr
    assert wg.counts()["dead"] == 1


def test_delete(wg: Wg, terminal: None) -> None:
    dead = _dead(wg, 1)[0]
    queued = wg.enqueue("x", {})
    refused = wg("delete", dead, queued, input="n\n")
    assert refused.exit_code == 5
    assert "Delete 2 job(s)" in refused.stderr
    assert wg.counts()["dead"] == 1
    done = wg("delete", dead, queued, MISSING, input="y\n")
    assert done.exit_code == 3
    assert "2 of 3 job(s) deleted" in done.stdout
    assert sum(wg.counts().values()) == 0


def test_delete_without_a_terminal_needs_yes(wg: Wg) -> None:
    job = wg.enqueue("x", {})
    assert wg("delete", job).exit_code == 5
    doc = wg.json("delete", job, "--yes")
    assert (doc["action"], doc["deleted"], doc["ids"]) == ("delete", 1, [job])
    assert wg("delete", job, "--yes").exit_code == 4


def test_delete_ids_from_stdin_cannot_be_confirmed_interactively(wg: Wg, terminal: None) -> None:
    job = wg.enqueue("x", {})
    result = wg("delete", "-", input=job + "\n")
    assert result.exit_code == 5
    assert wg.counts()["queued"] == 1


def test_purge(wg: Wg, terminal: None) -> None:
    _dead(wg, 2)
    wg.enqueue("x", {})
    wg.enqueue("later", {}, delay=3600)
    dry = wg.json("purge", "all", "--dry-run")
    assert dry["action"] == "purge"
    assert dry["state"] == "all"
    assert dry["dry_run"] is True
    history = {"completed": 0, "cancelled": 0}  # purge all empties the history too
    assert dry["matched"] == {"queued": 1, "scheduled": 1, "retry": 0, "dead": 2, **history}
    assert dry["deleted"] == {"queued": 0, "scheduled": 0, "retry": 0, "dead": 0, **history}
    assert dry["total"] == 0
    asked = wg("purge", "dead", input="n\n")
    assert asked.exit_code == 5
    assert f"Delete 2 dead job(s) from namespace '{wg.namespace}'" in asked.stderr
    assert wg.counts()["dead"] == 2
    done = wg("purge", "dead", input="y\n")
    assert done.exit_code == 0
    assert "Deleted 2 dead job(s)" in done.stdout
    doc = wg.json("purge", "all", "--yes")
    assert doc["deleted"] == {"queued": 1, "scheduled": 1, "retry": 0, "dead": 0, **history}
    assert doc["total"] == 2
    assert sum(wg.counts().values()) == 0


def test_purge_refuses_without_a_terminal(wg: Wg) -> None:
    _dead(wg, 1)
    result = wg("purge", "dead")
    assert result.exit_code == 5
    assert result.stderr.count("\n") == 1
    assert "pass --yes" in result.stderr
    assert wg.counts()["dead"] == 1


def test_purge_of_an_empty_state_needs_no_confirmation(wg: Wg) -> None:
    assert wg("purge", "retry").exit_code == 0


def test_pause_and_resume(wg: Wg) -> None:
    doc = wg.json("pause")
    assert (doc["version"], doc["namespace"], doc["paused"]) == (3, wg.namespace, True)
    assert wg.json("status")["paused"] is True
    assert wg.json("inspect", "workers")["paused"] is True
    assert "paused" in wg("pause").stdout
    assert wg.json("resume")["paused"] is False
    assert wg.json("status")["paused"] is False


def test_retry_all_asks_on_a_terminal(wg: Wg, terminal: None) -> None:
    _dead(wg, 2)
    declined = wg("retry", "--all", input="n\n")
    assert declined.exit_code == 5
    assert f"Retry 2 dead job(s) in namespace '{wg.namespace}'?" in declined.stderr
    assert wg.counts()["dead"] == 2
    accepted = wg("retry", "--all", input="y\n")
    assert accepted.exit_code == 0
    assert wg.counts()["queued"] == 2


def test_end_of_input_at_the_prompt_is_a_refusal(wg: Wg, terminal: None) -> None:
    _dead(wg, 1)
    result = wg("purge", "dead", input="")
    assert result.exit_code == 5
    assert "not confirmed" in result.stderr
    assert wg.counts()["dead"] == 1
