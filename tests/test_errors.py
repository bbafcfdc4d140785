"""Tests for iotwx_watch.errors: the WeCom error classes the engine acts on."""

from __future__ import annotations

import pytest

from iotwx_watch.errors import (
    ERRCODE_HTTP_STATUS,
    ERRCODE_TRANSPORT,
    ConfigError,
    IotwxError,
    StateLockedError,
    WeComError,
    WeComErrorKind,
    parse_from_ip,
)

MSG_60020 = (
    "not allow to access from your ip, hint: [1663579212640293053095122], "
    "from ip: 124.70.32.161, more info at https://open.work.weixin.qq.com/devtool/query?e=60020"
)


@pytest.mark.parametrize(
    ("errcode", "kind"),
    [
        (-1, WeComErrorKind.RETRYABLE),
        (40082, WeComErrorKind.TOKEN_INVALID),
        (42009, WeComErrorKind.TOKEN_INVALID),
        (40014, WeComErrorKind.TOKEN_INVALID),
        (40085, WeComErrorKind.TICKET_STALE),
        (40078, WeComErrorKind.AUTH_CODE_DEAD),
        (60020, WeComErrorKind.IP_BLOCKED),
        (40080, WeComErrorKind.CONFIG),
        (40083, WeComErrorKind.CONFIG),
        (40013, WeComErrorKind.CONFIG),
        (45009, WeComErrorKind.RATE_LIMITED),
        (45033, WeComErrorKind.RATE_LIMITED),
        (48004, WeComErrorKind.AUTHORIZATION_GONE),
        (40084, WeComErrorKind.AUTHORIZATION_GONE),
        (ERRCODE_TRANSPORT, WeComErrorKind.RETRYABLE),
    ],
)
def test_error_kinds(errcode: int, kind: WeComErrorKind) -> None:
    """Every errcode of the issue maps to the class the engine acts on."""
    assert kind == WeComError(errcode, "x").kind


def test_http_status_kind() -> None:
    """HTTP 5xx is retryable, 4xx is not."""
    assert WeComErrorKind.RETRYABLE == WeComError(ERRCODE_HTTP_STATUS, "x", http_status=502).kind
    assert WeComErrorKind.OTHER == WeComError(ERRCODE_HTTP_STATUS, "x", http_status=404).kind


@pytest.mark.parametrize(
    ("errmsg", "ip"),
    [
        (MSG_60020, "124.70.32.161"),
        ("..., from ip: 2001:db8::1, more info", "2001:db8::1"),
        ("..., from ip: x.x.x.x, more info", None),
        ("..., from ip: 1.2.*.*, more info", None),
        ("..., from ip: 999.1.1.1, more info", None),
        ("no address here", None),
    ],
)
def test_parse_from_ip(errmsg: str, ip: str | None) -> None:
    """Only a valid, unmasked address is taken from 'from ip:'."""
    assert ip == parse_from_ip(errmsg)


def test_blocked_ip_only_for_60020() -> None:
    """Another errcode carrying 'from ip' is not a block."""
    assert "124.70.32.161" == WeComError(60020, MSG_60020).blocked_ip
    assert None is WeComError(42001, MSG_60020).blocked_ip


def test_hierarchy_and_exit_codes() -> None:
    """One root; config errors exit 2, a held lock exits 3 and names the pid."""
    assert issubclass(ConfigError, IotwxError)
    assert 2 == ConfigError("x").exit_code
    locked = StateLockedError("/var/lib/x.lock", 4242)
    assert 3 == locked.exit_code
    assert "pid 4242" in str(locked)
    assert "WeCom errcode 40078: bad" == str(WeComError(40078, "bad"))
