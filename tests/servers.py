"""Private database servers for the tests that must stop, restart or reconfigure one.

The shared servers (ARCHITECTURE.md §8) are never stopped or reconfigured by a test: a
test that needs to is given a server of its own, on a free loopback port, with its data
in the test's temporary directory, started and stopped by its process id.

``RedisServer`` is a ``redis-server``: ``restart()`` brings it back on the same port
and the same data (with ``aof=True`` every write is fsynced before it is acknowledged,
so a restart keeps everything acknowledged); ``args`` adds options (``--requirepass``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = ["RedisServer", "free_port", "redis_server"]

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """A ``redis-server`` of a test's own, on a free loopback port."""

    def __init__(self, directory: Path, *, aof: bool = False, args: Sequence[str] = ()) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            pytest.skip("redis-server is not installed")
        self.port = free_port()
        self.directory = directory
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always"] if aof else ["--appendonly", "no"]
        )
        self._command = [
            executable,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(directory),
            "--save", "",
            *persistence,
            "--daemonize", "no",
            *args,
        ]  # fmt: skip
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://`` URL of database 0 (no password: add it where the test wants one)."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        """Start the server and wait until it answers."""
        if self._process is not None:
            return
        self._process = subprocess.Popen(
            self._command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._answers():
            if self._process.poll() is not None:
                self._process = None
                raise RuntimeError(f"redis-server exited at start: {self._command}")
            if time.monotonic() > deadline:
                self.stop(kill=True)
                raise RuntimeError("the private redis-server did not start")
            time.sleep(0.02)

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server (SIGTERM: it flushes its AOF; ``kill``: SIGKILL, a crash)."""
        process, self._process = self._process, None
        if process is None:
            return
        os.kill(process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=_STOP_TIMEOUT)

    def restart(self) -> None:
        """Stop the server and start it again on the same port and data."""
        self.stop()
        self.start()

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                conn.sendall(b"PING\r\n")
                reply = conn.recv(64)
        except OSError:
            return False
        # A server with a password refuses PING before AUTH, which shows it is up.
        return reply.startswith((b"+PONG", b"-NOAUTH"))


@contextmanager
def redis_server(
    directory: Path, *, aof: bool = False, args: Sequence[str] = ()
) -> Iterator[RedisServer]:
    """A started ``RedisServer``, stopped at the end (for a test module's fixture)."""
    server = RedisServer(directory, aof=aof, args=args)
    server.start()
    try:
        yield server
    finally:
        server.stop()
