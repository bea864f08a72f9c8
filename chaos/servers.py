"""Private database servers the harness starts, crashes, restarts and stops.

The shared servers of the test machine are never touched: each class here runs a
server of its own on a free port, with its data in a temporary directory, so that a
scenario can crash it for real and restart it on the same data.

* ``PrivatePostgres``: ``initdb`` (trust auth) and ``pg_ctl start``; faults are
  ``pg_ctl stop -m immediate`` (a crash: no checkpoint, WAL recovery at the next start)
  and ``pg_ctl restart -m fast`` (active transactions rolled back, clients cut off).
  PostgreSQL refuses to run as root, so as root it runs as an unprivileged user
  (``WG_CHAOS_PG_USER``, default ``postgres``) through ``runuser``.
* ``PrivateMariaDB``: ``mariadb-install-db`` and ``mariadbd`` as a child process,
  ``--no-defaults`` (the machine's my.cnf points at the shared server's files); the
  fault is SIGKILL and a restart on the same data (InnoDB crash recovery).
* ``PrivateRedis``: ``redis-server`` with AOF. ``fsync`` is ``always`` (every write on
  disk before its reply) or ``everysec`` (written to the file before the reply, fsynced
  once a second: a process crash loses nothing, a power cut up to a second); faults
  are SIGKILL, ``SHUTDOWN NOSAVE`` (the AOF is flushed, no RDB snapshot is taken: what
  comes back is what the AOF persisted) and ``CLIENT KILL``.

Every server records the pid of every process it started; ``stop()`` ends them by pid
(a polite stop first, SIGKILL after a few seconds) and ``leftovers()`` says which are
still alive, so a test can assert that nothing is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

__all__ = [
    "PrivateMariaDB",
    "PrivatePostgres",
    "PrivateRedis",
    "PrivateServer",
    "ServerMissing",
    "free_port",
    "private_server",
]

START_TIMEOUT: Final = 30.0
KILL9_DOWNTIME: Final = 0.3
"""How long a SIGKILLed redis-server stays down before its restart."""
STOP_GRACE: Final = 5.0


class ServerMissing(Exception):
    """The server's programs are not installed (or cannot run here)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _started(pid: int) -> int | None:
    """When live process ``pid`` started (clock ticks since boot), or ``None`` if it is
    gone or a zombie. With the pid, it names one process: a pid can be reused."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])


def _children(pid: int) -> set[int]:
    """Pids whose parent is ``pid``."""
    found: set[int] = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with (
                contextlib.suppress(OSError, IndexError, ValueError),
                open(f"/proc/{entry}/stat") as stat,
            ):
                if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.add(int(entry))
    return found


def _which(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise ServerMissing(f"{program} is not installed")
    return path


class PrivateServer:
    """What the scenarios need from a private server; subclasses fill in the verbs."""

    kind: str = ""
    faults: tuple[str, ...] = ()
    """The fault names ``fault()`` takes, in the order a scenario injects them."""

    def __init__(self) -> None:
        # A directory of its own in the system's temporary directory: some servers run
        # as another user, who must be able to reach it (pytest's tmp_path is private).
        self.root = Path(tempfile.mkdtemp(prefix=f"wg-chaos-{self.kind}-"))
        self.port = free_port()
        self.pids: dict[int, int] = {}
        """Every server process seen (pid → start time), for the stop and the leftovers
        check: a pid only counts while the process it names is the one we saw."""

    @property
    def url(self) -> str:
        """The URL of the running server."""
        raise NotImplementedError

    async def start(self) -> None:
        """Start the server (creating its data on the first start); wait until it serves."""
        raise NotImplementedError

    async def fault(self, name: str) -> None:
        """Inject fault ``name`` (one of ``faults``) and bring the server back."""
        raise NotImplementedError

    def main_pid(self) -> int | None:
        """The server's main process, if it is running."""
        raise NotImplementedError

    def _remember(self, pid: int) -> None:
        started = _started(pid)
        if started is not None:
            self.pids.setdefault(pid, started)

    def _track(self) -> None:
        pid = self.main_pid()
        if pid is not None:
            for each in (pid, *_children(pid)):
                self._remember(each)

    def leftovers(self) -> set[int]:
        """Server processes still alive (after ``stop()``: none)."""
        self._track()
        return {pid for pid, started in self.pids.items() if _started(pid) == started}

    async def stop(self) -> None:
        """Stop every process of the server, by pid; delete its data. Never raises."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._polite_stop(), STOP_GRACE)
        for pid in self.leftovers():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + STOP_GRACE
        while self.leftovers() and time.monotonic() < deadline:  # noqa: ASYNC110 - polling /proc
            await asyncio.sleep(0.02)
        self._reap()
        shutil.rmtree(self.root, ignore_errors=True)

    async def _polite_stop(self) -> None:
        raise NotImplementedError

    def _reap(self) -> None:
        """Collect the exit status of our own child processes (no zombies left)."""

    async def __aenter__(self) -> PrivateServer:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


async def _wait_for(ready: Callable[[], bool], what: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if await asyncio.to_thread(ready):
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"the private {what} did not start within {timeout:.0f}s")
        await asyncio.sleep(0.05)


# -- PostgreSQL ---------------------------------------------------------------------------


class PrivatePostgres(PrivateServer):
    """A PostgreSQL cluster of our own, run by ``pg_ctl``."""

    kind = "postgres"
    faults = ("immediate", "fast")

    def __init__(self) -> None:
        for program in ("initdb", "pg_ctl"):
            _which(program)
        super().__init__()
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._user: str | None = None
        if os.geteuid() == 0:
            self._user = _unprivileged_user()
            entry = pwd.getpwnam(self._user)
            os.chmod(self.root, 0o755)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._created = False

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> subprocess.CompletedProcess[bytes]:
        prefix = ["runuser", "-u", self._user, "--"] if self._user else []
        result = subprocess.run(
            [*prefix, *command], cwd=self.root, capture_output=True, timeout=START_TIMEOUT
        )
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).decode(errors="replace").strip()
            raise RuntimeError(f"{' '.join(command[:2])} failed: {detail[-500:]}")
        return result

    def _pg_ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.data), *args)

    def _options(self) -> str:
        # Our own port and socket directory; fsync stays on (durability is the point).
        return f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"

    async def start(self) -> None:
        if not self._created:
            await asyncio.to_thread(
                self._run, "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                "-N", "-E", "UTF8",
            )  # fmt: skip
            self._created = True
        await asyncio.to_thread(
            self._run, "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o",
            self._options(), "-w", "-t", str(int(START_TIMEOUT)), "start",
        )  # fmt: skip
        self._track()
        await _wait_for(self._serves, "PostgreSQL")

    def _serves(self) -> bool:
        import psycopg

        with psycopg.connect(self.url, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True

    def main_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            return pid if _started(pid) is not None else None
        return None

    async def fault(self, name: str) -> None:
        self._track()
        if name == "immediate":
            # A crash: every backend quits without a checkpoint; the next start replays WAL.
            await asyncio.to_thread(
                self._run, "pg_ctl", "-D", str(self.data), "-m", "immediate", "stop"
            )
            await self.start()
        elif name == "fast":
            await asyncio.to_thread(
                self._run, "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o",
                self._options(), "-m", "fast", "-w", "restart",
            )  # fmt: skip
            self._track()
            await _wait_for(self._serves, "PostgreSQL")
        else:
            raise ValueError(f"unknown PostgreSQL fault {name!r}")

    async def _polite_stop(self) -> None:
        if self.main_pid() is not None:
            self._track()
            await asyncio.to_thread(
                self._run, "pg_ctl", "-D", str(self.data), "-m", "immediate", "stop"
            )


def _unprivileged_user() -> str:
    name = os.environ.get("WG_CHAOS_PG_USER", "postgres")
    try:
        pwd.getpwnam(name)
    except KeyError:
        raise ServerMissing(
            f"PostgreSQL will not run as root and there is no user {name!r} "
            "(set WG_CHAOS_PG_USER to an unprivileged user)"
        ) from None
    if shutil.which("runuser") is None:
        raise ServerMissing("runuser is not installed (needed to run PostgreSQL as root)")
    return name


# -- MariaDB ------------------------------------------------------------------------------


class PrivateMariaDB(PrivateServer):
    """A MariaDB server of our own: ``mariadbd`` as a child process."""

    kind = "mysql"
    faults = ("kill9",)
    _TUNING: Final = ("--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M")

    def __init__(self) -> None:
        self._server = shutil.which("mariadbd") or _which("mysqld")
        self._install = shutil.which("mariadb-install-db") or _which("mysql_install_db")
        super().__init__()
        self.data = self.root / "data"
        self.socket = self.root / "mysqld.sock"
        self.process: subprocess.Popen[bytes] | None = None
        self._user: str | None = None
        if os.geteuid() == 0:
            # mariadbd drops root itself (--user); the files must belong to that user.
            with contextlib.suppress(KeyError):
                entry = pwd.getpwnam("mysql")
                os.chmod(self.root, 0o755)
                os.chown(self.root, entry.pw_uid, entry.pw_gid)
                self._user = "mysql"
            self._user = self._user or "root"
        self._created = False

    @property
    def url(self) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/test"

    def _common(self) -> list[str]:
        user = [f"--user={self._user}"] if self._user else []
        return ["--no-defaults", f"--datadir={self.data}", *user, "--skip-name-resolve",
                *self._TUNING]  # fmt: skip

    async def start(self) -> None:
        if not self._created:
            result = await asyncio.to_thread(
                subprocess.run,
                [self._install, *self._common(), "--auth-root-authentication-method=normal",
                 "--skip-test-db"],
                cwd=self.root, capture_output=True, timeout=120,
            )  # fmt: skip
            if result.returncode != 0:
                detail = result.stderr.decode(errors="replace").strip()[-500:]
                raise RuntimeError(f"mariadb-install-db failed: {detail}")
        self.process = subprocess.Popen(  # noqa: ASYNC220 - returns at once
            [self._server, *self._common(), f"--port={self.port}", "--bind-address=127.0.0.1",
             f"--socket={self.socket}", f"--pid-file={self.root / 'mysqld.pid'}",
             f"--log-error={self.root / 'server.log'}"],
            cwd=self.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self._remember(self.process.pid)
        await _wait_for(self._serves, "MariaDB")
        if not self._created:
            await asyncio.to_thread(self._sql, "CREATE DATABASE IF NOT EXISTS test")
            self._created = True

    def _sql(self, statement: str) -> None:
        import pymysql

        conn = pymysql.connect(
            host="127.0.0.1", port=self.port, user="root", password="", connect_timeout=2
        )
        try:
            with conn.cursor() as cursor:
                cursor.execute(statement)
        finally:
            conn.close()

    def _serves(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            log = (self.root / "server.log").read_text(errors="replace")[-500:]
            raise RuntimeError(f"mariadbd exited {self.process.returncode}: {log}")
        self._sql("SELECT 1")
        return True

    def main_pid(self) -> int | None:
        if self.process is not None and self.process.poll() is None:
            return self.process.pid
        return None

    async def fault(self, name: str) -> None:
        if name != "kill9":
            raise ValueError(f"unknown MariaDB fault {name!r}")
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self.process.wait)
        await self.start()

    async def _polite_stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            await asyncio.to_thread(self.process.wait)

    def _reap(self) -> None:
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=1)


# -- Redis --------------------------------------------------------------------------------


class PrivateRedis(PrivateServer):
    """A redis-server of our own with AOF (``fsync``: ``always`` or ``everysec``)."""

    kind = "redis"
    faults = ("shutdown",)
    """Scenario 12's fault; scenario 5 uses ``kill9`` and ``drop-clients``."""

    def __init__(self, *, fsync: str = "everysec") -> None:
        self._server = _which("redis-server")
        super().__init__()
        self.fsync = fsync
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: ASYNC220 - returns at once
            [self._server, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
             str(self.root), "--appendonly", "yes", "--appendfsync", self.fsync, "--save", ""],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        self._remember(self.process.pid)
        await _wait_for(self._serves, "redis-server", timeout=10)

    def _command(self, command: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
            conn.sendall(command + b"\r\n")
            return conn.recv(64)

    def _serves(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"redis-server exited {self.process.returncode}")
        return self._command(b"PING").startswith(b"+PONG")

    def main_pid(self) -> int | None:
        if self.process is not None and self.process.poll() is None:
            return self.process.pid
        return None

    async def fault(self, name: str) -> None:
        assert self.process is not None
        if name == "shutdown":
            # The server flushes the AOF and exits; the reply is the connection closing.
            with contextlib.suppress(OSError):
                await asyncio.to_thread(self._command, b"SHUTDOWN NOSAVE")
            await asyncio.to_thread(self.process.wait, STOP_GRACE * 2)
            await self.start()
        elif name == "kill9":
            self.process.send_signal(signal.SIGKILL)
            await asyncio.to_thread(self.process.wait)
            await asyncio.sleep(KILL9_DOWNTIME)  # clients notice, and retry meanwhile
            await self.start()
        elif name == "drop-clients":
            await asyncio.to_thread(self._command, b"CLIENT KILL TYPE normal SKIPME yes")
        else:
            raise ValueError(f"unknown Redis fault {name!r}")

    async def _polite_stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            await asyncio.to_thread(self.process.wait)

    def _reap(self) -> None:
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=1)


_SERVERS: Final[dict[str, type[PrivateServer]]] = {
    "postgres": PrivatePostgres,
    "mysql": PrivateMariaDB,
    "redis": PrivateRedis,
}


def private_server(backend_name: str) -> PrivateServer:
    """An unstarted private server for ``backend_name`` (``ServerMissing`` if none)."""
    if backend_name not in _SERVERS:
        raise ServerMissing(f"{backend_name} has no server to crash")
    return _SERVERS[backend_name]()
