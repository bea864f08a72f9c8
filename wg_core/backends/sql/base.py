"""``SqlBackend``: the one SQL engine, for PostgreSQL, MySQL/MariaDB and SQLite.

The tables and why they are shaped so: ``schema.py``. The verbs (``verbs.py``: producing,
claiming and transitions; ``admin.py``: the admin side) are written once as short units
of work over named SQL blocks; a dialect (``wg_core.backends.postgres``,
``wg_core.backends.mysql``, ``wg_core.backends.sqlite``) provides the blocks (the same
names in ``postgres.sql``, ``mysql.sql`` and ``sqlite.sql``), the driver layer that runs
a unit on a connection (the hooks below), the way idle claimers wait, and faster
versions of the hot paths where its SQL allows them. This module holds the hooks, how a
unit of work runs (retries, error translation, cancellation) and the lifecycle.
"""

from __future__ import annotations

import abc
import asyncio
import random
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar, Final, Self, TypeVar

from wg_core.backend import LAYOUT_VERSION, Attempt, NewJob
from wg_core.backends.common import Waiters
from wg_core.backends.resources import load_blocks
from wg_core.backends.sql.finished import FinishVerbs
from wg_core.backends.sql.imports import ImportVerbs
from wg_core.backends.sql.periodic import PeriodicVerbs
from wg_core.backends.sql.schema import (
    EXPECTED_COLUMNS,
    RUST_COLUMNS,
    TABLES,
    V2_ADDED,
    V2_COLUMNS,
    V3_ADDED,
    V3_COLUMNS,
)
from wg_core.backends.sql.session import Body, SqlSession
from wg_core.backends.sql.signals import Signal
from wg_core.errors import (
    BackendError,
    NamespaceNotFoundError,
    SchemaError,
    SchemaOutdatedError,
    WgError,
)
from wg_core.namespace import validate_namespace
from wg_core.urls import redact_url

__all__ = ["SqlBackend"]

T = TypeVar("T")

TRANSACTION_ATTEMPTS: Final = 6
"""A transaction that hits a deadlock or lock-wait timeout is retried this many times."""


