"""Worker settings as ``WG_*`` environment variables and ``wg worker`` flags: one
table, derived from ``WorkerConfig``'s fields, so a new field gets its variable and its
flag without anything else to keep in step (``WorkerConfig.from_env`` reads it)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from wg_core.errors import ConfigError
from wg_core.options import JobOptions, WorkerConfig, parse_duration
from wg_core.queues import validate_queues

__all__ = ["ENV_PREFIX", "WorkerSetting", "settings_to_fields", "worker_settings"]


ENV_PREFIX: Final = "WG_"
"""Every worker setting's environment variable is this prefix and the field's name."""

_JOB_PREFIX: Final = "default_"
_DEFAULT_OPTION_FIELDS: Final = ("retry_delay",)
"""The ``default_options`` fields a worker uses (the retry delay of an envelope whose
``retry_delay`` is null); the others are the producer's business, so no variable sets
them here."""
_FRACTIONS: Final = frozenset({"retry_jitter"})
"""``float`` fields that are not durations (every other ``float`` field is one)."""

_HELP: Final = {
    "namespace": "Prefix for all keys and tables",
    "queues": "A queue to claim from (repeatable, in strict order: earlier queues first; "
    "the variable takes them comma-separated)",
    "workers": "Jobs run concurrently by one pool",
    "fetch_timeout": "How long an idle claim waits for work before looking again",
    "scheduler_interval": "How often due scheduled jobs are moved to the queue",
    "retrier_interval": "How often due retries are moved to the queue",
    "batch_size": "Jobs moved per scheduler/retrier/reaper tick",
    "shutdown_timeout": "How long running jobs may finish after SIGINT/SIGTERM",
    "lease": "How long a claimed job stays reserved without a heartbeat",
    "heartbeat_interval": "How often leases are renewed and the worker registry refreshed",
    "reaper_interval": "How often expired leases (crashed workers' jobs) are recovered",
    "max_retry_delay": "Cap on the exponential retry backoff",
    "retry_jitter": "Random spread added to each retry delay (a fraction, 0 to 1)",
    "max_backend_outage": "Exit after the backend is unreachable this long (none: never)",
    "max_payload_bytes": "Envelopes bigger than this are buried unread",
    "wait_for_backend": "How long starting keeps trying an unreachable backend (0: fail at once)",
    "prefetch": "Jobs held leased beyond the free slots while the queue is deep "
    "(none: the largest of workers, batch_size and 500; 0: off)",
    "prefetch_hold": "A held job not started by then goes back to the front of the queue",
    "keep_finished": "How long completed and cancelled jobs are kept, with their results "
    "(0: delete at once)",
    "prune_interval": "How often expired completed and cancelled jobs are deleted",
    "default_retry_delay": "First retry delay of jobs whose envelope has none (null)",
}


@dataclass(frozen=True, slots=True)
class WorkerSetting:
    """One ``WorkerConfig`` setting as the environment variable and ``wg worker`` flag
    that set it. ``kind``: ``duration``, ``int``, ``fraction``, ``text`` or ``queues``
    (queue names: the variable takes them comma-separated, the flag is repeated);
    ``optional``: whether ``none`` is accepted (it means ``None``)."""

    name: str
    kind: str
    optional: bool
    default: object
    help: str

    @property
    def env(self) -> str:
        """The environment variable: ``WG_LEASE``."""
        return ENV_PREFIX + self.name.upper()

    @property
    def repeatable(self) -> bool:
        """Whether the flag is given once per item (``--queue a --queue b``)."""
        return self.kind == "queues"

    @property
    def flag(self) -> str:
        """The ``wg worker`` flag: ``--lease``; a list's flag names one item
        (``queues``: ``--queue``)."""
        name = self.name.removesuffix("s") if self.repeatable else self.name
        return "--" + name.replace("_", "-")

    def parse(self, text: str | Sequence[str], *, source: str | None = None) -> object:
        """The value of ``text`` (as given in ``source``, for the message), checked for
        its type; the range is checked by ``WorkerConfig`` itself. Queue names (``queues``)
        are read from comma-separated text or from the repeated flag's values, and checked."""
        where = source or self.env
        if self.repeatable:
            items = [text] if isinstance(text, str) else list(text)
            names = [name.strip() for item in items for name in item.split(",") if name.strip()]
            try:
                return validate_queues(names)
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        if not isinstance(text, str):
            raise ConfigError(f"{where} takes one value, not {len(text)}")
        cleaned = text.strip()
        if self.optional and cleaned.lower() in ("none", "off", "never"):
            return None
        try:
            if self.kind == "duration":
                return parse_duration(cleaned)
            if self.kind == "int":
                return int(cleaned.replace("_", ""))
            if self.kind == "fraction":
                value = float(cleaned)
                if not math.isfinite(value):
                    raise ValueError("not a finite number")
                return value
        except ValueError as exc:
            hint = " (or none)" if self.optional else ""
            if self.kind == "duration":
                raise ConfigError(f"{where}: {exc}{hint}") from None
            expected = "an integer" if self.kind == "int" else "a number from 0 to 1"
            raise ConfigError(f"{where}={text!r} is not {expected}{hint}") from None
        return cleaned

    def show_default(self) -> str:
        """The default as one would type it (``30s``, ``none``, ``4``)."""
        value = self.default
        if value is None:
            return "none"
        if self.kind == "duration" and isinstance(value, int | float):
            return _show_seconds(float(value))
        if self.repeatable and isinstance(value, tuple):
            return ",".join(value)
        return str(value)


