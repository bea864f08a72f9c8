"""``MySqlBackend``: wg on MySQL 8.0+ / MariaDB 10.6+ (PyMySQL, on threads).

``from wg_core.backends.mysql import MySqlBackend``.

Guarantees, and how:

* **Never blocks the event loop**: PyMySQL is a blocking driver, so every connection
  gets its own thread, and a whole unit of work (BEGIN, the statements, COMMIT) runs
  there in one hop while the caller's loop waits on a single future. A small pool of
  such connections serves the backend (``pool_size``).
* **Atomic, leased claims in queue, priority and FIFO order**: one short READ
  COMMITTED transaction selects the first ready ids of the pool's first queue (priority
  DESC, then id) ``FOR UPDATE SKIP LOCKED``, then of the next queues while the batch is
  short (MariaDB has no ``LATERAL``), skipping paused queues, stamps them with a lease
  on the server's clock (``UTC_TIMESTAMP(6)``) and a fresh token by primary key, and
  commits. READ
  COMMITTED (set on wg's own sessions) avoids the gap locks that REPEATABLE READ takes
  on locking reads, which would block concurrent enqueues. A transaction that hits a
  deadlock (1213) or lock-wait timeout (1205) is retried whole, with jittered backoff.
  The claim and the acknowledgement take two round trips each: their statements are
  sent together as multi-statements, the acknowledgement's ``COMMIT`` on its own once
  its results are read (``CLIENT.MULTI_STATEMENTS``, on wg's own
  connections only; values are still bound by the driver).
* **Compare-and-set transitions** on (row id, token), with the counter bump in the same
  transaction. Connections use ``CLIENT.FOUND_ROWS`` so that an UPDATE reports the rows
  it matched, not only those it changed.
* **Exactly-once promotion and pruning**: due (or expired finished) rows are locked
  with SKIP LOCKED and moved (or deleted) in one transaction.
* **Results and cancellation**: a completion with results to keep moves the rows into
  ``{ns}_finished`` in the acknowledgement's transaction; ``cancel`` locks the job's
  row, so a racing completion or ``finish_cancelled`` takes effect, never both. With no
  notifications, ``wait_finished`` and ``wait_cancel_request`` poll (at most 0.5 s
  apart); this process's own finishes and cancels wake them at once.
* **Wake-ups**: an enqueue, promotion or release in this process wakes its idle
  claimers at once. Jobs enqueued by other processes are found by a *poller*: while
  at least one claimer waits, one dedicated connection (on its own thread, so it never
  queues behind busy pooled connections nor wakes the event loop for nothing) runs a
  cheap probe, a single indexed ``SELECT`` without locks or transaction; only when it
  sees a claimable job does it run the locking claim, itself, on its connection (the
  same statements, each waiting claimer's own limit and lease, oldest claimer first),
  and hand the attempts to that claimer: no wake-up, no hand-off to a pooled link, no
  gap between probe and claim. A claimer that is cancelled while the poller claims for
  it leaves the attempts to the poller, which releases them at once (they go to the
  front of the queue, and the claimers are woken); one whose wait ends meanwhile
  takes them. The probe runs every ``min_poll_interval`` (1 ms) while jobs flowed in
  the last ``idle_after`` seconds (2 s), then backs off, doubling, to
  ``max_poll_interval`` (1 s): an idle worker costs about one probe a second. A claim
  also runs on its own at least every claim wait (the pool's ``fetch_timeout``). The
  poller stops while no claimer waits (every slot busy). The fast cadence has a price
  while it lasts: a probe is roughly 0.1 ms of worker CPU and as much of the server's,
  so 1 ms polling is about a tenth of a core on each side (measured on a busy 2-core
  machine); raise ``min_poll_interval`` or lower ``idle_after`` to trade latency for
  it. Limited queues (docs/limits.md): their waiting jobs are not "found" (only the
  limited claim may take them); the probe also reads a mark of the waited limited
  queues (limits, jobs running under a live lease, the newest id under a per-key
  limit), and a new mark wakes the claimers, so a slot freed in another process is
  taken within one probe, every 5 ms at most while such a queue holds ready jobs.
* **Transactional enqueue**: ``enqueue(jobs, connection=conn)`` writes through your
  PyMySQL connection inside your transaction (it is not committed for you).
* **Refuses old servers**: without ``SKIP LOCKED`` (MariaDB < 10.6, MySQL < 8.0.1)
  claims could not be both concurrent and FIFO, so ``open`` fails with a clear message.
* **Connection loss**: driver errors become ``BackendError`` /
  ``BackendUnavailableError``; a broken connection is closed and replaced on its next
  use, and the caller (the worker pool) retries.
* **Errors that say what is wrong**: a server that refuses the credentials, the
  database or the access (1044, 1045, 1049, 1698 …) raises ``BackendConfigError``, not
  ``BackendUnavailableError`` (refused, timed out, unresolvable: try later); a
  malformed URL or port is a ``ConfigError``. No message carries the URL's password: every
  driver message, and the driver's exception chained to wg's, is scrubbed at the edge.

Tables are InnoDB, ``utf8mb4``; envelopes are ``MEDIUMTEXT`` (up to 16 MiB). Where
binary logging is on, use ``binlog_format=ROW`` (or MIXED): ``SKIP LOCKED`` is unsafe for
statement-based replication.

The modules: ``backend`` (``MySqlBackend``: settings, its pool of links, the claim and
acknowledgement, error translation), ``link`` (one connection and its thread),
``sessions`` (named blocks and statements run on a link or on the caller's
connection), ``poller`` (finding other processes' jobs for waiting claimers) and
``driver`` (PyMySQL's lazy import, the server error codes, the version check).
"""

from wg_core.backends.mysql.backend import MySqlBackend

__all__ = ["MySqlBackend"]
