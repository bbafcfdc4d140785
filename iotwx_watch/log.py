"""structlog set-up, and the processor that keeps secrets out of every log line.

Configured once, by the CLI. Diagnostics always go to stderr, because stdout carries
data (``parse``, ``status``, ``schema``): ``once >/dev/null`` under cron still shows
warnings. Lines are JSON by default (journald keeps them structured); the CLI passes
a renderer of readable sentences when stderr is a terminal. Event names are stable
and dotted (``follow.rotated``, ``wecom.call_failed``); data goes in key/values.

structlog itself is imported at the first log call that passes the level, not at import
time: it costs more than the rest of ``iotwx-watch status`` put together (it loads
asyncio, and rich when installed), and most runs of most commands never log a line.
Until then :func:`configure_logging` only remembers what to set up.

Masking is a backstop, not the plan: code logs ids, never secret values. Still, any
value under a secret-sounding key, and any registered secret value found inside any
string, is replaced before rendering.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TextIO

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

# A structlog processor: (logger, method name, event dict) -> event dict or rendered line.
Processor = Callable[[Any, str, MutableMapping[str, Any]], Any]


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


@dataclass(frozen=True)
class _Setup:
    level: str
    secrets: SecretRegistry | None
    renderer: Processor | None
    stream: TextIO


_pending: _Setup | None = None
_setup_lock = threading.Lock()


def configure_logging(
    level: str = "info",
    *,
    secrets: SecretRegistry | None = None,
    renderer: Processor | None = None,
    stream: TextIO | None = None,
) -> None:
    """Set up logging: ``level`` and up, masked, rendered by ``renderer`` to ``stream``.

    ``secrets`` is the registry the running components add secret values to (one per
    process, created by the CLI and passed down). ``renderer`` defaults to JSON lines
    and ``stream`` to stderr. The renderer always runs after :class:`SecretMasker`, so
    it only ever sees masked values.
    """
    global _pending
    setup = _Setup(level, secrets, renderer, stream or sys.stderr)
    with _setup_lock:
        if "structlog" in sys.modules:  # already paid for (or in use by a test): apply now
            _pending = None
            _apply(setup)
        else:
            _pending = setup


def _apply(setup: _Setup) -> None:
    import logging

    import structlog

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            SecretMasker(setup.secrets),
            setup.renderer or structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[setup.level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=setup.stream),
        cache_logger_on_first_use=False,
    )


def _structlog() -> ModuleType:
    """structlog, imported now, with the set-up :func:`configure_logging` left pending."""
    global _pending
    import structlog

    with _setup_lock:
        if _pending is not None:
            setup, _pending = _pending, None
            _apply(setup)
    return structlog


_LEVELS = {"debug": 10, "info": 20, "warning": 30, "warn": 30, "error": 40, "exception": 40,
           "critical": 50}


def _nop(*_args: Any, **_kwargs: Any) -> None:
    return None


def _filtered(method: str) -> bool:
    """Whether a call of ``method`` would be dropped by the set-up still pending (so
    structlog need not be imported for it: ``once --log-level warning`` under cron)."""
    setup = _pending
    level = _LEVELS.get(method)
    return setup is not None and level is not None and level < _LEVELS[setup.level.lower()]


class _LazyLogger:
    """Stands in for a structlog logger and imports structlog at its first call that
    would print something."""

    def __init__(self, **context: Any) -> None:
        self._context = context
        self._logger: Any = None

    def __getattr__(self, name: str) -> Any:  # only for what __init__ did not set: log methods
        if self._logger is None:
            if _filtered(name):
                return _nop
            self._logger = _structlog().get_logger(**self._context)
        return getattr(self._logger, name)


def get_logger(name: str) -> Any:
    """A lazy logger carrying the component name.

    Lazy twice on purpose: structlog is imported at the first call (see the module
    docstring), and structlog's own proxy binds the configuration at each call, so
    module-level loggers created at import follow the CLI's later set-up (and a
    test's ``capture_logs``).
    """
    return _LazyLogger(component=name)
