"""Script lanes: how a script call reaches the server, past redis-py's per-command costs
(``Lane``), or on a Redis Cluster through its client's routing (``ClusterLane``); and
``read_reply`` for hand-sent pipelines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio.cluster import RedisCluster

__all__ = ["ClusterLane", "Lane", "read_reply"]


def _pack(args: Sequence[Any], encoding: str, errors: str) -> bytes:
    """``args`` (text and numbers) as one RESP command, in a third of the time redis-py's
    ``pack_command`` takes for a small script call."""
    data = [arg.encode(encoding, errors) if type(arg) is str else _number(arg) for arg in args]
    return b"*%d\r\n" % len(data) + b"".join([b"$%d\r\n%b\r\n" % (len(d), d) for d in data])


def _number(arg: Any) -> bytes:
    if type(arg) is int or type(arg) is float:
        return repr(arg).encode()
    raise TypeError(f"cannot send a {type(arg).__name__} to Redis: {arg!r}")


class Lane:
    """Script calls straight on connections of the client's pool, kept out of the pool
    between calls: one packed write and one read per call.

    redis-py's ``execute_command`` costs about twice the CPU of the round trip itself
    (pool lock, a non-blocking read to check every connection it hands out, retry and
    observability wrappers; measured 65-100 us against 35 us per call), and scripts are
    most of what a worker and a producer send. A connection is only ever kept in a clean
    state: any failure or cancellation between the write and the reply closes it (it
    reconnects on its next use), so no reply can be read by the wrong call.
    """

    def __init__(self, client: Any, *, keep: int) -> None:
        self._keep_at_most = keep  # idle connections kept here; more go back to the pool
        self._pool = client.connection_pool
        self.idle: list[Any] = []
        self._busy: set[Any] = set()  # taken by a call now
        self._stale: set[Any] = set()  # busy ones to close once their call is over
        # Text is encoded as redis-py would (the URL may name another encoding).
        options = self._pool.connection_kwargs
        self._encoding: str = options.get("encoding", "utf-8")
        self._errors: str = options.get("encoding_errors", "strict")

    async def execute(self, *args: Any) -> Any:
        """Send one command and read its reply."""
        packed = _pack(args, self._encoding, self._errors)  # before taking a connection
        idle = self.idle
        connection = idle.pop() if idle else await self._pool.get_connection()
        self._busy.add(connection)
        try:
            if not connection.is_connected:
                # connect() rather than the implicit reconnect of a send: through
                # Sentinel it asks where the master is now (after a failover, not the
                # address this connection last had).
                await connection.connect()
            await connection.send_packed_command(packed, check_health=False)
            reply = await connection.read_response()
        except redis_errors.ResponseError:
            await self._keep(connection)  # an error reply was read in full: still clean
            raise
        except BaseException:
            await connection.disconnect(nowait=True)
            await self._keep(connection)
            raise
        if len(idle) < self._keep_at_most and not self._stale:
            self._busy.discard(connection)
            idle.append(connection)
        else:
            await self._keep(connection)
        return reply

    async def _keep(self, connection: Any) -> None:
        self._busy.discard(connection)
        if connection in self._stale:
            self._stale.discard(connection)
            await connection.disconnect(nowait=True)
        if len(self.idle) < self._keep_at_most:
            self.idle.append(connection)
        else:
            # A burst of concurrent calls is over: give the extra connection back.
            await self._pool.release(connection)

    async def disconnect(self, *, in_use: bool = False) -> None:
        """Close the idle connections (the server restarted): they reconnect on use.
        ``in_use``: those busy now too, once their call is over (the master changed:
        a connection to the old one would go on reading it)."""
        for connection in self.idle:
            await connection.disconnect(nowait=True)
        if in_use:
            self._stale |= self._busy


class ClusterLane(Lane):
    """Script calls on a Redis Cluster: through ``RedisCluster.execute_command``, which
    sends each to the master of its keys' slot (and ``SCRIPT LOAD`` to every master)."""

    def __init__(self, client: RedisCluster) -> None:  # no pool to take connections from
        self._client = client
        self.idle = []

    async def execute(self, *args: Any) -> Any:
        """Send one command to the master of its keys and read its reply."""
        return await self._client.execute_command(*args)

    async def disconnect(self, *, in_use: bool = False) -> None:
        """Nothing to drop: the cluster client reconnects each node itself."""


async def read_reply(connection: Any) -> Any:
    """The next reply of a pipeline on ``connection``; an error reply is returned, not
    raised, so that the replies after it can still be read."""
    try:
        return await connection.read_response(disconnect_on_error=False)
    except redis_errors.ResponseError as exc:
        return exc
