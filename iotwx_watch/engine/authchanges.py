"""cancel_auth and change_auth: believed only once WeCom confirms them.

receive.log is written by a script that may log a request before checking its signature,
so anyone who can POST to the callback URL can write a ``cancel_auth`` line. Deleting a
corp's Secret on such a line would lose it until someone resets it in the console. So a
logged cancel only starts a check: :meth:`AuthChanges.check` asks ``get_auth_info`` with
the stored permanent code, and

- WeCom says the authorization is gone (40084, 48004): the corp is cancelled and its
  Secret deleted, as WeCom asks of providers;
- WeCom answers with the corp: the cancel was not real; it is counted and reported, and
  nothing changes (the corp's name and agentid are refreshed);
- anything else (WeCom unreachable, no ticket, a refused call): the corp stays as it is and
  the check is retried with backoff; ``status`` shows it.

A ``change_auth`` refreshes the corp's name and agentid from the same call, once.
"""

from __future__ import annotations

from collections.abc import Callable

from iotwx_watch.config import Config
from iotwx_watch.engine.outcomes import Outcome
from iotwx_watch.engine.port import AuthInfo, WeComApi
from iotwx_watch.engine.timing import backoff_delay
from iotwx_watch.engine.tokens import SuiteCredentials, WaitForTicket
from iotwx_watch.errors import WeComError, WeComErrorKind
from iotwx_watch.events import AuthChange
from iotwx_watch.log import get_logger
from iotwx_watch.state.model import AUTH_CODE_TTL_S, CancelCheck, CorpEntry, State

log = get_logger("engine")

CANCEL_CHECK_CAP_S = 15 * 60  # a cancel WeCom cannot be asked about is retried at least this often
# The corps with a cancel check are remembered this long between walks of every corp: see
# AuthChanges._pending.
PENDING_MEMO_S = 1.0


