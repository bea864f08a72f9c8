"""Minimal Django settings for the example (``DJANGO_SETTINGS_MODULE=django_shop.settings``).

Django's own tables live in ``DJANGO_DB`` (a SQLite file by default), or in PostgreSQL
when ``DJANGO_DB`` is a ``postgresql://`` URL. wg's jobs go wherever ``WG_URL`` says
(see ``django_shop.tasks``): enqueuing in the same transaction as your writes needs both
on the same PostgreSQL (or MySQL) database.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

SECRET_KEY = "example-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
ROOT_URLCONF = "django_shop.urls"
MIDDLEWARE: list[str] = []
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def _database(url: str) -> dict[str, object]:
    if url.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(url)
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": parts.path.lstrip("/"),
            "USER": parts.username or "",
            "PASSWORD": parts.password or "",
            "HOST": parts.hostname or "",
            "PORT": parts.port or "",
        }
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": url.removeprefix("sqlite:")}


DATABASES = {"default": _database(os.environ.get("DJANGO_DB", "sqlite:django_shop.db"))}
