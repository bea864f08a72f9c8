"""Layout versions of a namespace on Redis: reading, creating and upgrading them.

``{ns}:meta`` (a HASH) records the layout under ``layout`` (and ``slots`` = ``queue``
for a namespace made with a slot per queue, slots.py): ``1`` for what wg wrote
before named queues, ``2`` with named queues and priorities, ``3`` with completed and
cancelled jobs kept in keys of their own, ``4`` with unique keys' holds in
``{ns}:unique`` (a new key: nothing moves), ``5`` for this code (``LAYOUT_VERSION``: the
SQL engine's trigger-kept counts; nothing changes on Redis, whose counts were always
O(1)); a namespace only the Rust wg wrote has no ``{ns}:meta`` and reads as ``0``.
Layout 5 reads the data of 0 to 4 exactly as it is (a job without a placement is the queue
``default``'s at priority 0, where layouts 0 and 1 keep every job; an attempt record
of three or five fields has no cancel request and no progress; the finished jobs' keys
are new), so the upgrade records the version, under a lock:
``SET {ns}:meta_lock <token> NX PX``, so that of several writers opening at once one
upgrades and the others wait for it (an upgrader that dies lets the lock expire).
Later upgrades that move data add their steps before the version is recorded.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Final

from wg_core.backend import LAYOUT_VERSION
from wg_core.backends.redis.keys import Keys
from wg_core.backends.redis.transport import Transport
from wg_core.errors import (
    BackendError,
    ConfigError,
    NamespaceNotFoundError,
    SchemaError,
    SchemaOutdatedError,
)

__all__ = ["open_layout", "read_layout", "refuse_slot_per_queue", "slots_recorded"]

_LOCK_MS: Final = 30_000
_LOCK_POLL: Final = 0.02


async def read_layout(transport: Transport, keys: Keys) -> int | None:
    """The recorded layout version: ``None`` when nothing of the namespace exists, ``0``
    when it exists without a record (the Rust wg wrote it)."""
    recorded = await transport.command("HGET", keys.meta, "layout")
    if recorded is not None:
        try:
            return int(recorded)
        except ValueError:
            raise SchemaError(f"{keys.meta} records an unreadable layout {recorded!r}") from None
    if await transport.command("EXISTS", *keys.existing_marks()):
        return 0
    return None


async def slots_recorded(transport: Transport, keys: Keys) -> bool:
    """Whether the namespace's meta records a slot per queue (``slots`` = ``queue``,
    written when ``RedisQueueSlots`` created it: slots.py)."""
    recorded: object = await transport.command("HGET", keys.meta, "slots")
    return recorded == "queue"


async def refuse_slot_per_queue(transport: Transport, keys: Keys, *, where: str) -> None:
    """Raise ``ConfigError`` if the namespace was created with a slot per queue: a
    backend of one slot would not see its other queues' jobs."""
    if await slots_recorded(transport, keys):
        raise ConfigError(
            f"namespace {keys.prefix!r} at {where} was created with a slot per queue: "
            "open it with slots=queue in the URL (RedisQueueSlots)"
        )


async def open_layout(transport: Transport, keys: Keys, *, create: bool, where: str) -> int:
    """Check (reader) or create/upgrade (writer) the namespace's layout; the version
    it is at afterwards."""
    version = await read_layout(transport, keys)
    if version is None and not create:
        raise NamespaceNotFoundError(
            f"no wg namespace {keys.prefix!r} at {where}: nothing is stored there "
            "(nothing was created)"
        )
    if version is not None and version > LAYOUT_VERSION:
        raise SchemaError(
            f"namespace {keys.prefix!r} at {where} has layout {version}, newer than this "
            f"wg reads ({LAYOUT_VERSION}): upgrade wg"
        )
    if version == LAYOUT_VERSION:
        return version
    if not create:
        raise SchemaOutdatedError(
            f"namespace {keys.prefix!r} at {where} has layout {version}, older than "
            f"{LAYOUT_VERSION}: open it with a writer (a worker, a producer, or `wg upgrade`) "
            "to upgrade it in place",
            found=version,
        )
    if version is None:
        # Nothing there: create it at the current layout (HSETNX: one of several
        # openers records it; a namespace a Rust producer fills meanwhile reads the same).
        await transport.command("HSETNX", keys.meta, "layout", str(LAYOUT_VERSION))
        return await open_layout(transport, keys, create=True, where=where)
    return await _upgrade(transport, keys, version, where)


async def _upgrade(transport: Transport, keys: Keys, found: int, where: str) -> int:
    """Upgrade from ``found`` under the lock, or wait for the writer holding it."""
    token = uuid.uuid4().hex
    deadline = time.monotonic() + 2 * _LOCK_MS / 1000
    while True:
        if await transport.command("SET", keys.lock, token, "NX", "PX", _LOCK_MS):
            # Whatever moves data would go here, before the record; 0/1/2 -> 3 moves none.
            await transport.run(
                "upgrade_layout", (keys.meta, keys.lock), (token, str(found), str(LAYOUT_VERSION))
            )
        version = await read_layout(transport, keys)
        if version is not None and version >= LAYOUT_VERSION:
            return version
        if version is not None:
            found = version
        if time.monotonic() > deadline:
            raise BackendError(
                f"namespace {keys.prefix!r} at {where}: gave up waiting for another writer "
                f"to upgrade its layout (lock {keys.lock})"
            )
        await asyncio.sleep(_LOCK_POLL)
