"""``RedisBackend``: wg on Redis ≥ 6.2 with redis-py's asyncio client.

Guarantees, and how they are kept:

* **The spec's keys, with the spec's meaning** (docs/redis.md has the full layout):
  ``{ns}:jobs`` is a LIST of envelopes (LPUSH in, consumed from the right; a released job
  goes back at the right end, the front), ``{ns}:schedule`` and ``{ns}:retry`` are ZSETs
  of envelopes scored by due time (Unix seconds), ``{ns}:dead`` is a LIST. A Rust
  producer's plain ``LPUSH {ns}:jobs <envelope>`` is claimed like any other job, and a
  Rust reader finds envelopes where it expects them. What the spec lacks lives beside
  them: running attempts (``:running`` token → envelope, ``:leases`` token → deadline,
  ``:attempts`` token → job id, worker, claim time), the id index (``:ids``, job id →
  state and envelope, so that admin look-ups are O(1)), counters, the pause flag, the
  worker registry, and the claiming lists of blocking claims (``:claimers``, a ZSET of
  list name → deadline, and the short-lived ``:claiming:…`` lists it names).
  ``hash_tag=True`` names every key ``{ns}:…`` so that a namespace lives in one Redis
  Cluster slot.
* **Every transition is one Lua script** (redis.lua): claim, complete, retry, bury,
  release, heartbeat, promote, reclaim, admin moves. Each is atomic, so a job is always
  in exactly one place, transitions are compare-and-set on the attempt token, counters
  move with the transition, and each due job is promoted exactly once however many pools
  promote. Scripts run by SHA and are reloaded on ``NOSCRIPT`` (a restarted or flushed
  server). Leases and due times use the server's clock (``TIME`` inside the scripts).
* **Batched**: a claim leases up to ``limit`` jobs in one round trip; ``complete`` and
  ``release`` acknowledge any number of attempts in one script call.
* **Idle claimers block, never poll, and wake up with the job**: after an empty claim, a
  claimer sends one pipeline on a dedicated connection: ``arm`` (lists its own claiming
  list in ``{ns}:claimers`` with a deadline), ``BLMOVE {ns}:jobs <claiming list>``, and
  the claim script. BLMOVE returns as soon as anything is pushed (wg's enqueue, promote
  and release, or a Rust producer's LPUSH) and moves the job into the claiming list, a
  list on the server; Redis then runs the claim script, which leases it from there, so
  the handler starts after one round trip. The job never leaves Redis: a claimer that
  dies between the two leaves it in its claiming list, which ``reclaim_expired`` empties
  back to the front of the queue once the deadline has passed, and ``get_job`` still
  finds it there as queued. A cancelled wait is ended with ``CLIENT UNBLOCK`` and gives
  back what it took. Paused claimers block on ``{ns}:resumed`` (BLMOVE onto itself,
  which moves nothing), which resuming creates. A claim cancelled while its script runs
  waits for the reply and releases what it leased, so a shutting-down pool does not
  leave jobs to wait for their lease to expire.
* **Errors**: redis-py's own command retries are switched off, because re-sending a
  claim whose reply was lost would leave jobs leased to nobody; calls that are safe to
  repeat are retried once on a fresh connection, the rest raise
  ``BackendUnavailableError`` and the worker pool backs off and calls again. Connections
  reconnect on the next call after the server comes back. Every call is bounded by
  ``asyncio.timeout`` rather than redis-py's ``socket_timeout`` (see ``_connect``).

Durability is Redis's: what the server acknowledged survives a crash only as far as its
persistence setting allows (AOF ``appendfsync everysec`` may lose about a second). A
``maxmemory-policy`` other than ``noeviction`` may silently delete jobs, so ``open``
warns about it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from wg_core.backend import (
    Attempt,
    Counters,
    HeartbeatReply,
    JobState,
    Move,
    NewJob,
    StateCounts,
    StoredJob,
    WorkerInfo,
)
from wg_core.backends.common import WORKER_FORGET_AFTER_LEASES, error_matches
from wg_core.backends.resources import load_blocks
from wg_core.errors import (
    BackendError,
    BackendUnavailableError,
    ConfigError,
    DuplicateJobError,
    MissingDependencyError,
    SchemaError,
)
from wg_core.namespace import validate_namespace
from wg_core.urls import redact_url

try:
    import redis.asyncio as aioredis
    from redis import exceptions as redis_errors
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise MissingDependencyError.for_extra("redis", "redis") from exc

__all__ = ["MIN_REDIS_VERSION", "RedisBackend"]

MIN_REDIS_VERSION: Final = (6, 2, 0)
"""RPOP with a count, LMOVE/BLMOVE and ZADD XX/GT, which the scripts use, need 6.2."""

_log = logging.getLogger(__name__)

_T = TypeVar("_T")

# A blocking wait is cut into slices no longer than this, and the deadline of the call
# is longer by a margin (a blocking command must not outlast its client-side timeout,
# cf. redis-py issue #2807).
_BLOCK_SLICE: Final = 10.0
_BLOCK_SOCKET_MARGIN: Final = 10.0
_LANE_KEEP: Final = 16
_ABANDON_TIMEOUT: Final = 2.0  # to end a cancelled blocking claim before closing its connection
_MIN_BLOCK: Final = 0.01  # BLMOVE's timeout 0 means "forever": never send less than this
_SCAN_CHUNK: Final = 500
# Lua's unpack() is bounded by the C stack (about 8000 values): batches stay well below.
_MAX_BATCH: Final = 1000
_PURGE_CHUNK: Final = 1000
_ADMIN_CHUNK: Final = 100

_STATE_LETTER: Final = {
    JobState.QUEUED: "q",
    JobState.SCHEDULED: "s",
    JobState.RETRY: "t",
    JobState.DEAD: "d",
    JobState.RUNNING: "r",
}
_LETTER_STATE: Final = {letter: state for state, letter in _STATE_LETTER.items()}
_ID_PREFIX: Final = re.compile(r'^\{"id":"([^"\\]*)"')


@dataclass(frozen=True, slots=True)
class _Keys:
    """Every key of one namespace. The first four are the spec's."""

    jobs: str
    schedule: str
    retry: str
    dead: str
    running: str
    leases: str
    attempts: str
    ids: str
    seq: str
    stats: str
    paused: str
    resumed: str
    workers: str
    seen: str
    stopping: str
    claimers: str

    @classmethod
    def for_namespace(cls, namespace: str, *, hash_tag: bool) -> _Keys:
        prefix = f"{{{namespace}}}" if hash_tag else namespace
        return cls(
            jobs=f"{prefix}:jobs",
            schedule=f"{prefix}:schedule",
            retry=f"{prefix}:retry",
            dead=f"{prefix}:dead",
            running=f"{prefix}:running",
            leases=f"{prefix}:leases",
            attempts=f"{prefix}:attempts",
            ids=f"{prefix}:ids",
            seq=f"{prefix}:seq",
            stats=f"{prefix}:stats",
            paused=f"{prefix}:paused",
            resumed=f"{prefix}:resumed",
            workers=f"{prefix}:workers",
            seen=f"{prefix}:workers_seen",
            stopping=f"{prefix}:workers_stopping",
            claimers=f"{prefix}:claimers",
        )

    def claiming(self, worker_id: str, instance: str, slot: int) -> str:
        """The claiming list of one blocking claim (listed in ``claimers`` while in use)."""
        return f"{self.jobs.removesuffix(':jobs')}:claiming:{worker_id}:{instance}.{slot}"

    def all(self) -> tuple[str, ...]:
        """Every fixed key (the claiming lists are named in ``claimers``)."""
        return tuple(getattr(self, name) for name in self.__dataclass_fields__)


