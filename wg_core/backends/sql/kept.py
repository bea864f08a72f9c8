"""What a kept finished job means to the other verbs: the completions that keep
something (a result, for ``keep`` seconds), and the refusal of a new job whose id a kept
COMPLETED or CANCELLED job still holds."""

from __future__ import annotations

from collections.abc import Sequence

from wg_core.backend import Attempt, Completion
from wg_core.errors import DuplicateJobError

__all__ = ["kept_id_error", "split_completions"]


def split_completions(
    items: Sequence[Attempt | Completion],
) -> tuple[list[Attempt], list[Completion]]:
    """Every attempt, and the completions with something to keep (``keep`` > 0)."""
    attempts: list[Attempt] = []
    kept: list[Completion] = []
    for item in items:
        if isinstance(item, Completion):
            attempts.append(item.attempt)
            if item.keep > 0:
                kept.append(item)
        else:
            attempts.append(item)
    return attempts, kept


def kept_id_error(job_id: str) -> DuplicateJobError:
    """The refusal of a new job whose id a kept COMPLETED or CANCELLED job holds."""
    return DuplicateJobError(f"job id already stored (a finished job kept): {job_id}")
