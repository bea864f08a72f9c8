"""A private Redis Sentinel deployment for the tests and the failover scenario: 1 master,
1 replica, 3 sentinels, each a process on a free loopback port with its files in a
directory of the caller's, started and stopped by process id (never the shared server).

The servers run with ``min-replicas-to-write 1``: a master that has lost its replica
(the moment a failover promotes it) refuses writes (``NOREPLICAS``) instead of
acknowledging writes the new master will never see, which is how a deployment keeps a
manual failover from losing anything (docs/redis.md). ``failover()`` runs ``SENTINEL
FAILOVER`` and waits until the sentinels name the new master and it takes writes.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from chaos.redis_nodes import DataServer, ask, end, free_ports, wait_for
from chaos.servers import ServerMissing

__all__ = ["SERVICE", "DataServer", "SentinelSet", "sentinel_set"]

SERVICE = "wgmaster"
_TIMEOUT = 20.0
_SAFE_WRITES = (
    "--min-replicas-to-write", "1",
    "--min-replicas-max-lag", "5",
    # A full sync starts at once (the default waits 5 s for more replicas to join).
    "--repl-diskless-sync-delay", "0",
)  # fmt: skip


def _wait(condition: Callable[[], bool], what: str) -> None:
    wait_for(condition, f"the private sentinel set: {what}", timeout=_TIMEOUT)


class SentinelSet:
    """1 master, 1 replica, 3 sentinels monitoring them as ``SERVICE``."""

    def __init__(self, directory: Path) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise ServerMissing("redis-server is not installed")
        self._executable = executable
        self.directory = directory
        for name in ("master", "replica", "sentinels"):
            (directory / name).mkdir(exist_ok=True)
        master_port, replica_port, *self.sentinel_ports = free_ports(5)
        self.master = DataServer(executable, directory / "master", _SAFE_WRITES, master_port)
        # The replica's promotion must not wait for the old master to be attached to it
        # again (Sentinel 7.0 leaves a demoted master alone for about 8 s): it takes
        # writes at once, with no replica to require (failover() sets both again).
        self.replica = DataServer(
            executable,
            directory / "replica",
            ("--replicaof", "127.0.0.1", str(self.master.port), *_SAFE_WRITES[4:]),
            replica_port,
        )
        self._sentinels: list[subprocess.Popen[bytes]] = []

    @property
    def servers(self) -> dict[int, DataServer]:
        """The two data servers by port."""
        return {self.master.port: self.master, self.replica.port: self.replica}

    def url(self, *, db: int = 0) -> str:
        """``redis+sentinel://`` URL of the service, every sentinel listed."""
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{SERVICE}/{db}"

    def start(self) -> None:
        """Start everything and wait until the replica is in sync and every sentinel
        knows the master and its replica."""
        self.master.start()
        self.replica.start()
        _wait(self.in_sync, "replication")
        for port in self.sentinel_ports:
            config = self.directory / "sentinels" / f"{port}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.directory / 'sentinels'}\n"
                f"logfile {self.directory / 'sentinels' / f'{port}.log'}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.master.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                f"sentinel failover-timeout {SERVICE} 4000\n"
            )
            self._sentinels.append(
                subprocess.Popen(
                    [self._executable, str(config), "--sentinel"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        for port in self.sentinel_ports:
            _wait(functools.partial(self._knows_replica, port), f"sentinel {port} ready")

    def master_port(self) -> int:
        """The master's port as the first sentinel reports it."""
        reply = ask(self.sentinel_ports[0], "SENTINEL", "get-master-addr-by-name", SERVICE)
        return int(reply[1])

    def failover(self) -> int:
        """``SENTINEL FAILOVER``, then wait until the sentinels name the new master and
        it acts as one; the new master's port. (The old master becomes its replica
        later, which nothing here waits for; a second failover waits for that first,
        about 10 s with Sentinel 7.0, and then requires a replica on that master too.)"""
        _wait(self.in_sync, "a replica in sync")
        self._wait_ready()
        old = self.master_port()
        # The master refuses writes once its replica leaves (the promotion); the replica
        # to be promoted takes writes at once, requiring no replica of its own.
        for port in self.servers:
            required = "1" if port == old else "0"
            ask(port, "CONFIG", "SET", "min-replicas-to-write", required)
        _wait(functools.partial(self._failover_accepted), "SENTINEL FAILOVER accepted")
        _wait(lambda: self.master_port() != old, "the switch to the new master")
        new = self.master_port()
        _wait(lambda: ask(new, "INFO", "replication").get("role") == "master", "promotion")
        return new

    def _failover_accepted(self) -> bool:
        try:
            ask(self.sentinel_ports[0], "SENTINEL", "FAILOVER", SERVICE)
        except redis.ResponseError as exc:
            if str(exc).startswith(("INPROG", "NOGOODSLAVE")):
                return False  # the last one is still being completed
            raise
        return True

    def in_sync(self) -> bool:
        """One master, and its one replica linked and holding every write the master
        had made when asked. A link that is up is not enough: a replica that has just
        loaded a (diskless) full sync may not be streamed to yet (the master logs
        "Waiting for REPLCONF ACK from slave to enable streaming"), while the master
        already counts it as a good replica (``min-replicas-to-write`` lets writes
        through). Promoted then, it is a master without any of them: the failover
        test's "stall" (issue 23) was that, a replica still at offset 0 promoted 0.8 s
        after its sync, a new master holding none of the jobs."""
        roles = {port: ask(port, "INFO", "replication") for port in self.servers}
        masters = [port for port, info in roles.items() if info.get("role") == "master"]
        replicas = [port for port, info in roles.items() if info.get("role") == "slave"]
        if len(masters) != 1 or len(replicas) != 1:
            return False
        # The master's offset first: the replica must have applied at least that much.
        written = ask(masters[0], "INFO", "replication")
        applied = ask(replicas[0], "INFO", "replication")
        return (
            written.get("connected_slaves") == 1
            and applied.get("master_link_status") == "up"
            and int(applied.get("slave_repl_offset", -1)) >= int(written["master_repl_offset"])
        )

    def _knows_replica(self, port: int) -> bool:
        replicas = ask(port, "SENTINEL", "REPLICAS", SERVICE)
        return (
            len(replicas) == 1
            and replicas[0].get("flags") == "slave"
            and replicas[0].get("master-link-status") == "ok"
        )

    def stop(self) -> None:
        """Stop every process (by pid) this set started."""
        sentinels, self._sentinels = self._sentinels, []
        for process in sentinels:
            end(process)
        self.replica.stop()
        self.master.stop()


@contextmanager
def sentinel_set(directory: Path) -> Iterator[SentinelSet]:
    """A started ``SentinelSet``, stopped at the end."""
    deployment = SentinelSet(directory)
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()
