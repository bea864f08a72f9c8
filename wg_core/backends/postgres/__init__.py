"""``PostgresBackend``: wg on PostgreSQL (psycopg 3, async, with psycopg_pool).

The package: ``driver`` (psycopg imported lazily, which errors mean a refused
configuration, URL checks), ``sessions`` (named blocks on a pooled async connection or
a caller's sync one), ``backend`` (the dialect: pools, the one-statement hot paths),
``listening`` (the LISTEN connection and the waits it wakes).

Guarantees, and how:

* **Atomic, leased claims in queue, priority and FIFO order**: one statement locks the
  first ready rows of the pool's queue (priority DESC, then id: a range of the partial
  index ``{ns}_jobs_claim_idx``) with ``FOR UPDATE SKIP LOCKED`` (in a ``MATERIALIZED``
  CTE; several queues: a ``LATERAL`` scan per queue over ``unnest(queues) WITH
  ORDINALITY``, stopped by the batch's ``LIMIT``), skipping paused queues, stamps them
  with a lease on the server's clock (``now()``) and a fresh token, and returns them.
  Concurrent claimers skip each other's rows instead of waiting; no transaction stays
  open while handlers run (pool connections are in autocommit mode).
* **Compare-and-set transitions** on (row id, token): a worker that lost its lease
  changes nothing. ``complete`` acknowledges a whole batch and bumps the counter in
  one statement; with results to keep, the same statement moves the rows into
  ``{ns}_finished`` (``DELETE … RETURNING`` feeding the ``INSERT``) and notifies
  ``{ns}_finished``. ``cancel`` locks the job's row, so a racing completion or
  ``finish_cancelled`` takes effect, never both.
* **Exactly-once pruning**: expired finished rows are picked ``FOR UPDATE SKIP LOCKED``
  and deleted in one statement.
* **Exactly-once promotion**: due rows are locked with SKIP LOCKED and moved in one
  transaction, so many pools can promote at once.
* **Wake-ups**: ``pg_notify`` in the enqueue/promote/release statement (delivered on
  commit, so a transactional enqueue wakes workers only if it commits); one dedicated
  autocommit connection ``LISTEN``s and wakes this process's idle claimers. While that
  connection is down, claimers poll every ``poll_interval`` seconds, and re-poll as
  soon as it is back (notifications sent meanwhile are lost). The same connection
  listens on ``{ns}_finished`` (``wait_finished``) and ``{ns}_cancel``
  (``wait_cancel_request``, so a running job's cancel reaches its worker at once).
* **Transactional enqueue**: ``enqueue(jobs, connection=conn)`` writes through your
  ``psycopg.AsyncConnection`` (or a sync ``psycopg.Connection``, for the blocking
  facade) inside your transaction: the job exists if and only if you commit.
* **Schema**: created, or upgraded in place from an older layout (the Rust wg's, wg's
  layouts 1 and 2) and its layout version recorded, on a writer's open under
  ``pg_advisory_lock``, so processes starting at once do not race on the catalog;
  readers raise ``SchemaOutdatedError`` on an older layout; an existing table lacking
  wg's columns is a ``SchemaError``.
* **Connection loss**: driver errors become ``BackendError`` /
  ``BackendUnavailableError``; the pool drops broken connections (and checks the idle
  ones after an error) and opens new ones, and the caller (the worker pool) retries.
* **Errors that say what is wrong**: a server that refuses the password, the role, the
  database or the access (no ``pg_hba.conf`` entry, SQLSTATE class 28, 3D000, 42501)
  raises ``BackendConfigError``, not ``BackendUnavailableError`` (refused, timed out,
  unresolvable: try later). libpq gives a refused *connection* no SQLSTATE, so there
  its message is matched, in English (a server with another ``lc_messages`` reports
  them as unreachable). A URL libpq cannot parse, or a bad port, is a ``ConfigError`` at
  construction. No message carries the URL's password: libpq quotes a malformed URI
  or its userinfo, so every driver message, and the driver's exception chained to
  wg's, is scrubbed at the edge.

Connections are tagged ``application_name = "wg:<namespace>"`` so an operator can find
them in ``pg_stat_activity``.
"""

from __future__ import annotations

from wg_core.backends.postgres.backend import PostgresBackend

__all__ = ["PostgresBackend"]
