"""The keys of one namespace on Redis, and the hash-tag option that names them.

The first four are the spec's (``{ns}:jobs``, ``{ns}:schedule``, ``{ns}:retry``,
``{ns}:dead``); the rest are wg's (docs/redis.md has the table). With the hash tag,
every key is named ``{ns}:…`` so that the whole namespace lives in one Redis Cluster
slot and every script is single-slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from wg_core.backend import JobState
from wg_core.errors import ConfigError

__all__ = ["LETTER_STATE", "STATE_LETTER", "Keys", "split_hash_tag"]

STATE_LETTER: Final = {
    JobState.QUEUED: "q",
    JobState.SCHEDULED: "s",
    JobState.RETRY: "t",
    JobState.DEAD: "d",
    JobState.RUNNING: "r",
}
"""The letter of each state in the id index (``{ns}:ids``: job id -> letter + where)."""

LETTER_STATE: Final = {letter: state for state, letter in STATE_LETTER.items()}


@dataclass(frozen=True, slots=True)
class Keys:
    """Every key of one namespace. The first four are the spec's.

    ``meta`` marks the namespace as existing: a writer's ``open`` creates it (readers
    open only a namespace that has it, or any of the keys jobs leave behind).
    ``died`` holds dead jobs' times of death (job id -> Unix seconds); ``aliases`` the
    id of stored text that does not carry it (text -> job id)."""

    jobs: str
    schedule: str
    retry: str
    dead: str
    running: str
    leases: str
    attempts: str
    ids: str
    seq: str
    stats: str
    paused: str
    resumed: str
    workers: str
    seen: str
    stopping: str
    claimers: str
    died: str
    aliases: str
    meta: str

    @classmethod
    def for_namespace(cls, namespace: str, *, hash_tag: bool) -> Keys:
        """The keys of ``namespace`` (already validated)."""
        prefix = f"{{{namespace}}}" if hash_tag else namespace
        return cls(
            jobs=f"{prefix}:jobs",
            schedule=f"{prefix}:schedule",
            retry=f"{prefix}:retry",
            dead=f"{prefix}:dead",
            running=f"{prefix}:running",
            leases=f"{prefix}:leases",
            attempts=f"{prefix}:attempts",
            ids=f"{prefix}:ids",
            seq=f"{prefix}:seq",
            stats=f"{prefix}:stats",
            paused=f"{prefix}:paused",
            resumed=f"{prefix}:resumed",
            workers=f"{prefix}:workers",
            seen=f"{prefix}:workers_seen",
            stopping=f"{prefix}:workers_stopping",
            claimers=f"{prefix}:claimers",
            died=f"{prefix}:died",
            aliases=f"{prefix}:aliases",
            meta=f"{prefix}:meta",
        )

    def claiming(self, worker_id: str, instance: str, slot: int) -> str:
        """The claiming list of one blocking claim (listed in ``claimers`` while in use)."""
        return f"{self.jobs.removesuffix(':jobs')}:claiming:{worker_id}:{instance}.{slot}"

    def all(self) -> tuple[str, ...]:
        """Every fixed key (the claiming lists are named in ``claimers``)."""
        return tuple(getattr(self, name) for name in self.__dataclass_fields__)

    def existing_marks(self) -> tuple[str, ...]:
        """Keys whose presence says the namespace exists: ``meta``, and for a namespace
        that older wg versions or another program (a Rust producer) wrote, the keys its
        jobs, counters or workers leave behind."""
        return (
            self.meta,
            self.jobs,
            self.schedule,
            self.retry,
            self.dead,
            self.running,
            self.ids,
            self.stats,
            self.workers,
        )


_TRUE: Final = ("1", "true", "yes", "on")
_FALSE: Final = ("0", "false", "no", "off")


def split_hash_tag(url: str) -> tuple[str, bool]:
    """``url`` without wg's own ``hash_tag`` query parameter (redis-py would refuse it),
    and whether it asked for the hash tag."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    wanted = [value for name, value in query if name == "hash_tag"]
    if not wanted:
        return url, False
    value = wanted[-1].lower()
    if value not in _TRUE + _FALSE:
        raise ConfigError(f"hash_tag must be true or false in the Redis URL, not {value!r}")
    rest = urlencode([(name, v) for name, v in query if name != "hash_tag"])
    return urlunsplit(parts._replace(query=rest)), value in _TRUE
