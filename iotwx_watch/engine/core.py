"""The engine: the one place that decides what to call and when.

Events come in (:meth:`Engine.handle`), the state changes, and what is due gets done:

- suite_ticket: the newest by TimeStamp per configured suite wins; usable 30 minutes.
- suite_access_token: cached in the state until ``expires_at`` minus a margin;
  refetched once on a token-invalid answer, never in a loop.
- auth codes: a ledger entry per code, ``pending → redeeming → redeemed | failed |
  expired``, saved before and after the one ``get_permanent_code`` call, so WeCom's
  repeated callbacks and restarts never redeem a code twice.
- failures: retryable ones get a capped backoff until the code's deadline
  (TimeStamp + 10 min); 60020 waits at least a minute; 40085 waits for a newer ticket;
  config errors and dead codes are final, and a rejected suite_secret is not sent again.

The engine never sleeps: it sets ``next_attempt_at`` and the runner calls :meth:`tick`
when :meth:`next_due` arrives. It talks to WeCom only through :class:`WeComApi`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from iotwx_watch.config import Config, SuiteConfig
from iotwx_watch.engine.ipbook import IpBook
from iotwx_watch.engine.ledger import code_key
from iotwx_watch.engine.outcomes import HINT_NEW_CODE, Outcome
from iotwx_watch.engine.port import Authorization, WeComApi
from iotwx_watch.engine.timing import (
    IP_RETRY_S,
    RATE_LIMIT_RETRY_S,
    STALE_NOTICE_WINDOW_S,
    backoff_delay,
)
from iotwx_watch.engine.tokens import SuiteCredentials, WaitForTicket
from iotwx_watch.errors import ERRCODE_TRANSPORT, WeComError, WeComErrorKind
from iotwx_watch.events import AuthChange, AuthCode, BlockedIP, Event, SuiteTicket
from iotwx_watch.log import SecretRegistry, get_logger
from iotwx_watch.state.model import (
    AuthCodeEntry,
    AuthCodeStatus,
    CorpEntry,
    State,
    SuiteState,
    format_time,
)

__all__ = ["Engine"]

log = get_logger("engine")

_RETRY_KINDS = {WeComErrorKind.RETRYABLE, WeComErrorKind.RATE_LIMITED,
                WeComErrorKind.TOKEN_INVALID, WeComErrorKind.IP_BLOCKED}


class Engine:
    """Decides and acts on events against one :class:`State` (see the module docstring)."""

    def __init__(
        self,
        *,
        config: Config,
        state: State,
        api: WeComApi | None,
        persist: Callable[[], None],
        clock: Callable[[], float] = time.time,
        on_outcome: Callable[[Outcome], None] | None = None,
        secrets: SecretRegistry | None = None,
    ) -> None:
        self._secrets = secrets or SecretRegistry()
        self._config = config
        self._state = state
        self._api = api
        self._persist = persist
        self._clock = clock
        self._on_notice = on_outcome
        self._failed = False
        self._ips = IpBook(state, self._notify)
        self._creds = SuiteCredentials(state=state, api=api, clock=clock, ips=self._ips,
                                       notify=self._notify, secrets=self._secrets)
        _register_secrets(state, self._secrets)

    # -- the API the runner and CLI call ----------------------------------------------
    @property
    def failed(self) -> bool:
        """True once any action failed, or a code was left failed/expired, in this run."""
        return self._failed

    @property
    def awaiting_retry(self) -> bool:
        """True while a code that could not be redeemed yet waits for a retry or a ticket."""
        return any(
            entry.status == "pending" and (entry.errcode is not None or entry.error is not None)
            for suite in self._state.suites.values()
            for entry in suite.auth_codes.values()
        )

    def handle(self, events: Iterable[Event]) -> None:
        """Record events in log order, then act on what is due.

        Codes are attempted once the batch is recorded (so the newest ticket is known),
        except that a cancel/change of authorization first lets earlier codes act:
        a corp that authorized and then cancelled ends up cancelled.
        """
        for event in events:
            match event:
                case SuiteTicket():
                    self._on_ticket(event)
                case AuthCode():
                    self._on_auth_code(event)
                case AuthChange():
                    self.tick()
                    self._on_auth_change(event)
                case BlockedIP():
                    self._ips.record(event.ip, "app", self._clock(), hint=event.hint,
                                     corpid=event.corpid)
        self.tick()

    def tick(self) -> None:
        """Attempt every pending auth code whose time has come."""
        for suite_id, suite in list(self._state.suites.items()):
            for key, entry in list(suite.auth_codes.items()):
                due = entry.next_attempt_at is None or entry.next_attempt_at <= self._clock()
                if entry.status == "pending" and due:
                    self._attempt(suite_id, key, entry)

    def next_due(self) -> float | None:
        """When :meth:`tick` next has something to do (``clock()`` time), if ever."""
        times = [entry.next_attempt_at if entry.next_attempt_at is not None else self._clock()
                 for suite in self._state.suites.values()
                 for entry in suite.auth_codes.values() if entry.status == "pending"]
        return min(times, default=None)

    def redeem(self, suite_id: str, auth_code: str) -> AuthCodeEntry:
        """Manual redemption: same ledger, same path, attempted now; a used code is not resent."""
        key = code_key(auth_code)
        suite = self._state.suite(suite_id)
        entry = suite.auth_codes.get(key)
        if entry is not None and entry.status != "pending":
            log.info("engine.auth_code_duplicate", suite_id=suite_id, key=key, status=entry.status)
            return entry
        if entry is None:
            now = self._clock()
            self._secrets.add(auth_code)
            entry = AuthCodeEntry(status="pending", info_type="manual", timestamp=int(now),
                                  first_seen=now, updated_at=now, code=auth_code)
            suite.auth_codes[key] = entry
        self._attempt(suite_id, key, entry)
        return entry

    def recover(self) -> None:
        """At start-up: a code left ``redeeming`` may be spent already, so it is never resent."""
        now = self._clock()
        interrupted = False
        for suite_id, suite in self._state.suites.items():
            for key, entry in suite.auth_codes.items():
                if entry.status == "redeeming":
                    interrupted = True
                    entry.error = ("interrupted during get_permanent_code: whether WeCom "
                                   "redeemed the code is unknown, so it is not sent again")
                    self._finish(entry, "failed", now, hint=HINT_NEW_CODE)
                    log.error("engine.auth_code_interrupted", suite_id=suite_id, key=key,
                              info_type=entry.info_type)
                    self._notify(Outcome("auth_code_interrupted", suite_id=suite_id,
                                        detail=HINT_NEW_CODE))
                elif entry.status == "pending" and entry.code is None:
                    entry.error = "pending entry without its code in the state file"
                    self._fail(suite_id, key, entry)
                elif entry.status == "pending" and entry.next_attempt_at is None:
                    entry.next_attempt_at = now
        if interrupted:
            self._persist()  # report it once, even if this run dies early

    # -- events -----------------------------------------------------------------------
    def _on_ticket(self, event: SuiteTicket) -> None:
        if self._config.suite(event.suite_id) is None:
            log.info("engine.ticket_ignored", suite_id=event.suite_id,
                     reason="suite_not_configured")
            return
        if not self._creds.accept_ticket(event):
            return
        now = self._clock()
        suite = self._state.suite(event.suite_id)
        for entry in suite.auth_codes.values():
            if entry.status == "pending" and entry.waiting_for == "ticket":
                entry.waiting_for = None
                entry.next_attempt_at = now

    def _on_auth_code(self, event: AuthCode) -> None:
        key = code_key(event.auth_code)
        suite = self._state.suite(event.suite_id)
        if key in suite.auth_codes:
            log.info("engine.auth_code_duplicate", suite_id=event.suite_id, key=key,
                     status=suite.auth_codes[key].status)
            return
        self._secrets.add(event.auth_code)
        now = self._clock()
        entry = AuthCodeEntry(status="pending", info_type=event.info_type,
                              timestamp=event.timestamp, first_seen=now, updated_at=now,
                              next_attempt_at=now, code=event.auth_code, state=event.state)
        suite.auth_codes[key] = entry
        log.info("engine.auth_code_recorded", suite_id=event.suite_id, key=key,
                 info_type=event.info_type, timestamp=event.timestamp)
        if now >= entry.deadline:
            # Catching up on an old log: record it, call nothing. Only recent misses are news.
            entry.error = "already past its 10-minute deadline when first seen"
            quiet = now - entry.deadline > STALE_NOTICE_WINDOW_S
            self._expire(event.suite_id, key, entry, quiet=quiet)

    def _on_auth_change(self, event: AuthChange) -> None:
        suite = self._state.suite(event.suite_id)
        corp = suite.corps.get(event.corpid)
        if event.info_type == "change_auth":
            if corp is not None:
                corp.changed_at = float(event.timestamp)
            log.info("engine.auth_changed", suite_id=event.suite_id, corpid=event.corpid,
                     known=corp is not None)
            return
        if corp is not None and corp.auth_timestamp is not None and (
            event.timestamp < corp.auth_timestamp
        ):
            log.info("engine.cancel_ignored", suite_id=event.suite_id, corpid=event.corpid,
                     reason="older_than_current_secret")
            return
        if corp is not None and corp.status == "cancelled":
            return
        corp = suite.corps.setdefault(event.corpid, CorpEntry())
        corp.permanent_code = None
        corp.status = "cancelled"
        corp.cancelled_at = float(event.timestamp)
        log.warning("engine.corp_cancelled", suite_id=event.suite_id, corpid=event.corpid)
        self._notify(Outcome("corp_cancelled", suite_id=event.suite_id, corpid=event.corpid,
                            corp_name=corp.corp_name, agentid=corp.agentid))

    # -- one redemption attempt -------------------------------------------------------
    def _attempt(self, suite_id: str, key: str, entry: AuthCodeEntry) -> None:
        """Try one pending code now: token, then get_permanent_code, with the ledger saved."""
        now = self._clock()
        if now >= entry.deadline:
            entry.error = entry.error or "deadline passed before an attempt could be made"
            self._expire(suite_id, key, entry)
            return
        cfg = self._config.suite(suite_id)
        if cfg is None or cfg.suite_secret is None or self._api is None:
            entry.error = ("suite is not in the config" if cfg is None
                           else "suite has no suite_secret configured" if cfg.suite_secret is None
                           else "no WeCom client available") + "; no call was made"
            self._fail(suite_id, key, entry)
            return
        try:
            token = self._creds.token(suite_id, cfg)
            entry.status = "redeeming"
            entry.updated_at = self._clock()
            self._persist()  # the ledger says "redeeming" before the code leaves this host
            auth = self._get_permanent_code(suite_id, cfg, token, entry)
        except WaitForTicket as wait:
            self._wait_for_ticket(suite_id, key, entry, wait)
        except WeComError as exc:
            self._after_error(suite_id, key, entry, exc)
        else:
            self._redeemed(suite_id, key, entry, auth)
        self._persist()

    def _get_permanent_code(
        self, suite_id: str, cfg: SuiteConfig, token: str, entry: AuthCodeEntry
    ) -> Authorization:
        """The redeem call; on token-invalid, one fresh token and one retry, never more."""
        try:
            return self._call_get_permanent_code(suite_id, token, entry)
        except WeComError as exc:
            if exc.kind is not WeComErrorKind.TOKEN_INVALID:
                raise
            log.warning("engine.suite_token_invalid", suite_id=suite_id, errcode=exc.errcode)
            self._creds.drop_token(suite_id)
            token = self._creds.fetch(suite_id, cfg)
            return self._call_get_permanent_code(suite_id, token, entry)

    def _call_get_permanent_code(
        self, suite_id: str, token: str, entry: AuthCodeEntry
    ) -> Authorization:
        assert self._api is not None and entry.code is not None
        entry.attempts += 1
        try:
            return self._api.get_permanent_code(token, entry.code)
        except WeComError as exc:
            if exc.kind is WeComErrorKind.IP_BLOCKED and exc.blocked_ip is not None:
                self._ips.record(exc.blocked_ip, "provider", self._clock(), suite_id=suite_id,
                                 call="get_permanent_code")
            raise

    # -- outcomes ---------------------------------------------------------------------
    def _redeemed(self, suite_id: str, key: str, entry: AuthCodeEntry, auth: Authorization) -> None:
        now = self._clock()
        self._secrets.add(auth.permanent_code)
        suite = self._state.suite(suite_id)
        corp = suite.corps.get(auth.corpid)
        entry.corpid = auth.corpid
        entry.errcode = entry.error = None
        self._ips.provider_ok(now)
        if corp is not None and corp.status == "cancelled" and (
            corp.cancelled_at is not None and corp.cancelled_at >= entry.timestamp
        ):
            # The corp cancelled after this code was issued: WeCom asks us to keep no
            # secret, but who the corp was (name, agentid) helps the operator's history.
            corp.corp_name = corp.corp_name or auth.corp_name
            corp.agentid = corp.agentid if corp.agentid is not None else auth.agentid
            self._finish(entry, "redeemed", now)
            log.warning("engine.redeemed_after_cancel", suite_id=suite_id, key=key,
                        corpid=auth.corpid)
            return
        replaced = corp is not None and corp.permanent_code is not None
        if corp is None:
            corp = suite.corps[auth.corpid] = CorpEntry()
        if corp.obtained_at is not None:
            corp.previous_obtained_at = corp.obtained_at
        corp.corp_name = auth.corp_name or corp.corp_name
        corp.agentid = auth.agentid if auth.agentid is not None else corp.agentid
        corp.permanent_code = auth.permanent_code
        corp.obtained_at = now
        corp.status = "active"
        corp.state = auth.state or entry.state or corp.state
        corp.auth_timestamp = entry.timestamp
        self._finish(entry, "redeemed", now)
        suite.last_error = None
        reset = replaced or entry.info_type == "reset_permanent_code"
        log.info("engine.redeemed", suite_id=suite_id, key=key, corpid=auth.corpid,
                 agentid=corp.agentid, info_type=entry.info_type, secret_replaced=replaced)
        self._notify(Outcome("secret_reset" if reset else "corp_obtained", suite_id=suite_id,
                            corpid=auth.corpid, corp_name=corp.corp_name, agentid=corp.agentid))

    def _after_error(self, suite_id: str, key: str, entry: AuthCodeEntry, exc: WeComError) -> None:
        """Record the failure; retry later if WeCom says it may work, else it is final."""
        now = self._clock()
        previous = entry.errcode
        entry.status = "pending"
        entry.errcode, entry.error = exc.errcode, self._secrets.scrub(str(exc))
        self._state.suite(suite_id).last_error = {
            "errcode": exc.errcode, "error": entry.error, "at": format_time(now)}
        kind = exc.kind
        if kind not in _RETRY_KINDS:
            if kind is WeComErrorKind.AUTH_CODE_DEAD and previous is not None and (
                previous <= ERRCODE_TRANSPORT or previous == -1
            ):
                entry.error += ("; an earlier attempt's answer was lost, so WeCom may have "
                                "redeemed it then")
            self._fail(suite_id, key, entry, hint=HINT_NEW_CODE
                       if kind is WeComErrorKind.AUTH_CODE_DEAD else None)
            return
        delay = backoff_delay(int(entry.extra.get("retries", 0)))
        if kind is WeComErrorKind.IP_BLOCKED:
            delay = max(delay, IP_RETRY_S)
        elif kind is not WeComErrorKind.RETRYABLE:  # rate limit, or a second token-invalid
            delay = max(delay, RATE_LIMIT_RETRY_S)
        if now + delay >= entry.deadline:
            entry.error += "; no time left for another attempt before the code's deadline"
            self._expire(suite_id, key, entry)
            return
        entry.extra["retries"] = int(entry.extra.get("retries", 0)) + 1
        entry.next_attempt_at = now + delay
        entry.updated_at = now
        log.warning("engine.redeem_retry_scheduled", suite_id=suite_id, key=key,
                    errcode=exc.errcode, kind=kind.value, delay_s=delay)

    def _wait_for_ticket(
        self, suite_id: str, key: str, entry: AuthCodeEntry, wait: WaitForTicket
    ) -> None:
        now = self._clock()
        entry.status = "pending"
        entry.waiting_for = "ticket"
        entry.next_attempt_at = entry.deadline
        entry.errcode = wait.errcode if wait.errcode is not None else entry.errcode
        entry.error = f"waiting for a newer suite_ticket: {wait.reason}"
        entry.updated_at = now
        log.warning("engine.waiting_for_ticket", suite_id=suite_id, key=key, reason=wait.reason,
                    deadline=format_time(entry.deadline))

    def _fail(self, suite_id: str, key: str, entry: AuthCodeEntry, hint: str | None = None) -> None:
        self._finish(entry, "failed", self._clock(), hint=hint)
        log.error("engine.redeem_failed", suite_id=suite_id, key=key, errcode=entry.errcode,
                  error=entry.error, info_type=entry.info_type)
        self._notify(Outcome("auth_code_failed", suite_id=suite_id, errcode=entry.errcode,
                            detail=_join(entry.error, hint)))

    def _expire(
        self, suite_id: str, key: str, entry: AuthCodeEntry, *, quiet: bool = False
    ) -> None:
        self._finish(entry, "expired", self._clock(), hint=HINT_NEW_CODE, quiet=quiet)
        (log.info if quiet else log.error)(
            "engine.auth_code_expired", suite_id=suite_id, key=key, info_type=entry.info_type,
            timestamp=entry.timestamp, errcode=entry.errcode, quiet=quiet)
        if not quiet:
            self._notify(Outcome("auth_code_expired", suite_id=suite_id, errcode=entry.errcode,
                                detail=_join(entry.error, HINT_NEW_CODE)))

    def _finish(self, entry: AuthCodeEntry, status: AuthCodeStatus, now: float, *,
                hint: str | None = None, quiet: bool = False) -> None:
        """A final status: the code itself is dropped from the state."""
        entry.status = status
        entry.code = None
        entry.next_attempt_at = None
        entry.waiting_for = None
        entry.hint = hint
        entry.updated_at = now
        if status != "redeemed" and not quiet:
            self._failed = True

    def _notify(self, notice: Outcome) -> None:
        if self._on_notice is not None:
            self._on_notice(notice)


def _join(*parts: str | None) -> str:
    return "; ".join(p for p in parts if p)


def _register_secrets(state: State, secrets: SecretRegistry) -> None:
    """Secrets loaded from the state file are masked in logs like fresh ones."""
    suite: SuiteState
    for suite in state.suites.values():
        secrets.add(suite.suite_ticket.value if suite.suite_ticket else None,
                    suite.suite_access_token.value if suite.suite_access_token else None,
                    *(c.permanent_code for c in suite.corps.values()),
                    *(e.code for e in suite.auth_codes.values()))
