"""Namespaces become table and key names, so they are validated once, before any I/O."""

from __future__ import annotations

import re

from wg_core.errors import ConfigError

__all__ = ["MAX_NAMESPACE_LENGTH", "validate_namespace"]

# PostgreSQL truncates identifiers at 63 bytes and MySQL refuses names over 64
# characters; the longest suffix wg appends is "_scheduled_run_at_idx" (21), plus room
# for future suffixes.
MAX_NAMESPACE_LENGTH = 32

_NAMESPACE = re.compile(r"[a-z][a-z0-9_]*")


def validate_namespace(namespace: object) -> str:
    """Return ``namespace`` if it is a safe identifier, else raise ``ConfigError``.

    A namespace is a lowercase ASCII letter followed by lowercase letters, digits and
    ``_``, at most ``MAX_NAMESPACE_LENGTH`` characters.
    """
    if not isinstance(namespace, str):
        raise ConfigError(f"namespace must be a string, got {type(namespace).__name__}")
    if not _NAMESPACE.fullmatch(namespace) or len(namespace) > MAX_NAMESPACE_LENGTH:
        raise ConfigError(
            f"invalid namespace {namespace!r}: use a lowercase letter followed by lowercase "
            f"letters, digits or '_', at most {MAX_NAMESPACE_LENGTH} characters"
        )
    return namespace
