"""What the private Redis deployments have in common (chaos/sentinels.py: 1 master,
1 replica, 3 sentinels; chaos/clusters.py: 6 cluster nodes): ``redis-server`` processes
on free loopback ports with their files in a directory of the caller's, started and
stopped by process id (never the shared server), asked one command at a time, and
waited on until a condition holds.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

__all__ = ["DataServer", "ask", "end", "free_ports", "wait_for"]


def ask(port: int, *args: str) -> Any:
    """One command's reply from the server, node or sentinel on ``port``."""
    with redis.Redis(port=port, socket_timeout=2.0, decode_responses=True) as client:
        return client.execute_command(*args)


def wait_for(condition: Callable[[], bool], what: str, *, timeout: float) -> None:
    """Return once ``condition()`` holds (a server that does not answer yet counts as
    not yet); a ``RuntimeError`` naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except (OSError, redis.RedisError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen")
        time.sleep(0.05)


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (held open until all are chosen, so that
    none is picked twice)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def end(process: subprocess.Popen[bytes]) -> None:
    """Stop ``process`` by pid: SIGTERM, then SIGKILL if it does not stop in time."""
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


class DataServer:
    """One ``redis-server`` of a deployment (no persistence: replication is the point),
    logging to ``redis.log`` in its directory (what a failed run needs: a resync, a
    role change)."""

    def __init__(self, executable: str, directory: Path, args: tuple[str, ...], port: int) -> None:
        self.port = port
        self._command = [
            executable,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(directory),
            "--save", "",
            "--appendonly", "no",
            "--logfile", str(directory / "redis.log"),
            *args,
        ]  # fmt: skip
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it and wait until it answers."""
        self._process = subprocess.Popen(
            self._command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for(
            lambda: ask(self.port, "PING") is True, f"redis-server on port {self.port}", timeout=20
        )

    def stop(self) -> None:
        """Stop it by pid (SIGKILL if it does not stop in time)."""
        process, self._process = self._process, None
        if process is not None:
            end(process)

    def kill(self) -> None:
        """Crash it: SIGKILL by pid (``start`` runs it again on the same directory)."""
        process, self._process = self._process, None
        if process is not None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
