"""One redemption attempt of one auth code, and what its outcome does to the ledger.

An auth code lives ten minutes and WeCom sends it once, so the rule is: a code is final
only when WeCom itself says it is used or invalid (40078) or when its ten minutes are
over. Every other failure has a cause that an operator or time can remove, and the
code waits for it (``AuthCodeEntry.waiting_for``):

========== =============================================== ===============================
waiting    cause                                           tried again
========== =============================================== ===============================
``config`` suite not configured, no suite_secret, or WeCom  at start-up and after a reload
           rejected the secret or id (40080, 40083, …)
``ticket`` no usable suite_ticket, or WeCom said 40085      on a newer ticket, start, reload
``ip``     WeCom refused our own address (60020)           a probe every 15 s: one call,
                                                           and all codes go on its success
``network`` WeCom unreachable, 5xx or -1                   backoff 2 s … 60 s, start, reload
``state``  the state cannot be written (disk, Redis)         backoff, and at once when a
                                                           write succeeds again; no call
                                                           until it can
(none)     rate limit, a second token-invalid, unknown     backoff 2 s … 60 s
========== =============================================== ===============================

Exactly once: the ledger says ``redeeming`` in the store before ``get_permanent_code``
leaves this host (the claim, :class:`~iotwx_watch.engine.ledger_port.SharedLedger`). If
that write fails, or another instance's claim came first, no call is made. A code found
``redeeming`` and not another live instance's may be spent already and is never resent.
"""

from __future__ import annotations

from collections.abc import Callable

from iotwx_watch.config import Config, SuiteConfig
from iotwx_watch.engine.ipbook import IpBook
from iotwx_watch.engine.ledger_port import SharedLedger
from iotwx_watch.engine.outcomes import HINT_NEW_CODE, Outcome
from iotwx_watch.engine.port import Authorization, WeComApi
from iotwx_watch.engine.timing import PROVIDER_PROBE_S, RATE_LIMIT_RETRY_S, backoff_delay
from iotwx_watch.engine.tokens import SuiteCredentials, WaitForTicket
from iotwx_watch.errors import (
    ERRCODE_ANSWER_LOST,
    ERRCODE_TRANSPORT,
    StateWriteError,
    WeComError,
    WeComErrorKind,
)
from iotwx_watch.log import SecretRegistry, get_logger
from iotwx_watch.state.model import AuthCodeEntry, AuthCodeStatus, CorpEntry, State, format_time

log = get_logger("engine")

# Causes the engine can see go away by itself (a newer ticket, time) or that an operator
# fixes (config, whitelist): the code waits for them instead of failing.
Waiting = str  # "config" | "ticket" | "ip" | "network" | "state"
_WAIT_FOR_KIND: dict[WeComErrorKind, Waiting] = {
    WeComErrorKind.CONFIG: "config",
    WeComErrorKind.IP_BLOCKED: "ip",
    WeComErrorKind.RETRYABLE: "network",
    WeComErrorKind.ANSWER_LOST: "network",  # a token call's lost answer: ask again
}
# Waits that only an outside change ends: no point trying before one (start, reload, ticket).
_WAIT_UNTIL_CHANGE = frozenset({"config", "ticket"})
# A claim may make three calls after it (the redeem; on token-invalid a fresh token and the
# redeem again), each up to the WeCom timeout: its lease runs that long past the deadline,
# so no other instance calls a healthy instance's claim abandoned.
CALLS_PER_CLAIM = 3


