"""Driver messages are scrubbed of the URL's password, in every form it can take."""

from __future__ import annotations

import pytest

from wg_core.urls import scrub_secrets


@pytest.mark.parametrize(
    ("url", "message"),
    [
        # libpq quotes the token it cannot percent-decode
        ("postgresql://bob:s3cretR%zz@db/app", 'invalid percent-encoded token: "s3cretR%zz"'),
        # the decoded form of a well-encoded password
        ("postgresql://bob:s3cret%25R@db/app", "password s3cret%R rejected"),
        # a malformed IPv6 host: urlsplit fails, the userinfo is still found
        ("postgresql://bob:pa ss@[::1/app", "invalid URI postgresql://bob:pa ss@[::1/app"),
        ("mysql://db/app?password=hunter22", "Access denied (password=hunter22)"),
    ],
)
def test_no_form_of_the_password_survives(url: str, message: str) -> None:
    scrubbed = scrub_secrets(message, url)
    for secret in ("s3cretR%zz", "s3cret%25R", "s3cret%R", "pa ss", "hunter22"):
        assert secret not in scrubbed
    assert "***" in scrubbed


def test_text_without_secrets_is_unchanged() -> None:
    text = "connection refused"
    assert scrub_secrets(text, "redis://127.0.0.1:6379/0") == text
    assert scrub_secrets(text, "postgresql://bob:pw@db/app") == text
