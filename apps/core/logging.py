"""Structured JSON logs (structlog over the standard library) with request id and tenant
id on every line, and redaction of secrets and tokens wherever they appear.

Redaction happens twice: a ``logging.Filter`` scrubs the message and arguments of every
stdlib record (so third-party libraries are covered), and a structlog processor scrubs the
event dictionary, including ``extra=`` fields. Other apps register further patterns (for
example ZK-TX selectors) with ``register_sensitive_pattern``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import structlog

REDACTED = "[REDACTED]"

SENSITIVE_KEY = re.compile(
    r"(pass(word|wd)?|secret|token|authori[sz]ation|cookie|api[_-]?key|signature|session(id)?|csrf|private[_-]?key)",
    re.IGNORECASE,
)
_patterns: list[re.Pattern[str]] = [
    re.compile(r"\btf_[A-Za-z0-9_\-]{16,}"),  # our API tokens
    re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]+"),  # Slack tokens
    re.compile(r"(?i)\b(bearer|token)\s+[A-Za-z0-9._~+/=\-]{8,}"),  # Authorization header values
    re.compile(r"(?i)(sessionid|csrftoken)=[^;\s]+"),
]


def register_sensitive_pattern(pattern: str | re.Pattern[str]) -> None:
    _patterns.append(re.compile(pattern) if isinstance(pattern, str) else pattern)


def redact_text(text: str) -> str:
    for pattern in _patterns:
        text = pattern.sub(REDACTED, text)
    return text


def redact_value(value: Any) -> Any:
    """Recursively redact: secret-looking keys lose their values, strings are scrubbed."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if isinstance(k, str) and SENSITIVE_KEY.search(k) else redact_value(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    return value


class RedactSecretsFilter(logging.Filter):
    """Redacts the *formatted* message, so a secret split between the format string and its
    arguments (``"…/jit/email/%s/", token``) is caught as a whole."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, str):
            return True  # structlog event dicts are redacted by _redact_processor
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg, record.args = redact_text(message), ()
        return True


_STRUCTLOG_INTERNAL = {"_record", "_from_structlog", "logger", "level", "timestamp", "event"}


def _redact_processor(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key, value in list(event_dict.items()):
        if key in _STRUCTLOG_INTERNAL and key != "event":
            continue
        if SENSITIVE_KEY.search(key) and key not in ("event",):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = redact_value(value)
    return event_dict


def _redact_rendered_exception(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    # A traceback is rendered after the other processors ran; exception messages quote
    # their arguments (a token passed where an id was expected, say), so scrub it too.
    if isinstance(event_dict.get("exception"), str):
        event_dict["exception"] = redact_text(event_dict["exception"])
    return event_dict


_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.stdlib.ExtraAdder(),
    _redact_processor,
]

_configured = False


def _configure_structlog() -> None:
    global _configured
    if _configured:
        return
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED_PROCESSORS,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    _configured = True


def build_formatter(renderer: str = "json") -> structlog.stdlib.ProcessorFormatter:
    _configure_structlog()
    # Python warnings (deprecations, Celery's "running as root") become log records too,
    # so they leave as JSON lines instead of raw stderr text.
    logging.captureWarnings(True)
    final = (
        structlog.processors.JSONRenderer(sort_keys=True)
        if renderer == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED_PROCESSORS,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _redact_rendered_exception,
            final,
        ],
    )


def bind_log_context(**values: Any) -> None:
    structlog.contextvars.bind_contextvars(**values)


def current_request_id() -> str:
    return str(structlog.contextvars.get_contextvars().get("request_id", ""))


def current_log_context() -> dict[str, Any]:
    return dict(structlog.contextvars.get_contextvars())
