"""JSON log lines with context fields, and a last line of defence against leaking secrets.

Code never logs card numbers, CVCs, API keys or secrets; `RedactingFilter` still masks
anything in a record that looks like one (a 12-19 digit run passing Luhn, an API key, a
webhook secret), so a mistake elsewhere does not become a leak.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from common.domain.cards import luhn_valid

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}
_DIGIT_RUN = re.compile(r"(?<!\d)(?:\d[ -]?){11,18}\d(?!\d)")
_SECRET = re.compile(r"\b(pgk_[A-Za-z0-9_-]{8,}|whsec_[A-Za-z0-9+/=]{8,})")


def redact(text: str) -> str:
    def card(match: re.Match[str]) -> str:
        digits = re.sub(r"[ -]", "", match.group(0))
        return "[REDACTED-PAN]" if luhn_valid(digits) else match.group(0)

    return _SECRET.sub("[REDACTED-SECRET]", _DIGIT_RUN.sub(card, text))


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, redact(value))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Idempotent: one JSON handler on the root logger, with redaction."""
    root = logging.getLogger()
    root.setLevel(level)
    for handler in root.handlers:
        if isinstance(handler.formatter, JsonFormatter):
            return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    root.handlers = [handler]
    logging.getLogger("mangum").setLevel(logging.WARNING)  # repeats our access log
