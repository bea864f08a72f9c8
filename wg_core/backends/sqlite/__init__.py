"""``SqliteBackend``: the backend contract on an embedded SQLite file (or in memory).

Guarantees, and how they are kept:

* **Nothing acknowledged is lost.** The database runs in WAL mode with
  ``synchronous=FULL`` by default: an enqueue, an acknowledgement or an admin change
  returns only after its transaction is on disk (``synchronous="normal"`` trades the
  last transactions on power loss for speed). Claims, lease renewals and reclaims
  commit without waiting for the disk: losing one on power loss only puts a job back
  in the queue, and the next durable commit carries it to disk anyway.
* **Atomic leased claims in queue, priority and FIFO order.** A claim is one ``UPDATE …
  WHERE id IN (SELECT … ORDER BY priority DESC, id LIMIT n) RETURNING`` statement (several
  queues: a ``UNION ALL`` of one such subquery per queue, in order) under the write lock
  (the dialect's fast path), so two claimers (threads, backends, processes) never lease
  the same row. A running
  job stays in ``{ns}_jobs`` with its lease set; releasing it clears the lease, so it keeps its
  place at the front.
* **Compare-and-set transitions.** Complete, retry, bury, release and lease renewal
  match the row *and* the attempt's token; counters change in the same transaction.
  A job kept after it finished moves to ``{ns}_finished`` in that transaction; a
  cancel and a completion are serialised by the write lock (exactly one wins).
* **Waiting for a finish or a cancel request**: every backend of a process on the same
  file shares its wake-ups (``wakeups.py``); other processes' are found by polling
  (0.05 s doubling to 0.5 s).
* **Every write transaction takes the write lock up front** and waits for it up to
  ``busy_timeout``: ``BEGIN IMMEDIATE``, or, for a lone one-statement write (a single
  enqueue, a claim), autocommit mode, where the statement's first step does the same.
  (A deferred transaction that reads and then writes fails at once with SQLITE_BUSY in
  WAL mode when another connection wrote in between.) Promotion therefore moves each
  due job exactly once. A single enqueue is one ``INSERT … SELECT … WHERE NOT EXISTS``
  (the other tables) under ``{ns}_jobs``'s unique index on ``job_id``: one statement,
  one commit.
* **Times** come from the injectable ``clock`` (Unix seconds) and are passed to SQL as
  integer milliseconds; SQLite's own clock is never used.

How it is built: ``SqliteBackend`` is a dialect of the one SQL engine
(``wg_core.backends.sql``), beside PostgreSQL and MySQL: the verbs, the schema code
and the admin code are the engine's, the queries are ``sql/sqlite.sql`` (the engine's
block names; times bound as integer milliseconds of the injectable ``clock``, lists as
JSON arrays). This package is only the driver layer:

* ``backend.py``: the dialect's hooks: connections, how a unit of work runs on one,
  bulk enqueue's duplicate check, the acknowledgement (with results: one statement);
* ``claiming.py``: the one-statement claim and idle claimers' wait;
* ``wakeups.py``: the in-process wake-ups every backend on a file shares;
* ``connection.py``: one ``sqlite3`` connection on its own thread, with group commit;
* ``session.py``: the engine's named blocks on such a connection;
* ``watcher.py``: wake-ups for other processes' commits;
* ``database.py``: URLs, opening the file (or not: readers), wg's SQL functions.

How it runs: each backend owns one write connection and one read connection (admin
queries), each on its own thread, so the event loop never blocks on SQLite. The standard
library's ``sqlite3`` is driven directly rather than through aiosqlite: one thread hop
runs a whole unit of work (the engine's ``async`` body, driven by hand on that thread:
its statements never suspend), where aiosqlite needs one per statement (about 0.2 ms
each); on this project's machines that is 1.7× the throughput of a claim/complete loop.
The caller's asyncio future travels with the call and is settled by one
``call_soon_threadsafe`` per batch: a call is one hop there and one back. A call
never waits for others to arrive. Write calls that arrive while a transaction is
running are committed together in the next one (group commit), each in its own
savepoint, so concurrent workers share the cost of an fsync without sharing each
other's failures; in such a group the writes that need not reach the disk (claims,
lease renewals) commit first and are answered before the others wait for their fsync.

Cancelling a caller never abandons a write half-way: a submitted write runs to the end
(so a finished job is acknowledged even if its acknowledger is cancelled); a claim
cancelled before it ran never runs, and one cancelled while running releases its jobs.

Readers: ``open(create=False)`` opens an existing file only (``mode=rw``: no file is
created, its journal mode is left alone, no table is created or upgraded) and raises
``NamespaceNotFoundError`` when the file or the namespace's tables do not exist.

Wake-ups: enqueue, promotion, release and resume wake idle claimers of every
``SqliteBackend`` on the same file and namespace in this process at once (a shared
``Waiters``). For work made by other processes, a watcher thread (started by the first
claim that waits) polls ``PRAGMA data_version`` every ``poll_interval`` seconds while
a claimer is idle (5 ms by default, 1 ms within a second of a change; about 1-3 % of a
core while idle on this project's 2-core VMs; nothing while every claim finds work):
it changes whenever another connection commits, and the watcher then wakes the
claimers.

Tables (the spec's names): ``{ns}_jobs``, ``{ns}_scheduled`` (``run_at``),
``{ns}_retry`` (``retry_at``), ``{ns}_dead``, plus ``{ns}_workers`` and ``{ns}_meta``.
A Rust producer's ``INSERT INTO {ns}_jobs (job_json) VALUES (?)`` is picked up by
workers.
"""

from __future__ import annotations

from wg_core.errors import MissingDependencyError

try:
    import sqlite3  # noqa: F401 - only to fail clearly without it
except ImportError as exc:  # pragma: no cover - Python built without SQLite
    raise MissingDependencyError(
        "this Python was built without the sqlite3 module, which the SQLite backend needs"
    ) from exc

from wg_core.backends.sqlite.backend import MIN_SQLITE_VERSION, SqliteBackend

__all__ = ["MIN_SQLITE_VERSION", "SqliteBackend"]
