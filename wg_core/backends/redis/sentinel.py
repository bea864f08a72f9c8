"""Redis behind Sentinel: the ``redis+sentinel://`` URL, and clients that follow the
master through a failover.

``redis+sentinel://[[user]:password@]host:port[,host:port…]/service_name[/db][?options]``
(``rediss+sentinel://`` for TLS to the sentinels and the servers). The hosts are the
sentinels (port 26379 when none is given); ``service_name`` the master's name in their
configuration; the database is the path's second segment or ``?db=N`` (0 when neither
gives one; both must agree). The userinfo's password (and user) authenticate to the
master and its replicas; ``sentinel_password`` (and ``sentinel_username``) to the
sentinels, when they require it. ``hash_tag`` is wg's, as for ``redis://``;
``ssl_cert_reqs`` and ``ssl_ca_certs`` pass to the TLS connections. Any other option is
a ``ConfigError``, and no message ever shows a password (``wg_core.urls``).

The client is redis-py's (``redis.asyncio.sentinel.Sentinel(...).master_for(...)``):
every new connection asks the sentinels where the master is, so after a failover the
transport's reconnect (``transport.py``) reaches the new master. A connection still on
the demoted master reads ``READONLY``, which redis-py turns into a connection error; a
master that has lost its replicas refuses writes (``NOREPLICAS``, with
``min-replicas-to-write``); both are transient errors that callers retry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

from wg_core.backends.redis.hostlist import parse_hostlist, split_netloc
from wg_core.errors import ConfigError
from wg_core.urls import redact_url

__all__ = ["SENTINEL_SCHEMES", "SentinelUrl", "is_sentinel_url", "parse_sentinel_url"]

SENTINEL_SCHEMES: Final = ("redis+sentinel", "rediss+sentinel")
DEFAULT_SENTINEL_PORT: Final = 26379
_TLS_OPTIONS: Final = ("ssl_cert_reqs", "ssl_ca_certs")
_OPTIONS: Final = ("db", "sentinel_password", "sentinel_username", *_TLS_OPTIONS)


def is_sentinel_url(url: str) -> bool:
    """Whether ``url`` names Redis through Sentinel."""
    return url.split(":", 1)[0].lower() in SENTINEL_SCHEMES


@dataclass(frozen=True, slots=True)
class SentinelUrl:
    """A parsed ``redis+sentinel://`` URL (``hash_tag`` already taken out)."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_username: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)
    tls: bool = False
    tls_options: tuple[tuple[str, str], ...] = ()

    def server_options(self) -> dict[str, Any]:
        """Connection options for the master (and replicas)."""
        options: dict[str, Any] = {"db": self.db, **dict(self.tls_options)}
        if self.password is not None:
            options["password"] = self.password
        if self.username is not None:
            options["username"] = self.username
        if self.tls:
            options["ssl"] = True
        return options

    def sentinel_options(self) -> dict[str, Any]:
        """Connection options for the sentinels themselves."""
        options: dict[str, Any] = dict(self.tls_options)
        if self.sentinel_password is not None:
            options["password"] = self.sentinel_password
        if self.sentinel_username is not None:
            options["username"] = self.sentinel_username
        if self.tls:
            options["ssl"] = True
        return options


def _refuse(url: str, reason: str) -> ConfigError:
    return ConfigError(f"invalid Redis Sentinel URL {redact_url(url)!r}: {reason}")


def _db(url: str, text: str) -> int:
    if not text.isdigit():
        raise _refuse(url, f"the database must be a number, not {text!r}")
    return int(text)


def parse_sentinel_url(url: str) -> SentinelUrl:
    """``url`` (``redis+sentinel://…``, without wg's ``hash_tag``) parsed, or a
    ``ConfigError`` saying what is wrong (with the URL redacted)."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise _refuse(url, "malformed") from exc
    scheme = parts.scheme.lower()
    if scheme not in SENTINEL_SCHEMES:
        raise _refuse(url, f"the scheme must be one of {', '.join(SENTINEL_SCHEMES)}")
    username, password, hostlist = split_netloc(parts.netloc)
    if not hostlist:
        raise _refuse(url, "no sentinel given (host:port[,host:port…])")
    try:
        sentinels = parse_hostlist(hostlist, DEFAULT_SENTINEL_PORT, "sentinel")
    except ValueError as exc:
        raise _refuse(url, str(exc)) from None
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if not segments:
        raise _refuse(url, "no service name: add /<master name> after the sentinels")
    if len(segments) > 2:
        raise _refuse(url, "the path is /<service name>[/<db>]")
    db = _db(url, segments[1]) if len(segments) == 2 else None
    options: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name not in _OPTIONS:
            raise _refuse(url, f"unknown option {name!r} (known: {', '.join(_OPTIONS)})")
        options[name] = value
    if "db" in options:
        from_query = _db(url, options["db"])
        if db is not None and db != from_query:
            raise _refuse(url, f"the path says database {db}, ?db= says {from_query}")
        db = from_query
    tls_options = tuple((name, options[name]) for name in _TLS_OPTIONS if name in options)
    return SentinelUrl(
        sentinels=sentinels,
        service=segments[0],
        db=db or 0,
        username=username,
        password=password,
        sentinel_username=options.get("sentinel_username") or None,
        sentinel_password=options.get("sentinel_password"),
        tls=scheme == "rediss+sentinel",
        tls_options=tls_options,
    )