class SqlBackend(PeriodicVerbs, FinishVerbs, ImportVerbs):
    """The shared engine. Subclasses name their SQL file and provide the driver layer
    (see the abstract methods; the others are hooks with a default)."""

    SQL_FILE: ClassVar[str] = ""
    """The dialect's resource file in ``wg_core.backends.sql``."""
    EXTRA_BLOCKS: ClassVar[frozenset[str]] = frozenset()
    """Blocks only this dialect has (its single-statement fast paths)."""
    ONE_STATEMENT_BATCHES: ClassVar[bool] = False
    """Whether ``_insert`` stores any batch in one statement (else a batch of several
    jobs gets an explicit transaction, so that it is all or nothing)."""
    UNIQUE_READ_FIRST: ClassVar[bool] = False
    """Whether an enqueue reads unique keys' rows locked before inserting the missing
    ones (``sql/unique.py``; MySQL), rather than inserting first."""
    COLUMNS: ClassVar[Mapping[str, frozenset[str]]] = EXPECTED_COLUMNS
    """The columns wg needs in each table, checked when the backend opens."""
    V3_UPGRADES: ClassVar[Mapping[str, str]] = V3_COLUMNS
    """A column layout 3 added to each existing table (``upgrade_v3_<table>`` adds it)."""
    DDL_IN_TRANSACTION: ClassVar[bool] = False
    """Whether the schema is created inside one transaction (SQLite: ``BEGIN IMMEDIATE``
    is its lock) rather than statement by statement under ``schema_lock``."""
    UNITS_OUTLIVE_CALLERS: ClassVar[bool] = False
    """Whether the driver itself runs every submitted unit of work to its end although
    its caller is cancelled (and releases the jobs of an abandoned claim). Otherwise the
    engine runs each unit as a shielded task and settles such orphans itself."""

    HEARTBEAT_IN_TRANSACTION: ClassVar[bool] = True
    """Whether a heartbeat's statements (renew, held, stop flag, register) share one
    transaction. A server dialect says no: a worker frozen (SIGSTOP) between two of
    its round trips would hold the renewed rows' locks, and other workers' reapers
    (``SKIP LOCKED``) could not take its jobs over until it resumed. Each statement
    then commits on its own and no lock outlives a round trip."""

    _init_arguments: tuple[tuple[Any, ...], dict[str, Any]]

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        backend = super().__new__(cls)
        # What the backend was built from, so that clone() builds its twin.
        backend._init_arguments = (args, kwargs)
        return backend

    def __init__(self, url: str, namespace: str = "wg") -> None:
        self._url = url
        self._namespace = validate_namespace(namespace)
        blocks = load_blocks("wg_core.backends.sql", self.SQL_FILE)
        # The namespace is validated (letters, digits, '_'), and the quotes around every
        # identifier are in the SQL text itself: substitute it once, here.
        self._sql: dict[str, str] = {
            name: text.replace("{ns}", self._namespace) for name, text in blocks.items()
        }
        self._waiters = Waiters()
        self._wake_generation = 0
        # Jobs finished, cancels requested: this process's wake-ups (finished.py).
        self._finished = Signal()
        self._cancels = Signal()
        self._cancels_seen = 0
        self._cancel_count_seen: int | None = None
        self._opened = False
        self._schema_ready = False
        self._orphans: set[asyncio.Future[Any]] = set()

    # -- properties ----------------------------------------------------------------------

    @property
    def namespace(self) -> str:
        """The validated namespace this backend stores under."""
        return self._namespace

    @property
    def display_url(self) -> str:
        """The server URL with any password redacted."""
        return redact_url(self._url)

    @property
    def supports_transactional_enqueue(self) -> bool:
        """SQL servers write through the caller's connection when given one."""
        return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.display_url!r}, namespace={self._namespace!r})"

    # -- what a dialect provides ---------------------------------------------------------

    @abc.abstractmethod
    async def _connect(self) -> None:
        """Open the connection pool (raise ``BackendUnavailableError`` if unreachable)."""

    async def _connect_for(self, *, create: bool) -> None:
        """Connect for ``open(create=...)``: a dialect whose connecting could create
        storage (SQLite's file) connects without creating it when ``create`` is false."""
        await self._connect()

    @abc.abstractmethod
    async def _disconnect(self) -> None:
        """Close every connection."""

    @abc.abstractmethod
    async def _unit(self, body: Body[T], *, transaction: bool, durable: bool) -> T:
        """Run ``body`` once on a pooled connection: inside one transaction (committed
        when ``body`` returns, rolled back if it raises), or with each statement
        committing on its own (``transaction=False``).

        ``durable=False`` allows a commit that a *server* crash may lose (never a process
        crash); only for writes whose loss merely lets a job run again, such as claims
        and lease renewals. Dialects without such a setting ignore it."""

    async def _read_unit(self, body: Body[T]) -> T:
        """Run a ``body`` that only reads (the admin queries). By default an autocommit
        unit; a dialect may send it to a connection of its own."""
        return await self._unit(body, transaction=False, durable=True)

    @abc.abstractmethod
    def _foreign(self, connection: object) -> AbstractAsyncContextManager[SqlSession]:
        """A session over the caller's own connection: no commit, no rollback (theirs)."""

    @abc.abstractmethod
    async def _insert(self, session: SqlSession, block: str, jobs: Sequence[NewJob]) -> None:
        """Insert ``jobs`` with ``block`` (``enqueue_jobs``/``enqueue_scheduled``), in
        order; an id already stored is a ``DuplicateJobError``."""

    @abc.abstractmethod
    def _translate(self, exc: BaseException) -> WgError | None:
        """wg's error for a driver error, or ``None`` if ``exc`` is not one."""

    def _wg_error(self, exc: BaseException) -> WgError | None:
        """``_translate``, plus what every dialect shares: text the driver cannot
        encode (a lone surrogate) is refused as a ``BackendError``."""
        if isinstance(exc, UnicodeError):
            return BackendError(f"cannot store text that is not valid UTF-8: {exc}")
        return self._translate(exc)

    @abc.abstractmethod
    def _is_transient(self, exc: BaseException) -> bool:
        """Whether ``exc`` is a deadlock or lock timeout worth retrying the transaction."""

    @abc.abstractmethod
    async def _wait_for_work(
        self,
        timeout: float,
        generation: int,
        limit: int,
        lease: float,
        worker_id: str,
        queues: Sequence[str],
    ) -> list[Attempt]:
        """Sleep until work may be there (a wake-up since ``generation``) or ``timeout``.

        Returns ``[]``, or jobs claimed for this waiter (``limit``, ``lease``,
        ``worker_id`` and ``queues`` are its claim's) by a dialect whose waiting claims
        on its behalf. Any enqueue into the namespace may wake it (it claims again).
        """

    async def _announce(self, session: SqlSession) -> None:
        """Tell other processes' idle claimers that jobs became ready, inside the
        transaction that made them ready (nothing by default: they poll)."""
        return None

    def _claim_succeeded(self, found: bool) -> None:
        """Hook: a claim found jobs (``True``) or found none (polling dialects adapt)."""
        return None

    # -- running units of work -----------------------------------------------------------

    async def _run(
        self, body: Body[T], *, transaction: bool = True, durable: bool = True, read: bool = False
    ) -> T:
        """Run ``body`` in a transaction (or autocommit; ``read``: a read-only unit),
        retrying on deadlocks and lock timeouts with jittered backoff, translating
        driver errors to wg's."""
        if not self._opened:
            raise BackendError(f"{self!r} is not open: call open() first")
        if self.UNITS_OUTLIVE_CALLERS:
            return await self._attempt(body, transaction, durable, read)
        # The unit of work runs to its end even if the caller is cancelled: a worker
        # cancelled while acknowledging must not roll back a completion whose handler
        # already ran (close() waits for such orphans).
        return await self._outliving(
            self._attempt(body, transaction, durable, read), self._orphan_done
        )

    async def _settle_orphans(self) -> None:
        """Wait for work whose caller was cancelled (and for what it set off, such as
        releasing a cancelled claim's jobs), so that later calls see its effects."""
        current = asyncio.current_task()
        while pending := self._orphans - {current}:
            await asyncio.gather(*pending, return_exceptions=True)

    def _orphan_done(self, task: asyncio.Future[Any]) -> None:
        self._orphans.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a failure here was already the caller's problem

    async def _attempt(
        self,
        body: Body[T],
        transaction: bool,
        durable: bool,
        read: bool,
    ) -> T:
        for attempt in range(TRANSACTION_ATTEMPTS):
            try:
                if read:
                    return await self._read_unit(body)
                return await self._unit(body, transaction=transaction, durable=durable)
            except Exception as exc:
                if self._is_transient(exc) and attempt + 1 < TRANSACTION_ATTEMPTS:
                    await asyncio.sleep(random.uniform(0.5, 1.5) * 0.005 * 2**attempt)
                    continue
                translated = self._wg_error(exc)
                if translated is None:
                    raise
                raise translated from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _signal(self) -> None:
        """Wake this process's idle claimers (another wake-up generation)."""
        self._wake_generation += 1
        self._waiters.wake_all()

    # -- lifecycle -----------------------------------------------------------------------

    def clone(self) -> Self:
        """A new, unopened backend with the same URL, namespace and options (for another
        thread and event loop; see ``Backend.clone``)."""
        args, kwargs = self._init_arguments
        return type(self)(*args, **kwargs)

    async def open(self, *, create: bool = True) -> None:
        """Connect and create the tables if missing (idempotent, safe to race).

        ``create=False`` (readers): connect only, create and upgrade nothing, and raise
        ``NamespaceNotFoundError`` if this namespace has no tables here."""
        connected = False
        if not self._opened:
            await self._connect_for(create=create)
            self._opened = connected = True
        try:
            if not self._schema_ready:
                if create:
                    await self._run(self._create_schema, transaction=self.DDL_IN_TRANSACTION)
                else:
                    await self._run(self._require_schema, read=True)
                self._schema_ready = True
        except BaseException:
            if connected:  # a failed open leaves nothing open behind it
                self._opened = False
                await self._disconnect()
            raise

    async def _create_schema(self, session: SqlSession) -> None:
        lock = {"lock": f"wg-schema:{self._namespace}"}
        # A server-side lock serialises processes starting at once: concurrent CREATE
        # TABLE IF NOT EXISTS can otherwise fail on the catalog (PostgreSQL) or race, and
        # the second of two upgraders finds the first one's work done.
        await session.fetch("schema_lock", lock)
        try:
            found = await self._table_columns(session)
            recorded = await self._recorded_version(session, found)
            if recorded > LAYOUT_VERSION:
                raise self._too_new(recorded)
            for table in self._check_columns(found):
                await self._upgrade_table(session, f"upgrade_{table}", table)
            # Layout 1 -> 2, table by table (each block one atomic ALTER where the server
            # allows it), only where the table lacks layout 2's column: re-running it
            # after a crash half-way does the rest.
            for table, column in V2_COLUMNS.items():
                columns = found.get(f"{self._namespace}_{table}")
                if columns is not None and column not in columns:
                    await self._upgrade_table(session, f"upgrade_v2_{table}", table)
            if f"{self._namespace}_meta" in found and recorded < 2:
                await session.script("upgrade_v2_meta")
            # Layout 2 -> 3 the same way (columns for cancel requests and progress; the
            # table of finished jobs is created by the schema block).
            for table, column in self.V3_UPGRADES.items():
                columns = found.get(f"{self._namespace}_{table}")
                if columns is not None and column not in columns:
                    await self._upgrade_table(session, f"upgrade_v3_{table}", table)
            await session.script("schema")
            # Layout 3 -> 4: queue limits live in tables of their own (sql/limiting.py).
            await session.script("schema_limits")
            if recorded < 5:
                # Layout 4 -> 5: state counts kept by triggers, counted from the rows once.
                await self._install_counts(session)
            if recorded != LAYOUT_VERSION:
                # Last: a namespace records its layout only once it has all of it.
                await session.execute("record_layout_version", {"version": LAYOUT_VERSION})
        finally:
            await session.fetch("schema_unlock", lock)

    async def _upgrade_table(self, session: SqlSession, block: str, table: str) -> None:
        try:
            await session.script(block)
        except Exception as exc:
            if self._wg_error(exc) is None:
                raise
            raise SchemaError(
                f"upgrading table {self._namespace}_{table} failed ({exc}); apply the "
                f"'{block}' block of {self.SQL_FILE} by hand or use another namespace"
            ) from exc

    def _too_new(self, recorded: int) -> SchemaError:
        return SchemaError(
            f"namespace {self._namespace!r} at {self.display_url} has storage layout "
            f"{recorded}, newer than this wg's ({LAYOUT_VERSION}): upgrade wg"
        )

    async def _recorded_version(self, session: SqlSession, found: dict[str, set[str]]) -> int:
        """The layout version the namespace records (0 where none is recorded)."""
        meta = found.get(f"{self._namespace}_meta")
        if meta is None or not self.COLUMNS["meta"] - V3_ADDED <= meta:
            return 0  # the Rust wg's tables (no meta), or SQLite's layout 1 meta row
        rows = await session.fetch("layout_version")
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    async def layout_version(self) -> int:
        """The layout version recorded for this namespace (0: none recorded)."""

        async def body(session: SqlSession) -> int:
            return await self._recorded_version(session, await self._table_columns(session))

        return await self._run(body, read=True)

    async def _require_schema(self, session: SqlSession) -> None:
        """A reader's check: the namespace's tables exist, at this wg's layout."""
        found = await self._table_columns(session)
        if not found:
            raise NamespaceNotFoundError(
                f"no namespace {self._namespace!r} at {self.display_url} (nothing was created)"
            )
        recorded = await self._recorded_version(session, found)
        if recorded > LAYOUT_VERSION:
            raise self._too_new(recorded)
        if recorded < LAYOUT_VERSION:
            raise SchemaOutdatedError(
                f"namespace {self._namespace!r} at {self.display_url} has storage layout "
                f"{recorded}, older than this wg's ({LAYOUT_VERSION}): open it once as a "
                "writer (start a worker, or run `wg upgrade`) to upgrade it in place",
                found=recorded,
            )
        for table in TABLES:
            missing = self.COLUMNS[table] - found.get(f"{self._namespace}_{table}", set())
            if missing:
                raise SchemaError(
                    f"namespace {self._namespace!r} at {self.display_url} lacks wg's "
                    f"{self._namespace}_{table} table or columns ({', '.join(sorted(missing))}): "
                    "open it once as a writer (e.g. start a worker) to create or upgrade them"
                )

    async def _table_columns(self, session: SqlSession) -> dict[str, set[str]]:
        """The columns of this namespace's tables that exist, by table name."""
        names = [f"{self._namespace}_{table}" for table in TABLES]
        found: dict[str, set[str]] = {}
        for table_name, column in await session.fetch("columns", {"tables": names}):
            found.setdefault(str(table_name), set()).add(str(column).lower())
        return found

    def _check_columns(self, found: dict[str, set[str]]) -> list[str]:
        """Tables to upgrade from the Rust wg's shape; SchemaError for foreign ones."""
        names = {f"{self._namespace}_{table}": table for table in TABLES}
        upgrades: list[str] = []
        for table_name, columns in found.items():
            table = names.get(table_name)
            if table is None:
                continue
            # What layout 1 had: later layouts' columns are added by upgrade_v<n>_<table>.
            missing = self.COLUMNS[table] - columns - V2_ADDED - V3_ADDED
            if not missing:
                continue
            if table in RUST_COLUMNS and RUST_COLUMNS[table] <= columns:
                upgrades.append(table)
            else:
                raise SchemaError(
                    f"table {table_name!r} exists but lacks the column(s) "
                    f"{', '.join(sorted(missing))} that wg needs: it was not created by wg. "
                    f"Use another namespace, or drop or rename that table."
                )
        return upgrades

    async def close(self) -> None:
        """Close the connections; waiting claimers return. Safe to call twice."""
        if self._orphans:
            await asyncio.gather(*self._orphans, return_exceptions=True)
        opened, self._opened = self._opened, False
        self._signal()  # waiting claimers see the backend closed and return
        if opened:
            await self._disconnect()

    async def destroy(self) -> None:
        """Drop this namespace's tables (``open`` creates them again)."""

        async def body(session: SqlSession) -> None:
            await session.script("drop")
            await session.script("drop_limits")

        await self._run(body, transaction=False)
        self._schema_ready = False
