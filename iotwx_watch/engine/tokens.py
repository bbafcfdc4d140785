"""Suite credentials for the engine: the newest ticket per suite and the cached suite token.

The rules (docs/wecom.md, "Lifetimes"): always use the newest ticket by TimeStamp, usable 30
minutes; cache the suite_access_token ("不可频繁获取") until it nearly expires; on
40085 mark the ticket rejected and wait for the next push; and never resend a
suite_secret WeCom refused (repeated wrong secrets get the IP banned for an hour):
its fingerprint is kept in the state, so not even a restart or a cron'd ``once``
tries it again until the config changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from iotwx_watch.config import SuiteConfig
from iotwx_watch.engine.ipbook import IpBook
from iotwx_watch.engine.ledger import secret_fingerprint
from iotwx_watch.engine.ledger_port import SharedLedger
from iotwx_watch.engine.outcomes import Outcome
from iotwx_watch.engine.port import WeComApi
from iotwx_watch.engine.timing import TICKET_TTL_S, TOKEN_MARGIN_S
from iotwx_watch.errors import WeComError, WeComErrorKind
from iotwx_watch.events import SuiteTicket
from iotwx_watch.log import SecretRegistry, get_logger
from iotwx_watch.state.model import State, TicketEntry, TokenEntry, format_time

_T = TypeVar("_T")

SECRET_REJECTED = "suite_secret_rejected"  # SuiteState.extra key: fingerprint + errcode

log = get_logger("engine")


class WaitForTicket(Exception):
    """No usable suite_ticket: the auth code waits for a newer one (or its deadline)."""

    def __init__(self, reason: str, errcode: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.errcode = errcode


def ticket_usable(ticket: TicketEntry, now: float) -> bool:
    """Not rejected by WeCom, and younger than 30 minutes by its own TimeStamp."""
    return not ticket.rejected and now < ticket.timestamp + TICKET_TTL_S


class SuiteCredentials:
    """Keeps tickets and suite tokens in the state; fetches a token only when it must."""

    def __init__(
        self,
        *,
        state: State,
        api: WeComApi | None,
        clock: Callable[[], float],
        ips: IpBook,
        notify: Callable[[Outcome], None],
        secrets: SecretRegistry,
        ledger: SharedLedger,
    ) -> None:
        self._secrets = secrets
        self._ledger = ledger
        self._dropped: dict[str, str] = {}  # suite → the token WeCom last called invalid
        self.calls = 0  # get_suite_token calls made, so an attempt can count a refused one
        self._state = state
        self._api = api
        self._clock = clock
        self._ips = ips
        self._notify = notify

    def accept_ticket(self, event: SuiteTicket) -> bool:
        """Keep the ticket if it is the suite's newest; True if it is also usable now.

        Newest is by TimeStamp; an equal TimeStamp with another value later in the log
        wins too (WeCom's TimeStamp has one-second resolution). A ticket WeCom rejected
        (40085) is replaced by the next one pushed, whatever its TimeStamp, so a bad
        ticket cannot hold the suite hostage.
        """
        suite = self._state.suite(event.suite_id)
        current = suite.suite_ticket
        if current is not None and event.suite_ticket == current.value:
            return False
        if current is not None and not current.rejected and event.timestamp < current.timestamp:
            log.debug("engine.ticket_ignored", suite_id=event.suite_id, reason="not_newer",
                      record_timestamp=event.timestamp, current_timestamp=current.timestamp)
            return False
        now = self._clock()
        self._secrets.add(event.suite_ticket)
        suite.suite_ticket = TicketEntry(event.suite_ticket, event.timestamp, received_at=now)
        usable = ticket_usable(suite.suite_ticket, now)
        log.info("engine.ticket_accepted", suite_id=event.suite_id,
                 record_timestamp=event.timestamp,
                 age_s=int(now - event.timestamp), usable=usable)
        return usable

    def token(self, suite_id: str, cfg: SuiteConfig) -> str:
        """The cached suite token while it has more than the margin left, else a new one
        (fetched by one instance at a time when several share the state)."""
        cached = self._state.suite(suite_id).suite_access_token
        if cached is not None and self._usable(suite_id, cached):
            return cached.value
        return self._ledger.refreshing_token(
            suite_id, lambda: self.fetch(suite_id, cfg),
            usable=lambda token: self._usable(suite_id, token),
        )

    def _usable(self, suite_id: str, token: TokenEntry) -> bool:
        """More than the margin left, and not the one WeCom last called invalid."""
        return (self._clock() < token.expires_at - TOKEN_MARGIN_S
                and token.value != self._dropped.get(suite_id))

    def retry_on_invalid_token(
        self,
        suite_id: str,
        cfg: SuiteConfig,
        token: str,
        call: Callable[[str], _T],
        *,
        before_retry: Callable[[], None] | None = None,
    ) -> _T:
        """``call(token)``; when WeCom calls the token invalid, one fresh token and one
        retry, never more."""
        try:
            return call(token)
        except WeComError as exc:
            if exc.kind is not WeComErrorKind.TOKEN_INVALID:
                raise
            log.warning("engine.suite_token_invalid", suite_id=suite_id, errcode=exc.errcode)
            self.drop_token(suite_id)
            fresh = self.token(suite_id, cfg)
            if before_retry is not None:
                before_retry()
            return call(fresh)

    def drop_token(self, suite_id: str) -> None:
        """WeCom called the token invalid: forget it (and never take it back from the store)."""
        suite = self._state.suite(suite_id)
        if suite.suite_access_token is not None:
            self._dropped[suite_id] = suite.suite_access_token.value
        suite.suite_access_token = None

    def fetch(self, suite_id: str, cfg: SuiteConfig) -> str:
        """get_suite_token with the newest usable ticket; a rejected secret is not resent."""
        assert self._api is not None and cfg.suite_secret is not None
        suite = self._state.suite(suite_id)
        ticket = suite.suite_ticket
        now = self._clock()
        if ticket is None or not ticket_usable(ticket, now):
            why = ("no suite_ticket seen yet" if ticket is None else
                   "WeCom rejected the newest suite_ticket" if ticket.rejected else
                   "the newest suite_ticket is older than 30 minutes")
            raise WaitForTicket(why, 40085 if ticket is not None and ticket.rejected else None)
        fingerprint = secret_fingerprint(cfg.suite_secret)
        rejected = suite.extra.get(SECRET_REJECTED)
        if isinstance(rejected, dict) and rejected.get("fingerprint") == fingerprint:
            raise WeComError(int(rejected.get("errcode", 40080)),
                             "not calling get_suite_token: WeCom rejected this suite_secret "
                             "before; fix suite_id/suite_secret in the config")
        self.calls += 1
        try:
            token = self._api.get_suite_token(suite_id, cfg.suite_secret, ticket.value)
        except WeComError as exc:
            self._failed(suite_id, ticket, fingerprint, exc)
            raise
        self._secrets.add(token.value)
        suite.suite_access_token = TokenEntry(token.value, expires_at=now + token.expires_in)
        suite.extra.pop(SECRET_REJECTED, None)
        self._ips.provider_ok(now)
        log.info("engine.suite_token_fetched", suite_id=suite_id, expires_in=token.expires_in)
        return token.value

    def _failed(
        self, suite_id: str, ticket: TicketEntry, fingerprint: str, exc: WeComError
    ) -> None:
        now = self._clock()
        if exc.kind is WeComErrorKind.TICKET_STALE:
            ticket.rejected = True
            log.warning("engine.ticket_rejected", suite_id=suite_id, errcode=exc.errcode,
                        timestamp=ticket.timestamp)
            self._notify(Outcome("ticket_rejected", suite_id=suite_id, errcode=exc.errcode,
                                detail=f"the ticket of TimeStamp {ticket.timestamp}; waiting "
                                "for the next push (or use 手动刷新ticket推送)"))
            raise WaitForTicket("WeCom rejected the suite_ticket", exc.errcode) from exc
        if exc.kind is WeComErrorKind.CONFIG:
            self._state.suite(suite_id).extra[SECRET_REJECTED] = {
                "fingerprint": fingerprint, "errcode": exc.errcode, "at": format_time(now)}
        if exc.kind is WeComErrorKind.IP_BLOCKED and exc.blocked_ip is not None:
            self._ips.record(exc.blocked_ip, "provider", now, suite_id=suite_id,
                             call="get_suite_token")
