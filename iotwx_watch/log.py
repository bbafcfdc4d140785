"""structlog set-up, and the processor that keeps secrets out of every log line.

Configured once, by the CLI: JSON lines to stdout when stdout is not a terminal
(journald keeps them structured), a console renderer on a terminal. Event names are
stable and dotted (``tail.rotated``, ``wecom.call_failed``); data goes in key/values.

Masking is a backstop, not the plan: code logs ids, never secret values. Still, any
value under a secret-sounding key, and any registered secret value found inside any
string, is replaced before rendering.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

MASK = "***"
SECRET_KEYS = frozenset(
    {
        "suite_secret",
        "secret",
        "permanent_code",
        "suite_access_token",
        "access_token",
        "suite_ticket",
        "ticket",
        "auth_code",
        "token",
        "encoding_aes_key",
        "webhook_url",
    }
)
_MIN_SECRET_LEN = 6


class SecretRegistry:
    """Secret values seen at run time (tickets, tokens, codes), to scrub from log text."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *values: str | None) -> None:
        with self._lock:
            self._values.update(v for v in values if v and len(v) >= _MIN_SECRET_LEN)

    def values(self) -> list[str]:
        with self._lock:
            return sorted(self._values, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for value in self.values():
            if value in text:
                text = text.replace(value, MASK)
        return text


def _scrub_value(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {
            k: MASK if k in SECRET_KEYS and v else _scrub_value(v, secrets)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub_value(v, secrets) for v in value]
    return value


class SecretMasker:
    """structlog processor: mask secret keys and the values registered in ``secrets``."""

    def __init__(self, secrets: SecretRegistry | None = None) -> None:
        self.secrets = secrets or SecretRegistry()

    def __call__(
        self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        values = self.secrets.values()
        for key in list(event_dict):
            value = event_dict[key]
            if key in SECRET_KEYS and value:
                event_dict[key] = MASK
            else:
                event_dict[key] = _scrub_value(value, values)
        return event_dict


def _renderer(json_lines: bool) -> Any:
    if json_lines:
        return structlog.processors.JSONRenderer(ensure_ascii=False)
    return structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())


def configure_logging(
    level: str = "info",
    *,
    secrets: SecretRegistry | None = None,
    json_lines: bool | None = None,
    stream: TextIO | None = None,
) -> None:
    """Set up structlog once.

    ``secrets`` is the registry the running components add secret values to (one per
    process, created by the CLI and passed down). By default: console text to stderr
    on a terminal, JSON lines to stdout otherwise (journald). Commands whose stdout is
    data (``parse``, ``status --json``) pass ``stream=sys.stderr``.
    """
    if json_lines is None:
        json_lines = not sys.stderr.isatty()
    if stream is None:
        stream = sys.stdout if json_lines else sys.stderr
    processors: Iterable[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        SecretMasker(secrets),
        _renderer(json_lines),
    ]
    structlog.configure(
        processors=list(processors),
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    """A lazy structlog logger carrying the component name.

    Lazy on purpose: module-level loggers are created at import, before the CLI
    configures structlog; binding now would freeze the default, unmasked set-up.
    """
    return structlog.get_logger(component=name)