def settings_to_fields(values: Mapping[str, object]) -> dict[str, Any]:
    """``WorkerConfig`` keyword arguments from values keyed by ``WorkerSetting.name``
    (``default_retry_delay`` goes into ``default_options``)."""
    fields: dict[str, Any] = {}
    job_options: dict[str, Any] = {}
    for name, value in values.items():
        if name.startswith(_JOB_PREFIX):
            job_options[name.removeprefix(_JOB_PREFIX)] = value
        else:
            fields[name] = value
    if job_options:
        fields["default_options"] = JobOptions(**job_options)
    return fields


def _show_seconds(seconds: float) -> str:
    for unit, size in (("h", 3600.0), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _kind_of(name: str, annotation: str) -> tuple[str, bool]:
    optional = annotation.replace(" ", "").endswith("|None")
    base = annotation.replace(" ", "").removesuffix("|None")
    if base == "float":
        return ("fraction" if name in _FRACTIONS else "duration"), optional
    if base == "int":
        return "int", optional
    if base == "str":
        return "text", optional
    if base == "tuple[str,...]":
        return "queues", optional
    raise TypeError(f"WorkerConfig.{name}: no environment form for {annotation!r}")


def worker_settings() -> tuple[WorkerSetting, ...]:
    """Every ``WorkerConfig`` setting, in field order, derived from the dataclass's
    fields (so a new field gets its variable and flag by itself; a ``float`` field is
    read as a duration unless listed in ``_FRACTIONS``). ``default_options`` appears as
    ``default_retry_delay``, the one of its fields a worker uses."""
    return _WORKER_SETTINGS


def _derive_settings() -> tuple[WorkerSetting, ...]:
    settings: list[WorkerSetting] = []
    defaults = WorkerConfig()
    for spec in dataclasses.fields(WorkerConfig):
        annotation = str(spec.type)
        if spec.name == "default_options":
            options = JobOptions()
            for sub in dataclasses.fields(JobOptions):
                if sub.name not in _DEFAULT_OPTION_FIELDS:
                    continue
                name = _JOB_PREFIX + sub.name
                kind, optional = _kind_of(name, str(sub.type))
                settings.append(
                    WorkerSetting(name, kind, optional, getattr(options, sub.name), _HELP[name])
                )
            continue
        kind, optional = _kind_of(spec.name, annotation)
        help_text = _HELP.get(spec.name, f"WorkerConfig.{spec.name}")
        settings.append(
            WorkerSetting(spec.name, kind, optional, getattr(defaults, spec.name), help_text)
        )
    return tuple(settings)


_WORKER_SETTINGS: Final = _derive_settings()
