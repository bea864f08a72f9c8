"""The tables of wg's SQL engine, the columns it checks, and the SQL blocks it runs.

Storage, the same for every dialect (PostgreSQL, MySQL/MariaDB, SQLite)::

    {ns}_jobs       queued and running jobs: id (autoincrement: the FIFO order),
                    job_json (the envelope), job_id, job_name, enqueued_at, queue and
                    priority, and for a running job lease_token / lease_until /
                    worker_id / claimed_at, cancel_requested (and the keep the cancel
                    asked for, cancel_keep_us) and its progress (progress,
                    progress_message, progress_at)
    {ns}_scheduled  run_at (Unix seconds, as the Rust wg writes it) + run_at_us
                    (SQLite: run_at_ms, the exact due time in Unix milliseconds)
    {ns}_retry      retry_at (Unix seconds) + retry_at_us (SQLite: retry_at_ms), last_error
    {ns}_dead       last_error, died_at
    {ns}_finished   COMPLETED and CANCELLED jobs kept for their retention period: state,
                    the envelope as it ran, job_id (unique), job_name, queue, priority,
                    result, last_error, started_at, finished_at, expires_at and the
                    progress it had; wg's own table, which the Rust wg never reads
    {ns}_workers    the worker registry (heartbeats, stop requests, served queues)
    {ns}_meta       the namespace's pause flag, layout version and processed/failed
                    counters (SQLite: one row with a column each; the servers: sharded
                    rows of name/shard/value, a queue's counters named
                    ``processed:<queue>``, the queue ``default``'s plain ``processed``)
    {ns}_unique     unique keys' holds (layout 4): unique_key (primary key), the job_id
                    that took it, hold_until (unique_for's end, NULL for none); see
                    sql/unique.py
    {ns}_queues     one row per queue paused (or once paused) by name; on SQLite also
                    each queue's processed/failed counters
    {ns}_periodic   the registry of periodic entries (layout 4): name (key), schedule,
                    the job's name, queue, priority and template (``job``), next_run,
                    last_tick, last_run_at, last_job_id, the registration that last
                    declared it and when; times are Unix seconds of the pools' clocks
    {ns}_counts     PostgreSQL and MySQL (layout 5): the rows of each job table per
                    queue and state (PostgreSQL: and priority), as signed deltas per
                    session kept by triggers and summed on read; see sql/counting.py

``queue`` (text, ``default``) and ``priority`` (small integer, 0) are columns of the
four job tables, defaulted, so that a Rust producer's plain insert is a ``default``/0
job. Layout versions (``wg_core.backend.LAYOUT_VERSION``): v0 is the Rust wg's tables,
v1 the first release's (no version recorded), v2 adds queues and priorities; the
version is recorded in ``{ns}_meta`` (``layout_version``) last, once the upgrade is done.
v3 adds ``{ns}_finished`` and the running-job columns (cancel requests, progress) of
``{ns}_jobs``, all nullable or defaulted, and a counter of cancel requests
(``{ns}_meta``: the row ``cancels``; SQLite: the column ``cancels``) that polling
dialects watch. v4 adds ``{ns}_periodic`` (created by the schema block; no existing
table changes). v5 adds, on PostgreSQL and MySQL, ``{ns}_counts`` and the triggers keeping it (the
``schema_counts`` block; the rows there are counted under a lock); no table changes.

Time columns are the server's timestamps on PostgreSQL and MySQL, integer Unix
milliseconds of the backend's clock on SQLite (which has no server clock); each
dialect's blocks convert them to Unix seconds for the engine.

Why it is shaped so:

* A running job stays in ``{ns}_jobs`` with its lease set; releasing it clears the lease,
  so it keeps its id and therefore its place at the front of the queue.
* Every column beyond the Rust wg's ``job_json`` / ``run_at`` / ``retry_at`` is nullable
  or defaulted, so a Rust producer's plain ``INSERT INTO {ns}_jobs (job_json) VALUES
  (...)`` is claimed like any other job, and tables the Rust wg created are upgraded in
  place (``upgrade_*`` blocks); any other table lacking wg's columns is a SchemaError.
  ``run_at_us`` holds the microseconds past ``run_at`` (0 for Rust rows), so due times
  are exact and still indexable.
* A claim's token is ``<random batch id>-<row id>``: unique per attempt, so "held" is
  ``id IN (...) AND lease_token IN (...)``, one statement for a whole batch.
* Counters live in rows sharded by a random number and are summed on read, so that
  many workers acknowledging at once do not queue on one hot row; each bump happens in
  the transaction of the transition that causes it.
* A finished job leaves ``{ns}_jobs`` in the same transaction (PostgreSQL: the same
  statement) that stores it in ``{ns}_finished``, so the Rust-visible tables only ever
  hold jobs still to run; ``complete`` with nothing to keep is the layout 2 delete.
  Finish order is ``{ns}_finished.id`` (rows are inserted when jobs finish).
* Due times and leases come from the server's clock (SQLite: the backend's injectable
  clock, bound by its driver as ``:now_ms``); callers pass relative seconds, and the
  engine binds durations as whole microseconds (``micros``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from wg_core.backend import JobState

__all__ = [
    "EXPECTED_COLUMNS",
    "RUST_COLUMNS",
    "SHARED_BLOCKS",
    "SQLITE_COLUMNS",
    "SQLITE_V3_COLUMNS",
    "STATE_TABLES",
    "TABLES",
    "V2_ADDED",
    "V2_COLUMNS",
    "V3_ADDED",
    "V3_COLUMNS",
]

TABLES: Final = (
    "jobs",
    "scheduled",
    "retry",
    "dead",
    "workers",
    "meta",
    "queues",
    "finished",
    "unique",
    "periodic",
)

EXPECTED_COLUMNS: Final[Mapping[str, frozenset[str]]] = {
    "jobs": frozenset(
        {
            "id",
            "job_json",
            "job_id",
            "job_name",
            "enqueued_at",
            "lease_token",
            "lease_until",
            "worker_id",
            "claimed_at",
            "queue",
            "priority",
            "cancel_requested",
            "cancel_keep_us",
            "progress",
            "progress_message",
            "progress_at",
        }
    ),
    "scheduled": frozenset(
        {
            "id",
            "job_json",
            "job_id",
            "job_name",
            "run_at",
            "run_at_us",
            "enqueued_at",
            "queue",
            "priority",
        }
    ),
    "retry": frozenset(
        {
            "id",
            "job_json",
            "job_id",
            "job_name",
            "retry_at",
            "retry_at_us",
            "last_error",
            "enqueued_at",
            "queue",
            "priority",
        }
    ),
    "dead": frozenset(
        {"id", "job_json", "job_id", "job_name", "last_error", "died_at", "queue", "priority"}
    ),
    "workers": frozenset(
        {
            "worker_id",
            "host",
            "pid",
            "concurrency",
            "running",
            "started_at",
            "last_seen",
            "state",
            "stop_requested",
            "job_names",
            "queues",
        }
    ),
    "meta": frozenset({"name", "shard", "value"}),
    "queues": frozenset({"name", "paused"}),
    "finished": frozenset(
        {
            "id",
            "state",
            "job_json",
            "job_id",
            "job_name",
            "queue",
            "priority",
            "result",
            "last_error",
            "started_at",
            "finished_at",
            "expires_at",
            "progress",
            "progress_message",
            "progress_at",
        }
    ),
    "unique": frozenset({"unique_key", "job_id", "hold_until"}),
    "periodic": frozenset(
        {
            "name",
            "schedule",
            "job_name",
            "queue",
            "priority",
            "job",
            "next_run",
            "last_tick",
            "last_run_at",
            "last_job_id",
            "registration",
            "registered_at",
        }
    ),
}
"""The columns wg needs in each table (``{ns}_<table>``); checked when the backend opens."""

SQLITE_COLUMNS: Final[Mapping[str, frozenset[str]]] = {
    **EXPECTED_COLUMNS,
    "scheduled": EXPECTED_COLUMNS["scheduled"] - {"run_at_us"} | {"run_at_ms"},
    "retry": EXPECTED_COLUMNS["retry"] - {"retry_at_us"} | {"retry_at_ms"},
    "meta": frozenset({"id", "paused", "processed", "failed", "layout_version", "cancels"}),
    "queues": frozenset({"name", "paused", "processed", "failed"}),
}
"""SQLite's columns: due times in milliseconds, one row of namespace counters, and each
queue's counters beside its pause flag."""