class AuthChanges:
    """Turns logged cancel/change records into state changes WeCom has confirmed."""

    def __init__(
        self,
        *,
        config: Config,
        state: State,
        api: WeComApi | None,
        creds: SuiteCredentials,
        clock: Callable[[], float],
        notify: Callable[[Outcome], None],
        ignore: Callable[[str, AuthChange | None, str], None],
    ) -> None:
        self._config = config
        self._state = state
        self._api = api
        self._creds = creds
        self._clock = clock
        self._notify = notify
        self._ignore = ignore
        self._memo: tuple[float, list[tuple[str, str]]] | None = None  # see _pending

    def on_event(self, event: AuthChange) -> None:
        """Record a logged cancel as a check to make, or refresh a corp after a change."""
        suite = self._state.suite(event.suite_id)
        corp = suite.corps.get(event.corpid)
        if event.info_type == "change_auth":
            if corp is not None:
                corp.changed_at = float(event.timestamp)
                self._refresh(event.suite_id, event.corpid, corp)
            log.info("engine.auth_changed", suite_id=event.suite_id, corpid=event.corpid,
                     known=corp is not None)
            return
        if corp is None:
            self._unknown_corp(event)
            return
        if corp.status == "cancelled":
            return
        if corp.auth_timestamp is not None and event.timestamp < corp.auth_timestamp:
            log.info("engine.cancel_ignored", suite_id=event.suite_id, corpid=event.corpid,
                     reason="older_than_current_secret")
            return
        now = self._clock()
        if corp.cancel_check is None:
            corp.cancel_check = CancelCheck(timestamp=event.timestamp, first_seen=now,
                                            next_check_at=now)
            self._memo = None
            log.info("engine.cancel_check_started", suite_id=event.suite_id,
                     corpid=event.corpid, record_timestamp=event.timestamp)
        self.check(event.suite_id, event.corpid, corp)

    def _unknown_corp(self, event: AuthChange) -> None:
        """A cancel for a corp we hold nothing of: nothing to delete, unless a code being
        redeemed now turns out to be theirs; then the check starts with its Secret."""
        suite = self._state.suite(event.suite_id)
        now = self._clock()
        for corpid, stamp in list(suite.pending_cancels.items()):
            if stamp + AUTH_CODE_TTL_S < now:
                del suite.pending_cancels[corpid]
        in_flight = any(e.status in ("pending", "redeeming") for e in suite.auth_codes.values())
        if not in_flight:
            self._ignore("cancel_unknown_corp", event, event.suite_id)
            return
        suite.pending_cancels[event.corpid] = event.timestamp
        log.info("engine.cancel_held", suite_id=event.suite_id, corpid=event.corpid,
                 reason="a code being redeemed may belong to this corp")

    def after_redeemed(self, suite_id: str, corpid: str, corp: CorpEntry, code_ts: int) -> None:
        """A code was just redeemed for ``corpid``: a cancel held for it starts its check."""
        stamp = self._state.suite(suite_id).pending_cancels.pop(corpid, None)
        if stamp is not None and stamp >= code_ts:
            now = self._clock()
            corp.cancel_check = CancelCheck(timestamp=stamp, first_seen=now, next_check_at=now)
            self._memo = None

    def due(self) -> list[tuple[str, str, CorpEntry]]:
        """Corps whose cancel check is due now."""
        now = self._clock()
        return [(suite_id, corpid, corp) for suite_id, corpid, corp in self._pending()
                if corp.cancel_check is not None and corp.cancel_check.next_check_at <= now]

    def next_due(self) -> float | None:
        times = [corp.cancel_check.next_check_at for _, _, corp in self._pending()
                 if corp.cancel_check is not None]
        return min(times, default=None)

    def _pending(self) -> list[tuple[str, str, CorpEntry]]:
        """The corps that hold a cancel check, as they are now in the state.

        Finding them walks every corp (about 1.3 ms at 10,000 corps), and a daemon on a
        busy log asks twice per wake-up, up to a hundred times a second, for what is
        nearly always none. So which corps they are is remembered for PENDING_MEMO_S, and
        forgotten at once when a check is started here; each corp is looked up afresh
        and its check read as it is now. A check that arrives otherwise (adopted from
        another instance through Redis) is seen at most that much later.
        """
        now = self._clock()
        memo = self._memo
        if memo is None or not memo[0] <= now < memo[0] + PENDING_MEMO_S:
            keys = [(suite_id, corpid) for suite_id, suite in self._state.suites.items()
                    for corpid, corp in suite.corps.items() if corp.cancel_check is not None]
            memo = self._memo = (now, keys)
        found = []
        for suite_id, corpid in memo[1]:
            suite = self._state.suites.get(suite_id)
            corp = suite.corps.get(corpid) if suite is not None else None
            if corp is not None:
                found.append((suite_id, corpid, corp))
        return found

    def check(self, suite_id: str, corpid: str, corp: CorpEntry) -> None:
        """Ask WeCom whether the corp's authorization is gone, and act on the answer."""
        check = corp.cancel_check
        if check is None:
            return
        if corp.permanent_code is None:  # no Secret to lose: nothing to protect
            self._cancelled(suite_id, corpid, corp, check)
            return
        try:
            info = self._ask(suite_id, corpid, corp.permanent_code)
        except WeComError as exc:
            if exc.kind is WeComErrorKind.AUTHORIZATION_GONE:
                self._cancelled(suite_id, corpid, corp, check)
            else:
                self._retry(suite_id, corpid, check, f"WeCom errcode {exc.errcode}: "
                            f"{exc.errmsg}")
            return
        except _CannotAsk as reason:
            self._retry(suite_id, corpid, check, str(reason))
            return
        corp.cancel_check = None
        _refresh_from(corp, info)
        self._ignore("cancel_refuted", None, suite_id)
        log.warning("engine.cancel_refuted", suite_id=suite_id, corpid=corpid,
                    record_timestamp=check.timestamp)

    def _ask(self, suite_id: str, corpid: str, permanent_code: str) -> AuthInfo:
        """get_auth_info with a usable suite token; _CannotAsk when there is none."""
        cfg = self._config.suite(suite_id)
        if cfg is None or cfg.suite_secret is None or self._api is None:
            raise _CannotAsk(f"suite {suite_id} has no suite_secret to ask WeCom with")
        try:
            token = self._creds.token(suite_id, cfg)
        except WaitForTicket as wait:
            raise _CannotAsk(f"no usable suite_ticket: {wait.reason}") from wait
        api = self._api
        return self._creds.retry_on_invalid_token(
            suite_id, cfg, token, lambda fresh: api.get_auth_info(fresh, corpid, permanent_code))

    def _cancelled(self, suite_id: str, corpid: str, corp: CorpEntry, check: CancelCheck) -> None:
        corp.permanent_code = None
        corp.status = "cancelled"
        corp.cancelled_at = float(check.timestamp)
        corp.cancel_check = None
        log.warning("engine.corp_cancelled", suite_id=suite_id, corpid=corpid,
                    confirmed_by="get_auth_info")
        self._notify(Outcome("corp_cancelled", suite_id=suite_id, corpid=corpid,
                             corp_name=corp.corp_name, agentid=corp.agentid))

    def _retry(self, suite_id: str, corpid: str, check: CancelCheck, error: str) -> None:
        now = self._clock()
        delay = min(backoff_delay(check.attempts) * 5, CANCEL_CHECK_CAP_S)
        check.attempts += 1
        check.error = error
        check.next_check_at = now + delay
        log.warning("engine.cancel_unconfirmed", suite_id=suite_id, corpid=corpid,
                    error=error, retry_in_s=delay)

    def _refresh(self, suite_id: str, corpid: str, corp: CorpEntry) -> None:
        """change_auth: take the corp's current name and agentid from WeCom, if it answers."""
        if corp.permanent_code is None or corp.status != "active":
            return
        try:
            _refresh_from(corp, self._ask(suite_id, corpid, corp.permanent_code))
        except (WeComError, _CannotAsk) as exc:
            log.warning("engine.auth_change_not_refreshed", suite_id=suite_id, corpid=corpid,
                        error=str(exc))


class _CannotAsk(Exception):
    """WeCom cannot be asked now (no secret, no usable ticket); the reason is the message."""


def _refresh_from(corp: CorpEntry, info: AuthInfo) -> None:
    corp.corp_name = info.corp_name or corp.corp_name
    corp.agentid = info.agentid if info.agentid is not None else corp.agentid
