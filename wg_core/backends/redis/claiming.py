"""Blocking claims: an idle claimer waits on the server and wakes up with its job.

After an empty claim, a claimer sends one pipeline on the blocking connection and waits
for its replies; the claim script is the pipeline's last command, so Redis runs it the
moment the blocking command returns and the handler starts after one round trip.

* **Serving ``default`` (not paused): the fast path.** ``arm`` (lists the claimer's own
  claiming list in ``{ns}:claimers`` with a deadline), ``BLMOVE {ns}:jobs <claiming
  list>``, the claim script. BLMOVE returns as soon as anything is pushed to
  ``{ns}:jobs`` (wg's enqueue, promote and release at priority 0, or a Rust producer's
  LPUSH) and moves the job into the claiming list, on the server; the claim script puts
  it back at the front and claims in queue and priority order. The job never leaves
  Redis: a claimer that dies between the two leaves it in its claiming list, which
  ``reclaim_expired`` empties back to the front of the queue once the deadline has
  passed, and ``get_job`` still finds it there as queued. Jobs that land anywhere else
  (another priority, another queue served) append to that queue's wake stream: a
  *doorbell*, an ``XREAD`` on those streams on a second blocking connection, ends the
  BLMOVE with ``CLIENT UNBLOCK`` when one rings, and the claim script then runs.
* **Otherwise**: ``XREAD BLOCK`` on the served queues' wake streams, from the last
  entries the empty claim saw (so nothing appended since is missed), then the claim
  script. Streams are read, not popped: every idle claimer of a queue wakes.

A cancelled wait is ended with ``CLIENT UNBLOCK`` and gives back what it took. Paused
claimers block on ``{ns}:resumed`` (BLMOVE onto itself, which moves nothing), which
resuming creates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from redis import exceptions as redis_errors

from wg_core.backend import Attempt
from wg_core.backends.redis.keys import Keys, token_queue
from wg_core.backends.redis.scripts import ARM
from wg_core.backends.redis.transport import Lane, Transport, read_reply
from wg_core.errors import BackendError
from wg_core.queues import DEFAULT_QUEUE
from wg_core.urls import scrub_secrets

__all__ = ["BLOCK_SLICE", "MIN_BLOCK", "BlockingClaims", "ClaimPlan", "claim_reply"]

_log = logging.getLogger(__name__)

# A blocking wait is cut into slices no longer than this, and the deadline of the call
# is longer by a margin (a blocking command must not outlast its client-side timeout,
# cf. redis-py issue #2807).
BLOCK_SLICE: Final = 10.0
_BLOCK_SOCKET_MARGIN: Final = 10.0
_ABANDON_TIMEOUT: Final = 2.0  # to end a cancelled blocking claim before closing its connection
_DOORBELL_LINGER: Final = 0.005  # a woken claim's doorbell is ended this much later
MIN_BLOCK: Final = 0.01  # BLMOVE's timeout 0 means "forever": never send less than this


def claim_reply(reply: list[Any]) -> tuple[bool, list[Attempt], list[Any]]:
    """(namespace paused, attempts, idle) from the claim script's reply; ``idle`` is
    empty unless nothing was leased, then the served queues' last wake ids and pause
    flags (see the script)."""
    attempts = [
        Attempt(key=reply[i], token=reply[i + 1], raw=reply[i + 2], queue=token_queue(reply[i + 1]))
        for i in range(2, len(reply), 3)
    ]
    return bool(reply[0]), attempts, list(reply[1]) if len(reply) > 1 else []


@dataclass(frozen=True, slots=True)
class ClaimPlan:
    """The claim script's keys and arguments for one list of queues, built once."""

    queues: tuple[str, ...]
    keys: tuple[str, ...]
    wakes: tuple[str, ...]
    jobs: str
    claimers: str

    @classmethod
    def for_queues(cls, k: Keys, queues: tuple[str, ...]) -> ClaimPlan:
        """The plan of a claim over ``queues`` (validated, in order)."""
        keys: tuple[str, ...] = (k.running, k.leases, k.attempts, k.ids, k.seq, k.paused)
        keys += (k.resumed, k.aliases, k.running_counts, k.jobs, k.limits)
        for name in queues:
            q = k.queue(name)
            keys += (q.jobs, q.prio, q.paused, q.wake)
        wakes = tuple(k.queue(name).wake for name in queues)
        return cls(queues=queues, keys=keys, wakes=wakes, jobs=k.jobs, claimers=k.claimers)

    def args(self, limit: int, lease: float, worker_id: str, blocked: bool) -> tuple[Any, ...]:
        """The claim script's arguments."""
        flag = "1" if blocked else "0"
        return (limit, repr(float(lease)), worker_id, len(self.queues), *self.queues, flag)

    def fast(self, idle: Sequence[Any]) -> bool:
        """Whether an idle claim blocks on ``{ns}:jobs`` (it serves ``default``, which
        the empty claim found not paused)."""
        if DEFAULT_QUEUE not in self.queues or not idle:
            return False
        return str(idle[len(self.queues) + self.queues.index(DEFAULT_QUEUE)]) == "0"