V2_COLUMNS: Final[Mapping[str, str]] = {
    "jobs": "queue",
    "scheduled": "queue",
    "retry": "queue",
    "dead": "queue",
    "workers": "queues",
}
"""A column layout 2 added to each table: an existing table without it is upgraded by
the ``upgrade_v2_<table>`` block."""

V2_ADDED: Final = frozenset({"queue", "priority", "queues", "layout_version"})
"""Every column layout 2 added (to tell a layout 1 table from a foreign one)."""

V3_COLUMNS: Final[Mapping[str, str]] = {"jobs": "cancel_requested"}
"""A column layout 3 added to an existing table: a table without it is upgraded by the
``upgrade_v3_<table>`` block (``{ns}_finished`` is simply created)."""

SQLITE_V3_COLUMNS: Final[Mapping[str, str]] = {**V3_COLUMNS, "meta": "cancels"}
"""SQLite's: its one-row ``{ns}_meta`` also gains a column."""

V3_ADDED: Final = frozenset(
    {"cancel_requested", "cancel_keep_us", "progress", "progress_message", "progress_at", "cancels"}
)
"""Every column layout 3 added to an existing table."""

RUST_COLUMNS: Final[Mapping[str, frozenset[str]]] = {
    "jobs": frozenset({"id", "job_json"}),
    "scheduled": frozenset({"id", "job_json", "run_at"}),
    "retry": frozenset({"id", "job_json", "retry_at"}),
    "dead": frozenset({"id", "job_json"}),
}
"""The columns of the Rust wg's tables: a table with these is upgraded in place (wg's
columns added, all nullable or defaulted) rather than refused."""

