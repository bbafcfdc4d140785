"""The engine's vocabulary: notices, timing policy, ledger keys and the blocked-IP book.

Kept apart from :mod:`iotwx_watch.engine.core` so the decision code there reads as a
sequence of decisions; everything here is small, pure or state-only (no calls, no IO).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from iotwx_watch.log import get_logger
from iotwx_watch.state.store import BlockedIpEntry, State, Whitelist

TICKET_TTL_S = 30 * 60  # WeCom: a suite_ticket is valid 30 minutes
TOKEN_MARGIN_S = 300  # refetch the suite token this long before WeCom says it expires
BACKOFF_BASE_S = 2.0  # retryable failures: 2 s × 2^n ...
BACKOFF_CAP_S = 60.0  # ... capped at a minute
IP_RETRY_S = 60.0  # 60020: a whitelist change takes a minute to apply
RATE_LIMIT_RETRY_S = 60.0  # 45009: WeCom blocks for the rest of the minute
STALE_NOTICE_WINDOW_S = 3600  # a code already dead when first seen is news only if this recent

HINT_NEW_CODE = (
    "ask for a new code: on the provider console's 代开发应用 page click 重新获取 (secret), "
    "and WeCom sends a new reset_permanent_code callback"
)

NoticeKind = Literal[
    "corp_obtained",
    "secret_reset",
    "corp_cancelled",
    "ip_to_whitelist",
    "egress_ip_changed",
    "auth_code_failed",
    "auth_code_expired",
    "auth_code_interrupted",
    "ticket_rejected",
]


@dataclass(frozen=True)
class Notice:
    """Something an operator should hear about; never carries a secret value."""

    kind: NoticeKind
    suite_id: str | None = None
    corpid: str | None = None
    corp_name: str | None = None
    agentid: int | None = None
    ip: str | None = None
    whitelist: str | None = None
    errcode: int | None = None
    detail: str | None = None


def code_key(auth_code: str) -> str:
    """The ledger key of an auth code: first 16 hex digits of SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(auth_code.encode("utf-8")).hexdigest()[:16]


def secret_fingerprint(secret: str) -> str:
    """Identifies a suite_secret WeCom rejected without keeping it readable."""
    return hashlib.sha256(b"iotwx-watch suite_secret\0" + secret.encode("utf-8")).hexdigest()[:16]


def backoff_delay(retries: int) -> float:
    """Capped exponential backoff: 2, 4, 8, ... 60 seconds."""
    return min(BACKOFF_BASE_S * 2.0 ** min(retries, 16), BACKOFF_CAP_S)


class IpBook:
    """Records 60020 addresses in ``state.blocked_ips`` and says which ones are news."""

    def __init__(self, state: State, notify: Callable[[Notice], None]) -> None:
        self._state = state
        self._notify = notify
        self._log = get_logger("engine")

    def last_provider_ip(self) -> str | None:
        """Our own egress address as WeCom last reported it."""
        provider = [(e.last_seen, ip) for ip, e in self._state.blocked_ips.items()
                    if _places(e) >= {"provider"}]
        return max(provider)[1] if provider else None

    def record(
        self,
        ip: str,
        whitelist: Whitelist,
        now: float,
        *,
        hint: str | None = None,
        corpid: str | None = None,
        call: str | None = None,
        suite_id: str | None = None,
    ) -> None:
        """Count a sighting; a new address (or a new place to whitelist it) is a Notice."""
        previous_egress = self.last_provider_ip() if whitelist == "provider" else None
        entry = self._state.blocked_ips.get(ip)
        is_new = entry is None or whitelist not in _places(entry)
        if entry is None:
            entry = BlockedIpEntry(whitelist=whitelist, first_seen=now, last_seen=now, count=0)
            self._state.blocked_ips[ip] = entry
        elif whitelist not in _places(entry):
            entry.extra["whitelists"] = sorted(_places(entry) | {whitelist})
        entry.count += 1
        entry.last_seen = now
        entry.hint = hint or entry.hint
        entry.corpid = corpid or entry.corpid
        if whitelist == "provider":
            entry.call = call or entry.call
            entry.resolved_at = None
        self._log.warning("engine.ip_blocked", ip=ip, whitelist=whitelist, count=entry.count,
                          corpid=entry.corpid, call=call, new=is_new)
        if is_new:
            self._notify(Notice("ip_to_whitelist", suite_id=suite_id, corpid=entry.corpid, ip=ip,
                                whitelist=whitelist, errcode=60020, detail=_where(whitelist)))
        if previous_egress is not None and previous_egress != ip:
            self._notify(Notice("egress_ip_changed", suite_id=suite_id, ip=ip, whitelist="provider",
                                errcode=60020, detail=f"WeCom saw {previous_egress} before"))

    def provider_ok(self, now: float) -> None:
        """A call of ours went through: the provider whitelist entries we asked for are in."""
        for ip, entry in self._state.blocked_ips.items():
            if "provider" in _places(entry) and entry.resolved_at is None:
                entry.resolved_at = now
                self._log.info("engine.ip_unblocked", ip=ip, whitelist="provider")


def _places(entry: BlockedIpEntry) -> set[str]:
    places = entry.extra.get("whitelists")
    if isinstance(places, list):
        return {str(p) for p in places} | {entry.whitelist}
    return {entry.whitelist}


def _where(whitelist: Whitelist) -> str:
    if whitelist == "provider":
        return "add it to 服务商管理后台 → 服务商信息 → 基本信息 → IP白名单"
    return "add it to the 代开发 app's 企业可信IP, then re-publish the app"
