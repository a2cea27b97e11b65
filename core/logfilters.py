"""Logging filters that keep credentials out of every log line.

Embeds send their token as `?token=`, installer links carry theirs in the path, and servers log
the request line with its query string (uvicorn's access log does). So the filter sits on every
handler settings configure and on uvicorn's loggers (config/gunicorn.conf.py). It must not import
Django models: gunicorn loads it.
"""

from __future__ import annotations

import logging
import re

# Scoped tokens (wa_/wi_/wr_/we_) and host keys (hk_) anywhere in a message.
_TOKEN = re.compile(r"(?<![A-Za-z0-9_-])((?:w[aire]|hk)_)[A-Za-z0-9_-]{16,}")
# Credentials passed in a query string.
_QUERY = re.compile(r"(?i)([?&](?:token|api_key|apikey|key|access_token)=)[^&\s\"']+")

# Single-use installer links carry their secret in the path.
_INSTALL = re.compile(r"(/install/)[^/\s?\"']+")

REDACTED = "[redacted]"


def redact(text: str) -> str:
    text = _QUERY.sub(lambda match: match.group(1) + REDACTED, text)
    text = _INSTALL.sub(lambda match: match.group(1) + REDACTED, text)
    return _TOKEN.sub(lambda match: match.group(1) + REDACTED, text)


class RedactSecretsFilter(logging.Filter):
    """Rewrites a record whose message carries a credential; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True  # a malformed record is the logging module's problem to report
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        if record.exc_info and not record.exc_text:
            # An exception's message may quote a request; format it now, redacted, and the
            # formatter uses this text instead of formatting the exception again.
            record.exc_text = redact(_FORMATTER.formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FORMATTER = logging.Formatter()
