"""The server-crash scenario's judge (chaos/crashes.py, issue 16): which reruns a fault
explains though no RUNNING snapshot showed the job (claimed after the snapshot before
the fault), and which reran under the same attempt number (a claim the crash forgot)."""

from __future__ import annotations

from chaos.crashes import acked_at_the_crash, attempt_repeated, claimed_after_snapshot
from chaos.effects import EffectsLog, Run

FAULT = (10.0, 11.0, 12.0)
"""(snapshot, begun, end)"""


def effects(**runs: list[tuple[int, float]]) -> EffectsLog:
    log = EffectsLog()
    for job_id, starts in runs.items():
        log.runs[job_id] = [Run(job_id, attempt, 1, start, None) for attempt, start in starts]
    return log


def test_a_job_claimed_between_the_snapshot_and_the_end_of_the_fault_was_in_flight() -> None:
    log = effects(late=[(1, 10.5), (2, 12.5)], during=[(1, 11.5), (2, 13.0)])
    assert claimed_after_snapshot(log, [FAULT]) == {"late", "during"}


def test_a_rerun_of_a_job_that_ran_before_the_snapshot_is_not_explained() -> None:
    # Its claim was visible to the snapshot: if the snapshot did not show the job, it had
    # finished, and running it again after the fault is a duplicate no fault excuses.
    log = effects(
        early=[(1, 2.0), (2, 12.5)],  # long before the fault
        after=[(1, 12.5), (2, 13.0)],  # both runs after the fault
        once=[(1, 10.5)],
    )
    assert claimed_after_snapshot(log, [FAULT]) == set()


def test_an_attempt_run_again_across_a_fault_is_told_apart() -> None:
    log = effects(
        forgotten=[(1, 10.5), (1, 12.5)],
        seen_by_the_snapshot=[(1, 9.0), (1, 12.5)],  # the snapshot saw the claim
        reaped=[(1, 10.5), (2, 12.5)],
        not_across=[(1, 12.2), (1, 12.5)],  # both after the fault: no excuse
    )
    repeated = {job for job, runs in log.runs.items() if attempt_repeated(runs, [FAULT])}
    assert repeated == {"forgotten", "seen_by_the_snapshot"}


def test_a_job_acknowledged_just_before_the_fault_may_have_had_its_ack_undone() -> None:
    log = EffectsLog()
    log.runs["undone"] = [Run("undone", 1, 1, 9.0, 10.8), Run("undone", 2, 1, 12.5, 12.6)]
    log.runs["long_ago"] = [Run("long_ago", 1, 1, 2.0, 3.0), Run("long_ago", 2, 1, 12.5, None)]
    log.runs["before_fault"] = [
        Run("before_fault", 1, 1, 9.0, 10.8),
        Run("before_fault", 2, 1, 10.9, 11.0),
    ]
    assert acked_at_the_crash(log, [FAULT], window=1.0) == {"undone"}