class _Doorbell:
    """An ``XREAD BLOCK`` on wake streams, on a blocking connection of its own, that
    unblocks a fast-path claim (``CLIENT UNBLOCK``) when a stream gets an entry. Started
    once the claim's connection id is known; ``stop`` ends it, and returns only once
    nothing it sent can reach that connection any more."""

    def __init__(self, transport: Transport, claim_id: int, client: Any, blocking: Any) -> None:
        self._transport = transport
        self._claim_id = claim_id
        # The claim's server's clients (on a cluster, of the namespace slot's master).
        self._client = client
        self._blocking = blocking
        self._bell_id: int | None = None
        self._claim_done = False
        self._ringing = False
        self._task: asyncio.Future[None] | None = None

    def start(self, streams: Sequence[str], ids: Sequence[str], timeout: float) -> None:
        self._task = asyncio.ensure_future(self._run(streams, ids, timeout))

    async def _run(self, streams: Sequence[str], ids: Sequence[str], timeout: float) -> None:
        blocking, client = self._blocking, self._client
        if self._transport.closing:
            return
        pool = blocking.connection_pool
        try:
            connection = await pool.get_connection()
        except Exception as exc:
            # None to spare (a capped pool): the claim still ends at its own timeout.
            _log.debug("no connection for a claim's doorbell: %s", exc)
            return
        clean = False
        try:
            packed = connection.pack_commands(
                [
                    ("CLIENT", "ID"),
                    ("XREAD", "BLOCK", max(1, int(timeout * 1000)), "STREAMS", *streams, *ids),
                ]
            )
            async with asyncio.timeout(timeout + _BLOCK_SOCKET_MARGIN):
                await connection.send_packed_command(packed, check_health=False)
                self._bell_id = await read_reply(connection)
                entries = await read_reply(connection)
            clean = True
            if entries and not isinstance(entries, Exception) and not self._claim_done:
                self._ringing = True
                await client.execute_command("CLIENT", "UNBLOCK", self._claim_id)
        except Exception as exc:
            # No doorbell: the claim still ends at its own timeout (a slice).
            _log.debug(
                "a claim's doorbell failed: %s", scrub_secrets(str(exc), self._transport.url)
            )
        finally:
            if not clean:
                await connection.disconnect()
            await pool.release(connection)

    def dismiss(self, background: set[asyncio.Future[None]]) -> asyncio.Future[None] | None:
        """The claim's pipeline has all its replies: the doorbell may no longer unblock
        it. Returns what to await before the claim's connection is used again (an
        ``UNBLOCK`` of it in flight), else ends the doorbell in the background (kept in
        ``background`` meanwhile), so that a woken claim returns at once."""
        self._claim_done = True
        if self._ringing and self._task is not None:
            return self._task
        ending = asyncio.ensure_future(self.stop(after=_DOORBELL_LINGER))
        background.add(ending)
        ending.add_done_callback(background.discard)
        return None

    async def stop(self, *, after: float = 0.0) -> None:
        """End the doorbell (the claim's pipeline has all its replies), ``after``
        seconds from now."""
        self._claim_done = True
        if after:
            # Not before the claimed jobs have started: this is the woken claim's
            # housekeeping, not its work.
            await asyncio.sleep(after)
        task = self._task
        if task is None or task.done():
            return
        client: Any = self._client
        if not self._ringing and self._bell_id is not None and not self._transport.closing:
            with contextlib.suppress(Exception):
                await client.execute_command("CLIENT", "UNBLOCK", self._bell_id)
        if self._bell_id is None and not self._ringing:
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.shield(task)


