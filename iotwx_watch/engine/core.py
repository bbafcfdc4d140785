"""The engine: the one place that decides what to call and when.

Events come in (:meth:`Engine.handle`), the state changes, and what is due gets done:

- suite_ticket: the newest by TimeStamp per configured suite wins; usable 30 minutes.
- suite_access_token: cached in the state until ``expires_at`` minus a margin;
  refetched once on a token-invalid answer, never in a loop.
- auth codes: a ledger entry per code, ``pending → redeeming → redeemed | failed |
  expired``, saved before and after the one ``get_permanent_code`` call, so WeCom's
  repeated callbacks and restarts never redeem a code twice. One attempt and its
  outcomes live in :mod:`iotwx_watch.engine.redeem`.
- retries: a code is final only when WeCom says it is dead or its ten minutes are over;
  every other failure waits for its cause to go, and every waiting code is tried again
  at once when the cause may have changed (:meth:`Engine.retry_now`: each start, each
  reload; a newer ticket for codes waiting for one).

The engine never sleeps: it sets ``next_attempt_at`` and the runner calls :meth:`tick`
when :meth:`next_due` arrives. It talks to WeCom only through :class:`WeComApi`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable

from iotwx_watch.config import Config
from iotwx_watch.engine.authchanges import AuthChanges
from iotwx_watch.engine.ipbook import IpBook
from iotwx_watch.engine.ledger import code_key
from iotwx_watch.engine.ledger_port import LocalLedger, SharedLedger
from iotwx_watch.engine.outcomes import HINT_NEW_CODE, Outcome
from iotwx_watch.engine.port import WeComApi
from iotwx_watch.engine.redeem import Redeemer
from iotwx_watch.engine.timing import FUTURE_SKEW_S, PAST_LIMIT_S, STALE_NOTICE_WINDOW_S
from iotwx_watch.engine.tokens import SuiteCredentials, ticket_usable
from iotwx_watch.events import (
    AuthChange,
    AuthCode,
    BlockedIP,
    Event,
    SuiteTicket,
    UnrecognizedRecord,
)
from iotwx_watch.log import SecretRegistry, get_logger
from iotwx_watch.state.model import (
    AuthCodeEntry,
    IgnoredRecords,
    MissedRecord,
    State,
    SuiteState,
)

__all__ = ["Engine"]

log = get_logger("engine")
extract_log = get_logger("extract")  # a record the extractors could not read

MISSED_KEEP_S = 7 * 24 * 3600  # a missed record stays an alarm this long at most
MAX_MISSED = 100  # and the state keeps at most this many (the oldest go first)


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
        ledger: SharedLedger | None = None,
        instance: str | None = None,
    ) -> None:
        """``ledger``: the store's atomic operations when instances share the state (else
        this process owns it); ``instance`` names this one in blocked-IP sightings."""
        self._secrets = secrets or SecretRegistry()
        self._config = config
        self._state = state
        self._persist = persist
        self._ledger = ledger or LocalLedger(persist)
        self._clock = clock
        self._on_outcome = on_outcome
        self._ips = IpBook(state, self._notify, instance=instance)
        self._creds = SuiteCredentials(state=state, api=api, clock=clock, ips=self._ips,
                                       notify=self._notify, secrets=self._secrets,
                                       ledger=self._ledger)
        self._changes = AuthChanges(config=config, state=state, api=api, creds=self._creds,
                                    clock=clock, notify=self._notify, ignore=self._ignore)
        self._redeemer = Redeemer(config=config, state=state, api=api, creds=self._creds,
                                  ips=self._ips, persist=persist, ledger=self._ledger,
                                  after_redeemed=self._changes.after_redeemed, clock=clock,
                                  notify=self._notify, secrets=self._secrets)
        _register_secrets(state, self._secrets)

    # -- the API the runner and CLI call ----------------------------------------------
    @property
    def failed(self) -> bool:
        """True once any action failed, or a code was left failed/expired, in this run."""
        return self._redeemer.failed

    @property
    def awaiting_retry(self) -> bool:
        """True while a code that could not be redeemed yet waits for a retry or a ticket."""
        return any(
            entry.status == "pending" and (entry.errcode is not None or entry.error is not None)
            for suite in self._state.suites.values()
            for entry in suite.auth_codes.values()
        )

    def handle(
        self, events: Iterable[Event], *, recorded: Callable[[], None] | None = None
    ) -> None:
        """Record events in log order, then act on what is due.

        Codes are attempted once the batch is recorded (so the newest ticket is known),
        except that a cancel/change of authorization first lets earlier codes act:
        a corp that authorized and then cancelled ends up cancelled. ``recorded`` is
        called once every event is recorded and before those attempts: the runner moves
        the source's cursor there, so the claim written before a WeCom call already
        carries it and no extra write of the whole state follows the call.
        """
        for event in events:
            if isinstance(event, SuiteTicket | AuthCode | AuthChange):
                reason = self._untrusted(event)
                if reason is not None:
                    self._ignore(reason, event, event.suite_id)
                    continue
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
                                     corpid=event.corpid,
                                     log=event.source.path if event.source else None)
                case UnrecognizedRecord():
                    self._on_missed(event)
        if recorded is not None:
            recorded()
        self.tick()

    def tick(self) -> int:
        """Attempt every pending auth code whose time has come, earliest first; return how
        many were attempted.

        The list is looked at again after each attempt: a success after a 60020 makes
        every code held back by it due at once, and a refusal pushes them all back.
        """
        if self._take_over_abandoned():
            self._redeemer.save_quietly()
        tried: set[tuple[str, str]] = set()
        while (due := self._next_due_entry(tried)) is not None:
            suite_id, key, entry = due
            tried.add((suite_id, key))
            self._redeemer.attempt(suite_id, key, entry)
        checks = self._changes.due()
        for suite_id, corpid, corp in checks:
            self._changes.check(suite_id, corpid, corp)
        if checks:
            self._redeemer.save_quietly()
        return len(tried) + len(checks)

    def _next_due_entry(
        self, tried: set[tuple[str, str]]
    ) -> tuple[str, str, AuthCodeEntry] | None:
        now = self._clock()
        due = [
            (entry.next_attempt_at if entry.next_attempt_at is not None else now,
             entry.first_seen, suite_id, key)
            for suite_id, suite in self._state.suites.items()
            for key, entry in suite.auth_codes.items()
            if entry.status == "pending" and (suite_id, key) not in tried
            and (entry.next_attempt_at is None or entry.next_attempt_at <= now)
        ]
        if not due:
            return None
        _, _, suite_id, key = min(due)
        return suite_id, key, self._state.suites[suite_id].auth_codes[key]

    def next_due(self, *, ignore: Collection[str] = ()) -> float | None:
        """When :meth:`tick` next has something to do (``clock()`` time), if ever; codes
        waiting for a cause in ``ignore`` (e.g. ``"ip"``) are left out."""
        times = [entry.next_attempt_at if entry.next_attempt_at is not None else self._clock()
                 for suite in self._state.suites.values()
                 for entry in suite.auth_codes.values()
                 if entry.status == "pending" and entry.waiting_for not in ignore]
        checks = self._changes.next_due()
        return min([*times, *([checks] if checks is not None else [])], default=None)

    def retry_now(self, reason: str) -> int:
        """The cause of every waiting code may be gone (a start, a reload): try them now.

        Backoff is for WeCom's sake between automatic retries; an operator who fixed the
        cause must not wait for it. Returns how many codes were made due.
        """
        now = self._clock()
        waiting = [
            entry for suite in self._state.suites.values()
            for entry in suite.auth_codes.values() if entry.status == "pending"
        ]
        for entry in waiting:
            entry.next_attempt_at = now
        if waiting:
            log.info("engine.retry_now", reason=reason, codes=len(waiting))
        return len(waiting)

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
        self._redeemer.attempt(suite_id, key, entry)
        return entry

    def retry_waiting_for(self, cause: str) -> int:
        """Codes waiting for ``cause`` (e.g. ``"state"``, a write that works again) go now."""
        now = self._clock()
        waiting = [entry for suite in self._state.suites.values()
                   for entry in suite.auth_codes.values()
                   if entry.status == "pending" and entry.waiting_for == cause]
        for entry in waiting:
            entry.next_attempt_at = now
        return len(waiting)

    def ticket_arrived(self, suite_id: str) -> None:
        """A newer ticket: codes waiting for one go now."""
        now = self._clock()
        for entry in self._state.suite(suite_id).auth_codes.values():
            if entry.status == "pending" and entry.waiting_for == "ticket":
                entry.next_attempt_at = now

    def ticket_waits_over(self) -> int:
        """Codes waiting for a ticket while their suite holds a usable one go now.

        With a shared state a ticket can reach this instance without being read here (by
        a read of the state, or before fetching a token), and a code can arrive already
        waiting, written by an instance that had no ticket. Returns how many went.
        """
        now = self._clock()
        freed = 0
        for suite in self._state.suites.values():
            if suite.suite_ticket is None or not ticket_usable(suite.suite_ticket, now):
                continue
            for entry in suite.auth_codes.values():
                if (entry.status == "pending" and entry.waiting_for == "ticket"
                        and (entry.next_attempt_at or now) > now):
                    entry.next_attempt_at = now
                    freed += 1
        return freed

    def recover(self) -> None:
        """At start-up: a code left ``redeeming`` may be spent already, so it is never resent;
        every code still pending is tried at once (its cause may be fixed by now)."""
        interrupted = self._take_over_abandoned()
        for suite_id, suite in self._state.suites.items():
            for key, entry in suite.auth_codes.items():
                if entry.status == "pending" and entry.code is None:
                    entry.error = "pending entry without its code in the state file"
                    self._redeemer.fail(suite_id, key, entry)
        self.retry_now("start")
        if interrupted:
            self._redeemer.save_quietly()  # report it once, even if this run dies early

    def _take_over_abandoned(self) -> bool:
        """A ``redeeming`` entry no live instance holds (this one's before a restart, or
        another's past its lease) may be spent already: failed, never resent."""
        now = self._clock()
        found = False
        for suite_id, suite in self._state.suites.items():
            for key, entry in suite.auth_codes.items():
                if entry.status != "redeeming" or self._ledger.held_elsewhere(suite_id, key, now):
                    continue
                found = True
                entry.error = ("interrupted during get_permanent_code: whether WeCom "
                               "redeemed the code is unknown, so it is not sent again")
                self._redeemer.finish(entry, "failed", now, hint=HINT_NEW_CODE)
                log.error("engine.auth_code_interrupted", suite_id=suite_id, key=key,
                          info_type=entry.info_type)
                self._notify(Outcome("auth_code_interrupted", suite_id=suite_id,
                                     detail=HINT_NEW_CODE, code_key=key))
        return found

    # -- events -----------------------------------------------------------------------
    def _untrusted(self, event: SuiteTicket | AuthCode | AuthChange) -> str | None:
        """Why a logged record must not change the state, if it must not.

        Log text can be forged by anyone who can POST to the callback URL, so a record
        is acted on only for a configured suite and with a TimeStamp WeCom could have
        sent: not in the future beyond clock skew, not a day old for a ticket or code.
        """
        suite = self._config.suite(event.suite_id)
        if suite is None:
            return "unknown_suite"
        if suite.require_signature and not event.verified:
            return "unsigned"
        now = self._clock()
        if event.timestamp > now + FUTURE_SKEW_S:
            return "future_timestamp"
        if not isinstance(event, AuthChange) and event.timestamp < now - PAST_LIMIT_S:
            return "old_timestamp"
        return None

    def _ignore(self, reason: str, event: Event | None, suite_id: str | None) -> None:
        """Count a record that changed nothing, in the state too (status, metrics)."""
        source = getattr(event, "source", None)
        where = f"{source.path}:{source.offset}" if source is not None else None
        now = self._clock()
        seen = self._state.ignored_records.get(reason)
        if seen is None:
            seen = self._state.ignored_records[reason] = IgnoredRecords(count=0, last_at=now)
        seen.count += 1
        seen.last_at, seen.last_suite_id, seen.last_source = now, suite_id, where
        log.warning("engine.record_ignored", reason=reason, suite_id=suite_id,
                    info_type="suite_ticket" if isinstance(event, SuiteTicket)
                    else getattr(event, "info_type", None),
                    record_timestamp=getattr(event, "timestamp", None), source=where)

    def _on_ticket(self, event: SuiteTicket) -> None:
        if self._creds.accept_ticket(event):
            self.ticket_arrived(event.suite_id)

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
                 info_type=event.info_type, record_timestamp=event.timestamp)
        if now >= entry.deadline:
            # Catching up on an old log: record it, call nothing. Only recent misses are news.
            entry.error = "already past its 10-minute deadline when first seen"
            quiet = now - entry.deadline > STALE_NOTICE_WINDOW_S
            self._redeemer.expire(event.suite_id, key, entry, quiet=quiet)

    def _on_missed(self, event: UnrecognizedRecord) -> None:
        """Keep a record no extractor understood, so it reaches an operator (status, metric,
        notification) instead of vanishing; its position, never its values."""
        source = event.source
        path, offset = (source.path, source.offset) if source is not None else ("?", 0)
        key = f"{path}:{offset}"
        missed = self._state.missed_records
        if key in missed:
            return
        now = self._clock()
        missed[key] = MissedRecord(path=path, offset=offset, kind=event.kind,
                                   reason=event.reason, excerpt=event.excerpt, first_seen=now,
                                   info_type=event.info_type, suite_id=event.suite_id)
        extract_log.warning("extract.unrecognized", path=path, offset=offset, kind=event.kind,
                            reason=event.reason, info_type=event.info_type,
                            suite_id=event.suite_id)
        old = sorted((m.first_seen, k) for k, m in missed.items())
        for first_seen, k in old:
            if now - first_seen > MISSED_KEEP_S or len(missed) > MAX_MISSED:
                del missed[k]

    def forget_missed(self, key: str) -> None:
        """A missed record was read after all (a reload's new pattern)."""
        if self._state.missed_records.pop(key, None) is not None:
            extract_log.info("extract.unrecognized_read", record=key)

    def _on_auth_change(self, event: AuthChange) -> None:
        self._changes.on_event(event)

    def _notify(self, outcome: Outcome) -> None:
        if self._on_outcome is not None:
            self._on_outcome(outcome)


def _register_secrets(state: State, secrets: SecretRegistry) -> None:
    """Secrets loaded from the state file are masked in logs like fresh ones."""
    suite: SuiteState
    for suite in state.suites.values():
        secrets.add(suite.suite_ticket.value if suite.suite_ticket else None,
                    suite.suite_access_token.value if suite.suite_access_token else None,
                    *(c.permanent_code for c in suite.corps.values()),
                    *(e.code for e in suite.auth_codes.values()))
