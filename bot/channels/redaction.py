"""Secrets kept out of the log: whatever a library puts in a message or a traceback (a URL with
the bot token in it, say), the token is replaced before the line is written."""

from __future__ import annotations

import logging
from collections.abc import Iterable

HIDDEN = "<hidden>"


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if len(secret) >= 8]

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, HIDDEN)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def redact_logs(secrets: Iterable[str], logger: logging.Logger | None = None) -> RedactSecrets:
    """Redact `secrets` on every handler of `logger` (the root logger by default)."""
    redaction = RedactSecrets(secrets)
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(redaction)
    return redaction
