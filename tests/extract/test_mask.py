"""Excerpts of unreadable records: secrets masked in every form, the rest kept readable."""

from __future__ import annotations

import pytest

from iotwx_watch.events import EXCERPT_MAX
from iotwx_watch.extract.mask import excerpt

CODE = "jMh6qT7pf1uGgRz7cnGDu1l2hpefmuIfHBUiNxZeDBFt52M9vNEO6NapeZibaWMzkJKGzl"


@pytest.mark.parametrize(
    "text",
    [
        f"<AuthCode><![CDATA[{CODE}]]></AuthCode>",
        f"[AuthCode] => {CODE}",
        f'["AuthCode"]=>\n  string({len(CODE)}) "{CODE}"',
        f"'AuthCode' => '{CODE}',",
        f'{{"auth_code": "{CODE}"}}',
        f"authCode={CODE}, infoType=create_auth",
        f's:8:"AuthCode";s:{len(CODE)}:"{CODE}";',
        f"corpsecret={CODE}&x=1",
        f"a value nobody named: {CODE} end",
    ],
)
def test_secret_values_are_masked_in_every_form(text: str) -> None:
    """A code is masked by its name in any form, or as a long mixed token without one."""
    shown = excerpt(text)
    assert CODE[:6] not in shown
    assert "***" in shown


def test_the_records_own_values_are_masked_wherever_they_are() -> None:
    """A short secret the record holds is masked even where no name points at it."""
    assert "ticket *** seen twice: *** ok" == excerpt(
        "ticket t-12 seen twice: t-12 ok", ["t-12", None]
    )


def test_ids_times_and_hints_stay_readable() -> None:
    """Suite ids, corp ids, timestamps, hints and paths are no secrets."""
    text = (
        "<SuiteId>dk7f3a9c2b41e05d68</SuiteId><TimeStamp>1795856400</TimeStamp> "
        "hint: [1663579212640293053095122] /wxcallback/basic/receive.php"
    )
    assert text == excerpt(text)


def test_short_printable_single_line() -> None:
    """Whitespace is squeezed, control characters and lone surrogates shown as ?, and the
    excerpt is cut to EXCERPT_MAX characters."""
    assert "a b ?c?" == excerpt("a\n\t b \x00c\ud800")
    long = excerpt("word " * 1000)
    assert (EXCERPT_MAX, "…") == (len(long), long[-1])


def test_a_value_cut_by_the_excerpt_is_masked_whole() -> None:
    """A secret that straddles the cut is masked before cutting, so no part shows."""
    text = "x" * (EXCERPT_MAX - 10) + f" AuthCode={CODE}"
    assert CODE[:3] not in excerpt(text)