class BlockingClaims:
    """The blocking claims of one backend instance, each with a claiming list of its own:
    a slot number within this instance, which is itself told apart from other
    processes' by a random name."""

    def __init__(
        self,
        transport: Transport,
        keys: Keys,
        release: Callable[[Sequence[Attempt]], Awaitable[int]],
    ) -> None:
        self._transport = transport
        self._keys = keys
        self._release = release
        self._instance = uuid.uuid4().hex[:8]
        self._free_slots: list[int] = []
        self._next_slot = 0
        self._in_use: set[str] = set()
        self._background: set[asyncio.Future[None]] = set()

    async def claim(
        self,
        plan: ClaimPlan,
        idle: Sequence[Any],
        limit: int,
        lease: float,
        worker_id: str,
        timeout: float,
    ) -> tuple[bool, list[Attempt]]:
        """Wait for a job of ``plan``'s queues and lease it, in one round trip once it is
        pushed (see the module docstring); ``idle`` is the empty claim's reply.

        A job stranded by a claimer that died between its BLMOVE and its claim script
        is put back by ``reclaim_expired`` after the deadline; a claim that fails or is
        cancelled puts it back itself (``unclaim``), or releases what the script leased.
        """
        transport = self._transport
        for again in (False, True):
            try:
                return await self._claim_once(plan, idle, limit, lease, worker_id, timeout)
            except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as exc:
                # Safe to call again: whatever the lost pipeline took is in Redis, leased
                # (its lease expires) or in the claiming list (reclaim_expired).
                await transport.drop_idle_connections()
                if transport.closing:
                    return False, []
                if again:
                    raise transport.translate(exc) from exc
            except redis_errors.RedisError as exc:
                raise transport.translate(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _take_claiming(self, worker_id: str) -> tuple[str, int]:
        slot = self._free_slots.pop() if self._free_slots else self._next_slot
        if slot == self._next_slot:
            self._next_slot += 1
        claiming = self._keys.claiming(worker_id, self._instance, slot)
        self._in_use.add(claiming)
        return claiming, slot

    def _give_back_claiming(self, claiming: str, slot: int) -> None:
        self._in_use.discard(claiming)
        self._free_slots.append(slot)

    async def _claim_once(
        self,
        plan: ClaimPlan,
        idle: Sequence[Any],
        limit: int,
        lease: float,
        worker_id: str,
        timeout: float,
    ) -> tuple[bool, list[Attempt]]:
        transport = self._transport
        client, blocking = await transport.slot_clients()
        lane = transport.lane
        if blocking is None or client is None or lane is None:
            raise BackendError("the Redis backend is not open: call open() first")
        fast = plan.fast(idle)
        wake_ids = [str(entry) for entry in idle[: len(plan.queues)]] or ["0-0"] * len(plan.queues)
        claiming, slot = self._take_claiming(worker_id)
        keys = (*plan.keys, claiming, plan.claimers) if fast else plan.keys
        args = plan.args(limit, lease, worker_id, fast)
        script = transport.scripts["claim"]
        commands: list[tuple[Any, ...]] = [("CLIENT", "ID")]
        if fast:
            deadline = repr(timeout + float(lease))
            commands.append(("EVAL", ARM, 1, plan.claimers, claiming, deadline))
            commands.append(("BLMOVE", plan.jobs, claiming, "RIGHT", "LEFT", f"{timeout:.3f}"))
        else:
            block = max(1, int(timeout * 1000))
            commands.append(("XREAD", "BLOCK", block, "STREAMS", *plan.wakes, *wake_ids))
        commands.append(("EVALSHA", script.sha, len(keys), *keys, *args))
        expected = len(commands)
        pool = blocking.connection_pool
        connection = await pool.get_connection()
        replies: list[Any] = []
        doorbell: _Doorbell | None = None
        try:
            packed = connection.pack_commands(commands)
            async with asyncio.timeout(timeout + _BLOCK_SOCKET_MARGIN):
                await connection.send_packed_command(packed, check_health=False)
                replies.append(await read_reply(connection))
                if fast and isinstance(replies[0], int):
                    doorbell = _Doorbell(transport, replies[0], client, blocking)
                    doorbell.start(plan.wakes, wake_ids, timeout)
                while len(replies) < expected:
                    replies.append(await read_reply(connection))
                if doorbell is not None:
                    ringing = doorbell.dismiss(self._background)
                    if ringing is not None:
                        await asyncio.shield(ringing)
        except asyncio.CancelledError:
            # Hand the connection and the claiming list over to a task that cannot be
            # cancelled: it ends the wait and gives back whatever the claim took.
            cleanup = asyncio.ensure_future(
                self._abandon(
                    client, lane, pool, connection, replies, expected, doorbell, claiming, slot
                )
            )
            with contextlib.suppress(BaseException):
                await asyncio.shield(cleanup)
            raise
        except BaseException:
            if doorbell is not None:
                await doorbell.stop()
            await connection.disconnect()
            await pool.release(connection)
            self._give_back_claiming(claiming, slot)
            raise
        await pool.release(connection)
        try:
            reply = replies[-1]
            if isinstance(reply, redis_errors.NoScriptError):
                # A flushed or restarted server: a job BLMOVE took waits in the claiming
                # list, and the claim script (loaded now) takes it from there.
                reply = await transport.run("claim", keys, args)
            elif isinstance(reply, Exception) or (fast and isinstance(replies[1], Exception)):
                if fast:
                    await self.unclaim(lane, claiming)
                error = reply if isinstance(reply, Exception) else replies[1]
                raise transport.translate(error)
        finally:
            self._give_back_claiming(claiming, slot)
        paused, attempts, _ = claim_reply(reply)
        return paused, attempts

    async def _abandon(
        self,
        client: Any,
        lane: Lane,
        pool: Any,
        connection: Any,
        replies: list[Any],
        expected: int,
        doorbell: _Doorbell | None,
        claiming: str,
        slot: int,
    ) -> None:
        """End a cancelled blocking claim: unblock it (``CLIENT UNBLOCK`` its connection,
        whose id is the pipeline's first reply), read the rest of its replies and release
        what its script leased. If that fails, close the connection and put back what
        BLMOVE took; anything the server still does for the closed connection is put
        back by lease expiry or ``reclaim_expired``."""
        leased: list[Attempt] = []
        try:
            if doorbell is not None:
                await doorbell.stop()
            try:
                if not replies or not isinstance(replies[0], int):
                    raise BackendError("no client id")
                async with asyncio.timeout(_ABANDON_TIMEOUT):
                    await client.execute_command("CLIENT", "UNBLOCK", replies[0])
                    while len(replies) < expected:
                        replies.append(await read_reply(connection))
                if not isinstance(replies[-1], list):
                    raise BackendError("the claim script did not run")
                leased = claim_reply(replies[-1])[1]
            except Exception:
                await connection.disconnect()
                await self.unclaim(lane, claiming)
            if leased:
                await self._release(leased)
        except Exception as exc:  # pragma: no cover - the server went away meanwhile
            reason = scrub_secrets(str(exc), self._transport.url)
            _log.debug("a cancelled claim could not give back its job: %s", reason)
        finally:
            await pool.release(connection)
            self._give_back_claiming(claiming, slot)

    async def block_until_pushed(self, key: str, timeout: float) -> None:
        """Wait until ``key`` (a list) is non-empty, without taking anything from it."""
        transport = self._transport
        blocking: Any = (await transport.slot_clients())[1]
        if blocking is None:
            raise BackendError("the Redis backend is not open: call open() first")
        try:
            # Rotating the list's last element onto itself: returns at once when the list
            # has elements, blocks otherwise, and never moves a job anywhere.
            await transport.guard(
                lambda: blocking.execute_command(
                    "BLMOVE", key, key, "RIGHT", "RIGHT", f"{timeout:.3f}"
                ),
                idempotent=True,
                timeout=timeout + _BLOCK_SOCKET_MARGIN,
            )
        except BackendError:
            if transport.closing:
                return  # close() cut the connection under us: the claim ends empty
            raise

    async def unclaim(self, lane: Lane, claiming: str) -> int:
        """Put back what a blocking claim's BLMOVE took into ``claiming``."""
        k = self._keys
        script = self._transport.scripts["unclaim"]
        moved: int = await self._transport.guard(
            lambda: script(lane, (claiming, k.claimers, k.jobs), ()), idempotent=True
        )
        return moved

    def give_back_on_close(self) -> Callable[[Lane], Awaitable[None]]:
        """What ``close`` runs before closing the lane: put back what the blocking claims
        in flight *now* had taken, rather than leave it to ``reclaim_expired``. (Taken
        before the connections close: a claim that then fails gives its list up
        without emptying it.)"""
        in_use = list(self._in_use)
        background = list(self._background)

        async def give_back(lane: Lane) -> None:
            # Doorbells still ending: let them, so that no task outlives the backend.
            if background:
                await asyncio.wait(background, timeout=_ABANDON_TIMEOUT)
            for claiming in in_use:
                with contextlib.suppress(Exception):
                    await self.unclaim(lane, claiming)

        return give_back