SHARED_BLOCKS: Final = frozenset(
    {
        # schema
        "schema_lock",
        "schema_unlock",
        "columns",
        "schema",
        "upgrade_jobs",
        "upgrade_scheduled",
        "upgrade_retry",
        "upgrade_dead",
        "upgrade_v2_jobs",
        "upgrade_v2_scheduled",
        "upgrade_v2_retry",
        "upgrade_v2_dead",
        "upgrade_v2_workers",
        "upgrade_v2_meta",
        "upgrade_v3_jobs",
        "upgrade_v3_meta",
        "layout_version",
        "record_layout_version",
        "drop",
        # producing
        "enqueue_jobs",
        "enqueue_scheduled",
        # unique keys (layout 4, sql/unique.py)
        "unique_holder",
        "unique_holders",
        "unique_take_many",
        "unique_take",
        "unique_take_over",
        "unique_forget",
        # working
        "claim_select",
        "lease",
        "complete",
        "bump",
        "hold",
        "insert_retry",
        "insert_dead",
        "release",
        "renew",
        "held",
        "due_scheduled",
        "due_retry",
        "requeue_scheduled",
        "requeue_retry",
        "expired",
        "forget_workers",
        # results, cancellation, progress, retention
        "lock_held",
        "keep_completed",
        "keep_cancelled",
        "drop_held",
        "retry_cancelled",
        "find_job",
        "request_cancel",
        "held_cancels",
        "keep_released",
        "count_cancel",
        "cancel_requests",
        "cancel_queued",
        "cancel_scheduled",
        "cancel_retry",
        "cancel_dead",
        "set_progress",
        "prune_select",
        # moving and deleting rows
        "remove_jobs",
        "remove_scheduled",
        "remove_retry",
        "remove_dead",
        "remove_finished",
        "find_queued",
        "find_scheduled",
        "find_retry",
        "find_dead",
        "find_completed",
        "find_cancelled",
        "insert_job",
        "delete_queued",
        "delete_scheduled",
        "delete_retry",
        "delete_dead",
        "delete_finished",
        "purge_queued",
        "purge_scheduled",
        "purge_retry",
        "purge_dead",
        "purge_completed",
        "purge_cancelled",
        # importing (wg migrate)
        "import_queued",
        "import_scheduled",
        "import_retry",
        "import_dead",
        "import_finished",
        # admin
        "counts",
        "counts_by_queue",
        "counters",
        "set_paused",
        "is_paused",
        "set_queue_paused",
        "is_queue_paused",
        "queue_flags",
        "get_job",
        "list_queued",
        "list_queued_newest",
        "list_running",
        "list_running_newest",
        "list_scheduled",
        "list_scheduled_newest",
        "list_retry",
        "list_retry_newest",
        "list_dead",
        "list_dead_newest",
        "list_completed",
        "list_completed_newest",
        "list_cancelled",
        "list_cancelled_newest",
        "worker_stop_flag",
        "register_worker",
        "unregister_worker",
        "list_workers",
        "request_stop",
        # periodic entries (layout 4)
        "periodic_register",
        "periodic_forget",
        "periodic_fire",
        "periodic_revive",
        "periodic_list",
        # queue limits (issue 20, layout 4)
        "schema_limits",
        "drop_limits",
        "limit_set",
        "limit_clear",
        "limit_clear_starts",
        "limit_queues",
        "limit_room",
        "limit_lock",
        "limit_running",
        "limit_prune_starts",
        "limit_starts",
        "limit_candidates",
        "limit_record_start",
        "limit_key_insert",
        "limit_list",
        "limit_keys_scan",
        "limit_keys_prune",
        "limit_keys_of",
    }
)
"""The blocks ``SqlBackend`` runs: every dialect's ``.sql`` file defines all of them."""

STATE_TABLES: Final = {
    JobState.QUEUED: "jobs",
    JobState.SCHEDULED: "scheduled",
    JobState.RETRY: "retry",
    JobState.DEAD: "dead",
    JobState.COMPLETED: "finished",
    JobState.CANCELLED: "finished",
}
"""The table holding each state but RUNNING (running jobs stay in ``{ns}_jobs``)."""
