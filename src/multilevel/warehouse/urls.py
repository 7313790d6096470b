"""Warehouse URLs: what logs may show of them, and where the password comes from (shared by every server warehouse)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from multilevel.settings import Settings


def redact(url: str) -> str:
    """The URL without its password (what logs and error messages may show)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def password_for(url: str, settings: Settings | None) -> str | None:
    """The password: None if the URL has one (the driver reads it there), else settings.warehouse_password (env or
    /run/secrets), else None."""
    if urlsplit(url).password is not None:
        return None
    secret = getattr(settings, "warehouse_password", None) if settings is not None else None
    return secret.get_secret_value() if secret is not None else None
