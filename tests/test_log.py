"""Tests for iotwx_watch.log: secrets are masked in every rendered log line."""

from __future__ import annotations

import io
import json

import structlog

from iotwx_watch.log import MASK, SecretRegistry, configure_logging, get_logger


def render(secrets: SecretRegistry | None = None, **kw: object) -> dict[str, object]:
    stream = io.StringIO()
    configure_logging("debug", secrets=secrets, json_lines=True, stream=stream)
    get_logger("test").info("test.event", **kw)
    structlog.reset_defaults()
    line: dict[str, object] = json.loads(stream.getvalue())
    return line


def test_secret_keys_are_masked() -> None:
    """Values under secret-named keys are masked, other keys kept."""
    line = render(suite_secret="abcdefgh", permanent_code="zzzzzzzz", suite_id="dk1")
    assert MASK == line["suite_secret"]
    assert MASK == line["permanent_code"]
    assert "dk1" == line["suite_id"]


def test_registered_values_are_scrubbed_anywhere() -> None:
    """A registered secret value is scrubbed from free text and nested data."""
    secrets = SecretRegistry()
    secrets.add("TOPSECRET-TICKET-123")
    line = render(
        secrets, message="got TOPSECRET-TICKET-123 here", nested={"x": ["TOPSECRET-TICKET-123"]}
    )
    assert "TOPSECRET" not in json.dumps(line)
    assert f"got {MASK} here" == line["message"]


def test_short_values_are_not_registered() -> None:
    """Very short values are not registered (they would mask ordinary words)."""
    secrets = SecretRegistry()
    secrets.add("ab")
    assert "ab" not in secrets.values()
