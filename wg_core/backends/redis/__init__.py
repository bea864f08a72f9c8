"""``RedisBackend``: wg on Redis ≥ 6.2 with redis-py's asyncio client.

Guarantees, and how they are kept:

* **The spec's keys, with the spec's meaning** (docs/redis.md has the full layout):
  ``{ns}:jobs`` is a LIST of envelopes (LPUSH in, consumed from the right; a released job
  goes back at the right end, the front), ``{ns}:schedule`` and ``{ns}:retry`` are ZSETs
  of envelopes scored by due time (Unix seconds), ``{ns}:dead`` is a LIST. They are the
  queue ``default``'s (``{ns}:jobs`` at priority 0 only), so a Rust producer's plain
  ``LPUSH {ns}:jobs <envelope>`` is claimed by a pool serving ``default``, and a Rust
  reader finds wg's default jobs where it expects them. Every other queue has the same
  structures under ``{ns}:queue:<name>:…``, and every queue a priority ZSET (score:
  priority, then arrival) for the jobs not in ``{ns}:jobs``; ``{ns}:placements`` keeps
  each such job's queue and priority through every state. What the spec lacks lives
  beside them: running attempts (``:running`` token → envelope, ``:leases`` token →
  deadline, ``:attempts`` token → job id, worker, claim time, queue, priority), the id
  index (``:ids``, job id → state and envelope, so that admin look-ups are O(1)),
  counters, the pause flags, the worker registry, and the claiming lists of blocking
  claims (``:claimers``, a ZSET of list name → deadline, and the short-lived
  ``:claiming:…`` lists it names). ``hash_tag=True`` names every key ``{ns}:…`` so that
  a namespace lives in one Redis Cluster slot; on a cluster (``redis+cluster://``,
  cluster.py) it is always on, so every script stays single-slot there too.
  ``RedisQueueSlots`` (slots.py; the default of a new namespace on a cluster URL,
  ``?slots=queue`` elsewhere) gives each queue other than ``default`` a slot of its
  own, ``{ns:<queue>}``, jobs and bookkeeping, with one ``RedisBackend`` per slot; ids,
  unique keys and batches are then per queue. ``?slots=namespace`` keeps one slot.
* **Layout versions** (layout.py): ``{ns}:meta`` records the layout; a writer's
  ``open`` upgrades an older namespace in place under a ``SET NX`` lock, a reader's
  refuses it.
* **Every transition is one Lua script** (scripts.lua): claim, complete, retry, bury,
  release, heartbeat, promote, reclaim, admin moves. Each is atomic, so a job is always
  in exactly one place, transitions are compare-and-set on the attempt token, counters
  move with the transition, and each due job is promoted exactly once however many pools
  promote. Scripts run by SHA and are reloaded on ``NOSCRIPT`` (a restarted or flushed
  server). Leases and due times use the server's clock (``TIME`` inside the scripts).
* **Batched**: a claim leases up to ``limit`` jobs in one round trip; ``complete`` and
  ``release`` acknowledge any number of attempts in one script call.
* **Idle claimers block, never poll, and wake up with the job** (claiming.py): BLMOVE
  into a claiming list of the claimer's own, on the server, then the claim script, in
  one pipeline; jobs pushed anywhere but ``{ns}:jobs`` append to their queue's wake
  stream, which an ``XREAD`` of the claimer watches. A claim cancelled while its script
  runs waits for the reply and releases what it leased, so a shutting-down pool does
  not leave jobs to wait for their lease to expire.
* **Errors** (transport.py): calls that are safe to repeat are retried once on a fresh
  connection, the rest raise ``BackendUnavailableError`` and the worker pool backs off
  and calls again; nothing is ever re-sent blindly.

Durability is Redis's: what the server acknowledged survives a crash only as far as its
persistence setting allows (AOF ``appendfsync everysec`` may lose about a second). A
``maxmemory-policy`` other than ``noeviction`` may silently delete jobs, so ``open``
warns about it.

The package, by noun: ``keys`` (the namespace's and the queues' keys, the hash tag),
``scripts`` (loading scripts.lua's named blocks), ``transport`` (connections, the
script lane, bounds, retries), ``driver_errors`` (redis-py's errors translated),
``claiming`` (blocking claims), ``layout`` (layout versions and the upgrade),
``backend`` (the class and its working verbs), ``upkeep`` (heartbeat, promote,
reclaim), ``history`` (finished jobs: cancel, progress, prune, waits), ``signals`` (the
pub/sub listener behind the waits), ``records`` (the attempt and finished-job records,
read back), ``listing`` (listings and look-ups), ``admin``
(the other admin verbs), ``slots``, ``slot_reads`` and ``slot_ticks`` (a slot per queue).

Completed and cancelled jobs (layout 3) are kept in wg's own keys (``{ns}:finished``,
``{ns}:expiry``, each queue's completed/cancelled ZSETs), never in the spec's; a
completion that keeps nothing runs layout 2's script unchanged.
"""

from __future__ import annotations

from wg_core.errors import MissingDependencyError

try:
    import redis  # noqa: F401  (the modules below import it: fail here, with the hint)
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise MissingDependencyError.for_extra("redis", "redis") from exc

from typing import Any

from wg_core.backends.redis.backend import RedisBackend
from wg_core.backends.redis.cluster import is_cluster_url
from wg_core.backends.redis.keys import split_slots
from wg_core.backends.redis.slots import RedisQueueSlots
from wg_core.backends.redis.transport import MIN_REDIS_VERSION

__all__ = ["MIN_REDIS_VERSION", "RedisBackend", "RedisQueueSlots", "redis_backend"]


def redis_backend(
    url: str, namespace: str = "wg", *, slot_per_queue: bool | None = None, **options: Any
) -> RedisBackend | RedisQueueSlots:
    """The backend of a Redis URL: ``RedisQueueSlots`` (a slot per queue) when the URL
    says ``slots=queue`` or ``slot_per_queue`` is true, ``RedisBackend`` (one slot) when
    it says ``slots=namespace`` or ``slot_per_queue`` is false. Saying neither, a
    cluster URL (``redis+cluster://``) gets ``RedisQueueSlots`` and any other
    ``RedisBackend``. Either keeps the layout an existing namespace records: a
    namespace created with one slot stays so under ``RedisQueueSlots``."""
    wanted = split_slots(url)[1] if slot_per_queue is None else slot_per_queue
    if wanted is None:
        wanted = is_cluster_url(url)
    if wanted:
        return RedisQueueSlots(url, namespace, **options)
    return RedisBackend(url, namespace, **options)
