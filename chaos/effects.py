"""The effects log: what handlers really did, written by workers, read by the checker.

Every line is one ``os.write`` on an ``O_APPEND`` descriptor, so lines written by
concurrent processes never interleave and a SIGKILL can at worst lose the line being
written, never corrupt an earlier one. Two kinds of line::

    S <job id> <attempt> <pid> <start>            a handler started
    E <job id> <attempt> <pid> <start> <end>      the same handler returned

Times are Unix seconds (``time.time()``), comparable across processes.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["EffectsLog", "EffectsWriter", "Run"]


class EffectsWriter:
    """Appends effect lines to the log from a worker process."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._pid = os.getpid()

    def started(self, job_id: str, attempt: int) -> float:
        """Record a handler's start; returns the start time for ``ended``."""
        start = time.time()
        os.write(self._fd, f"S {job_id} {attempt} {self._pid} {start:.6f}\n".encode())
        return start

    def ended(self, job_id: str, attempt: int, start: float) -> None:
        """Record that the handler started at ``start`` returned."""
        end = time.time()
        line = f"E {job_id} {attempt} {self._pid} {start:.6f} {end:.6f}\n"
        os.write(self._fd, line.encode())


@dataclass(frozen=True, slots=True)
class Run:
    """One execution of a handler, as the log shows it (``end`` None: never returned)."""

    job_id: str
    attempt: int
    pid: int
    start: float
    end: float | None


@dataclass
class EffectsLog:
    """The parsed log: every run of every job, in order of start time."""

    runs: dict[str, list[Run]] = field(default_factory=lambda: defaultdict(list))
    torn_lines: int = 0

    @classmethod
    def read(cls, path: Path) -> EffectsLog:
        """Parse ``path``; a torn last line (a writer killed mid-write) is counted."""
        log = cls()
        if not path.exists():
            return log
        open_runs: dict[tuple[str, int, int, str], int] = {}
        for line in path.read_text(errors="replace").splitlines():
            parts = line.split()
            try:
                if parts[0] == "S" and len(parts) == 5:
                    job_id, attempt, pid, start = parts[1], int(parts[2]), int(parts[3]), parts[4]
                    runs = log.runs[job_id]
                    open_runs[(job_id, attempt, pid, start)] = len(runs)
                    runs.append(Run(job_id, attempt, pid, float(start), None))
                elif parts[0] == "E" and len(parts) == 6:
                    job_id, attempt, pid = parts[1], int(parts[2]), int(parts[3])
                    index = open_runs.pop((job_id, attempt, pid, parts[4]))
                    run = log.runs[job_id][index]
                    log.runs[job_id][index] = Run(job_id, attempt, pid, run.start, float(parts[5]))
                else:
                    log.torn_lines += 1
            except (IndexError, ValueError, KeyError):
                log.torn_lines += 1
        # File order is not run order: a worker stopped (SIGSTOP) between reading the
        # clock and writing its line writes it late. Start times are comparable.
        for runs in log.runs.values():
            runs.sort(key=lambda run: run.start)
        return log

    def completed(self, job_id: str) -> int:
        """How many runs of ``job_id`` returned."""
        return sum(1 for run in self.runs.get(job_id, ()) if run.end is not None)

    @property
    def starts(self) -> int:
        """Handler starts in all."""
        return sum(len(runs) for runs in self.runs.values())
