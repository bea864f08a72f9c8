"""``wg result`` and ``wg cancel``: outputs, exit codes (4 not found, 7 no result, 8
timed out; bulk 3/4/1/5), dry runs that change nothing, and the bad input they refuse."""

from __future__ import annotations

import json
import threading
import time

import pytest

import wg_cli.session
from tests.cli.conftest import Wg
from wg_core import Client

MISSING = "00000000-0000-4000-8000-000000000001"


# -- wg result -----------------------------------------------------------------------------


def test_result_prints_the_json_value(wgq: Wg) -> None:
    job_id = wgq.enqueue("sum", {"xs": [1, 2]})
    wgq.complete([{"total": 3, "note": "[red]x[/red]"}])
    plain = wgq("result", job_id)
    assert plain.exit_code == 0, plain.stderr
    assert json.loads(plain.stdout) == {"total": 3, "note": "[red]x[/red]"}
    assert wgq("result", job_id, "-o", "jsonl").stdout == '{"total":3,"note":"[red]x[/red]"}\n'
    doc = wgq.json("result", job_id)
    assert doc["version"] == 3
    assert (doc["id"], doc["state"]) == (job_id, "completed")
    assert doc["result"] == {"total": 3, "note": "[red]x[/red]"}


def test_a_handler_that_returned_nothing_prints_null(wgq: Wg) -> None:
    job_id = wgq.enqueue("noop", {})
    wgq.complete([None])
    result = wgq("result", job_id)
    assert (result.exit_code, result.stdout) == (0, "null\n")


def test_result_of_a_dead_job_is_exit_7(wgq: Wg) -> None:
    job_id = wgq.enqueue("send_email", {})
    wgq.kill(1, "SMTP refused")
    result = wgq("result", job_id, "--json")
    assert result.exit_code == 7
    assert result.stdout == ""
    error = json.loads(result.stderr)["error"]
    assert (error["code"], error["kind"]) == (7, "job_dead")
    assert "dead" in error["message"]
    assert "SMTP refused" in error["message"]


def test_result_of_a_cancelled_job_is_exit_7(wgq: Wg) -> None:
    job_id = wgq.enqueue("report", {})
    assert wgq("cancel", job_id).exit_code == 0
    result = wgq("result", job_id, "--json")
    assert result.exit_code == 7
    assert json.loads(result.stderr)["error"]["kind"] == "job_cancelled"


def test_result_of_an_unknown_job_is_exit_4(wgq: Wg) -> None:
    result = wgq("result", MISSING)
    assert result.exit_code == 4
    assert "retention" in result.stderr


def test_result_of_an_unfinished_job_is_exit_8(wgq: Wg) -> None:
    job_id = wgq.enqueue("slow", {})
    at_once = wgq("result", job_id)
    assert at_once.exit_code == 8
    assert "queued" in at_once.stderr
    assert "--wait" in at_once.stderr
    waited = wgq("result", job_id, "--wait", "50ms", "--json")
    assert waited.exit_code == 8
    assert json.loads(waited.stderr)["error"]["kind"] == "timed_out"


def test_result_waits_for_the_job_to_complete(wgq: Wg) -> None:
    job_id = wgq.enqueue("slow", {})

    def complete_soon() -> None:
        time.sleep(0.2)
        wgq.complete(["done"])

    worker = threading.Thread(target=complete_soon)
    worker.start()
    try:
        result = wgq("result", job_id, "--wait", "10s")
    finally:
        worker.join()
    assert (result.exit_code, result.stdout) == (0, '"done"\n')


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["not-an-id"], "not a job id"),
        ([MISSING, "--wait", "soon"], "invalid --wait"),
        ([MISSING, "-o", "id"], "prints no ids"),
    ],
)
def test_result_bad_input_is_a_usage_error(wgq: Wg, args: list[str], message: str) -> None:
    result = wgq("result", *args)
    assert result.exit_code == 2
    assert message in result.stderr


# -- wg cancel -----------------------------------------------------------------------------


def _states(wg: Wg, *ids: str) -> list[str]:
    return [wg.json("inspect", "job", job_id)["job"]["state"] for job_id in ids]


def test_cancel_waiting_jobs_at_once(wgq: Wg) -> None:
    queued = wgq.enqueue("a", {})
    scheduled = wgq.enqueue("b", {}, delay=600)
    doc = wgq.json("cancel", queued, scheduled)
    assert doc["action"] == "cancel"
    assert (doc["requested"], doc["cancelled"], doc["cancel_requested"]) == (2, 2, 0)
    assert doc["ids"] == [queued, scheduled]
    assert doc["failed"] == []
    assert _states(wgq, queued, scheduled) == ["cancelled", "cancelled"]


