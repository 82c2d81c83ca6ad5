"""Logging: one JSON object per line in production, readable text on a
terminal, both from the standard library.

Fields go in ``extra=`` (``log.info("request", extra={"status": 200})``) and
become keys of the JSON object or ``key=value`` pairs of the text line. Every
line passes through a redaction of the configured secrets (API tokens,
passwords of the database and broker URLs) and of any ``user:password@`` in a
URL, whatever logged it, exceptions included. No log line carries a request
or message body, so no personal data (recipient name, postcode) is written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from adapters.settings import Settings
from adapters.settings_parsing import token_digest

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {
    "message", "asctime", "taskName", "color_message",  # uvicorn's duplicate with ANSI colours
}
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@", re.IGNORECASE)
_BEARER = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)
# The id of the HTTP request being answered: every line logged while
# answering it carries it (set by adapters/http/access.py).
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


class _RequestContext(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        rid = request_id.get()
        if rid is not None and not hasattr(record, "request_id"):
            record.request_id = rid
        return True


class Redactor:
    def __init__(self, secrets: Iterable[str] = (), token_digests: Iterable[str] = ()) -> None:
        # Longest first, so a secret containing another is replaced whole.
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        # API tokens are kept only as digests: a field's value is hidden when
        # it is one (a token in a Bearer header is hidden by its shape).
        self.token_digests = frozenset(token_digests)

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        """The record's own fields, a value that is an API token hidden."""
        found = fields(record)
        if self.token_digests:
            for k, v in found.items():
                if isinstance(v, str) and token_digest(v) in self.token_digests:
                    found[k] = "***"
        return found

    def __call__(self, text: str) -> str:
        text = _BEARER.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **self.redact.fields(record),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return self.redact(json.dumps(line, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = " ".join(f"{k}={v}" for k, v in self.redact.fields(record).items())
        if extra:
            head, sep, rest = text.partition("\n")  # keep a traceback below the line
            text = f"{head} {extra}{sep}{rest}"
        return self.redact(text)


def configure(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Send every logger's records to stderr, formatted as configured; the
    handler it installs (replacing the root logger's)."""
    stream = stream or sys.stderr
    log_format = settings.log_format or ("text" if stream.isatty() else "json")
    redact = Redactor(settings.secrets(), settings.api_tokens)
    handler = logging.StreamHandler(stream)
    handler.addFilter(_RequestContext())
    handler.setFormatter(JsonFormatter(redact) if log_format == "json" else TextFormatter(redact))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # An exception nobody caught is a log line too (in JSON, and redacted).
    crash = logging.getLogger("tracking.crash")
    sys.excepthook = lambda kind, value, tb: crash.critical(
        "uncaught %s", kind.__name__, exc_info=(kind, value, tb))
    threading.excepthook = lambda hook: crash.critical(
        "uncaught %s in thread %s", hook.exc_type.__name__,
        hook.thread.name if hook.thread else "?",
        exc_info=(hook.exc_type, hook.exc_value, hook.exc_traceback))  # type: ignore[arg-type]
    # paho and psycopg's pool are chatty below WARNING; uvicorn's own lines go through ours.
    for name in ("psycopg.pool", "amqtt", "transitions", "passlib"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    return handler
