"""The blocked-IP book: records 60020 addresses in the state and says which are news.

The book is bounded (policy_engine.log is outside input): an address not refused for
BLOCKED_IP_RETENTION_S is dropped, and beyond MAX_BLOCKED_IPS the quietest go first.
Our own (provider) address is kept while it is still refused.
"""

from __future__ import annotations

from collections.abc import Callable

from iotwx_watch.engine.outcomes import Outcome
from iotwx_watch.engine.timing import BLOCKED_IP_RETENTION_S, BLOCKED_IP_SLACK, MAX_BLOCKED_IPS
from iotwx_watch.log import get_logger
from iotwx_watch.state.model import BlockedIpEntry, State, Whitelist


class IpBook:
    """Records 60020 addresses in ``state.blocked_ips`` and says which ones are news."""

    def __init__(
        self, state: State, notify: Callable[[Outcome], None], *, instance: str | None = None
    ) -> None:
        self._state = state
        self._notify = notify
        self._instance = instance  # named in each sighting when a fleet shares the book
        self._log = get_logger("engine")
        self._pruned_at = float("-inf")

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
        log: str | None = None,
    ) -> None:
        """Count a sighting (``log``: the file it was read in); a new address, or a new place
        to whitelist it, is an Outcome."""
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
        if self._instance is not None:
            logs = entry.seen_by.setdefault(self._instance, [])
            if log is not None and log not in logs:
                logs.append(log)
        self._prune(now)
        entry.hint = hint or entry.hint
        entry.corpid = corpid or entry.corpid
        if whitelist == "provider":
            entry.call = call or entry.call
            entry.resolved_at = None
        self._log.warning("engine.ip_blocked", ip=ip, whitelist=whitelist, count=entry.count,
                          corpid=entry.corpid, call=call, new=is_new)
        if is_new:
            self._notify(Outcome("ip_to_whitelist", suite_id=suite_id, corpid=entry.corpid, ip=ip,
                                 whitelist=whitelist, errcode=60020, detail=_where(whitelist)))
        if previous_egress is not None and previous_egress != ip:
            self._notify(Outcome("egress_ip_changed", suite_id=suite_id, ip=ip,
                                 whitelist="provider", errcode=60020,
                                 detail=f"WeCom saw {previous_egress} before"))

    def _prune(self, now: float) -> None:
        """Keep the book within its retention and size bounds (work done in batches)."""
        book = self._state.blocked_ips
        if now - self._pruned_at >= BLOCKED_IP_RETENTION_S / 30:
            self._pruned_at = now
            for ip in [ip for ip, e in book.items()
                       if now - e.last_seen > BLOCKED_IP_RETENTION_S and not _still_ours(e)]:
                del book[ip]
        if len(book) <= MAX_BLOCKED_IPS + BLOCKED_IP_SLACK:
            return
        excess = len(book) - MAX_BLOCKED_IPS
        if excess > 0:
            quietest = sorted((e.last_seen, ip) for ip, e in book.items() if not _still_ours(e))
            for _, ip in quietest[:excess]:
                del book[ip]
            self._log.warning("engine.blocked_ips_pruned", dropped=min(excess, len(quietest)),
                              kept=len(book))

    def provider_ok(self, now: float) -> None:
        """A call of ours went through: the provider whitelist entries we asked for are in."""
        for ip, entry in self._state.blocked_ips.items():
            if "provider" in _places(entry) and entry.resolved_at is None:
                entry.resolved_at = now
                self._log.info("engine.ip_unblocked", ip=ip, whitelist="provider")


def _still_ours(entry: BlockedIpEntry) -> bool:
    """Our own address, still refused: the operator's most urgent task, never dropped."""
    return "provider" in _places(entry) and entry.resolved_at is None


def _places(entry: BlockedIpEntry) -> set[str]:
    places = entry.extra.get("whitelists")
    if isinstance(places, list):
        return {str(p) for p in places} | {entry.whitelist}
    return {entry.whitelist}


def _where(whitelist: Whitelist) -> str:
    if whitelist == "provider":
        return "add it to 服务商管理后台 → 服务商信息 → 基本信息 → IP白名单"
    return "add it to the 代开发 app's 企业可信IP, then re-publish the app"
