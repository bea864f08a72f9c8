"""``wg inspect``: attempts as runs so far of runs allowed, the time of death, search."""

from __future__ import annotations

from tests.cli.conftest import Wg


def test_a_fatal_death_on_the_first_run_is_one_run_of_four(wg: Wg) -> None:
    # wg.kill buries as a fatal failure does: retry_count stays 0.
    job_id = wg.enqueue("charge_card", {"invoice": 1})
    assert wg.kill(1, "CardDeclined: insufficient funds") == [job_id]
    (job,) = wg.json("inspect", "dead")["jobs"]
    assert (job["retry_count"], job["runs"], job["runs_allowed"]) == (0, 1, 4)
    table = wg("inspect", "dead").stdout
    assert "runs" in table
    assert "1/4" in table
    detail = wg("inspect", "job", job_id).stdout
    assert "1 run of 4 allowed" in detail
    died = [line for line in detail.splitlines() if line.startswith("died")]
    assert died, detail  # a dead job shows when it died, not "updated"
    assert died[0].split()[1] != "-"  # known: SQLite stores the time of death


def test_a_queued_job_has_run_zero_times(wg: Wg) -> None:
    wg.enqueue("send_email")
    (job,) = wg.json("inspect", "queued")["jobs"]
    assert (job["runs"], job["runs_allowed"]) == (0, 4)


def test_search_finds_a_job_by_id_fragment_or_payload_text(wg: Wg) -> None:
    first = wg.enqueue("send_email", {"to": "ann@example.com"})
    second = wg.enqueue("send_email", {"to": "bob@example.com"})
    doc = wg.json("inspect", "queued", "--search", "ANN@")
    assert [job["id"] for job in doc["jobs"]] == [first]
    assert doc["filters"]["search"] == "ANN@"
    assert doc["total"] is None  # filtered: no total
    doc = wg.json("inspect", "queued", "-s", second[-8:])
    assert [job["id"] for job in doc["jobs"]] == [second]
