"""Keep secrets out of every output: log lines (ours and botocore's DEBUG chatter), error messages, load_log.

Two nets, because either alone leaks:

- by value: every secret the process knows (the warehouse password from ``MULTILEVEL_WAREHOUSE_PASSWORD`` or from
  the URL, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``), raw and percent-encoded;
- by shape: AWS access key ids, SigV4 signatures and credentials, security tokens, and the signature parameters of
  pre-signed URLs, whatever process or profile they came from.

URL passwords are found without ``urllib``: a password with an unencoded ``/``, ``#``, ``?`` or ``@`` makes
``urlsplit`` see no password at all, which is exactly when a naive redaction prints it in full. The userinfo of
``scheme://user:password@host`` ends at the LAST ``@``.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from urllib.parse import quote, quote_plus, unquote

MASK = "***"
SECRET_ENVIRONMENT = (
    "MULTILEVEL_WAREHOUSE_PASSWORD",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
)
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.S)
_SHAPES = [
    # scheme://user:password@host... anywhere in a text (the password may hold any character but whitespace)
    (re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s'\"]*:)(\S+)(@[^@\s'\"]+)"), rf"\g<1>{MASK}\g<3>"),
    # AWS access key ids (long-term AKIA, temporary ASIA)
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), MASK),
    # SigV4: Authorization header parts, the canonical request's token line, signatures
    (re.compile(r"(Credential=)[^,\s'\"&]+"), rf"\g<1>{MASK}"),
    (re.compile(r"(?i)(signature[\"']?\s*[:=]\s*b?[\"']?\s*)[0-9a-f]{16,}"), rf"\g<1>{MASK}"),
    (re.compile(r"(?i)(x-amz-security-token[\"']?\s*[:=]\s*b?[\"']?)[^\s'\",&}]+"), rf"\g<1>{MASK}"),
    # pre-signed URLs (S3, CloudFront, Azure SAS, GCS): the parameters that authorise; libpq's ?password=
    (re.compile(r"(?i)([?&](?:x-amz-[a-z-]+|signature|awsaccesskeyid|policy|key-pair-id|sig|se|sp|sv|skoid|"
                r"sktid|x-goog-[a-z-]+|token|access_token|password|passwd|pwd)=)[^&\s'\"#<>]+"), rf"\g<1>{MASK}"),
]

_registered: set[str] = set()
_lock = threading.Lock()


def split_credentials(url: str) -> tuple[str, str | None]:
    """``(url without its password, the password)``; the password is None when the URL has none.

    Works for passwords with unencoded delimiters; a percent-encoded password is decoded.
    """
    match = _URL.match(url)
    if not match:
        return url, None
    scheme, after = match.groups()
    at = after.rfind("@")
    if at < 0:
        return url, None
    userinfo, rest = after[:at], after[at + 1 :]
    user, sep, password = userinfo.partition(":")
    if not sep:
        return url, None
    return f"{scheme}://{quote(unquote(user), safe='')}@{rest}", unquote(password)


def query_passwords(url: str) -> list[str]:
    """Passwords given as query parameters (libpq accepts ``postgresql://u@h/db?password=...``), decoded."""
    query = re.split(r"\?", url, maxsplit=1)[1] if "?" in url else ""
    return [unquote(value.replace("+", " ")) for name, value in re.findall(r"(?i)(?:^|&)(password|passwd|pwd)=([^&#]*)",
                                                                            query) if value]


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (what logs and messages may show)."""
    match = _URL.match(url)
    if not match:
        return url
    scheme, after = match.groups()
    at = after.rfind("@")
    if at < 0 or ":" not in after[:at]:
        return redact(url)
    user = after[:at].split(":", 1)[0]
    return redact(f"{scheme}://{user}:{MASK}@{after[at + 1:]}")


def public_url(url: str) -> str:
    """A URL as it may be shown: no userinfo, no query, no fragment (signed URLs carry their keys there)."""
    match = _URL.match(url)
    if not match:
        return url
    scheme, after = match.groups()
    at = after.rfind("@")
    after = after[at + 1 :] if at >= 0 else after
    return f"{scheme}://{re.split(r'[?#]', after, maxsplit=1)[0]}"


def register(*secrets: str | None) -> None:
    """Add secrets that must never be printed (e.g. a password read from a file)."""
    with _lock:
        _registered.update(s for s in secrets if s and len(s) >= 4)


def registered() -> tuple[str, ...]:
    """The secrets registered so far (handed to worker processes, which do not inherit them)."""
    with _lock:
        return tuple(_registered)


def known_secrets() -> set[str]:
    """Every secret value known now, with its percent-encoded forms."""
    values = set(_registered)
    values.update(v for v in (os.environ.get(name) for name in SECRET_ENVIRONMENT) if v and len(v) >= 4)
    url = os.environ.get("MULTILEVEL_WAREHOUSE_URL")
    if url:
        for password in (split_credentials(url)[1], *query_passwords(url)):
            if password and len(password) >= 4:
                values.add(password)
    forms = set()
    for value in values:
        forms.update({value, quote(value, safe=""), quote_plus(value, safe=""), quote(value)})
    return forms


def redact(text: str) -> str:
    """``text`` with every known secret and every secret-shaped token replaced by ``***``."""
    if not text:
        return text
    for secret in sorted(known_secrets(), key=len, reverse=True):  # longest first: no partial leftovers
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """A handler filter that redacts the formatted message and any traceback of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: let logging report it as usual
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Redact every handler of the root logger and uncaught tracebacks (call after logging is configured)."""
    root = logger or logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())

    def hook(kind, value, tb):
        import traceback

        sys.stderr.write(redact("".join(traceback.format_exception(kind, value, tb))))

    sys.excepthook = hook
