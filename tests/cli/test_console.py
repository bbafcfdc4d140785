"""The terminal's log lines: one sentence per known event, masked, coloured only when asked."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from iotwx_watch.cli.console import SENTENCES, SentenceRenderer, wants_color
from iotwx_watch.log import MASK, SecretRegistry, configure_logging, get_logger

PACKAGE = Path(__file__).resolve().parents[2] / "iotwx_watch"
CLOCK = re.compile(r"^\d\d:\d\d:\d\d ")


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def lines(level: str, event: str, *, color: bool = False, secrets: SecretRegistry | None = None,
          **fields: object) -> list[str]:
    """What one log call prints through the CLI's terminal pipeline."""
    stream = io.StringIO()
    configure_logging("debug", secrets=secrets, renderer=SentenceRenderer(color=color),
                      stream=stream)
    getattr(get_logger("test"), level)(event, **fields)
    return stream.getvalue().splitlines()


def sentence(level: str, event: str, **fields: object) -> str:
    """The one line printed, without its HH:MM:SS."""
    (line,) = lines(level, event, color=False, secrets=None, **fields)
    assert CLOCK.match(line), line
    return line[9:]


def test_a_redemption_reads_as_a_sentence() -> None:
    """engine.redeemed: who, which agentid, and that the secret was stored."""
    text = sentence("info", "engine.redeemed", suite_id="dkA", key="0123456789abcdef",
                    corpid="wwcorp0000000001", agentid=1000002, info_type="create_auth",
                    secret_replaced=False)
    assert "redeemed auth code of wwcorp0000000001: agentid 1000002, secret stored" == text


def test_corp_name_shown_when_known() -> None:
    """With a corp name the sentence names the corp and abbreviates its corpid."""
    text = sentence("info", "engine.redeemed", corpid="wwa1c7e3b0d2f94e61", corp_name="示例科技",
                    agentid=1000002, secret_replaced=True)
    assert "redeemed auth code of 示例科技 (wwa1…): agentid 1000002, secret replaced" == text


def test_warnings_are_labelled() -> None:
    """A warning says so in words, so it shows without colour too."""
    text = sentence("warning", "engine.ip_blocked", ip="121.46.1.2", whitelist="app", count=3,
                    corpid=None, call=None, new=False)
    assert "warning: WeCom refuses 121.46.1.2 (60020, seen 3x): add it to the app whitelist" == text


def test_unknown_event_falls_back_to_key_values() -> None:
    """An event without a sentence prints its name and its data, nothing lost."""
    assert "custom.thing a=1 b=x" == sentence("info", "custom.thing", a=1, b="x")


def test_missing_field_falls_back_instead_of_failing() -> None:
    """A known event logged without a field its sentence needs still prints, plainly."""
    assert "engine.redeemed corpid=wwX" == sentence("info", "engine.redeemed", corpid="wwX")


def test_secrets_are_masked_before_the_sentence() -> None:
    """Registered values and secret keys are masked in sentences and in the fallback."""
    secrets = SecretRegistry()
    secrets.add("TOPSECRET-TOKEN-123")
    printed = "\n".join(
        lines("warning", "follow.read_failed", secrets=secrets, path="/x",
              errno=5, error="bad TOPSECRET-TOKEN-123")
        + lines("info", "custom.thing", secrets=secrets, auth_code="plain-code-value")
    )
    assert "TOPSECRET" not in printed and "plain-code-value" not in printed
    assert f"cannot read /x: bad {MASK}" in printed
    assert f"auth_code={MASK}" in printed


def test_colour_only_when_asked() -> None:
    """Colour codes appear with color=True (yellow for a warning) and never without."""
    coloured = lines("warning", "follow.file_appeared", color=True, path="/x")[0]
    plain = lines("warning", "follow.file_appeared", color=False, path="/x")[0]
    assert "\x1b[33m" in coloured
    assert "\x1b" not in plain


def test_once_done_is_left_to_the_once_summary() -> None:
    """daemon.once_done prints nothing on a terminal: `once` says it in its summary."""
    assert [] == lines("info", "daemon.once_done", events=1, failed=False)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("stream", "no_color", "env", "expected"),
    [
        (_Tty(), False, {}, True),
        (_Tty(), False, {"NO_COLOR": "1"}, False),
        (_Tty(), False, {"NO_COLOR": ""}, True),  # no-color.org: set *and* not empty
        (_Tty(), True, {}, False),
        (io.StringIO(), False, {}, False),
    ],
    ids=["terminal", "NO_COLOR", "empty-NO_COLOR", "--no-color", "pipe"],
)
def test_colour_decision(stream: io.StringIO, no_color: bool, env: dict[str, str],
                         expected: bool) -> None:
    """Colour on a terminal unless NO_COLOR (non-empty) or --no-color says otherwise."""
    assert expected == wants_color(stream, no_color=no_color, env=env)


def logged_event_names() -> tuple[set[str], set[str]]:
    """Dotted names passed first to a call in the package (log calls, whatever the logger
    is called), and the prefixes of f-string ones (``f"engine.waiting_for_{…}"``)."""
    names: set[str] = set()
    prefixes: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if path.name == "console.py":
            continue
        text = path.read_text(encoding="utf-8")
        names.update(re.findall(r'\(\s*"([a-z_]+\.[a-z_]+)"', text))
        prefixes.update(re.findall(r'\(\s*f"([a-z_]+\.[a-z_]*)\{', text))
    return names, prefixes


def test_every_sentence_is_for_an_event_the_code_logs() -> None:
    """No sentence for an event nobody logs (a renamed event would silently lose its words)."""
    names, prefixes = logged_event_names()
    stale = [e for e in SENTENCES if e not in names and not e.startswith(tuple(prefixes))]
    assert [] == stale
    assert {"engine.redeemed", "engine.ip_blocked", "follow.rotated"} <= names