class Redeemer:
    """Makes attempts and records their outcomes in the ledger (see the module docstring)."""

    def __init__(
        self,
        *,
        config: Config,
        state: State,
        api: WeComApi | None,
        creds: SuiteCredentials,
        ips: IpBook,
        after_redeemed: Callable[[str, str, CorpEntry, int], None],
        persist: Callable[[], None],
        ledger: SharedLedger,
        clock: Callable[[], float],
        notify: Callable[[Outcome], None],
        secrets: SecretRegistry,
    ) -> None:
        self._ledger = ledger
        self._config = config
        self._state = state
        self._api = api
        self._creds = creds
        self._ips = ips
        self._after_redeemed = after_redeemed
        self._persist = persist
        self._clock = clock
        self._notify = notify
        self._secrets = secrets
        self.failed = False

    # -- one attempt ----------------------------------------------------------------
    def attempt(self, suite_id: str, key: str, entry: AuthCodeEntry) -> None:
        """Try one pending code now: token, claim, get_permanent_code, record the outcome."""
        now = self._clock()
        if now >= entry.deadline:
            entry.error = entry.error or "deadline passed before an attempt could be made"
            self.expire(suite_id, key, entry)
            return
        cfg = self._config.suite(suite_id)
        missing = self._missing_config(suite_id, cfg)
        if missing is not None or cfg is None:
            self._wait(suite_id, key, entry, "config", missing or "", errcode=None)
            self.save_quietly()
            return
        calls_before = self._creds.calls
        attempts_before = entry.attempts
        try:
            token = self._creds.token(suite_id, cfg)
            if not self._claim(suite_id, key, entry):
                return  # another instance holds it: its outcome will reach us with the state
            auth = self._get_permanent_code(suite_id, cfg, token, entry)
        except WaitForTicket as wait:
            self._wait(suite_id, key, entry, "ticket",
                       f"waiting for a newer suite_ticket: {wait.reason}", errcode=wait.errcode)
        except StateWriteError as exc:
            entry.status = "pending"
            entry.attempts = attempts_before  # nothing was sent
            self._retry_later(suite_id, key, entry, "state", str(exc), errcode=None)
        except _AnswerLost as lost:
            self._unknown_outcome(suite_id, key, entry, str(lost))
        except WeComError as exc:
            self._after_error(suite_id, key, entry, exc)
        else:
            self._redeemed(suite_id, key, entry, auth)
        if entry.attempts == attempts_before and self._creds.calls > calls_before:
            entry.attempts += 1  # the token call was refused: that was an attempt too
        self.save_quietly()

    def _missing_config(self, suite_id: str, cfg: SuiteConfig | None) -> str | None:
        if cfg is None:
            return f"suite {suite_id} is not in the config; no call was made"
        if cfg.suite_secret is None:
            return f"suite {suite_id} has no suite_secret; no call was made"
        if self._api is None:
            return "no WeCom client available; no call was made"
        return None

    def _claim(self, suite_id: str, key: str, entry: AuthCodeEntry) -> bool:
        """The store says ``redeeming`` (and counts the attempt) before the code leaves this
        host, and only one instance's claim is accepted; False: another's was, and
        ``entry`` shows it."""
        entry.status = "redeeming"
        entry.attempts += 1
        entry.updated_at = self._clock()
        lease = entry.deadline + CALLS_PER_CLAIM * self._config.wecom.timeout_s
        if self._ledger.claim(suite_id, key, entry, lease_until=lease):
            return True
        log.info("engine.claimed_elsewhere", suite_id=suite_id, key=key, status=entry.status)
        return False

    def save_quietly(self) -> None:
        """Save after an outcome; a failed write is the runner's to retry, not ours."""
        try:
            self._persist()
        except StateWriteError as exc:
            log.error("engine.state_write_deferred", error=str(exc))

    def _get_permanent_code(
        self, suite_id: str, cfg: SuiteConfig, token: str, entry: AuthCodeEntry
    ) -> Authorization:
        """The redeem call; on token-invalid, one fresh token and one retry, never more."""

        def count_retry() -> None:
            entry.attempts += 1

        return self._creds.retry_on_invalid_token(
            suite_id, cfg, token, lambda fresh: self._call(suite_id, fresh, entry),
            before_retry=count_retry)

    def _call(self, suite_id: str, token: str, entry: AuthCodeEntry) -> Authorization:
        assert self._api is not None and entry.code is not None
        try:
            return self._api.get_permanent_code(token, entry.code)
        except WeComError as exc:
            if exc.kind is WeComErrorKind.ANSWER_LOST:
                raise _AnswerLost(str(exc)) from exc
            if exc.kind is WeComErrorKind.IP_BLOCKED and exc.blocked_ip is not None:
                self._ips.record(exc.blocked_ip, "provider", self._clock(), suite_id=suite_id,
                                 call="get_permanent_code")
            raise

    # -- outcomes -------------------------------------------------------------------
    def _redeemed(self, suite_id: str, key: str, entry: AuthCodeEntry, auth: Authorization) -> None:
        now = self._clock()
        self._secrets.add(auth.permanent_code)
        suite = self._state.suite(suite_id)
        corp = suite.corps.get(auth.corpid)
        entry.corpid = auth.corpid
        entry.errcode = entry.error = None
        self._ips.provider_ok(now)
        self.provider_open(now)
        if corp is not None and corp.status == "cancelled" and (
            corp.cancelled_at is not None and corp.cancelled_at >= entry.timestamp
        ):
            # The corp cancelled after this code was issued: WeCom asks us to keep no
            # secret, but who the corp was (name, agentid) helps the operator's history.
            corp.corp_name = corp.corp_name or auth.corp_name
            corp.agentid = corp.agentid if corp.agentid is not None else auth.agentid
            self.finish(entry, "redeemed", now)
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
        self.finish(entry, "redeemed", now)
        suite.last_error = None
        self._after_redeemed(suite_id, auth.corpid, corp, entry.timestamp)
        reset = replaced or entry.info_type == "reset_permanent_code"
        log.info("engine.redeemed", suite_id=suite_id, key=key, corpid=auth.corpid,
                 agentid=corp.agentid, info_type=entry.info_type, secret_replaced=replaced)
        self._notify(Outcome("secret_reset" if reset else "corp_obtained", suite_id=suite_id,
                             corpid=auth.corpid, corp_name=corp.corp_name, agentid=corp.agentid))

    def _unknown_outcome(self, suite_id: str, key: str, entry: AuthCodeEntry, error: str) -> None:
        """The request left, the answer did not come back: WeCom may have spent the code.

        Like a kill during the call, it is never sent again (a second call can only get
        40078 for a spent code, and the Secret of the first is lost either way).
        """
        entry.errcode = ERRCODE_ANSWER_LOST
        entry.error = (f"{self._secrets.scrub(error)}; the request was sent but its answer "
                       "was lost, so whether WeCom redeemed the code is unknown and it is "
                       "not sent again")
        self.fail(suite_id, key, entry, hint=HINT_NEW_CODE)

    def provider_open(self, now: float) -> None:
        """A call of ours went through: every code held back by 60020 may go now."""
        for suite in self._state.suites.values():
            for entry in suite.auth_codes.values():
                if entry.status == "pending" and entry.waiting_for == "ip":
                    entry.waiting_for = None
                    entry.next_attempt_at = now

    def _after_error(self, suite_id: str, key: str, entry: AuthCodeEntry, exc: WeComError) -> None:
        """Final only when WeCom says the code is dead; otherwise wait for the cause to go."""
        previous = entry.errcode
        entry.status = "pending"
        error = self._secrets.scrub(str(exc))
        self._state.suite(suite_id).last_error = {
            "errcode": exc.errcode, "error": error, "at": format_time(self._clock())}
        kind = exc.kind
        if kind is WeComErrorKind.AUTH_CODE_DEAD:
            entry.errcode, entry.error = exc.errcode, error
            if previous is not None and (previous <= ERRCODE_TRANSPORT or previous == -1):
                entry.error += ("; an earlier attempt's answer was lost, so WeCom may have "
                                "redeemed it then")
            self.fail(suite_id, key, entry, hint=HINT_NEW_CODE)
            return
        waiting = _WAIT_FOR_KIND.get(kind)
        if waiting == "config":
            self._wait(suite_id, key, entry, "config", error, errcode=exc.errcode)
        elif waiting == "ip":
            self._probe_later(suite_id, key, entry, error, exc.errcode)
        else:
            self._retry_later(suite_id, key, entry, waiting, error, errcode=exc.errcode,
                              minimum=0.0 if waiting == "network" else RATE_LIMIT_RETRY_S)

    def _wait(self, suite_id: str, key: str, entry: AuthCodeEntry, waiting: Waiting,
              error: str, *, errcode: int | None) -> None:
        """Hold the code until an outside change (config, ticket) or its deadline."""
        now = self._clock()
        entry.status = "pending"
        entry.waiting_for = waiting
        entry.errcode = errcode if errcode is not None else entry.errcode
        entry.error = error
        entry.next_attempt_at = entry.deadline
        entry.updated_at = now
        log.warning(f"engine.waiting_for_{waiting}", suite_id=suite_id, key=key, errcode=errcode,
                    error=error, deadline=format_time(entry.deadline))

    def _probe_later(self, suite_id: str, key: str, entry: AuthCodeEntry, error: str,
                     errcode: int) -> None:
        """60020: one probe every PROVIDER_PROBE_S for all held codes, not one per code."""
        now = self._clock()
        probe_at = now + PROVIDER_PROBE_S
        if probe_at >= entry.deadline:
            entry.errcode, entry.error = errcode, error
            entry.error += "; no time left for another attempt before the code's deadline"
            self.expire(suite_id, key, entry)
            return
        entry.waiting_for, entry.errcode, entry.error = "ip", errcode, error
        entry.updated_at = now
        # Our address is refused for every suite: hold every code that is not waiting for
        # something else, so the block costs one call per probe, not one per code.
        for suite in self._state.suites.values():
            for other in suite.auth_codes.values():
                if other.status == "pending" and other.waiting_for not in _WAIT_UNTIL_CHANGE:
                    if other is not entry and other.waiting_for != "ip":
                        other.waiting_for, other.errcode = "ip", errcode
                        other.error = "held while WeCom refuses our address (60020)"
                    other.next_attempt_at = max(other.next_attempt_at or now, probe_at)
        log.warning("engine.waiting_for_ip", suite_id=suite_id, key=key, errcode=errcode,
                    next_probe=format_time(probe_at), deadline=format_time(entry.deadline))

    def _retry_later(self, suite_id: str, key: str, entry: AuthCodeEntry,
                     waiting: Waiting | None, error: str, *, errcode: int | None,
                     minimum: float = 0.0) -> None:
        now = self._clock()
        retries = int(entry.extra.get("retries", 0))
        delay = max(backoff_delay(retries), minimum)
        entry.errcode, entry.error = errcode, error
        if now + delay >= entry.deadline:
            entry.error += "; no time left for another attempt before the code's deadline"
            self.expire(suite_id, key, entry)
            return
        entry.extra["retries"] = retries + 1
        entry.waiting_for = waiting
        entry.next_attempt_at = now + delay
        entry.updated_at = now
        log.warning("engine.redeem_retry_scheduled", suite_id=suite_id, key=key,
                    errcode=errcode, waiting_for=waiting, delay_s=delay)

    def fail(self, suite_id: str, key: str, entry: AuthCodeEntry, hint: str | None = None) -> None:
        self.finish(entry, "failed", self._clock(), hint=hint)
        log.error("engine.redeem_failed", suite_id=suite_id, key=key, errcode=entry.errcode,
                  error=entry.error, info_type=entry.info_type)
        self._notify(Outcome("auth_code_failed", suite_id=suite_id, errcode=entry.errcode,
                             detail=_join(entry.error, hint), code_key=key))

    def expire(
        self, suite_id: str, key: str, entry: AuthCodeEntry, *, quiet: bool = False
    ) -> None:
        self.finish(entry, "expired", self._clock(), hint=HINT_NEW_CODE, quiet=quiet)
        (log.info if quiet else log.error)(
            "engine.auth_code_expired", suite_id=suite_id, key=key, info_type=entry.info_type,
            timestamp=entry.timestamp, errcode=entry.errcode, quiet=quiet)
        if not quiet:
            self._notify(Outcome("auth_code_expired", suite_id=suite_id, errcode=entry.errcode,
                                 detail=_join(entry.error, HINT_NEW_CODE), code_key=key))

    def finish(self, entry: AuthCodeEntry, status: AuthCodeStatus, now: float, *,
               hint: str | None = None, quiet: bool = False) -> None:
        """A final status: the code itself is dropped from the state."""
        entry.status = status
        entry.code = None
        entry.next_attempt_at = None
        entry.waiting_for = None
        entry.hint = hint
        entry.updated_at = now
        if status != "redeemed" and not quiet:
            self.failed = True


def _join(*parts: str | None) -> str:
    return "; ".join(p for p in parts if p)


class _AnswerLost(Exception):
    """get_permanent_code was sent and its answer lost: the outcome is unknown."""
