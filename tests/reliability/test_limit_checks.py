"""The chaos limit scenario's judge (chaos/limits.py, issue 20): it counts running
jobs from the handlers' own log and fails the run when a limit was exceeded, taking a
killed worker's unfinished run to last until its kill, and any other unfinished run
to last for ever (so that a run that never returned can only make the count larger)."""

from __future__ import annotations

from chaos.checker import Verdict
from chaos.effects import Run
from chaos.limits import check_limit, peak


def run(start: float, end: float | None, pid: int = 1) -> Run:
    return Run(job_id=f"j{start}", attempt=1, pid=pid, start=start, end=end)


def test_runs_that_overlap_are_counted_and_one_ending_as_another_starts_is_not() -> None:
    assert peak([], {}) == 0
    assert peak([run(0, 2), run(1, 3), run(1.5, 4)], {}) == 3
    assert peak([run(0, 1), run(1, 2), run(2, 3)], {}) == 1  # back to back


def test_a_killed_workers_run_lasts_until_its_kill_any_other_unfinished_run_for_ever() -> None:
    killed = {7: 5.0}
    assert peak([run(0, None, pid=7), run(6, 8)], killed) == 1
    assert peak([run(0, None, pid=7), run(4, 8)], killed) == 2
    assert peak([run(0, None, pid=8), run(100, 101)], killed) == 2  # never returned


def test_a_limit_exceeded_fails_the_verdict_and_one_kept_does_not() -> None:
    kept, exceeded = Verdict("14-limit-kill", "memory", 0), Verdict("14-limit-kill", "memory", 0)
    runs = [run(0, 2), run(1, 3), run(2.5, 4)]
    assert check_limit(kept, "bulk jobs", runs, {}, 2) == 2
    assert kept.ok
    assert check_limit(exceeded, "bulk jobs", runs, {}, 1) == 2
    assert not exceeded.ok
    assert exceeded.problems == ["2 bulk jobs ran at once (limit 1)"]
