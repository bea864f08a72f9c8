"""The Redis backend's connections, and how every call is sent, bounded and translated.

* **Script calls go straight to connections kept out of redis-py's pool** (``Lane``):
  one packed write and one read per call, about half the CPU of ``execute_command``.
* **Plain commands** (admin reads, ``destroy``) use redis-py's client and its pool.
* **Blocking claims** have a client (and pool) of their own, so that a waiting BLMOVE
  never holds a connection that a script call needs (``claiming.py`` uses it).
* **Redis Cluster** (``redis+cluster://``): plain commands and script calls go through
  redis-py's ``RedisCluster``, which routes each by its keys' slot and follows
  ``MOVED``; what needs one connection to the server that owns the namespace's slot
  (blocking claims, ``CLIENT UNBLOCK``, ``MULTI`` reads) uses a client of that master
  (``slot_clients``), found again after a failover moves the slot.
* **Errors** (classified and translated: driver_errors.py): redis-py's own command
  retries are switched off, because re-sending a claim whose reply was lost would leave
  jobs leased to nobody; calls that are safe to repeat are retried once on a fresh
  connection, the rest raise
  ``BackendUnavailableError`` and the worker pool backs off and calls again. After a
  connection error every idle connection is dropped, and they reconnect on the next
  call once the server is back. Every call is bounded by ``asyncio.timeout`` rather
  than redis-py's ``socket_timeout`` (see ``Transport.connect``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, TypeVar

import redis.asyncio as aioredis
from redis import exceptions as redis_errors
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

from wg_core.backends.redis.cluster import ClusterUrl, is_cluster_url, parse_cluster_url
from wg_core.backends.redis.driver_errors import (
    CLUSTER_MOVING,
    changing_roles,
    refuses_config,
    translate_error,
)
from wg_core.backends.redis.lanes import ClusterLane, Lane, read_reply
from wg_core.backends.redis.scripts import Script
from wg_core.backends.redis.sentinel import SentinelUrl, is_sentinel_url, parse_sentinel_url
from wg_core.errors import (
    BackendConfigError,
    BackendError,
    BackendUnavailableError,
    ConfigError,
)
from wg_core.urls import redact_url, scrub_secrets

__all__ = ["MIN_REDIS_VERSION", "Lane", "Transport", "read_reply"]

MIN_REDIS_VERSION: Final = (6, 2, 0)
"""RPOP with a count, LMOVE/BLMOVE and ZADD XX/GT, which the scripts use, need 6.2."""

_log = logging.getLogger(__name__)

_T = TypeVar("_T")

_LANE_KEEP: Final = 16


def check_url(url: str) -> None:
    """Refuse a URL redis-py cannot use (a port that is not a number, an unknown
    scheme or option value) with a ``ConfigError``, before any I/O."""
    try:
        parse_url(url)
    except ValueError as exc:
        reason = scrub_secrets(str(exc), url)
        raise ConfigError(f"invalid Redis URL {redact_url(url)!r}: {reason}") from None


def _parse_version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


class Transport:
    """The connections of one ``RedisBackend``, and every call's bounds and errors."""

    def __init__(
        self,
        url: str,
        namespace: str,
        *,
        scripts: dict[str, Script],
        socket_timeout: float,
        connect_timeout: float,
        max_connections: int | None,
    ) -> None:
        self._sentinel: SentinelUrl | None = None
        self._cluster: ClusterUrl | None = None
        if is_sentinel_url(url):
            self._sentinel = parse_sentinel_url(url)
        elif is_cluster_url(url):
            self._cluster = parse_cluster_url(url)
        else:
            check_url(url)
        self._manager: Sentinel | None = None  # the clients of the sentinels, made once
        self.url = url
        self.display_url = redact_url(url)
        self._namespace = namespace
        self.scripts = scripts
        self.socket_timeout = socket_timeout
        self._connect_timeout = connect_timeout
        self._max_connections = max_connections
        self.client: aioredis.Redis | None = None
        self.lane: Lane | None = None
        self.blocking: aioredis.Redis | None = None
        # On a cluster: the master owning the namespace's slot, and a plain and a blocking
        # client of it; ``_slot_moved`` says to ask the cluster again.
        self.slot_key: str | None = None
        self._slot_node: str | None = None
        self._slot_plain: aioredis.Redis | None = None
        self._slot_moved = False
        self._slot_moved_to: tuple[str, int] | None = None
        self.closing = False
        self._open_lock = asyncio.Lock()
        # On a cluster, another transport whose RedisCluster client this one uses (the
        # slots of one namespace, slots.py): one slot map and one pool per node.
        self.shares: Transport | None = None

    # -- connections ---------------------------------------------------------------------

    @property
    def clustered(self) -> bool:
        """Whether the URL names a Redis Cluster."""
        return self._cluster is not None

    def _options(self) -> dict[str, Any]:
        return dict(
            decode_responses=True,
            # Stored text that is not UTF-8 (another program's bytes) must reach the worker,
            # which buries it, instead of failing every claim; it is written back byte for
            # byte.
            encoding_errors="surrogateescape",
            # No socket timeout inside redis-py: with one, redis-py 8 wraps its socket
            # writes in asyncio.wait_for, which on Python 3.11 can swallow a task's
            # cancellation (measured: most cancels of a busy task were lost, and a pool
            # never finished stopping). guard() bounds every call with asyncio.timeout
            # instead, which does not; keepalive notices dead peers.
            socket_timeout=None,
            socket_keepalive=True,
            socket_connect_timeout=self._connect_timeout,
            retry=Retry(NoBackoff(), 0),
        )

    def _connect_cluster(self, found: ClusterUrl) -> Any:
        """A ``RedisCluster`` over the URL's startup nodes. Its own retries are off, as
        for a single server (a claim sent twice would lease jobs to nobody); it still
        follows ``MOVED`` and ``ASK`` replies, which say the command did not run."""
        options = self._options()
        if self._max_connections is not None:
            options["max_connections"] = self._max_connections
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in found.nodes],
            **options,
            **found.client_options(),
        )

    def _connect_node(self, host: str, port: int) -> aioredis.Redis:
        """A plain client of one node of the cluster."""
        assert self._cluster is not None
        options = self._options()
        options["max_connections"] = self._max_connections
        return aioredis.Redis(host=host, port=port, **options, **self._cluster.client_options())

    async def slot_clients(self) -> tuple[Any, Any]:
        """A plain and a blocking client of the server that holds the namespace: the
        backend's own on a single server, on a cluster clients of the master that owns
        the namespace's slot now (asked again after a call met a moving slot)."""
        if self._cluster is None:
            return self.client, self.blocking
        cluster: Any = self.client
        if cluster is None or self.slot_key is None:
            return None, None
        moved_to, self._slot_moved_to = self._slot_moved_to, None
        if moved_to is not None:
            # A MOVED reply named the slot's new master: no need to ask the cluster.
            self._slot_moved = False
            host, port = moved_to
        else:
            if self._slot_moved:
                self._slot_moved = False
                await self.guard(lambda: cluster.nodes_manager.initialize(), idempotent=True)
            node = cluster.get_node_from_key(self.slot_key)
            host, port = node.host, node.port
        if f"{host}:{port}" != self._slot_node or self._slot_plain is None:
            old = (self._slot_plain, self.blocking)
            self._slot_node = f"{host}:{port}"
            self._slot_plain = self._connect_node(host, port)
            self.blocking = self._connect_node(host, port)
            for client in old:
                if client is not None:
                    with contextlib.suppress(Exception):
                        await client.aclose()
        return self._slot_plain, self.blocking

    def connect(self) -> Any:
        """A new redis-py client (and pool) for this URL, with wg's settings; through
        Sentinel, a client of the service's master that asks the sentinels where it is
        on every new connection."""
        if self._cluster is not None:
            return self._connect_cluster(self._cluster)
        options = self._options()
        options["max_connections"] = self._max_connections
        if self._sentinel is None:
            client: aioredis.Redis = aioredis.Redis.from_url(self.url, **options)
            return client
        found = self._sentinel
        if self._manager is None:
            self._manager = Sentinel(
                list(found.sentinels),
                # Asking the sentinels is bounded (one that does not answer is skipped).
                sentinel_kwargs={
                    "socket_timeout": self._connect_timeout,
                    "socket_connect_timeout": self._connect_timeout,
                    **found.sentinel_options(),
                },
            )
        manager = self._manager
        master: aioredis.Redis = manager.master_for(
            found.service,
            redis_class=aioredis.Redis,
            **options,
            **found.server_options(),
        )
        return master

    async def open(self) -> None:
        """Connect and check the server (idempotent)."""
        async with self._open_lock:
            if self.client is not None:
                return
            self.closing = False
            shared = None if self.shares is None else self.shares.client
            client: Any = self.connect() if shared is None else shared
            try:
                if shared is None:
                    await self._check_server(client)
            except BaseException:
                await client.aclose()
                raise
            self.client = client
            if self._cluster is not None:
                self.lane = ClusterLane(client)
                self._slot_node = None
                return  # the slot's clients are made on first use (slot_clients)
            # With a cap on connections, keeping some out of the pool could starve the
            # plain commands: then every call gives its connection back.
            self.lane = Lane(client, keep=_LANE_KEEP if self._max_connections is None else 0)
            self.blocking = self.connect()

    async def _check_server(self, client: Any) -> None:
        # On a cluster, every master answers: the oldest one decides.
        masters = {"target_nodes": RedisCluster.PRIMARIES} if self.clustered else {}
        try:
            info: dict[str, Any] = await self.guard(
                lambda: client.info("server", **masters), idempotent=True
            )
            nodes = [i for i in info.values() if isinstance(i, dict) and "redis_version" in i]
            if nodes:  # one reply per master (a cluster of one master answers as a server)
                info = min(nodes, key=lambda i: _parse_version(str(i["redis_version"])))
        except BackendError as exc:
            if isinstance(exc, BackendUnavailableError | BackendConfigError):
                raise
            # INFO disabled (some managed services): the scripts will fail loudly on a
            # server that lacks a command, so go on without the early check.
            _log.warning("cannot check the Redis version at %s: %s", self.display_url, exc)
            info = {}
        version_text = str(info.get("redis_version", ""))
        if version_text and _parse_version(version_text) < MIN_REDIS_VERSION:
            floor = ".".join(map(str, MIN_REDIS_VERSION[:2]))
            raise BackendError(
                f"Redis {version_text} at {self.display_url} is too old: wg needs Redis "
                f"{floor} or newer (RPOP with a count, BLMOVE, ZADD XX)"
            )
        try:
            config: dict[Any, Any] = await client.config_get("maxmemory-policy", **masters)
        except redis_errors.ResponseError:
            # CONFIG is often disabled or renamed on managed Redis: nothing to check.
            _log.debug("cannot read maxmemory-policy at %s", self.display_url)
            return
        except redis_errors.RedisError as exc:
            raise self.translate(exc) from exc
        # A cluster answers one setting per master when they differ.
        settings = config.values() if all(isinstance(v, dict) for v in config.values()) else ()
        found = {config.get("maxmemory-policy")} | {c.get("maxmemory-policy") for c in settings}
        for policy in sorted(p for p in found if p is not None and p != "noeviction"):
            _log.warning(
                "Redis at %s has maxmemory-policy=%s: under memory pressure it may silently "
                "delete queued jobs; set it to noeviction",
                self.display_url,
                policy,
            )

    async def close(self, give_back: Callable[[Lane], Awaitable[object]]) -> None:
        """Close every connection. ``give_back`` runs first on the script lane, to put
        back what cut-short blocking claims took."""
        self.closing = True
        client, blocking, lane = self.client, self.blocking, self.lane
        self.client = self.blocking = self.lane = None
        slot_plain, self._slot_plain, self._slot_node = self._slot_plain, None, None
        if blocking is not None:
            await blocking.aclose()
        if slot_plain is not None:
            await slot_plain.aclose()
        if client is not None and lane is not None:
            with contextlib.suppress(Exception):
                await give_back(lane)
            # The lane's connections are the pool's, in use: aclose closes them too
            # (a shared cluster client is its owner's to close).
            if self.shares is None:
                await client.aclose()
        manager, self._manager = self._manager, None
        if manager is not None:
            await manager.aclose()

    def ready(self) -> aioredis.Redis:
        """The plain-command client; raises if the backend is not open."""
        if self.client is None:
            raise BackendError("the Redis backend is not open: call open() first")
        return self.client

    def ready_lane(self) -> Lane:
        """The script lane; raises if the backend is not open."""
        if self.lane is None:
            raise BackendError("the Redis backend is not open: call open() first")
        return self.lane

    async def drop_idle_connections(self, *, in_use: bool = False) -> None:
        """Close every idle connection (the server restarted or the network dropped);
        ``in_use``: every connection (a failover: the server they reach is no longer
        the master, and one that only reads would never notice)."""
        if self._cluster is not None:
            # The cluster client reconnects its nodes itself; the slot's own clients are
            # made again once the cluster says where the slot is now.
            self._slot_moved = True
            for client in (self._slot_plain, self.blocking):
                if client is not None:
                    await client.connection_pool.disconnect(inuse_connections=in_use)
            return
        for client in (self.client, self.blocking):
            if client is not None:
                await client.connection_pool.disconnect(
                    inuse_connections=in_use and client is self.client
                )
        if self.lane is not None:
            await self.lane.disconnect(in_use=in_use)

    # -- calls ---------------------------------------------------------------------------

    def translate(self, exc: BaseException) -> BackendError:
        """The wg error for a driver error, its message scrubbed of the URL's secrets."""
        if isinstance(exc, CLUSTER_MOVING):
            self._slot_moved = True  # the slot's own clients must ask where it is now
            if isinstance(exc, redis_errors.MovedError):
                self._slot_moved_to = exc.node_addr  # the new master, as the old one says
        return translate_error(exc, where=self.display_url, url=self.url, namespace=self._namespace)

    async def guard(
        self,
        call: Callable[[], Awaitable[_T]],
        *,
        idempotent: bool = False,
        timeout: float | None = None,
    ) -> _T:
        """Run ``call`` within ``timeout`` (default: the socket timeout), translating
        driver errors; once more on a fresh connection if it is safe to repeat."""
        limit = self.socket_timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                return await call()
        except (
            redis_errors.ConnectionError,
            redis_errors.TimeoutError,
            OSError,
            redis_errors.RedisClusterException,  # no node reachable, a slot not served
        ) as exc:
            # The server restarted or the network dropped: pooled idle connections are
            # as dead as this one, so drop them all and let the next call reconnect.
            await self.drop_idle_connections()
            if not idempotent or self.closing or refuses_config(exc):
                raise self.translate(exc) from exc
        except redis_errors.RedisError as exc:
            if not changing_roles(exc):
                raise self.translate(exc) from exc
            # A failover: the server these connections reach was demoted or lost its
            # replicas (the call did nothing: a replica refuses every write, and a
            # master without replicas refuses a script at its first write). Reconnect:
            # through Sentinel, to whichever server is the master now.
            await self.drop_idle_connections(in_use=True)
            if not idempotent or self.closing:
                raise self.translate(exc) from exc
        except UnicodeEncodeError as exc:
            # Text that no byte sequence represents (a lone surrogate): refuse it here,
            # before anything was sent.
            raise BackendError(f"cannot store text that is not valid Unicode: {exc}") from exc
        try:
            async with asyncio.timeout(limit):
                return await call()
        except (redis_errors.RedisError, OSError, redis_errors.RedisClusterException) as exc:
            raise self.translate(exc) from exc

    async def command(self, *args: Any) -> Any:
        """One plain command (reads and idempotent writes), retried once on a new connection."""
        client: Any = self.ready()
        return await self.guard(lambda: client.execute_command(*args), idempotent=True)

    async def snapshot(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Several read commands in one MULTI, so that they see one consistent state (on
        a cluster, on the master of the namespace's slot, which holds every key read)."""
        self.ready()

        async def read() -> list[Any]:
            client: Any = (await self.slot_clients())[0]
            async with client.pipeline(transaction=True) as pipe:
                for command in commands:
                    pipe.execute_command(*command)
                result: list[Any] = await pipe.execute()
                return result

        return await self.guard(read, idempotent=True)

    async def run(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run script ``name`` once (never repeated: it may not be safe to)."""
        lane = self.ready_lane()
        script = self.scripts[name]
        return await self.guard(lambda: script(lane, keys, args))

    async def run_idempotent(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run script ``name``, once more on a fresh connection if the first try failed."""
        lane = self.ready_lane()
        script = self.scripts[name]
        return await self.guard(lambda: script(lane, keys, args), idempotent=True)
