"""Queue limits in the SQL engine (issue 20; mixed into ``SqlBackend``): storing them,
claiming a limited queue, waking its claimers when a slot frees, and the limit keys.

Tables (layout 4, created by the ``schema_limits`` block of each dialect): ``{ns}_limits``
(one row per limited queue), ``{ns}_starts`` (the log of starts of rate-limited queues,
pruned by each limited claim: a sliding window, exact) and ``{ns}_limit_keys`` (each
job's ``limit_key`` by job id: wg's own table, so the key travels with the job through
every table without a column in the Rust wg's; rows of jobs gone are pruned a batch at
a time by ``prune``).

The claim of a limited queue is one transaction: lock the queue's ``{ns}_limits`` row
(its limited claimers take turns; SQLite's write lock is that already), count the
queue's jobs RUNNING under a live lease and its starts in the window (per key), lock
ready jobs in claim order leaving out keys at their limit, admit them one by one
(``LimitGate``), lease them and log their starts. A crashed worker's slots come back
when its leases expire, because running jobs are counted, never tallied.

The fast claims (PostgreSQL's one statement, MySQL's two round trips, SQLite's
``UPDATE … RETURNING``) stay as they are, but skip a queue that has a row in
``{ns}_limits`` (one probe of a tiny table's primary key): a stale view of which queues
are limited can delay a queue's jobs, never exceed its limit. Each backend keeps that
view (``_limited``), read again when a claim comes back short and the view is older
than ``LIMITS_FRESH`` seconds, and always after ``LIMITS_STALE``.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import math
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Final

from wg_core.backend import Attempt, ImportedJob, NewJob, StoredJob
from wg_core.backends.limit_gate import LimitGate
from wg_core.backends.sql.session import Body, Call, Row, SqlSession, UnitRunner, micros
from wg_core.limits import QueueLimit

__all__ = ["LIMITS_FRESH", "LIMITS_STALE", "LimitVerbs", "store_limit_keys", "with_limit_keys"]

LIMITS_FRESH: Final = 0.25
"""Seconds a view of the limited queues is trusted after a short claim."""
LIMITS_STALE: Final = 5.0
"""Seconds after which the view is read again whatever the claims found."""
KEYS_PRUNED: Final = 500
"""Limit keys ``prune`` looks at per call (a cursor walks the table)."""
PER_KEY_LOOKAHEAD: Final = 4
"""A per-key claim locks up to this many ready jobs per wanted one (plus 16): jobs of
keys at their limit are left out by the query; this covers keys that fill up within
the batch."""


async def store_limit_keys(session: SqlSession, jobs: Sequence[NewJob | ImportedJob]) -> None:
    """Store the limit keys of ``jobs`` (in the transaction that stores the jobs)."""
    for job in jobs:
        if job.limit_key is not None:
            await session.execute(
                "limit_key_insert", {"job_id": job.job_id, "limit_key": job.limit_key}
            )


async def with_limit_keys(session: SqlSession, jobs: list[StoredJob]) -> list[StoredJob]:
    """``jobs`` (read in ``session``) with their limit keys, read in the same one."""
    if not jobs:
        return jobs
    rows = await session.fetch("limit_keys_of", {"ids": [job.job_id for job in jobs]})
    keys = {str(job_id): str(key) for job_id, key in rows}
    if not keys:
        return jobs
    return [
        job if job.job_id not in keys else dataclasses.replace(job, limit_key=keys[job.job_id])
        for job in jobs
    ]


@dataclasses.dataclass(slots=True)
class FirstLook:
    """What a limited claim's first look (``limit_room``) found: the queues full now,
    the seconds until a rate lets each of those it holds back start a job again, and
    the namespace's pause flag (``None``: not read, no queue had a limit's row)."""

    full: frozenset[str] = frozenset()
    waits: list[float] = dataclasses.field(default_factory=list)
    paused: bool | None = None


def leases_at_once(limit: QueueLimit) -> bool:
    """Whether ``limit_lease`` leases ``limit``'s room (the shape it handles)."""
    return limit.rate is None and not limit.per_key


def leased_attempt(row: Row, batch: str) -> Attempt:
    """The attempt of a row ``(id, raw, queue)`` that ``limit_lease`` leased."""
    key = str(row[0])
    return Attempt(key=key, token=f"{batch}-{key}", raw=row[1], queue=row[2])


def _limit_of(queue: str, row: Row) -> QueueLimit:
    concurrency, rate, per_us, per_key = row
    return QueueLimit(
        queue=queue,
        concurrency=None if concurrency is None else int(concurrency),
        rate=None if rate is None else int(rate),
        per=None if per_us is None else int(per_us) / 1_000_000,
        per_key=bool(per_key),
    )


