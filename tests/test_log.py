"""Tests for iotwx_watch.log: secrets masked in every line, on stderr, structlog loaded late."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
import structlog

from iotwx_watch.log import MASK, SecretRegistry, configure_logging, get_logger


def render(secrets: SecretRegistry | None = None, **kw: object) -> dict[str, object]:
    stream = io.StringIO()
    configure_logging("debug", secrets=secrets, stream=stream)
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


def test_lines_go_to_stderr_as_json_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    """Diagnostics never go to stdout (it carries data): JSON lines on stderr by default."""
    configure_logging("info")
    get_logger("test").warning("test.event", n=1)
    structlog.reset_defaults()
    out, err = capsys.readouterr()
    assert "" == out
    line = json.loads(err)
    assert ("test.event", "warning", 1) == (line["event"], line["level"], line["n"])


def test_structlog_is_imported_at_the_first_log_call() -> None:
    """Configuring costs nothing until a line passes the level; that line follows the
    set-up, and lines below the level stay out before and after."""
    code = (
        "import sys\n"
        "from iotwx_watch.log import configure_logging, get_logger\n"
        "log = get_logger('test')\n"
        "configure_logging('warning')\n"
        "print('structlog' in sys.modules)\n"
        "log.info('test.quiet')\n"
        "log.debug('test.quieter')\n"
        "print('structlog' in sys.modules)\n"
        "log.warning('test.loud', n=2)\n"
        "print('structlog' in sys.modules)\n"
        "log.info('test.quiet.again')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    # lines below the level import nothing (cron's `--log-level warning once`)
    assert ["False", "False", "True"] == done.stdout.split()
    (line,) = done.stderr.splitlines()
    assert ("test.loud", 2) == (json.loads(line)["event"], json.loads(line)["n"])