def test_cancel_reports_cancelled_requested_and_not_cancellable(wgq: Wg) -> None:
    completed = wgq.enqueue("b", {})
    wgq.complete(["ok"])
    running = wgq.enqueue("slow", {})
    wgq.claim()
    waiting = wgq.enqueue("a", {})
    result = wgq("cancel", running, waiting, completed, MISSING, "--json")
    assert result.exit_code == 3
    doc = json.loads(result.stdout)
    assert (doc["requested"], doc["cancelled"], doc["cancel_requested"]) == (4, 1, 1)
    assert doc["ids"] == [waiting]
    assert doc["cancel_requested_ids"] == [running]
    assert doc["failed"] == [
        {"id": MISSING, "reason": "not found"},
        {"id": completed, "reason": "is completed, cannot be cancelled"},
    ]
    assert json.loads(result.stderr)["error"]["message"] == "2 of 4 job(s) not cancelled"
    text = wgq("cancel", running)  # asking again is still "requested"
    assert text.exit_code == 0
    assert "1 running job(s) asked to stop" in text.stdout


def test_cancel_exit_codes_when_nothing_was_cancelled(wgq: Wg) -> None:
    assert wgq("cancel", MISSING).exit_code == 4
    job_id = wgq.enqueue("a", {})
    wgq.complete([1])
    assert wgq("cancel", job_id).exit_code == 1


def test_cancel_dry_run_changes_nothing(wgq: Wg) -> None:
    queued = wgq.enqueue("a", {})
    doc = wgq.json("cancel", queued, "--dry-run")
    assert (doc["dry_run"], doc["cancelled"], doc["ids"]) == (True, 1, [queued])
    assert _states(wgq, queued) == ["queued"]


def test_cancel_ids_from_stdin_need_yes(wgq: Wg) -> None:
    ids = [wgq.enqueue("a", {}), wgq.enqueue("b", {})]
    refused = wgq("cancel", "-", input="\n".join(ids))
    assert refused.exit_code == 5
    assert _states(wgq, *ids) == ["queued", "queued"]
    done = wgq("cancel", "-", "--yes", "-o", "jsonl", input="\n".join(ids))
    assert done.exit_code == 0
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(line["id"], line["outcome"]) for line in lines] == [
        (ids[0], "cancelled"),
        (ids[1], "cancelled"),
    ]


def test_cancel_all_by_state_queue_and_job_name(wgq: Wg) -> None:
    target = wgq.enqueue("send_email", {}, queue="emails")
    other_name = wgq.enqueue("report", {}, queue="emails")
    other_queue = wgq.enqueue("send_email", {})
    args = ["cancel", "--all", "--state", "queued", "--queue", "emails", "-j", "send_email"]
    dry = wgq.json(*args, "--dry-run")
    assert (dry["ids"], dry["filters"]["states"]) == ([target], ["queued"])
    assert _states(wgq, target) == ["queued"]
    refused = wgq(*args)  # not a terminal, no --yes
    assert refused.exit_code == 5
    doc = wgq.json(*args, "--yes")
    assert (doc["cancelled"], doc["ids"]) == (1, [target])
    assert _states(wgq, target, other_name, other_queue) == ["cancelled", "queued", "queued"]


def test_cancel_all_asks_on_a_terminal(wgq: Wg, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wg_cli.session, "stdin_is_terminal", lambda: True)
    job_id = wgq.enqueue("a", {}, delay=60)
    answered_no = wgq("cancel", "--all", "--state", "scheduled", input="n\n")
    assert answered_no.exit_code == 5
    assert _states(wgq, job_id) == ["scheduled"]
    answered_yes = wgq("cancel", "--all", "--state", "scheduled", input="y\n")
    assert answered_yes.exit_code == 0
    assert _states(wgq, job_id) == ["cancelled"]


def test_cancel_all_of_several_states(wgq: Wg) -> None:
    wgq.enqueue("a", {})
    dead = wgq.kill(1)
    queued = wgq.enqueue("b", {})
    doc = wgq.json("cancel", "--all", "--state", "dead", "--state", "queued", "--yes")
    assert doc["ids"] == [*dead, queued]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give one or more job ids"),
        (["not-an-id"], "not a job id"),
        (["--all"], "--all needs --state"),
        (["--all", "--state", "completed"], "completed"),
        ([MISSING, "--all", "--state", "queued"], "not both"),
        ([MISSING, "--queue", "emails"], "filter --all"),
        (["--all", "--state", "queued", "--queue", "bad queue!"], "invalid --queue"),
        (["-", "extra"], "give it alone"),
    ],
)
def test_cancel_bad_input_is_a_usage_error(wgq: Wg, args: list[str], message: str) -> None:
    job_id = wgq.enqueue("a", {})
    result = wgq("cancel", *args)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr

    async def state(client: Client) -> str:
        job = await client.get_job(job_id)
        assert job is not None
        return str(job.state)

    assert wgq.core(state) == "queued"