class LimitVerbs(UnitRunner):
    """The limits' verbs and the limited claim, over ``_run`` (``WorkVerbs`` builds on
    it)."""

    LEASES_LIMITED_AT_ONCE: ClassVar[bool] = False
    """Whether the dialect has ``limit_lease``: the lease of the room a concurrency
    limit (without a rate or keys) has, in one statement run after the limit's lock
    (PostgreSQL; others select the candidates, then lease them)."""

    WAKES_ON_FREED_SLOTS: ClassVar[bool] = False
    """Whether a limited queue's claimers are woken only when a slot may have freed
    (PostgreSQL's NOTIFY), so a woken one skips the first look; where any commit wakes
    them (SQLite's commit watcher, MySQL's mark, which a start changes too) they
    look first, without the lock."""

    ANNOUNCES_FREED: ClassVar[bool] = False
    """Whether a freed slot is announced to other processes' claimers with
    ``_announce`` (a dialect with a native signal: PostgreSQL's NOTIFY)."""

    _limited: frozenset[str] = frozenset()
    _not_at_once: frozenset[str] = frozenset()  # limited by a rate or per key, last seen
    _wake_generation: int  # (SqlBackend's) moved by each wake-up of the claimers
    _limited_read_at: float = -math.inf
    _keys_cursor: str = ""

    @staticmethod
    @abc.abstractmethod
    async def _lease(
        session: SqlSession, rows: Sequence[Row], batch: str, lease: float, worker_id: str
    ) -> list[Attempt]:
        """Lease selected rows as one batch (see ``WorkVerbs``)."""

    # -- which queues are limited --------------------------------------------------------

    async def _read_limited(self) -> frozenset[str]:
        async def body(session: SqlSession) -> list[Row]:
            return await session.fetch("limit_queues")

        self._limited = frozenset(str(row[0]) for row in await self._run(body, read=True))
        self._limited_read_at = time.monotonic()
        self._not_at_once = frozenset()  # a limit's shape may have changed: see again
        return self._limited

    async def _limits_view(self, queues: Sequence[str], *, short: bool) -> bool:
        """Whether one of ``queues`` is limited, in this backend's view, read again if
        it is older than ``LIMITS_STALE`` (or ``LIMITS_FRESH`` after a short claim)."""
        age = time.monotonic() - self._limited_read_at
        if age > LIMITS_STALE or (short and age > LIMITS_FRESH):
            await self._read_limited()
        return not self._limited.isdisjoint(queues)

    def _slots_freed_here(self, queues: Iterable[str]) -> bool:
        """Wake this process's claimers if one of ``queues`` is limited (in this
        backend's view), after jobs of ``queues`` left RUNNING; whether it did."""
        if not self._limited or self._limited.isdisjoint(queues):
            return False
        self._signal()
        return True

    def _woken_for_room(self, generation: int, waits: Sequence[float]) -> bool:
        """Whether a claimer that waited since ``generation`` would find room by a look
        without the lock (so skips it): a rate's window moved on, or it was woken where
        a wake-up means a slot freed (``WAKES_ON_FREED_SLOTS``)."""
        if waits:
            return True
        return self.WAKES_ON_FREED_SLOTS and self._wake_generation != generation

    async def _slots_freed(self, queues: Iterable[str]) -> None:
        """Wake the claimers of a limited queue (here, and where the dialect can, in
        other processes) after jobs of ``queues`` left RUNNING."""
        if not self._slots_freed_here(queues):
            return
        if self.ANNOUNCES_FREED:

            async def body(session: SqlSession) -> None:
                await self._announce(session)

            await self._run(body, transaction=False, durable=False)

    async def _lease_at_once(
        self, queue: str, params: dict[str, Any]
    ) -> tuple[list[Row], list[Row]]:
        """``limit_lock`` then ``limit_lease`` of ``queue`` (``params``: its values) in
        one transaction sent as one round trip, so the limit's lock is held only while
        the server runs it: the limit's row (none: not limited) and the rows leased
        (``id, raw, queue``). Dialects with ``LEASES_LIMITED_AT_ONCE`` only."""
        raise NotImplementedError

    # -- the verbs -----------------------------------------------------------------------

    async def set_limit(self, limit: QueueLimit) -> None:
        """Store ``limit`` (replacing the queue's); claimers are woken to obey it."""
        params = {
            "queue": limit.queue,
            "concurrency": limit.concurrency,
            "rate": limit.rate,
            "per_us": None if limit.per is None else micros(limit.per),
            "per_key": limit.per_key,
        }

        async def body(session: SqlSession) -> None:
            await session.execute("limit_set", params)
            await self._announce(session)

        await self._run(body)
        self._limited = self._limited | {limit.queue}
        self._signal()

    async def clear_limit(self, queue: str) -> bool:
        """Remove ``queue``'s limit and its log of starts."""

        async def body(session: SqlSession) -> int:
            had = await session.execute("limit_clear", {"queue": queue})
            await session.execute("limit_clear_starts", {"queue": queue})
            await self._announce(session)
            return had

        had = await self._run(body)
        self._limited = self._limited - {queue}
        self._signal()
        return bool(had)

    async def limits(self) -> list[QueueLimit]:
        """Every limit with its use now."""

        async def body(session: SqlSession) -> list[Row]:
            return await session.fetch("limit_list")

        listed: list[QueueLimit] = []
        for row in await self._run(body, read=True):
            limit = _limit_of(str(row[0]), row[1:5])
            running, started, keys = (int(value or 0) for value in row[5:8])
            listed.append(limit.with_use(running=running, started=started, keys=keys))
        return listed

    # -- limit keys ----------------------------------------------------------------------

    @staticmethod
    async def _store_limit_keys(session: SqlSession, jobs: Sequence[NewJob]) -> None:
        """Store the limit keys of ``jobs`` (in the enqueue's transaction)."""
        await store_limit_keys(session, jobs)

    async def _prune_limit_keys(self) -> int:
        """Delete the limit keys of up to ``KEYS_PRUNED`` jobs no longer stored, walking
        the table from where the last call stopped."""

        async def body(session: SqlSession) -> int:
            rows = await session.fetch(
                "limit_keys_scan", {"after": self._keys_cursor, "limit": KEYS_PRUNED}
            )
            self._keys_cursor = str(rows[-1][0]) if len(rows) == KEYS_PRUNED else ""
            if not rows:
                return 0
            return await session.execute("limit_keys_prune", {"ids": [row[0] for row in rows]})

        return await self._run(body, durable=False)

    # -- the limited claim ---------------------------------------------------------------

    async def _claim_limited(
        self,
        limit: int,
        lease: float,
        worker_id: str,
        queues: Sequence[str],
        waits: list[float],
        *,
        look_first: bool = True,
    ) -> list[Attempt]:
        """Lease up to ``limit`` jobs of ``queues`` in order, limited queues within
        their limits, in one transaction; appends to ``waits`` the seconds until a
        rate-limited queue may start a job again, if that held one back.

        ``look_first``: look at the limited queues' use without a lock first
        (``_first_look``), leaving those found full; a claimer that would find room
        that way goes for the lock at once instead (``_woken_for_room``). A dialect
        with ``LEASES_LIMITED_AT_ONCE`` claims a pool's one queue limited by
        concurrency alone in one round trip (``_lease_at_once``), with no look."""
        batch = uuid.uuid4().hex
        lease_params = {"batch": batch, "lease_us": micros(lease), "worker_id": worker_id}
        if self.LEASES_LIMITED_AT_ONCE and len(queues) == 1 and queues[0] not in self._not_at_once:
            queue = queues[0]
            params = {"queue": queue, "limit": limit, **lease_params}
            locked, leased = await self._lease_at_once(queue, params)
            if locked:
                if leases_at_once(_limit_of(queue, locked[0])):
                    return [leased_attempt(row, batch) for row in leased]
                self._not_at_once = self._not_at_once | {queue}  # claimed below from now on
        look = await self._first_look(queues) if look_first else FirstLook()
        if look.paused or len(look.full) == len(queues):
            waits[:] = look.waits
            return []

        async def body(session: SqlSession) -> list[Attempt]:
            waits[:] = look.waits
            rows: list[Row] = []  # selected, to lease at the end
            leased: list[Row] = []  # leased already (limit_lease)
            started: list[tuple[str, str]] = []
            for queue in queues:
                wanted = limit - len(rows) - len(leased)
                if wanted <= 0 or queue in look.full:
                    continue
                # The lock, then the count under it (and where the dialect can, the
                # lease of a concurrency limit's room), sent together where it can.
                params = {"queue": queue}
                calls: list[Call] = [("limit_lock", params), ("limit_running", params)]
                if self.LEASES_LIMITED_AT_ONCE and queue not in self._not_at_once:
                    calls.append(("limit_lease", {**params, **lease_params, "limit": wanted}))
                if look.paused is None:  # once, with the first queue's
                    calls.insert(0, ("is_paused", None))
                results = await session.fetch_many(calls)
                if look.paused is None:
                    paused = results.pop(0)
                    look.paused = bool(paused and paused[0][0])
                    if look.paused:  # (limit_lease leased nothing then)
                        return []
                locked, running = results[0], results[1]
                if not locked:
                    rows.extend(
                        await session.fetch("claim_select", {"limit": wanted, "queue": queue})
                    )
                    continue
                queue_limit = _limit_of(queue, locked[0])
                if len(results) > 2 and leases_at_once(queue_limit):
                    leased.extend(results[2])
                    continue
                gate, picked = await self._admit(session, queue_limit, running, wanted)
                rows.extend(row[:3] for row in picked)
                if queue_limit.rate is not None:
                    started.extend(
                        (queue, str(row[3]) if queue_limit.per_key else "") for row in picked
                    )
                wait = gate.next_start()
                if wait is not None:
                    waits.append(wait)
            attempts = [leased_attempt(row, batch) for row in leased]
            if rows:
                attempts.extend(await self._lease(session, rows, batch, lease, worker_id))
                if leased:  # each queue gave one list or the other: back in queue order
                    position = {queue: index for index, queue in enumerate(queues)}
                    attempts.sort(key=lambda attempt: position[attempt.queue])
            for queue, key in started:
                await session.execute("limit_record_start", {"queue": queue, "limit_key": key})
            return attempts

        return await self._claim_unit(body)

    async def _first_look(self, queues: Sequence[str]) -> FirstLook:
        """The limited queues of ``queues`` (in this backend's view) that are full now,
        by a look without a lock or a transaction (``limit_room``).

        A queue found full is left out of the claim's transaction: its claimers no
        longer queue on its row lock only to count the same use again, which kept the
        claim that a freed slot was waiting for in that queue. Skipping a queue can only
        delay its jobs, never exceed its limit; and the commit that frees a slot wakes
        the claimers (this process's at once, others' through the dialect's signal)
        after it, so a claimer that read the queue full before it looks again."""
        checked = [queue for queue in queues if queue in self._limited]
        if not checked:
            return FirstLook()

        async def body(session: SqlSession) -> list[list[Row]]:
            return await session.fetch_many([("limit_room", {"queue": q}) for q in checked])

        look = FirstLook(full=frozenset())
        full: set[str] = set()
        for queue, rows in zip(
            checked, await self._run(body, transaction=False, read=True), strict=True
        ):
            if not rows:
                continue  # not limited any more
            [row] = rows
            look.paused = bool(row[7])
            limit = _limit_of(queue, row[:4])
            if limit.per_key:  # a key not seen yet always has room: claim to know
                continue
            starts = [("", int(row[5]), -float(row[6]))] if row[6] is not None else []
            gate = LimitGate.build(limit, 0.0, [("", int(row[4]))], starts)
            if gate.closed:
                full.add(queue)
                wait = gate.next_start()
                if wait is not None:
                    look.waits.append(wait)
        look.full = frozenset(full)
        return look

    async def _claim_unit(self, body: Body[list[Attempt]]) -> list[Attempt]:
        """Run a limited claim's unit of work (a dialect whose units outlive their
        callers gives back what a cancelled claim leased, as its own claim does).

        Not durable, as the fast claims are not: a server crash that loses the commit
        loses the leases (the jobs run again, as after any crash) and the starts it
        logged (a rate may then let as many jobs start again in that window). Waiting
        for the WAL flush made the limited claim about 20 ms slower than the fast claim
        on PostgreSQL here (each freed slot's next start waited for it)."""
        return await self._run(body, durable=False)

    @staticmethod
    async def _admit(
        session: SqlSession, limit: QueueLimit, running: list[Row], wanted: int
    ) -> tuple[LimitGate, list[Row]]:
        """The gate of ``limit``'s queue over its ``running`` jobs by key (counted
        under the limit's row lock) and up to ``wanted`` ready rows ``(id, raw, queue,
        limit_key)`` it admits, in claim order."""
        queue = {"queue": limit.queue}
        windows: list[tuple[Any, int, float | None]] = []
        if limit.rate is not None and limit.per is not None:
            await session.execute("limit_prune_starts", {**queue, "per_us": micros(limit.per)})
            # Ages, not times: the gate runs at "now" 0 on the server's clock.
            windows = [
                (row[0], int(row[1]), -float(row[2]))
                for row in await session.fetch("limit_starts", queue)
            ]
        gate = LimitGate.build(limit, 0.0, ((row[0], int(row[1])) for row in running), windows)
        if gate.closed:
            return gate, []
        size = wanted * PER_KEY_LOOKAHEAD + 16 if limit.per_key else wanted
        candidates = await session.fetch(
            "limit_candidates", {**queue, "limit": size, "blocked": json.dumps(gate.blocked())}
        )
        picked: list[Row] = []
        for row in candidates:
            if len(picked) >= wanted:
                break
            if gate.admit(row[3]):
                picked.append(row)
        return gate, picked
