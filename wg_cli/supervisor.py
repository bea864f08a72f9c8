"""``wg worker --processes N``: a supervisor keeping N worker processes running.

Each child is ``python -m wg_cli.serving`` (one ``WorkerPool``, registered as its own
worker), started in its own process group so that a Ctrl-C in the terminal reaches the
supervisor only, which forwards it: SIGINT or SIGTERM to the supervisor is sent once
to every child, which drains (a second signal, forwarded again, stops them at once),
and the supervisor exits 0 when every child has exited 0.

- **Restarts.** A child that dies (a non-zero exit, a signal) is started again after a
  backoff (``initial_backoff`` doubling up to ``max_backoff``); the backoff resets once
  a child has run ``stable_after`` seconds. A child that exits 0 by itself (burst mode
  found nothing left, or ``wg stop-worker``) is done and not replaced.
- **Giving up.** When a child dies ``give_up_after`` times in a row, each time within
  ``stable_after`` seconds of starting (a bad deploy, a backend that refuses every
  connection), the supervisor stops the others and exits with an error saying so.
- **Nothing left behind.** The supervisor waits for every child before it exits, and
  each child stops by itself if the supervisor dies first (``wg_cli.serving``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import IO, Final

__all__ = ["GaveUpError", "Supervisor"]

logger = logging.getLogger("wg.supervisor")

POLL_INTERVAL: Final = 0.05
"""Seconds between two looks at the children."""


class GaveUpError(RuntimeError):
    """The children kept dying: the supervisor stopped them all."""


@dataclass(slots=True)
class _Slot:
    """One of the N places a child runs in, across its restarts."""

    number: int
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_deaths: int = 0
    restart_at: float | None = None
    done: bool = False
    output: list[str] = field(default_factory=list)


class Supervisor:
    """Runs ``command`` ``processes`` times over, writing ``stdin`` to each child.

    ``capture=True`` collects each child's standard output lines (``outputs``) instead
    of letting them through; ``on_exit`` is told the pid of each child that ended."""

    def __init__(
        self,
        command: Sequence[str],
        processes: int,
        *,
        stdin: bytes = b"",
        capture: bool = False,
        on_exit: Callable[[int], None] | None = None,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
        stable_after: float = 10.0,
        give_up_after: int = 5,
    ) -> None:
        if processes < 1:
            raise ValueError(f"processes must be at least 1, got {processes}")
        self._command = list(command)
        self._stdin = stdin
        self._capture = capture
        self._on_exit = on_exit
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._stable_after = stable_after
        self._give_up_after = give_up_after
        self._slots = [_Slot(number) for number in range(processes)]
        self._readers: list[threading.Thread] = []
        self._signals: list[int] = []
        self.restarts = 0
        """How many children were started again after dying."""

    @property
    def outputs(self) -> list[str]:
        """The captured standard output lines of every child (``capture=True``)."""
        return [line for slot in self._slots for line in slot.output]

    def pids(self) -> list[int]:
        """The process ids of the children running now."""
        return [s.process.pid for s in self._slots if s.process and s.process.poll() is None]

    def run(self) -> int:
        """Supervise until every child is done; the exit code (0: all exited 0).
        Raises ``GaveUpError`` when they kept dying."""
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            for slot in self._slots:
                self._start(slot)
            return self._supervise()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._kill_leftovers()
            for reader in self._readers:
                reader.join(timeout=5)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals.append(signum)
        self._forward(signum)

    def _forward(self, signum: int) -> None:
        for slot in self._slots:
            process = slot.process
            if process is not None and process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signum)

    @property
    def _stopping(self) -> bool:
        return bool(self._signals)

    def _start(self, slot: _Slot) -> None:
        process = subprocess.Popen(
            self._command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE if self._capture else None,
            process_group=0,  # a terminal's Ctrl-C reaches the supervisor only
        )
        assert process.stdin is not None
        try:
            process.stdin.write(self._stdin)
            process.stdin.close()
        except BrokenPipeError:
            pass  # it died at once: seen as a death below
        if self._capture and process.stdout is not None:
            reader = threading.Thread(
                target=_collect, args=(process.stdout, slot.output), daemon=True
            )
            reader.start()
            self._readers.append(reader)
        slot.process = process
        slot.started_at = time.monotonic()
        slot.restart_at = None
        logger.info("worker process %d started (pid %d)", slot.number + 1, process.pid)

    def _supervise(self) -> int:
        code = 0
        while not all(slot.done for slot in self._slots):
            now = time.monotonic()
            for slot in self._slots:
                if slot.done:
                    continue
                process = slot.process
                if process is None:  # waiting to be restarted
                    if self._stopping:
                        slot.done = True
                    elif slot.restart_at is not None and now >= slot.restart_at:
                        self.restarts += 1
                        self._start(slot)
                    continue
                status = process.poll()
                if status is None:
                    if now - slot.started_at >= self._stable_after:
                        slot.quick_deaths = 0
                    continue
                slot.process = None
                pid = process.pid
                if self._on_exit is not None:
                    self._on_exit(pid)
                if status == 0 or self._stopping:
                    slot.done = True
                    code = code or (0 if status == 0 else 1)
                    continue
                self._died(slot, pid, status, now)
            time.sleep(POLL_INTERVAL)
        return code

    def _died(self, slot: _Slot, pid: int, status: int, now: float) -> None:
        how = f"was killed by signal {-status}" if status < 0 else f"exited with code {status}"
        if now - slot.started_at < self._stable_after:
            slot.quick_deaths += 1
        else:
            slot.quick_deaths = 1
        if slot.quick_deaths >= self._give_up_after:
            self._signals.append(signal.SIGTERM)
            self._forward(signal.SIGTERM)
            for other in self._slots:
                if other.process is not None:
                    other.process.wait()
                other.done = True
            raise GaveUpError(
                f"worker processes keep dying: process {slot.number + 1} {how}, "
                f"{slot.quick_deaths} times in a row within {self._stable_after:g}s of "
                "starting; gave up (see the errors above)"
            )
        delay = min(self._initial_backoff * 2 ** (slot.quick_deaths - 1), self._max_backoff)
        slot.restart_at = now + delay
        logger.warning(
            "worker process %d (pid %d) %s; restarting it in %.1fs",
            slot.number + 1,
            pid,
            how,
            delay,
        )

    def _kill_leftovers(self) -> None:
        """On the way out through an error: no child outlives the supervisor."""
        for slot in self._slots:
            process = slot.process
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()


def _collect(stream: IO[bytes], lines: list[str]) -> None:
    with stream:
        for line in stream:
            text = line.decode(errors="replace").strip()
            if text:
                lines.append(text)
