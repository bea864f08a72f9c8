"""``JobInfo.runs`` / ``runs_allowed``: attempts run so far against attempts allowed,
the one definition the TUI and ``wg inspect`` show."""

from __future__ import annotations

import pytest

from wg_core import Envelope, JobInfo, JobState
from wg_core.failures import Failure, failed_envelope, is_exhausted


def _info(envelope: Envelope, state: JobState) -> JobInfo:
    return JobInfo(job_id=envelope.id, state=state, raw=envelope.encode(), envelope=envelope)


def _new(max_retries: int = 3) -> Envelope:
    return Envelope(
        id="0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b",
        job_name="charge_card",
        payload={},
        max_retries=max_retries,
        retry_count=0,
        timeout=300.0,
        retry_delay=10.0,
        status="Pending",
        created_at=1_767_225_600,
    )


def _run_and_fail(envelope: Envelope, *, fatal: bool) -> tuple[Envelope, JobState]:
    """What the worker stores after one more failed run (as ``WorkerPool._fail``)."""
    dead = fatal or is_exhausted(envelope)
    failed = failed_envelope(envelope, Failure("boom", fatal=fatal), dead=dead)
    return failed, JobState.DEAD if dead else JobState.RETRY


def test_a_new_job_has_run_zero_times_of_max_retries_plus_one() -> None:
    job = _info(_new(), JobState.QUEUED)
    assert (job.runs, job.runs_allowed) == (0, 4)


def test_a_running_job_counts_the_run_in_progress() -> None:
    assert _info(_new(), JobState.RUNNING).runs == 1
    failed, _ = _run_and_fail(_new(), fatal=False)
    assert _info(failed, JobState.RUNNING).runs == 2


def test_a_fatal_failure_on_the_first_run_is_one_run() -> None:
    failed, state = _run_and_fail(_new(), fatal=True)
    assert state is JobState.DEAD
    assert failed.retry_count == 0  # not counted as a retried failure...
    assert (_info(failed, state).runs, _info(failed, state).runs_allowed) == (1, 4)  # ...but run


@pytest.mark.parametrize("max_retries", [0, 1, 3])
def test_runs_count_every_run_until_death(max_retries: int) -> None:
    envelope, state = _new(max_retries), JobState.QUEUED
    for run in range(1, max_retries + 2):
        envelope, state = _run_and_fail(envelope, fatal=False)
        assert _info(envelope, state).runs == run
    assert state is JobState.DEAD
    assert _info(envelope, state).runs == _info(envelope, state).runs_allowed


def test_a_fatal_failure_after_retries_counts_them_all() -> None:
    envelope, _ = _run_and_fail(_new(), fatal=False)
    envelope, _ = _run_and_fail(envelope, fatal=False)
    envelope, state = _run_and_fail(envelope, fatal=True)
    assert (_info(envelope, state).runs, state) == (3, JobState.DEAD)


def test_an_undecodable_job_has_no_runs() -> None:
    job = JobInfo(job_id="x", state=JobState.DEAD, raw="{not json", envelope=None)
    assert (job.runs, job.runs_allowed) == (None, None)
