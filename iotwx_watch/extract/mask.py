"""Excerpts of unreadable records that are safe to show: no ticket, code or secret in them.

An :class:`~iotwx_watch.events.UnrecognizedRecord` carries an excerpt so an operator can
see what the extractor missed; it ends up in ``parse --unmatched``, logs and alerts. So
three nets, each enough on its own for what it covers, replace values by ``***``:
the record's own secret values wherever they occur, the value of any secret-like name
(``*Ticket``, ``*Code``, ``secret``, ``token``, ``Encrypt``, …) in any form, and any
long run of token characters mixing letters and digits (a value whose name we never
saw). Masking runs on a stretch several times the excerpt's length before it is cut,
so a value that starts inside the excerpt is masked whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from iotwx_watch.events import EXCERPT_MAX, MASK

# The last word of a secret's name (SuiteTicket, auth_code, corpsecret, access_token, …).
_SECRET_WORD = r"(?:[Tt]icket|[Cc]ode|[Ss]ecret|[Tt]oken|[Kk]ey|[Pp]assw(?:or)?d|[Ss]ignature" \
    r"|[Ee]ncrypt|TICKET|CODE|SECRET|TOKEN|KEY)"
_SECRET_NAME = rf"[A-Za-z_]{{0,40}}{_SECRET_WORD}"
_NAMED = re.compile(
    rf"(?P<name>{_SECRET_WORD})(?P<sep>[\"'\]]{{0,2}}\s{{0,4}}(?:=>|[=:]|;s:\d{{1,4}}:)\s{{0,4}}"
    r"(?:string\(\d{1,4}\)\s{0,2})?[\"'\[]{0,2}\s{0,2})(?P<value>[^\s\"'<>,;&)}\]]{3,})"
)
_XML_NAMED = re.compile(
    rf"(?P<open><(?P<tag>{_SECRET_NAME})>\s{{0,50}}(?:<!\[CDATA\[)?)(?P<value>[^<\]]{{3,}})"
)
_LONG = re.compile(r"[A-Za-z0-9_\-+/=.~*@!%]{24,}")
_SPACE = re.compile(r"\s+")
_WORK_FACTOR = 4  # mask this many times the excerpt's length before cutting


def _long(match: re.Match[str]) -> str:
    run = match.group()
    has_digit = any(char.isdigit() for char in run)
    has_alpha = any(char.isalpha() for char in run)
    return MASK if has_digit and has_alpha else run


def excerpt(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` squeezed to one line of at most EXCERPT_MAX characters, secrets masked."""
    text = text[: EXCERPT_MAX * _WORK_FACTOR]
    for secret in sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _XML_NAMED.sub(lambda m: m.group("open") + MASK, text)
    text = _NAMED.sub(lambda m: m.group("name") + m.group("sep") + MASK, text)
    text = _LONG.sub(_long, text)
    text = _SPACE.sub(" ", text).strip()
    if len(text) > EXCERPT_MAX:
        text = text[: EXCERPT_MAX - 1] + "…"
    if not text.isprintable():
        text = "".join(char if char.isprintable() else "?" for char in text)
    return text
