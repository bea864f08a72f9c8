"""Named queues and priorities: the names and numbers a job may carry, checked once.

A namespace holds any number of named queues. A job goes to one queue (``default``
unless the producer names another) at one priority (an integer, higher runs first,
``0`` unless given); within one queue and priority, jobs run in the order they were
queued (FIFO). A worker pool serves a list of queues in *strict* order: it claims from
a later queue only while every earlier one has nothing ready (Sidekiq's strict
ordering). There is no weighted ordering: give a queue its own pool to guarantee it
capacity.

Queue names become parts of Redis key names, so their alphabet is small: lowercase
ASCII letters, digits, ``_``, ``-`` and ``.``, starting with a letter or a digit, at most
``MAX_QUEUE_NAME_LENGTH`` characters. Lowercase only, because MySQL compares text
case-insensitively by default and every backend must agree on which names are the same
queue. Names are values everywhere else (bound SQL parameters, script arguments),
never query text.

The queue ``default`` at priority 0 is stored in the Rust wg's structures
(``{ns}:jobs``, ``{ns}_jobs``), so Rust producers and workers keep sharing it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from wg_core.errors import ConfigError

__all__ = [
    "DEFAULT_QUEUE",
    "MAX_PRIORITY",
    "MAX_QUEUE_NAME_LENGTH",
    "MIN_PRIORITY",
    "validate_priority",
    "validate_queue",
    "validate_queues",
]

DEFAULT_QUEUE: Final = "default"
"""The queue of a job enqueued without one, and the one a pool serves by default."""

MAX_QUEUE_NAME_LENGTH: Final = 64

MIN_PRIORITY: Final = -1000
MAX_PRIORITY: Final = 1000
"""Priorities run from ``MIN_PRIORITY`` to ``MAX_PRIORITY``; higher runs first, 0 is the
default. (A small range: every backend stores it as a small integer, and a handful of
levels is all a queue needs.)"""

_QUEUE: Final = re.compile(r"[a-z0-9][a-z0-9_.\-]*")


def validate_queue(name: object) -> str:
    """Return ``name`` if it is a valid queue name, else raise ``ConfigError``."""
    if not isinstance(name, str):
        raise ConfigError(f"a queue name must be a string, not {type(name).__name__}")
    if not name:
        raise ConfigError("a queue name must not be empty")
    if len(name) > MAX_QUEUE_NAME_LENGTH:
        raise ConfigError(
            f"queue name too long ({len(name)} characters, at most {MAX_QUEUE_NAME_LENGTH})"
        )
    if not _QUEUE.fullmatch(name):
        raise ConfigError(
            f"invalid queue name {name!r}: use lowercase letters, digits, '_', '-' or '.', "
            "starting with a letter or a digit"
        )
    return name


def validate_queues(names: Iterable[object]) -> tuple[str, ...]:
    """The queues a pool serves, in order: each valid, none twice, at least one."""
    if isinstance(names, str):
        raise ConfigError(f"queues must be a list of names, not the string {names!r}")
    queues = tuple(validate_queue(name) for name in names)
    if not queues:
        raise ConfigError("a pool must serve at least one queue")
    repeated = sorted({name for name in queues if queues.count(name) > 1})
    if repeated:
        raise ConfigError(f"queue listed twice: {', '.join(repeated)}")
    return queues


def validate_priority(priority: object) -> int:
    """Return ``priority`` if it is an integer in the allowed range, else ``ConfigError``."""
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise ConfigError(f"priority must be an integer, not {priority!r}")
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise ConfigError(
            f"priority {priority} is out of range: use {MIN_PRIORITY} to {MAX_PRIORITY} "
            "(higher runs first, default 0)"
        )
    return priority
