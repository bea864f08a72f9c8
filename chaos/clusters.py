"""A private Redis Cluster for the tests, the failover scenario and the benchmarks: 6
nodes (3 masters, 3 replicas), each a ``redis-server --cluster-enabled yes`` process on
a free loopback port with its files in a directory of the caller's, joined by
``redis-cli --cluster create … --cluster-replicas 1`` and stopped by process id (never
the shared server).

``failover(port)`` runs ``CLUSTER FAILOVER`` on a replica of that master: a manual
failover, in which the master stops taking writes, the replica catches up with every
write the master acknowledged and only then takes over, so nothing is lost (no
``min-replicas-to-write`` is needed for that, unlike Sentinel's failover; a master that
*crashes* is another matter: docs/redis.md). It waits until every node agrees on the
new master and the old one is its replica, in sync. ``crash(port)`` SIGKILLs that
master instead: the cluster promotes its replica once ``cluster-node-timeout`` (2 s
here) has passed, and the killed node, started again, rejoins as a replica.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from chaos.redis_nodes import DataServer, ask, free_ports, wait_for
from chaos.servers import ServerMissing

__all__ = ["NODES", "RedisClusterSet", "cluster_set"]

NODES = 6
_TIMEOUT = 30.0


def _wait(condition: Callable[[], bool], what: str) -> None:
    wait_for(condition, f"the private Redis Cluster: {what}", timeout=_TIMEOUT)


class RedisClusterSet:
    """6 nodes: 3 masters with a replica each, the 16384 slots split evenly."""

    def __init__(self, directory: Path) -> None:
        executable = shutil.which("redis-server")
        cli = shutil.which("redis-cli")
        if executable is None or cli is None:
            raise ServerMissing("redis-server and redis-cli are not installed")
        self._cli = cli
        self.directory = directory
        # The cluster bus gets a port of its own (by default it is the port + 10000,
        # which may be taken, or too high).
        ports = free_ports(2 * NODES)
        self.ports = ports[:NODES]
        self.nodes: dict[int, DataServer] = {}
        for port, bus in zip(self.ports, ports[NODES:], strict=True):
            home = directory / str(port)
            home.mkdir(exist_ok=True)
            args = (
                "--cluster-enabled", "yes",
                "--cluster-port", str(bus),
                "--cluster-config-file", str(home / "nodes.conf"),
                "--cluster-node-timeout", "2000",
                "--repl-diskless-sync-delay", "0",
            )  # fmt: skip
            self.nodes[port] = DataServer(executable, home, args, port)
        self.asks: list[int] = []  # per failover, how many CLUSTER FAILOVER it took

    def url(self) -> str:
        """``redis+cluster://`` URL naming every node as a startup node."""
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.ports)
        return f"redis+cluster://{hosts}"

    def start(self) -> None:
        """Start the nodes, create the cluster, and wait until every node says
        ``cluster_state:ok`` and sees 3 masters each with a replica in sync."""
        for server in self.nodes.values():
            server.start()
        subprocess.run(
            [
                self._cli, "--cluster", "create",
                *(f"127.0.0.1:{port}" for port in self.ports),
                "--cluster-replicas", "1", "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=_TIMEOUT,
        )  # fmt: skip
        self.wait_ready()

    def wait_ready(self) -> None:
        """Every node agrees: the cluster is ok, 3 masters, each replica in sync."""
        for port in self.ports:
            _wait(functools.partial(self._ok, port), f"node {port} ready")

    def _ok(self, port: int) -> bool:
        text = ask(port, "CLUSTER", "INFO")
        info = dict(line.split(":", 1) for line in text.split() if ":" in line)
        if info.get("cluster_state") != "ok" or int(info.get("cluster_known_nodes", 0)) != NODES:
            return False
        replication = ask(port, "INFO", "replication")
        if replication.get("role") == "slave":
            return bool(replication.get("master_link_status") == "up")
        return int(replication.get("connected_slaves", 0)) == 1

    def masters(self) -> list[int]:
        """The masters' ports, as each node reports its own role."""
        return [p for p in self.ports if ask(p, "INFO", "replication").get("role") == "master"]

    def master_of(self, key: str) -> int:
        """The port of the master serving ``key``'s slot now."""
        slot = int(ask(self.ports[0], "CLUSTER", "KEYSLOT", key))
        for start, end, master, *_ in ask(self.ports[0], "CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return int(master[1])
        raise RuntimeError(f"no master serves slot {slot}")

    def replica_of(self, master: int) -> int:
        """The port of a replica of the master on ``master``."""
        for port in self.ports:
            info = ask(port, "INFO", "replication")
            if info.get("role") == "slave" and int(info.get("master_port", 0)) == master:
                return port
        raise RuntimeError(f"the master on port {master} has no replica")

    def failover(self, master: int) -> int:
        """``CLUSTER FAILOVER`` on a replica of the master on ``master``; waits until
        every node agrees on the promoted replica; its port."""
        self.wait_ready()
        replica = self.replica_of(master)
        for asks in range(1, 6):
            # A manual failover the replica cannot finish in time (5 s: a loaded machine)
            # is abandoned, and the master takes writes again: ask once more.
            ask(replica, "CLUSTER", "FAILOVER")
            deadline = time.monotonic() + 8.0
            while time.monotonic() < deadline:
                if ask(replica, "INFO", "replication").get("role") == "master":
                    self.asks.append(asks)
                    self.wait_ready()
                    return replica
                time.sleep(0.05)
        raise RuntimeError(f"the private Redis Cluster: {replica} was never promoted")

    def crash(self, master: int) -> int:
        """SIGKILL the master on ``master``; wait until the cluster promotes its replica
        (after ``cluster-node-timeout``), then start the killed node again, which
        rejoins as the new master's replica. The promoted replica's port."""
        self.wait_ready()
        replica = self.replica_of(master)
        self.nodes[master].kill()
        _wait(lambda: ask(replica, "INFO", "replication").get("role") == "master", "promotion")
        self.nodes[master].start()
        self.wait_ready()
        return replica

    def protect(self, password: str) -> None:
        """Require ``password`` on every node from now on (and use it between them).
        The set's own helpers (``wait_ready``, ``failover``…) cannot talk to it after."""
        for port in self.ports:
            ask(port, "CONFIG", "SET", "masterauth", password)
        for port in self.ports:
            ask(port, "CONFIG", "SET", "requirepass", password)

    def keys_per_master(self) -> dict[int, int]:
        """How many keys each master holds."""
        return {port: int(ask(port, "DBSIZE")) for port in self.masters()}

    def stop(self) -> None:
        """Stop every node (by pid) this set started."""
        for server in self.nodes.values():
            server.stop()


@contextmanager
def cluster_set(directory: Path) -> Iterator[RedisClusterSet]:
    """A started ``RedisClusterSet``, stopped at the end."""
    deployment = RedisClusterSet(directory)
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()