class _Script:
    """One named block of redis.lua, run by SHA and loaded again on NOSCRIPT."""

    def __init__(self, name: str, prelude: str, body: str) -> None:
        self.name = name
        self.text = f"{_helpers_for(prelude, body)}{body}\n"
        self.sha = hashlib.sha1(self.text.encode()).hexdigest()

    async def __call__(self, lane: _Lane, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await lane.execute("EVALSHA", self.sha, len(keys), *keys, *args)
        except redis_errors.NoScriptError:
            # A restarted, failed-over or flushed server: load and run once more. The
            # script did not run, so running it now is not a repeat.
            await lane.execute("SCRIPT", "LOAD", self.text)
            return await lane.execute("EVALSHA", self.sha, len(keys), *keys, *args)


def _pack(args: Sequence[Any], encoding: str, errors: str) -> bytes:
    """``args`` (text and numbers) as one RESP command, in a third of the time redis-py's
    ``pack_command`` takes for a small script call."""
    data = [arg.encode(encoding, errors) if type(arg) is str else _number(arg) for arg in args]
    return b"*%d\r\n" % len(data) + b"".join([b"$%d\r\n%b\r\n" % (len(d), d) for d in data])


def _number(arg: Any) -> bytes:
    if type(arg) is int or type(arg) is float:
        return repr(arg).encode()
    raise TypeError(f"cannot send a {type(arg).__name__} to Redis: {arg!r}")


class _Lane:
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
        # Text is encoded as redis-py would (the URL may name another encoding).
        options = self._pool.connection_kwargs
        self._encoding: str = options.get("encoding", "utf-8")
        self._errors: str = options.get("encoding_errors", "strict")

    async def execute(self, *args: Any) -> Any:
        packed = _pack(args, self._encoding, self._errors)  # before taking a connection
        idle = self.idle
        connection = idle.pop() if idle else await self._pool.get_connection()
        try:
            await connection.send_packed_command(packed, check_health=False)
            reply = await connection.read_response()
        except redis_errors.ResponseError:
            await self._keep(connection)  # an error reply was read in full: still clean
            raise
        except BaseException:
            await connection.disconnect(nowait=True)
            await self._keep(connection)
            raise
        if len(idle) < self._keep_at_most:
            idle.append(connection)
        else:
            await self._keep(connection)
        return reply

    async def _keep(self, connection: Any) -> None:
        if len(self.idle) < self._keep_at_most:
            self.idle.append(connection)
        else:
            # A burst of concurrent calls is over: give the extra connection back.
            await self._pool.release(connection)

    async def disconnect(self) -> None:
        """Close the idle connections (the server restarted): they reconnect on use."""
        for connection in self.idle:
            await connection.disconnect(nowait=True)


def _helpers_for(prelude: str, body: str) -> str:
    """The prelude's helper functions that ``body`` calls, directly or through another
    helper, in prelude order. Helpers are defined anew on every run of a script, and an
    empty script already costs the server several microseconds: each block gets only
    what it uses."""
    # The prelude is a series of blank-line separated paragraphs, each defining one
    # helper (its comment first).
    helpers: dict[str, str] = {}
    for paragraph in prelude.split("\n\n"):
        names = re.findall(r"^local function (\w+)", paragraph, re.MULTILINE)
        if len(names) != 1:
            raise ValueError(f"redis.lua: a prelude paragraph defines {names}, not one helper")
        helpers[names[0]] = paragraph

    def calls(text: str) -> set[str]:
        return {name for name in helpers if re.search(rf"\b{name}\(", text)}

    wanted = calls(body)
    while True:
        more = set().union(*(calls(helpers[name]) for name in wanted)) - wanted
        if not more:
            break
        wanted |= more
    return "".join(f"{text}\n\n" for name, text in helpers.items() if name in wanted)


def _load_scripts() -> dict[str, _Script]:
    blocks = load_blocks("wg_core.backends", "redis.lua")
    prelude = blocks["prelude"]
    return {
        name: _Script(name, prelude, body)
        for name, body in blocks.items()
        if name not in ("prelude", "arm")
    }


_ARM: Final = load_blocks("wg_core.backends", "redis.lua")["arm"]
"""Sent with EVAL (see the block): a short text that can never be missing."""


async def _read_reply(connection: Any) -> Any:
    """The next reply of a pipeline on ``connection``; an error reply is returned, not
    raised, so that the replies after it can still be read."""
    try:
        return await connection.read_response(disconnect_on_error=False)
    except redis_errors.ResponseError as exc:
        return exc


def _job_id_of(raw: str) -> str:
    """The envelope's id, or '' for text that is not an envelope."""
    match = _ID_PREFIX.match(raw)
    if match:
        return match.group(1)
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return ""
    job_id = document.get("id") if isinstance(document, dict) else None
    return job_id if isinstance(job_id, str) else ""


def _job_name_of(raw: str) -> str | None:
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    name = document.get("job_name", "default")
    return name if isinstance(name, str) else None


def _split_hash_tag(url: str) -> tuple[str, bool]:
    """``url`` without wg's own ``hash_tag`` query parameter (redis-py would refuse it),
    and whether it asked for the hash tag."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    wanted = [value for name, value in query if name == "hash_tag"]
    if not wanted:
        return url, False
    value = wanted[-1].lower()
    if value not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise ConfigError(f"hash_tag must be true or false in the Redis URL, not {value!r}")
    rest = urlencode([(name, v) for name, v in query if name != "hash_tag"])
    return urlunsplit(parts._replace(query=rest)), value in ("1", "true", "yes", "on")


def _parse_version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def _attempt_meta(meta: str) -> tuple[str, str | None, float | None]:
    """(job id, worker id, claimed at) of an ``:attempts`` entry."""
    try:
        job_id, worker_id, claimed_at = json.loads(meta)
        return str(job_id), str(worker_id), float(claimed_at)
    except (ValueError, TypeError):
        return "", None, None


class RedisBackend:
    """wg's backend on Redis ≥ 6.2. See the module docstring for the guarantees.

    ``url``: a ``redis://`` or ``rediss://`` URL (database, password and TLS options as
    redis-py reads them). ``hash_tag``: name keys ``{ns}:…`` so that the namespace lives
    in one Redis Cluster slot; ``?hash_tag=true`` in the URL does the same, for the CLI
    and TUI. ``socket_timeout`` bounds every non-blocking command.
    """

    def __init__(
        self,
        url: str,
        namespace: str = "wg",
        *,
        hash_tag: bool = False,
        socket_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        max_connections: int | None = None,
    ) -> None:
        self._url, url_hash_tag = _split_hash_tag(url)
        self._namespace = validate_namespace(namespace)
        self._hash_tag = hash_tag or url_hash_tag
        self._socket_timeout = socket_timeout
        self._connect_timeout = connect_timeout
        self._max_connections = max_connections
        self._keys = _Keys.for_namespace(self._namespace, hash_tag=self._hash_tag)
        self._scripts = _load_scripts()
        self._client: aioredis.Redis | None = None
        self._lane: _Lane | None = None
        self._blocking: aioredis.Redis | None = None
        self._closing = False
        self._open_lock = asyncio.Lock()
        # Blocking claims in flight each use a claiming list of their own: a slot number
        # within this instance, which is itself told apart from other processes'.
        self._instance = uuid.uuid4().hex[:8]
        self._free_slots: list[int] = []
        self._next_slot = 0
        self._claiming_in_use: set[str] = set()
        self._enqueue_one_keys = (self._keys.jobs, self._keys.ids)
        self._enqueue_keys = (self._keys.jobs, self._keys.schedule, self._keys.ids)

    # -- properties ----------------------------------------------------------------------

    @property
    def namespace(self) -> str:
        return self._namespace

    @property
    def display_url(self) -> str:
        return redact_url(self._url)

    @property
    def supports_transactional_enqueue(self) -> bool:
        return False

    @property
    def keys(self) -> tuple[str, ...]:
        """Every fixed Redis key of this namespace (the spec's four first). Blocking claims
        also use short-lived claiming lists, ``{ns}:claiming:…``, listed in ``{ns}:claimers``."""
        return self._keys.all()

    def __repr__(self) -> str:
        return (
            f"RedisBackend({self.display_url!r}, namespace={self._namespace!r}, "
            f"hash_tag={self._hash_tag})"
        )

    # -- connections ---------------------------------------------------------------------

    def _connect(self) -> aioredis.Redis:
        client: aioredis.Redis = aioredis.Redis.from_url(
            self._url,
            decode_responses=True,
            # Stored text that is not UTF-8 (another program's bytes) must reach the worker,
            # which buries it, instead of failing every claim; it is written back byte for
            # byte.
            encoding_errors="surrogateescape",
            # No socket timeout inside redis-py: with one, redis-py 8 wraps its socket
            # writes in asyncio.wait_for, which on Python 3.11 can swallow a task's
            # cancellation (measured: most cancels of a busy task were lost, and a pool
            # never finished stopping). _guard() bounds every call with asyncio.timeout
            # instead, which does not; keepalive notices dead peers.
            socket_timeout=None,
            socket_keepalive=True,
            socket_connect_timeout=self._connect_timeout,
            max_connections=self._max_connections,
            retry=Retry(NoBackoff(), 0),
        )
        return client

    async def open(self, *, create: bool = True) -> None:
        async with self._open_lock:
            if self._client is not None:
                return
            self._closing = False
            client = self._connect()
            try:
                await self._check_server(client)
            except BaseException:
                await client.aclose()
                raise
            self._client = client
            # With a cap on connections, keeping some out of the pool could starve the
            # plain commands: then every call gives its connection back.
            self._lane = _Lane(client, keep=_LANE_KEEP if self._max_connections is None else 0)
            self._blocking = self._connect()

    async def _check_server(self, client: aioredis.Redis) -> None:
        try:
            info: dict[str, Any] = await self._guard(lambda: client.info("server"), idempotent=True)
        except BackendError as exc:
            if isinstance(exc, BackendUnavailableError):
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
            config: dict[Any, Any] = await client.config_get("maxmemory-policy")
        except redis_errors.ResponseError:
            # CONFIG is often disabled or renamed on managed Redis: nothing to check.
            _log.debug("cannot read maxmemory-policy at %s", self.display_url)
            return
        except redis_errors.RedisError as exc:
            raise self._translate(exc) from exc
        policy = config.get("maxmemory-policy")
        if policy is not None and policy != "noeviction":
            _log.warning(
                "Redis at %s has maxmemory-policy=%s: under memory pressure it may silently "
                "delete queued jobs; set it to noeviction",
                self.display_url,
                policy,
            )

    async def close(self) -> None:
        self._closing = True
        client, blocking, lane = self._client, self._blocking, self._lane
        self._client = self._blocking = self._lane = None
        in_use = list(self._claiming_in_use)
        if blocking is not None:
            await blocking.aclose()
        if client is not None and lane is not None:
            # A blocking claim cut short may have had a job taken into its claiming list:
            # put it back now rather than leave it to reclaim_expired.
            for claiming in in_use:
                with contextlib.suppress(Exception):
                    await self._unclaim(lane, claiming)
            # The lane's connections are the pool's, in use: aclose closes them too.
            await client.aclose()

    def _ready(self) -> aioredis.Redis:
        if self._client is None:
            raise BackendError("the Redis backend is not open: call open() first")
        return self._client

    def _ready_lane(self) -> _Lane:
        if self._lane is None:
            raise BackendError("the Redis backend is not open: call open() first")
        return self._lane

    async def destroy(self) -> None:
        claiming = await self._command("ZRANGE", self._keys.claimers, 0, -1)
        await self._command("UNLINK", *self._keys.all(), *claiming)

    # -- error translation ---------------------------------------------------------------

    def _translate(self, exc: BaseException) -> BackendError:
        where = self.display_url
        if isinstance(exc, redis_errors.ConnectionError | redis_errors.TimeoutError | OSError):
            return BackendUnavailableError(f"Redis at {where} is unreachable: {exc}")
        if isinstance(exc, redis_errors.ResponseError) and str(exc).startswith("WRONGTYPE"):
            return SchemaError(f"a key of namespace {self._namespace!r} at {where}: {exc}")
        return BackendError(f"Redis at {where} failed: {exc}")

    async def _guard(
        self,
        call: Callable[[], Awaitable[_T]],
        *,
        idempotent: bool = False,
        timeout: float | None = None,
    ) -> _T:
        """Run ``call`` within ``timeout`` (default: the socket timeout), translating
        driver errors; once more on a fresh connection if it is safe to repeat."""
        limit = self._socket_timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                return await call()
        except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as exc:
            # The server restarted or the network dropped: pooled idle connections are
            # as dead as this one, so drop them all and let the next call reconnect.
            await self._drop_idle_connections()
            if not idempotent or self._closing:
                raise self._translate(exc) from exc
        except redis_errors.RedisError as exc:
            raise self._translate(exc) from exc
        except UnicodeEncodeError as exc:
            # Text that no byte sequence represents (a lone surrogate): refuse it here,
            # before anything was sent.
            raise BackendError(f"cannot store text that is not valid Unicode: {exc}") from exc
        try:
            async with asyncio.timeout(limit):
                return await call()
        except (redis_errors.RedisError, OSError) as exc:
            raise self._translate(exc) from exc

    async def _unclaim(self, lane: _Lane, claiming: str) -> int:
        """Put back what a blocking claim's BLMOVE took into ``claiming``."""
        k = self._keys
        script = self._scripts["unclaim"]
        moved: int = await self._guard(
            lambda: script(lane, (claiming, k.claimers, k.jobs), ()), idempotent=True
        )
        return moved

    async def _drop_idle_connections(self) -> None:
        for client in (self._client, self._blocking):
            if client is not None:
                await client.connection_pool.disconnect(inuse_connections=False)
        if self._lane is not None:
            await self._lane.disconnect()

    async def _command(self, *args: Any) -> Any:
        """One plain command (reads and idempotent writes), retried once on a new connection."""
        client: Any = self._ready()
        return await self._guard(lambda: client.execute_command(*args), idempotent=True)

    async def _snapshot(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Several read commands in one MULTI, so that they see one consistent state."""
        client: Any = self._ready()

        async def read() -> list[Any]:
            async with client.pipeline(transaction=True) as pipe:
                for command in commands:
                    pipe.execute_command(*command)
                result: list[Any] = await pipe.execute()
                return result

        return await self._guard(read, idempotent=True)

    async def _run(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        lane = self._ready_lane()
        script = self._scripts[name]
        return await self._guard(lambda: script(lane, keys, args))

    async def _run_idempotent(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        lane = self._ready_lane()
        script = self._scripts[name]
        return await self._guard(lambda: script(lane, keys, args), idempotent=True)

    # -- producing -----------------------------------------------------------------------

    async def enqueue(self, jobs: Sequence[NewJob], *, connection: object | None = None) -> None:
        if connection is not None:
            raise TypeError("RedisBackend has no transactions: pass no connection")
        if not jobs:
            return
        keys: tuple[str, ...]
        args: list[Any]
        if len(jobs) == 1 and jobs[0].delay <= 0:
            name, keys, args = "enqueue_one", self._enqueue_one_keys, [jobs[0].job_id, jobs[0].raw]
        else:
            # Columns rather than rows: ids, then envelopes, then (if any job is
            # scheduled) delays, which the script reads in chunks of many jobs.
            timed = any(job.delay > 0 for job in jobs)
            name, keys = "enqueue", self._enqueue_keys
            args = [len(jobs), "1" if timed else "0"]
            args += [job.job_id for job in jobs]
            args += [job.raw for job in jobs]
            if timed:
                args += [repr(job.delay) if job.delay > 0 else "0" for job in jobs]
        try:
            # Repeating the call is harmless: the scripts recognise jobs they already stored.
            await self._run_idempotent(name, keys, args)
        except BackendError as exc:
            message = str(exc)
            named = [job.job_id for job in jobs if f"WGDUP {job.job_id}" in message]
            if named:
                duplicate = max(named, key=len)  # "a" is in "WGDUP ab" too
                raise DuplicateJobError(f"job id already stored: {duplicate}") from None
            raise

    # -- working -------------------------------------------------------------------------

    async def claim(
        self, *, limit: int, lease: float, worker_id: str, wait: float = 0.0
    ) -> list[Attempt]:
        if limit <= 0:
            return []
        limit = min(limit, _MAX_BATCH)
        deadline = time.monotonic() + wait
        while True:
            if self._closing:
                return []  # closed while waiting, as the memory backend's close() wakes it
            paused, attempts = await self._claim_now(limit, lease, worker_id)
            if attempts:
                return attempts
            remaining = deadline - time.monotonic()
            if remaining < _MIN_BLOCK or self._closing:
                return []
            if paused:
                await self._block_until_pushed(self._keys.resumed, min(remaining, _BLOCK_SLICE))
                continue
            paused, attempts = await self._claim_blocking(
                limit, lease, worker_id, min(remaining, _BLOCK_SLICE)
            )
            if attempts:
                return attempts

    async def _claim_now(
        self, limit: int, lease: float, worker_id: str
    ) -> tuple[bool, list[Attempt]]:
        k = self._keys
        call = asyncio.ensure_future(
            self._run(
                "claim",
                (k.jobs, k.running, k.leases, k.attempts, k.ids, k.seq, k.paused, k.resumed),
                (limit, repr(float(lease)), worker_id),
            )
        )
        try:
            reply = await asyncio.shield(call)
        except asyncio.CancelledError:
            # The script may have leased jobs already: let the call finish and put them
            # back at the front, rather than leave them to wait for their lease to expire.
            with contextlib.suppress(Exception):
                _, leased = _claim_reply(await call)
                if leased:
                    await self.release(leased)
            raise
        return _claim_reply(reply)

    async def _claim_blocking(
        self, limit: int, lease: float, worker_id: str, timeout: float
    ) -> tuple[bool, list[Attempt]]:
        """Wait for a job and lease it, in one round trip once it is pushed.

        One pipeline on the blocking connection: ``CLIENT ID``, ``arm`` (lists this
        claim's claiming list in ``claimers`` with a deadline), ``BLMOVE {ns}:jobs
        <claiming list>`` (blocks until a job is pushed, and takes it *into Redis's own
        claiming list*, so it never leaves the server), then the claim script, which
        leases it (plus more from the queue, up to ``limit``) and disarms the list. Redis
        runs the script as soon as BLMOVE returns, so both replies come back together.
        A job stranded by a claimer that died between the two is put back by
        ``reclaim_expired`` after the deadline; a claim that fails or is cancelled puts
        it back itself (``unclaim``), or releases what the script leased.
        """
        for again in (False, True):
            try:
                return await self._claim_blocking_once(limit, lease, worker_id, timeout)
            except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as exc:
                # Safe to call again: whatever the lost pipeline took is in Redis, leased
                # (its lease expires) or in the claiming list (reclaim_expired).
                await self._drop_idle_connections()
                if self._closing:
                    return False, []
                if again:
                    raise self._translate(exc) from exc
            except redis_errors.RedisError as exc:
                raise self._translate(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _take_claiming(self, worker_id: str) -> tuple[str, int]:
        slot = self._free_slots.pop() if self._free_slots else self._next_slot
        if slot == self._next_slot:
            self._next_slot += 1
        claiming = self._keys.claiming(worker_id, self._instance, slot)
        self._claiming_in_use.add(claiming)
        return claiming, slot

    def _give_back_claiming(self, claiming: str, slot: int) -> None:
        self._claiming_in_use.discard(claiming)
        self._free_slots.append(slot)

    async def _claim_blocking_once(
        self, limit: int, lease: float, worker_id: str, timeout: float
    ) -> tuple[bool, list[Attempt]]:
        blocking: Any = self._blocking
        client: Any = self._client
        lane = self._lane
        if blocking is None or client is None or lane is None:
            raise BackendError("the Redis backend is not open: call open() first")
        k = self._keys
        claiming, slot = self._take_claiming(worker_id)
        keys: tuple[str, ...] = (k.jobs, k.running, k.leases, k.attempts, k.ids, k.seq)
        keys += (k.paused, k.resumed, claiming, k.claimers)
        args = (limit, repr(float(lease)), worker_id)
        script = self._scripts["claim"]
        pool = blocking.connection_pool
        connection = await pool.get_connection()
        replies: list[Any] = []
        try:
            packed = connection.pack_commands(
                [
                    ("CLIENT", "ID"),
                    ("EVAL", _ARM, 1, k.claimers, claiming, repr(timeout + float(lease))),
                    ("BLMOVE", k.jobs, claiming, "RIGHT", "LEFT", f"{timeout:.3f}"),
                    ("EVALSHA", script.sha, len(keys), *keys, *args),
                ]
            )
            async with asyncio.timeout(timeout + _BLOCK_SOCKET_MARGIN):
                await connection.send_packed_command(packed, check_health=False)
                while len(replies) < 4:
                    replies.append(await _read_reply(connection))
        except asyncio.CancelledError:
            # Hand the connection and the claiming list over to a task that cannot be
            # cancelled: it ends the wait and gives back whatever the claim took.
            cleanup = asyncio.ensure_future(
                self._abandon_claim(client, lane, pool, connection, replies, claiming, slot)
            )
            with contextlib.suppress(BaseException):
                await asyncio.shield(cleanup)
            raise
        except BaseException:
            await connection.disconnect()
            await pool.release(connection)
            self._give_back_claiming(claiming, slot)
            raise
        await pool.release(connection)
        try:
            reply = replies[3]
            if isinstance(reply, redis_errors.NoScriptError):
                # A flushed or restarted server: the job waits in the claiming list, and
                # the claim script (loaded now) takes it from there.
                reply = await self._run("claim", keys, args)
            elif isinstance(reply, Exception) or isinstance(replies[1], Exception):
                await self._unclaim(lane, claiming)
                error = reply if isinstance(reply, Exception) else replies[1]
                raise self._translate(error)
        finally:
            self._give_back_claiming(claiming, slot)
        return _claim_reply(reply)

    async def _abandon_claim(
        self,
        client: Any,
        lane: _Lane,
        pool: Any,
        connection: Any,
        replies: list[Any],
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
            try:
                if not replies or not isinstance(replies[0], int):
                    raise BackendError("no client id")
                async with asyncio.timeout(_ABANDON_TIMEOUT):
                    await client.execute_command("CLIENT", "UNBLOCK", replies[0])
                    while len(replies) < 4:
                        replies.append(await _read_reply(connection))
                if not isinstance(replies[3], list):
                    raise BackendError("the claim script did not run")
                leased = _claim_reply(replies[3])[1]
            except Exception:
                await connection.disconnect()
                await self._unclaim(lane, claiming)
            if leased:
                await self.release(leased)
        except Exception as exc:  # pragma: no cover - the server went away meanwhile
            _log.debug("a cancelled claim could not give back its job: %s", exc)
        finally:
            await pool.release(connection)
            self._give_back_claiming(claiming, slot)

    async def _block_until_pushed(self, key: str, timeout: float) -> None:
        """Wait until ``key`` (a list) is non-empty, without taking anything from it."""
        blocking: Any = self._blocking
        if blocking is None:
            raise BackendError("the Redis backend is not open: call open() first")
        try:
            # Rotating the list's last element onto itself: returns at once when the list
            # has elements, blocks otherwise, and never moves a job anywhere.
            await self._guard(
                lambda: blocking.execute_command(
                    "BLMOVE", key, key, "RIGHT", "RIGHT", f"{timeout:.3f}"
                ),
                idempotent=True,
                timeout=timeout + _BLOCK_SOCKET_MARGIN,
            )
        except BackendError:
            if self._closing:
                return  # close() cut the connection under us: the claim ends empty
            raise

    async def complete(self, attempts: Sequence[Attempt]) -> int:
        if not attempts:
            return 0
        k = self._keys
        done = 0
        for start in range(0, len(attempts), _MAX_BATCH):
            done += await self._run(
                "complete",
                (k.running, k.leases, k.attempts, k.ids, k.stats),
                [attempt.token for attempt in attempts[start : start + _MAX_BATCH]],
            )
        return done

    async def retry(self, attempt: Attempt, *, raw: str, delay: float, error: str | None) -> bool:
        k = self._keys
        moved = await self._run(
            "retry",
            (k.running, k.leases, k.attempts, k.ids, k.stats, k.retry),
            (attempt.token, raw, repr(max(0.0, float(delay)))),
        )
        return bool(moved)

    async def bury(self, attempt: Attempt, *, raw: str, error: str | None) -> bool:
        k = self._keys
        moved = await self._run(
            "bury",
            (k.running, k.leases, k.attempts, k.ids, k.stats, k.dead),
            (attempt.token, raw),
        )
        return bool(moved)

    async def release(self, attempts: Sequence[Attempt]) -> int:
        if not attempts:
            return 0
        k = self._keys
        released: int = await self._run(
            "release",
            (k.running, k.leases, k.attempts, k.ids, k.jobs),
            [attempt.token for attempt in attempts],
        )
        return released

    async def heartbeat(
        self, worker: WorkerInfo, *, attempts: Sequence[Attempt], lease: float
    ) -> HeartbeatReply:
        k = self._keys
        document = json.dumps(
            {
                "host": worker.host,
                "pid": worker.pid,
                "concurrency": worker.concurrency,
                "running": worker.running,
                "started_at": worker.started_at,
                "state": worker.state,
                "job_names": list(worker.job_names),
            },
            separators=(",", ":"),
        )
        reply = await self._run_idempotent(
            "heartbeat",
            (k.running, k.leases, k.workers, k.seen, k.stopping),
            (
                repr(float(lease)),
                worker.worker_id,
                document,
                "1" if worker.stop_requested else "0",
                *(attempt.token for attempt in attempts),
            ),
        )
        return HeartbeatReply(lost=frozenset(reply[1:]), stop_requested=bool(reply[0]))

    async def unregister_worker(self, worker_id: str) -> None:
        k = self._keys
        await self._run_idempotent(
            "unregister_worker", (k.workers, k.seen, k.stopping), (worker_id,)
        )

    async def promote(self, state: JobState, *, limit: int) -> int:
        if state is JobState.SCHEDULED:
            source = self._keys.schedule
        elif state is JobState.RETRY:
            source = self._keys.retry
        else:
            raise ValueError(f"only scheduled and retry jobs are promoted, not {state}")
        if limit <= 0:
            return 0
        moved: int = await self._run_idempotent(
            "promote", (source, self._keys.jobs, self._keys.ids), (limit, _STATE_LETTER[state])
        )
        return moved

    async def reclaim_expired(
        self, *, limit: int, lease: float, worker_id: str, silent_after: float | None = None
    ) -> list[Attempt]:
        k = self._keys
        reply = await self._run(
            "reclaim_expired",
            (
                k.running,
                k.leases,
                k.attempts,
                k.ids,
                k.seq,
                k.workers,
                k.seen,
                k.stopping,
                k.claimers,
                k.jobs,
            ),
            (
                max(0, limit),
                repr(float(lease)),
                worker_id,
                repr(WORKER_FORGET_AFTER_LEASES * float(lease)),
            ),
        )
        return [
            Attempt(key=reply[i], token=reply[i + 1], raw=reply[i + 2])
            for i in range(0, len(reply), 3)
        ]

    # -- admin ---------------------------------------------------------------------------

    async def counts(self) -> StateCounts:
        k = self._keys
        queued, scheduled, retry, running, dead, next_raw = await self._snapshot(
            ("LLEN", k.jobs),
            ("ZCARD", k.schedule),
            ("ZCARD", k.retry),
            ("HLEN", k.running),
            ("LLEN", k.dead),
            ("LINDEX", k.jobs, -1),
        )
        return StateCounts(
            queued=queued,
            scheduled=scheduled,
            retry=retry,
            running=running,
            dead=dead,
            oldest_queued_at=None if next_raw is None else _queued_since(next_raw),
        )

    async def counters(self) -> Counters:
        processed, failed = await self._command("HMGET", self._keys.stats, "processed", "failed")
        return Counters(processed=int(processed or 0), failed=int(failed or 0))

    async def list_jobs(
        self,
        state: JobState,
        *,
        limit: int,
        offset: int = 0,
        newest_first: bool = False,
        job_name: str | None = None,
        error_contains: str | None = None,
        text_contains: str | None = None,
    ) -> list[StoredJob]:
        if limit <= 0:
            return []
        if state is JobState.RUNNING:
            jobs = await self._running_jobs()
            jobs.sort(key=lambda job: job.updated_at or 0.0, reverse=newest_first)
            jobs = [job for job in jobs if _wanted(job.raw, job_name, error_contains)]
            return jobs[offset : offset + limit]
        wanted: list[StoredJob] = []
        skip = offset
        async for job in self._scan(state, newest_first=newest_first):
            if not _wanted(job.raw, job_name, error_contains):
                continue
            if skip:
                skip -= 1
                continue
            wanted.append(job)
            if len(wanted) >= limit:
                break
        return wanted

    async def _scan(self, state: JobState, *, newest_first: bool) -> AsyncIterator[StoredJob]:
        """Jobs of a non-running state in the listing order, read in chunks."""
        start = 0
        while True:
            page = await self._guard(
                functools.partial(self._page, state, start, start + _SCAN_CHUNK - 1, newest_first),
                idempotent=True,
            )
            for job in page:
                yield job
            if len(page) < _SCAN_CHUNK:
                return
            start += _SCAN_CHUNK

    async def _page(
        self, state: JobState, start: int, stop: int, newest_first: bool
    ) -> list[StoredJob]:
        client: Any = self._ready()
        k = self._keys
        if state in (JobState.QUEUED, JobState.DEAD):
            key = k.jobs if state is JobState.QUEUED else k.dead
            # Both lists grow at the left: the next to run (the oldest burial) is rightmost.
            if newest_first:
                raws: list[str] = await client.execute_command("LRANGE", key, start, stop)
            else:
                raws = await client.execute_command("LRANGE", key, -stop - 1, -start - 1)
                raws.reverse()
            return [StoredJob(job_id=_job_id_of(raw), state=state, raw=raw) for raw in raws]
        key = k.schedule if state is JobState.SCHEDULED else k.retry
        scored = await client.execute_command(
            "ZRANGE", key, start, stop, *(("REV",) if newest_first else ()), "WITHSCORES"
        )
        return [
            StoredJob(job_id=_job_id_of(raw), state=state, raw=raw, due_at=score)
            for raw, score in _score_pairs(scored)
        ]

    async def _running_jobs(self) -> list[StoredJob]:
        k = self._keys
        running, attempts, leases = await self._snapshot(
            ("HGETALL", k.running),
            ("HGETALL", k.attempts),
            ("ZRANGE", k.leases, 0, -1, "WITHSCORES"),
        )
        deadlines = dict(_score_pairs(leases))
        jobs: list[StoredJob] = []
        for token, raw in running.items():
            job_id, worker_id, claimed_at = _attempt_meta(attempts.get(token, ""))
            deadline = deadlines.get(token)
            jobs.append(
                StoredJob(
                    job_id=job_id or _job_id_of(raw),
                    state=JobState.RUNNING,
                    raw=raw,
                    lease_until=None if deadline is None else float(deadline),
                    worker_id=worker_id,
                    updated_at=claimed_at,
                )
            )
        return jobs

    async def get_job(self, job_id: str) -> StoredJob | None:
        k = self._keys
        reply = await self._run_idempotent(
            "get_job",
            (
                k.ids,
                k.jobs,
                k.schedule,
                k.retry,
                k.dead,
                k.running,
                k.leases,
                k.attempts,
                k.claimers,
            ),
            (job_id,),
        )
        if reply is not None:
            letter, raw, score, meta = reply
            state = _LETTER_STATE[letter]
            if state is JobState.RUNNING:
                _, worker_id, claimed_at = _attempt_meta(meta)
                return StoredJob(
                    job_id=job_id,
                    state=state,
                    raw=raw,
                    lease_until=float(score) if score else None,
                    worker_id=worker_id,
                    updated_at=claimed_at,
                )
            return StoredJob(
                job_id=job_id, state=state, raw=raw, due_at=float(score) if score else None
            )
        return await self._find_unindexed(job_id)

    async def _find_unindexed(self, job_id: str) -> StoredJob | None:
        """Look for a job another program stored without wg's index (a Rust producer's
        LPUSH or ZADD): a scan, so O(jobs), but only for ids the index does not know."""
        needle = json.dumps(job_id, ensure_ascii=False)
        for state in (JobState.QUEUED, JobState.SCHEDULED, JobState.RETRY, JobState.DEAD):
            async for job in self._scan(state, newest_first=False):
                if needle in job.raw and job.job_id == job_id:
                    return job
        return None

    async def move_to_queue(self, moves: Sequence[Move]) -> int:
        wanted = [move for move in moves if move.from_state is not JobState.RUNNING]
        statuses = await self._admin(
            "move_to_queue",
            [(m.job_id, _STATE_LETTER[m.from_state], "", m.raw) for m in wanted],
        )
        moved = statuses.count(1)
        # Jobs the index does not know (another program stored them): look, then move.
        found: list[tuple[str, ...]] = []
        for move, status in zip(wanted, statuses, strict=True):
            if status == -1:
                stored = await self._find_unindexed(move.job_id)
                if stored is not None and stored.state is move.from_state:
                    letter = _STATE_LETTER[stored.state]
                    found.append((move.job_id, letter, stored.raw, move.raw))
        if found:
            moved += (await self._admin("move_to_queue", found)).count(1)
        return moved

    async def delete_jobs(self, job_ids: Sequence[str]) -> int:
        statuses = await self._admin("delete_jobs", [(job_id, "", "") for job_id in job_ids])
        deleted = statuses.count(1)
        found: list[tuple[str, ...]] = []
        for job_id, status in zip(job_ids, statuses, strict=True):
            if status == -1:
                stored = await self._find_unindexed(job_id)
                if stored is not None:
                    found.append((job_id, _STATE_LETTER[stored.state], stored.raw))
        if found:
            deleted += (await self._admin("delete_jobs", found)).count(1)
        return deleted

    async def _admin(self, name: str, items: Sequence[tuple[str, ...]]) -> list[int]:
        """Run an admin script over ``items`` in chunks (each one script call, so that a
        long list never blocks the server for long); one status per item."""
        k = self._keys
        statuses: list[int] = []
        for start in range(0, len(items), _ADMIN_CHUNK):
            args = [value for item in items[start : start + _ADMIN_CHUNK] for value in item]
            statuses += await self._run(name, (k.jobs, k.schedule, k.retry, k.dead, k.ids), args)
        return statuses

    async def purge(self, state: JobState) -> int:
        if state is JobState.RUNNING:
            raise ValueError("running jobs cannot be purged; stop their workers first")
        k = self._keys
        key, kind = {
            JobState.QUEUED: (k.jobs, "list"),
            JobState.SCHEDULED: (k.schedule, "zset"),
            JobState.RETRY: (k.retry, "zset"),
            JobState.DEAD: (k.dead, "list"),
        }[state]
        total = 0
        while True:
            # In chunks, so that a purge of millions never blocks the server for long.
            removed: int = await self._run_idempotent(
                "purge", (key, k.ids), (kind, _STATE_LETTER[state], _PURGE_CHUNK)
            )
            total += removed
            if removed < _PURGE_CHUNK:
                return total

    async def set_paused(self, paused: bool) -> None:
        k = self._keys
        await self._run_idempotent("set_paused", (k.paused, k.resumed), ("1" if paused else "0",))

    async def is_paused(self) -> bool:
        return bool(await self._command("EXISTS", self._keys.paused))

    async def list_workers(self) -> list[WorkerInfo]:
        k = self._keys
        documents, seen, stopping = await self._snapshot(
            ("HGETALL", k.workers),
            ("ZRANGE", k.seen, 0, -1, "WITHSCORES"),
            ("SMEMBERS", k.stopping),
        )
        last_seen = dict(_score_pairs(seen))
        workers: list[WorkerInfo] = []
        for worker_id, text in documents.items():
            try:
                doc = json.loads(text)
                workers.append(
                    WorkerInfo(
                        worker_id=worker_id,
                        host=str(doc["host"]),
                        pid=int(doc["pid"]),
                        concurrency=int(doc["concurrency"]),
                        running=int(doc.get("running", 0)),
                        started_at=float(doc.get("started_at", 0.0)),
                        last_seen=float(last_seen.get(worker_id, 0.0)),
                        state=str(doc.get("state", "running")),
                        stop_requested=worker_id in stopping,
                        job_names=tuple(doc.get("job_names", ())),
                    )
                )
            except (ValueError, KeyError, TypeError):
                _log.warning("ignoring an unreadable worker entry %r in %s", worker_id, k.workers)
        workers.sort(key=lambda worker: worker.started_at, reverse=True)
        return workers

    async def request_worker_stop(self, worker_id: str) -> bool:
        k = self._keys
        done = await self._run_idempotent(
            "request_worker_stop", (k.workers, k.stopping), (worker_id,)
        )
        return bool(done)


def _claim_reply(reply: list[Any]) -> tuple[bool, list[Attempt]]:
    """(paused, attempts) from the claim script's reply."""
    attempts = [
        Attempt(key=reply[i], token=reply[i + 1], raw=reply[i + 2]) for i in range(1, len(reply), 3)
    ]
    return bool(reply[0]), attempts


def _score_pairs(reply: list[Any]) -> list[tuple[str, float]]:
    """(member, score) pairs of a ZRANGE … WITHSCORES reply, flat or already paired
    (redis-py pairs it depending on version and protocol)."""
    if reply and isinstance(reply[0], list | tuple):
        return [(member, float(score)) for member, score in reply]
    return [(member, float(score)) for member, score in zip(reply[::2], reply[1::2], strict=True)]


def _wanted(raw: str, job_name: str | None, error_contains: str | None) -> bool:
    if job_name is not None and _job_name_of(raw) != job_name:
        return False
    return error_contains is None or error_matches(raw, error_contains)


def _queued_since(raw: str) -> float | None:
    """When the next job to run entered the queue, as far as its envelope tells: its
    scheduled time if it had one, else its creation time."""
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    times = [
        value
        for value in (document.get("created_at"), document.get("scheduled_at"))
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]
    return float(max(times)) if times else None
