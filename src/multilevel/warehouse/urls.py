"""Warehouse URLs: what logs may show of them, and where the password comes from (shared by every server warehouse)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from multilevel.redaction import redact_url, split_credentials

if TYPE_CHECKING:
    from multilevel.settings import Settings


def redact(url: str) -> str:
    """The URL without its password (what logs and error messages may show), even with unencoded delimiters."""
    return redact_url(url)


def password_for(url: str, settings: Settings | None) -> str | None:
    """The password: from the URL if it has one (the drivers get it as a keyword, never inside the URL), else
    settings.warehouse_password (env or /run/secrets), else None."""
    password = split_credentials(url)[1]
    if password is not None:
        return password
    secret = getattr(settings, "warehouse_password", None) if settings is not None else None
    return secret.get_secret_value() if secret is not None else None
