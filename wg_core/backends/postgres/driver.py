"""psycopg, imported on first use; what its errors and URLs mean to wg."""

from __future__ import annotations

import re
from typing import Any, LiteralString

from wg_core.backends.common import scrub_exception
from wg_core.errors import ConfigError, MissingDependencyError

__all__ = ["check_url", "load_psycopg", "query", "refuses_config"]


def load_psycopg() -> tuple[Any, Any]:
    """psycopg and psycopg_pool, imported on first use (wg_core imports no driver)."""
    try:
        import psycopg
    except ModuleNotFoundError as exc:
        raise MissingDependencyError.for_extra("psycopg", "postgres") from exc
    try:
        import psycopg_pool
    except ModuleNotFoundError as exc:
        raise MissingDependencyError.for_extra("psycopg_pool", "postgres") from exc
    return psycopg, psycopg_pool


# SQLSTATEs of a server that answers but refuses the configuration: class 28 (invalid
# authorization: bad password, unknown role, no pg_hba.conf entry), 3D000 (no such
# database), 42501 (insufficient privilege).
_CONFIG_SQLSTATE_CLASSES = ("28",)
_CONFIG_SQLSTATES = frozenset({"3D000", "42501"})
# libpq reports a refused *connection* without its SQLSTATE: the server's FATAL line
# (English unless the server's lc_messages says otherwise) or libpq's own words are all
# there is. Refused, timed out, unresolvable, starting up: none of these match.
_CONFIG_REFUSALS = re.compile(
    r"authentication failed"  # password, ident, peer, PAM, certificate...
    r'|(?:database|role) "[^"]*" does not exist'
    r"|no pg_hba\.conf entry|pg_hba\.conf rejects connection"
    r"|permission denied for database|is not permitted to log in"
    r"|no password supplied"
)


def refuses_config(exc: BaseException) -> bool:
    """Whether a psycopg error says the server refuses these credentials, this database
    or this access (retrying will not help), rather than that it cannot be reached."""
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate:
        return sqlstate.startswith(_CONFIG_SQLSTATE_CLASSES) or sqlstate in _CONFIG_SQLSTATES
    return _CONFIG_REFUSALS.search(str(exc)) is not None


def check_url(url: str, display_url: str) -> None:
    """Refuse a URL libpq cannot parse, or with a port that is not one, as a
    ``ConfigError`` whose text has no secret (libpq's own message quotes the URI or its
    userinfo). Without psycopg installed, ``open()`` says what to install instead."""
    try:
        from psycopg import Error
        from psycopg.conninfo import conninfo_to_dict
    except ModuleNotFoundError:
        return
    try:
        params = conninfo_to_dict(url)
    except Error as exc:
        reason = scrub_exception(exc, url).strip()
        raise ConfigError(f"malformed PostgreSQL URL {display_url}: {reason}") from None
    for port in str(params.get("port") or "").split(","):  # libpq takes a list
        if port and not (port.isdigit() and 0 < int(port) <= 65535):
            raise ConfigError(f"not a port number in the PostgreSQL URL {display_url}")


def query(text: str) -> LiteralString:
    # Every query is a block of wg's own resource files with only the validated
    # namespace substituted in: trusted text, never user input. (mypy treats
    # LiteralString as str, so this is only a marker for readers and other checkers.)
    return text
