"""Unique jobs (issue 19): at most one job per *unique key* while one is waiting or
running.

``client.enqueue(job, unique_key="invoice:42")`` stores the job only if no job holds
that key; otherwise it stores nothing and returns the id of the job that holds it.
``client.enqueue_unique(...)`` returns an ``EnqueueResult`` saying which happened
(``created``), for a caller that must tell a duplicate from a new job without an
exception.

When a key is held (the same rule on every backend, atomic at the backend: a unique
index in SQL, one Lua call on Redis, one locked step in memory):

* while its job is QUEUED, SCHEDULED, RETRY or RUNNING, whichever table or key the job
  is in at the moment;
* and, with ``unique_for``, for that many seconds after the enqueue (the backend's
  clock), even once the job completed, died, was cancelled or was deleted.

A DEAD, COMPLETED or CANCELLED job (or a deleted, purged or pruned one) frees the key,
unless ``unique_for`` still holds it; the next enqueue of the key takes it over, in the
same atomic step. A job an operator requeues (``retry_jobs``) runs whatever the key: it
holds the key again only if no other job took it meanwhile.

``unique_key=UNIQUE_BY_PAYLOAD`` derives the key from the job name and the payload
(``derive_unique_key``): two jobs of one name with equal payloads (as JSON, key order
ignored) are duplicates. The key is stored in the envelope as the top-level key
``unique_key`` (which the Rust reader ignores), so it travels with the job through
every state and ``JobInfo.unique_key`` reads it back.
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any, Final

from wg_core.errors import ConfigError

__all__ = [
    "MAX_UNIQUE_KEY_LENGTH",
    "UNIQUE_BY_PAYLOAD",
    "EnqueueResult",
    "UniqueKey",
    "UniqueKeyRule",
    "derive_unique_key",
    "validate_unique_key",
    "with_unique_key",
]

MAX_UNIQUE_KEY_LENGTH: Final = 255
"""Characters a unique key may have (it is a primary key of every SQL dialect)."""

_ENVELOPE_KEY: Final = "unique_key"
"""The envelope's top-level key that carries the job's unique key."""


class UniqueKeyRule(enum.Enum):
    """How a unique key is derived instead of given (see ``UNIQUE_BY_PAYLOAD``)."""

    BY_PAYLOAD = "by_payload"


UNIQUE_BY_PAYLOAD: Final = UniqueKeyRule.BY_PAYLOAD
"""``unique_key=UNIQUE_BY_PAYLOAD``: the key is ``derive_unique_key(job_name, payload)``."""

UniqueKey = str | UniqueKeyRule
"""What ``unique_key=`` accepts: a key, or a rule deriving one."""


@dataclass(frozen=True, slots=True)
class EnqueueResult:
    """What ``Client.enqueue_unique`` did: ``created`` is False for a duplicate, whose
    ``job_id`` is then the id of the job holding the key (nothing was stored)."""

    job_id: str
    created: bool


def validate_unique_key(key: object) -> str:
    """``key`` if it is a valid unique key (1 to 255 characters of text), else
    ``ConfigError`` (a ``ValueError``)."""
    if not isinstance(key, str):
        raise ConfigError(f"a unique key must be a string, got {type(key).__name__}")
    if not key:
        raise ConfigError("a unique key must not be empty")
    if len(key) > MAX_UNIQUE_KEY_LENGTH:
        raise ConfigError(
            f"a unique key must be at most {MAX_UNIQUE_KEY_LENGTH} characters, got {len(key)}"
        )
    return key


def derive_unique_key(job_name: str, payload: Any) -> str:
    """The unique key ``UNIQUE_BY_PAYLOAD`` stands for: ``<job_name>:`` and the SHA-256
    (hex) of the payload's canonical JSON (sorted keys, no spaces, UTF-8). Stable
    across processes and wg versions; equal payloads give equal keys whatever their
    key order."""
    canonical = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"{job_name}:{digest}"


_APPENDED: Final = f",{json.dumps(_ENVELOPE_KEY)}:"
"""What precedes the key's JSON string in the envelope."""


def with_unique_key(raw: str, key: str) -> str:
    """The envelope text ``raw`` (a JSON object) with ``"unique_key": key`` appended."""
    # encode_basestring is what json.dumps(key, ensure_ascii=False) runs for a str,
    # without building an encoder per call (a bulk enqueue calls this once per job).
    return f"{raw[:-1]}{_APPENDED}{encode_basestring(key)}}}"
