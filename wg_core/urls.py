"""Backend URLs: pick the backend by scheme, import its driver lazily, redact secrets.

==========================  ==================================
``redis://``, ``rediss://``  ``RedisBackend``   (``wg[redis]``)
``redis+sentinel://``,
``rediss+sentinel://``       ``RedisBackend`` through Sentinel (``wg[redis]``)
``redis+cluster://``,
``rediss+cluster://``        ``RedisQueueSlots`` on Redis Cluster (``wg[redis]``)
``postgres://``,
``postgresql://``            ``PostgresBackend`` (``wg[postgres]``)
``mysql://``                 ``MySqlBackend``    (``wg[mysql]``)
``sqlite:PATH``,
``sqlite:///ABS``,
``sqlite::memory:``          ``SqliteBackend``   (``wg[sqlite]``)
``memory:``                  ``MemoryBackend``   (no dependency)
==========================  ==================================

Any Redis URL with ``slots=queue`` (or the option ``slot_per_queue=True``) gives
``RedisQueueSlots``: a slot per queue (``wg_core/backends/redis/slots.py``), the default
of a cluster URL; ``slots=namespace`` (or ``slot_per_queue=False``) gives
``RedisBackend``, one slot. A namespace keeps the layout it was created with.
"""

from __future__ import annotations

import importlib
import re
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from wg_core.backend import Backend
from wg_core.errors import ConfigError, WgError

__all__ = ["DEFAULT_URL", "backend_from_url", "redact_url", "scrub_secrets"]

DEFAULT_URL = "sqlite:wg.db"
"""The URL the CLI and TUI use when given none: an embedded SQLite file."""

# scheme -> (module, class name or factory)
_BACKENDS: dict[str, tuple[str, str]] = {
    "redis": ("wg_core.backends.redis", "redis_backend"),
    "rediss": ("wg_core.backends.redis", "redis_backend"),
    "redis+sentinel": ("wg_core.backends.redis", "redis_backend"),
    "rediss+sentinel": ("wg_core.backends.redis", "redis_backend"),
    "redis+cluster": ("wg_core.backends.redis", "redis_backend"),
    "rediss+cluster": ("wg_core.backends.redis", "redis_backend"),
    "postgres": ("wg_core.backends.postgres", "PostgresBackend"),
    "postgresql": ("wg_core.backends.postgres", "PostgresBackend"),
    "mysql": ("wg_core.backends.mysql", "MySqlBackend"),
    "sqlite": ("wg_core.backends.sqlite", "SqliteBackend"),
    "memory": ("wg_core.backends.memory", "MemoryBackend"),
}


def backend_from_url(url: str, namespace: str = "wg", **options: Any) -> Backend:
    """An unopened backend for ``url``; ``options`` go to the backend's constructor."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in _BACKENDS:
        known = ", ".join(f"{name}:" for name in sorted(_BACKENDS))
        raise ConfigError(f"unsupported backend URL {redact_url(url)!r}: use one of {known}")
    module_name, class_name = _BACKENDS[scheme]
    module = importlib.import_module(module_name)
    backend_class = getattr(module, class_name)
    try:
        if scheme == "memory":
            backend: Backend = backend_class(namespace, **options)
        else:
            backend = backend_class(url, namespace, **options)
    except WgError:
        raise
    except ValueError as exc:
        # The URL parsers a backend uses (urlsplit, int(port), a path with a NUL) raise
        # plain ValueErrors; at this edge every malformed URL is the caller's ConfigError.
        message = scrub_secrets(str(exc), url)
        raise ConfigError(f"malformed backend URL {redact_url(url)!r}: {message}") from None
    return backend


_USERINFO = re.compile(r"//([^/@]*)@")


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (user names are kept)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _USERINFO.sub("//***@", url)
    if parts.password is None and "password=" not in parts.query:
        return url
    netloc = parts.netloc
    if parts.password is not None:
        user = parts.username or ""
        host = netloc.rsplit("@", 1)[1]
        netloc = f"{user}:***@{host}"
    query = re.sub(r"(password=)[^&]*", r"\1***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


_PASSWORD_PARAM = re.compile(r"password=([^&]*)")


def _secrets_of(url: str) -> set[str]:
    """The password of ``url`` as written and percent-decoded, wherever it sits
    (userinfo or a ``password=`` parameter), parsed leniently: a URL too malformed for
    ``urlsplit`` still has its userinfo found by hand."""
    found: set[str] = set()
    match = _USERINFO.search(url)
    if match and ":" in match.group(1):
        found.add(match.group(1).split(":", 1)[1])
    found.update(_PASSWORD_PARAM.findall(url))
    return {form for secret in found if secret for form in (secret, unquote(secret))}


def scrub_secrets(text: str, url: str) -> str:
    """``text`` (a driver's error message, say) with ``url`` and every form of its
    password replaced: the URL by its redacted form, the password by ``***``.

    Drivers echo what they were given (libpq quotes a malformed URI or its userinfo);
    every backend passes its driver's messages through this at the edge."""
    if not text:
        return text
    text = text.replace(url, redact_url(url))
    for secret in sorted(_secrets_of(url), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
