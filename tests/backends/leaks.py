"""What an exception wg raised shows a user (its text, its repr, its traceback with
every chained exception): none of it may carry a secret."""

from __future__ import annotations

import traceback
from urllib.parse import unquote


def assert_no_secret(exc: BaseException, secret: str) -> None:
    """Fail if ``secret`` (as written or percent-decoded) shows anywhere in ``exc``."""
    shown = "\n".join([str(exc), repr(exc), *traceback.format_exception(exc)])
    for form in {secret, unquote(secret)}:
        assert form not in shown, f"{form!r} leaks in:\n{shown}"
