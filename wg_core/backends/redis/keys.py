"""The keys of one namespace on Redis, and the hash-tag option that names them.

The spec's four (``{ns}:jobs``, ``{ns}:schedule``, ``{ns}:retry``, ``{ns}:dead``) are the
queue ``default``'s; every other queue has the same four of its own, named after it
(``{ns}:queue:<name>:jobs``...), and every queue has a priority set, a pause flag and a
wake-up stream (``QueueKeys``). The namespace's bookkeeping (running attempts, the id
index, counters, workers) is shared (``Keys``). docs/redis.md has the table. With the
hash tag, every key is named ``{ns}:…`` so that the whole namespace lives in one Redis
Cluster slot and every script is single-slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from wg_core.backend import JobState
from wg_core.errors import ConfigError
from wg_core.queues import DEFAULT_QUEUE

__all__ = [
    "LETTER_STATE",
    "STATE_LETTER",
    "TOKEN_QUEUE_MARK",
    "Keys",
    "QueueKeys",
    "split_hash_tag",
    "split_slots",
    "token_queue",
]

STATE_LETTER: Final = {
    JobState.QUEUED: "q",
    JobState.SCHEDULED: "s",
    JobState.RETRY: "t",
    JobState.DEAD: "d",
    JobState.RUNNING: "r",
    JobState.COMPLETED: "c",
    JobState.CANCELLED: "x",
}
"""The letter of each state in the id index (``{ns}:ids``: job id -> letter + where; a
finished job's entry is its letter alone, its record is in ``{ns}:finished``)."""

LETTER_STATE: Final = {letter: state for state, letter in STATE_LETTER.items()}

TOKEN_QUEUE_MARK: Final = "@"
"""An attempt token of a job of a queue other than ``default`` ends in ``@<queue>``, so
that each call can name the keys of the queue it acts on (Lua may only touch keys it
was given)."""


def token_queue(token: str) -> str:
    """The queue of the job an attempt token was issued for."""
    _, mark, queue = token.rpartition(TOKEN_QUEUE_MARK)
    return queue if mark else DEFAULT_QUEUE


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """The keys of one queue. ``prio`` holds its queued jobs (a ZSET scored by priority,
    then arrival), but for ``default``'s priority-0 jobs, which are in ``jobs``: the
    spec's LIST ``{ns}:jobs``. (Other queues' ``jobs`` lists stay empty: the scripts
    treat every queue alike, and an empty list costs nothing.)
    ``schedule``, ``retry`` and ``dead`` are the spec's structures for this queue;
    ``paused`` is its pause flag; ``wake`` a STREAM appended to whenever a job lands
    anywhere but ``{ns}:jobs``, which idle claimers block on (XREAD). ``completed`` and
    ``cancelled`` (layout 3) are ZSETs of the ids of its finished jobs still kept,
    scored by finish time (their records are in ``Keys.finished``). ``holders`` and
    ``starts`` (layout 4, a limited queue's): ZSETs of ``"<token> <bucket>"`` of the
    attempts its limited claims leased (pruned once their token is gone) and of its
    starts within the rate's window, scored by start time (``limiting.py``)."""

    name: str
    jobs: str
    prio: str
    schedule: str
    retry: str
    dead: str
    paused: str
    wake: str
    completed: str
    cancelled: str
    holders: str
    starts: str

    def all(self) -> tuple[str, ...]:
        """Every key of the queue."""
        return (
            self.jobs,
            self.prio,
            self.schedule,
            self.retry,
            self.dead,
            self.paused,
            self.wake,
            self.completed,
            self.cancelled,
            self.holders,
            self.starts,
        )

    def finished(self, letter: str) -> str:
        """The ZSET of this queue's finished jobs of state ``letter`` (``c`` or ``x``)."""
        return self.completed if letter == "c" else self.cancelled


@dataclass(frozen=True, slots=True)
class Keys:
    """Every key of one namespace but the queues' (``queue()``). The first four are the
    spec's, the queue ``default``'s.

    ``meta`` records the layout version (and marks the namespace as existing); ``lock``
    is held while a writer upgrades the layout. ``died`` holds dead jobs' times of death
    (job id -> Unix seconds); ``aliases`` the id of stored text that does not carry it
    (text -> job id). ``placements``: job id -> ``<queue> <priority>`` of every job not
    in ``default`` at priority 0 (absent: default, 0, as for every job the Rust wg
    writes); ``queues`` the names of the queues other than ``default`` ever used;
    ``order`` the arrival counters of the priority sets; ``running_counts`` the running
    jobs of each queue other than ``default`` (default's: the rest). Layout 3:
    ``finished`` holds the record of each completed or cancelled job still kept (job id
    -> JSON), ``expiry`` their ids by the time they are pruned; ``finished_channel`` and
    ``cancel_channel`` are pub/sub channels (not keys) on which the scripts announce
    finished jobs and cancel requests. Layout 4: ``unique`` holds unique keys' holds
    (key -> ``<job id> <hold until, Unix seconds, 0 for none>``, ``wg_core.unique``);
    ``periodic`` holds the definition of
    each registered periodic entry (name -> JSON), ``periodic_runs`` its runs (name ->
    ``<last tick> <last run at> <next run> <last job id>``, ``-`` for none: the texts
    the pools sent, so ticks compare exactly); ``periodic_pending`` the ticks claimed for
    a queue with a slot of its own whose job is not yet known stored there (job id ->
    JSON: the entry, the claim time and the job; ``slots.py``, no layout change: an
    absent key is an empty one); ``limits`` holds each limited queue's
    limits (queue -> JSON), ``limit_keys`` each job's limit key (job id -> key)."""

    prefix: str
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
    died: str
    aliases: str
    meta: str
    lock: str
    placements: str
    queues: str
    order: str
    running_counts: str
    finished: str
    expiry: str
    unique: str
    periodic: str
    periodic_runs: str
    periodic_pending: str
    limits: str
    limit_keys: str

    @property
    def finished_channel(self) -> str:
        """The channel announcing finished jobs (a JSON list of ids per message)."""
        return f"{self.prefix}:signal:finished"

    @property
    def cancel_channel(self) -> str:
        """The channel announcing cancel requests of running jobs."""
        return f"{self.prefix}:signal:cancel"

    @classmethod
    def for_namespace(cls, namespace: str, *, hash_tag: bool, slot: str | None = None) -> Keys:
        """The keys of ``namespace`` (already validated). ``slot``: the keys of that
        queue's own slot of a slot-per-queue namespace (``slots.py``), ``{ns:queue}:…``
        (a namespace has no ``:``, so no namespace's tag is ever a queue slot's)."""
        if slot:
            prefix = f"{{{namespace}:{slot}}}"
        else:
            prefix = f"{{{namespace}}}" if hash_tag else namespace
        return cls(
            prefix=prefix,
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
            died=f"{prefix}:died",
            aliases=f"{prefix}:aliases",
            meta=f"{prefix}:meta",
            lock=f"{prefix}:meta_lock",
            placements=f"{prefix}:placements",
            queues=f"{prefix}:queues",
            order=f"{prefix}:order",
            running_counts=f"{prefix}:running_counts",
            finished=f"{prefix}:finished",
            expiry=f"{prefix}:expiry",
            unique=f"{prefix}:unique",
            periodic=f"{prefix}:periodic",
            periodic_runs=f"{prefix}:periodic_runs",
            periodic_pending=f"{prefix}:periodic_pending",
            limits=f"{prefix}:limits",
            limit_keys=f"{prefix}:limit_keys",
        )

    def queue(self, name: str) -> QueueKeys:
        """The keys of queue ``name`` (validated by the core: it has no ``:``). The
        queue ``default`` keeps the spec's four keys."""
        base = f"{self.prefix}:queue:{name}"
        if name == DEFAULT_QUEUE:
            jobs, schedule, retry, dead = self.jobs, self.schedule, self.retry, self.dead
        else:
            jobs, schedule = f"{base}:jobs", f"{base}:schedule"
            retry, dead = f"{base}:retry", f"{base}:dead"
        return QueueKeys(
            name=name,
            jobs=jobs,
            prio=f"{base}:prio",
            schedule=schedule,
            retry=retry,
            dead=dead,
            paused=f"{base}:paused",
            wake=f"{base}:wake",
            completed=f"{base}:completed",
            cancelled=f"{base}:cancelled",
            holders=f"{base}:limit_holders",
            starts=f"{base}:limit_starts",
        )

    def claiming(self, worker_id: str, instance: str, slot: int) -> str:
        """The claiming list of one blocking claim (listed in ``claimers`` while in use)."""
        return f"{self.prefix}:claiming:{worker_id}:{instance}.{slot}"

    def all(self) -> tuple[str, ...]:
        """Every fixed key (the claiming lists are named in ``claimers``, the queues'
        keys in ``queues``)."""
        return tuple(getattr(self, name) for name in self.__dataclass_fields__ if name != "prefix")

    def existing_marks(self) -> tuple[str, ...]:
        """Keys whose presence says the namespace exists: ``meta``, and for a namespace
        that older wg versions or another program (a Rust producer) wrote, the keys its
        jobs, counters or workers leave behind."""
        return (
            self.meta,
            self.jobs,
            self.schedule,
            self.retry,
            self.dead,
            self.running,
            self.ids,
            self.stats,
            self.workers,
        )


_TRUE: Final = ("1", "true", "yes", "on")
_FALSE: Final = ("0", "false", "no", "off")


def split_slots(url: str) -> tuple[str, bool | None]:
    """``url`` without wg's own ``slots`` query parameter, and whether it asked for a
    slot per queue (``slots=queue``: True; ``slots=namespace``, one slot: False; None
    when it says neither, and the scheme decides: ``wg_core.backends.redis``)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    wanted = [value for name, value in query if name == "slots"]
    if not wanted:
        return url, None
    value = wanted[-1].lower()
    if value not in ("queue", "namespace"):
        raise ConfigError(f"slots must be queue or namespace in the Redis URL, not {value!r}")
    rest = urlencode([(name, v) for name, v in query if name != "slots"])
    return urlunsplit(parts._replace(query=rest)), value == "queue"


def split_hash_tag(url: str) -> tuple[str, bool]:
    """``url`` without wg's own ``hash_tag`` query parameter (redis-py would refuse it),
    and whether it asked for the hash tag."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    wanted = [value for name, value in query if name == "hash_tag"]
    if not wanted:
        return url, False
    value = wanted[-1].lower()
    if value not in _TRUE + _FALSE:
        raise ConfigError(f"hash_tag must be true or false in the Redis URL, not {value!r}")
    rest = urlencode([(name, v) for name, v in query if name != "hash_tag"])
    return urlunsplit(parts._replace(query=rest)), value in _TRUE
