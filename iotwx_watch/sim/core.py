"""The WeCom simulator's rules, without HTTP: suites, tickets, tokens, auth codes, faults.

:mod:`iotwx_watch.sim.server` puts these behind a real HTTP server on loopback. Keeping the
rules here, as one object that maps (endpoint, query, body, client ip) to (status,
payload), lets them be read in one place and keeps both modules small. All state is
guarded by one lock: the server answers on several threads while a test thread
pushes tickets and flips fault switches. Time comes from the injected clock.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from iotwx_watch.engine.ledger import code_key

MORE_INFO = "https://open.work.weixin.qq.com/devtool/query?e="
RECENT_TICKETS = 3  # the newest ticket, plus two missed pushes ("容错连续两次获取失败")

# Endpoint names: the path after /cgi-bin/service/ (the client reports the same names).
SUITE_TOKEN = "get_suite_token"
PERMANENT_CODE = "get_permanent_code"
PERMANENT_CODE_V2 = "v2/get_permanent_code"
AUTH_INFO = "get_auth_info"
AUTH_INFO_V2 = "v2/get_auth_info"
ENDPOINTS = (SUITE_TOKEN, PERMANENT_CODE, PERMANENT_CODE_V2, AUTH_INFO, AUTH_INFO_V2)

_ERRMSG = {
    40013: "invalid corpid",
    40078: "invalid auth_code",
    40080: "invalid suite_secret",
    40082: "invalid suite_token",
    40083: "invalid suite_id",
    40084: "invalid permanent_code",
    40085: "invalid suite_ticket",
    41002: "missing corpid",
    41008: "missing auth code",
    41021: "missing suite_id",
    41022: "missing suite_access_token",
    41023: "missing suite_ticket",
    41024: "missing suite_secret",
    41025: "missing permanent_code",
    42009: "suite_access_token expired",
    47001: "data format error",
    60020: "not allow to access from your ip",
    -1: "system busy",
    404: "invalid url path",
}

Payload = dict[str, Any]


@dataclass(frozen=True)
class SimCall:
    """One request the simulator answered, for tests to assert on (no secret values)."""

    endpoint: str
    suite_id: str | None
    errcode: int | None  # None: the answer carried no JSON (an injected bare HTTP error)
    time: float
    http_status: int = 200
    client_ip: str = ""
    # get_permanent_code only: which code was sent, by its ledger key (never the code), and
    # whether this call spent it. A spent call answered later than the caller's timeout
    # (``delay_s``) is an answer lost after WeCom redeemed the code.
    code_key: str | None = None
    spent: bool = False
    delay_s: float = 0.0


@dataclass
class SimSuite:
    """A 代开发 template as the provider console knows it."""

    suite_id: str
    suite_secret: str = field(repr=False)


@dataclass
class _Ticket:
    value: str = field(repr=False)
    timestamp: int
    fresh_from: float


@dataclass
class _Token:
    suite_id: str
    expires_at: float


@dataclass
class _AuthCode:
    suite_id: str
    corpid: str
    corp_name: str
    agentid: int
    info_type: str
    timestamp: int
    expires_at: float
    state: str | None
    used: bool = False


@dataclass
class _Corp:
    corpid: str
    corp_name: str
    agentid: int
    suite_id: str
    permanent_code: str = field(repr=False)
    cancelled: bool = False


@dataclass
class _Fault:
    endpoint: str
    errcode: int | None
    http_status: int | None
    remaining: int | None  # None: until cleared
    delay_s: float


@dataclass(frozen=True)
class Answer:
    """What the HTTP layer sends: a status, then JSON (``payload``) or raw bytes."""

    status: int
    payload: Payload | None = None
    raw: bytes = b""
    delay_s: float = 0.0


class SimCore:
    """WeCom's service-API rules, as far as get_suite_token and get_permanent_code need."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        ticket_ttl_s: float,
        token_ttl_s: int,
        auth_code_ttl_s: float,
        omit_success_errcode: bool = True,
    ) -> None:
        self.clock = clock
        self.ticket_ttl_s = ticket_ttl_s
        self.token_ttl_s = token_ttl_s
        self.auth_code_ttl_s = auth_code_ttl_s
        self.omit_success_errcode = omit_success_errcode
        self.lock = threading.Lock()
        self.suites: dict[str, SimSuite] = {}
        self.tickets: dict[str, list[_Ticket]] = {}
        self.tokens: dict[str, _Token] = {}
        self.codes: dict[str, _AuthCode] = {}
        self.corps: dict[str, _Corp] = {}
        self.cancel_on_redeem: set[str] = set()  # corps that cancel as soon as they exist
        self.faults: list[_Fault] = []
        self.blocked: set[str | None] = set()
        self.report_ip_as: str | None = None
        self.calls: list[SimCall] = []

    # --- answering -------------------------------------------------------------

    def answer(self, endpoint: str, query: dict[str, str], body: bytes, client_ip: str) -> Answer:
        """Answer one request and record it in :attr:`calls`."""
        with self.lock:
            sent = _auth_code_in(endpoint, body)
            code = self.codes.get(sent) if sent is not None else None
            was_used = code is None or code.used
            suite_id, answer = self._answer(endpoint, query, body, client_ip)
            errcode = int(answer.payload.get("errcode", 0)) if answer.payload is not None else None
            self.calls.append(
                SimCall(endpoint, suite_id, errcode, self.clock(), answer.status, client_ip,
                        code_key=code_key(sent) if sent is not None else None,
                        spent=code is not None and code.used and not was_used,
                        delay_s=answer.delay_s)
            )
            return answer

    def _answer(
        self, endpoint: str, query: dict[str, str], body: bytes, client_ip: str
    ) -> tuple[str | None, Answer]:
        if endpoint not in ENDPOINTS:
            return None, self.error(404, client_ip, status=404)
        fault = self._take_fault(endpoint)
        if fault is not None and (fault.errcode is not None or fault.http_status is not None):
            return None, self._fault_answer(fault, client_ip)
        delay = fault.delay_s if fault is not None else 0.0
        if client_ip in self.blocked or None in self.blocked:
            return None, self.error(60020, client_ip, delay_s=delay)
        try:
            request = json.loads(body.decode("utf-8")) if body else {}
        except ValueError:
            request = None
        if not isinstance(request, dict):
            return None, self.error(47001, client_ip, delay_s=delay)
        if endpoint == SUITE_TOKEN:
            suite_id, payload = self._suite_token(request, client_ip)
        else:
            token = self._token(query.get("suite_access_token"))
            if isinstance(token, int):
                return None, self.error(token, client_ip, delay_s=delay)
            suite_id = token.suite_id
            if endpoint in (PERMANENT_CODE, PERMANENT_CODE_V2):
                payload = self._permanent_code(token, request, v2=endpoint == PERMANENT_CODE_V2)
            else:
                payload = self._auth_info(token, request)
        if isinstance(payload, int):
            return suite_id, self.error(payload, client_ip, delay_s=delay)
        return suite_id, Answer(200, payload, delay_s=delay)

    def _take_fault(self, endpoint: str) -> _Fault | None:
        for fault in self.faults:
            if fault.endpoint in (endpoint, "*"):
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.faults.remove(fault)
                return fault
        return None

    def _fault_answer(self, fault: _Fault, client_ip: str) -> Answer:
        if fault.errcode is not None:
            return self.error(
                fault.errcode, client_ip, status=fault.http_status or 200, delay_s=fault.delay_s
            )
        status = fault.http_status or 500
        html = f"<html><body><h1>{status}</h1>simulated failure</body></html>"
        return Answer(status, None, html.encode(), fault.delay_s)

    def error(
        self, errcode: int, client_ip: str, *, status: int = 200, delay_s: float = 0
    ) -> Answer:
        """An error answer in WeCom's errmsg format: ``msg, hint: [..], from ip: .., more info``."""
        hint = f"{int(self.clock() * 1000) % 10**13:013d}{secrets.randbelow(10**12):012d}"
        ip = self.report_ip_as or client_ip
        text = _ERRMSG.get(errcode, "simulated error")
        errmsg = f"{text}, hint: [{hint}], from ip: {ip}, more info at {MORE_INFO}{errcode}"
        return Answer(status, {"errcode": errcode, "errmsg": errmsg}, delay_s=delay_s)

    # --- the rules ---------------------------------------------------------------

    def _suite_token(self, request: Payload, client_ip: str) -> tuple[str | None, Payload | int]:
        suite_id, secret, ticket = (
            request.get(k) for k in ("suite_id", "suite_secret", "suite_ticket")
        )
        for value, missing in ((suite_id, 41021), (secret, 41024), (ticket, 41023)):
            if not isinstance(value, str) or not value:
                return None, missing
        suite_id = str(suite_id)
        suite = self.suites.get(suite_id)
        if suite is None:
            return suite_id, 40083
        if secret != suite.suite_secret:
            return suite_id, 40080
        now = self.clock()
        recent = self.tickets.get(suite_id, [])[-RECENT_TICKETS:]
        if not any(t.value == ticket and now - t.fresh_from <= self.ticket_ttl_s for t in recent):
            return suite_id, 40085
        value = secrets.token_urlsafe(48)
        self.tokens[value] = _Token(suite_id, now + self.token_ttl_s)
        return suite_id, {
            "errcode": 0,
            "errmsg": "ok",
            "suite_access_token": value,
            "expires_in": self.token_ttl_s,
        }

    def _token(self, value: str | None) -> _Token | int:
        if not value:
            return 41022
        token = self.tokens.get(value)
        if token is None:
            return 40082
        if self.clock() >= token.expires_at:
            return 42009
        return token

    def _permanent_code(self, token: _Token, request: Payload, *, v2: bool) -> Payload | int:
        value = request.get("auth_code")
        if not isinstance(value, str) or not value:
            return 41008
        code = self.codes.get(value)
        if code is None or code.used or code.suite_id != token.suite_id:
            return 40078
        if self.clock() >= code.expires_at:
            return 40078
        code.used = True
        corp = _Corp(
            code.corpid, code.corp_name, code.agentid, code.suite_id, secrets.token_urlsafe(32),
            cancelled=code.corpid in self.cancel_on_redeem,
        )
        self.corps[code.corpid] = corp
        payload: Payload = {"errcode": 0, "errmsg": "ok", "permanent_code": corp.permanent_code}
        if v2:
            payload["auth_corp_info"] = {"corpid": corp.corpid, "corp_name": corp.corp_name}
        else:
            if self.omit_success_errcode:
                payload = {"permanent_code": corp.permanent_code}
            payload["auth_corp_info"] = _corp_info(corp)
            payload["auth_info"] = _auth_info(corp)
        payload["auth_user_info"] = {
            "userid": "admin",
            "open_userid": "woAJ2GCAAAXtWyujaWJHDDGi0mACHAAA",
            "name": "管理员",
            "avatar": "http://wework.qpic.cn/bizmail/admin/0",
        }
        payload["state"] = code.state or ""
        return payload

    def _auth_info(self, token: _Token, request: Payload) -> Payload | int:
        corpid, permanent_code = request.get("auth_corpid"), request.get("permanent_code")
        if not isinstance(corpid, str) or not corpid:
            return 41002
        if not isinstance(permanent_code, str) or not permanent_code:
            return 41025
        corp = self.corps.get(corpid)
        if corp is None or corp.cancelled or corp.permanent_code != permanent_code:
            return 40084
        if corp.suite_id != token.suite_id:
            return 40084
        return {
            "errcode": 0,
            "errmsg": "ok",
            "auth_corp_info": _corp_info(corp),
            "auth_info": _auth_info(corp),
        }

    # --- set-up used by the facade ------------------------------------------------

    def add_ticket(self, suite_id: str, value: str, timestamp: int, fresh_from: float) -> None:
        """Remember a pushed ticket; the newest few are accepted while fresh."""
        self._suite(suite_id)
        known = self.tickets.setdefault(suite_id, [])
        if all(t.value != value for t in known):  # WeCom retries a push: same ticket again
            known.append(_Ticket(value, timestamp, fresh_from))

    def add_code(
        self, value: str, *, suite_id: str, corpid: str, corp_name: str, agentid: int,
        info_type: str, timestamp: int, valid_from: float, state: str | None,
    ) -> None:
        """Register an auth code valid ``auth_code_ttl_s`` from ``valid_from``; a repeat
        (WeCom retries callbacks) keeps the first."""
        if info_type not in ("create_auth", "reset_permanent_code"):
            raise ValueError(
                f"an auth code comes with create_auth or reset_permanent_code, not {info_type!r}"
            )
        self._suite(suite_id)
        expires = valid_from + self.auth_code_ttl_s
        code = _AuthCode(suite_id, corpid, corp_name, agentid, info_type, timestamp, expires, state)
        self.codes.setdefault(value, code)

    def _suite(self, suite_id: str) -> SimSuite:
        suite = self.suites.get(suite_id)
        if suite is None:
            raise KeyError(f"unknown suite {suite_id!r}: add_suite() first")
        return suite


def _auth_code_in(endpoint: str, body: bytes) -> str | None:
    """The auth code a get_permanent_code request carries, if it carries one."""
    if endpoint not in (PERMANENT_CODE, PERMANENT_CODE_V2):
        return None
    try:
        request = json.loads(body.decode("utf-8"))
    except ValueError:
        return None
    value = request.get("auth_code") if isinstance(request, dict) else None
    return value if isinstance(value, str) and value else None


def new_fault(
    endpoint: str, errcode: int | None, http_status: int | None, times: int | None, delay_s: float
) -> _Fault:
    """A fault switch for :attr:`SimCore.faults`."""
    if endpoint != "*" and endpoint not in ENDPOINTS:
        raise ValueError(f"unknown endpoint {endpoint!r}; one of {ENDPOINTS} or '*'")
    return _Fault(endpoint, errcode, http_status, times, delay_s)


def _corp_info(corp: _Corp) -> Payload:
    return {
        "corpid": corp.corpid,
        "corp_name": corp.corp_name,
        "corp_type": "verified",
        "corp_square_logo_url": "https://p.qpic.cn/pic_wework/0/0",
        "corp_user_max": 200,
        "corp_full_name": corp.corp_name,
        "verified_end_time": 1893427200,
        "subject_type": 1,
        "corp_wxqrcode": "https://wework.qpic.cn/wwpic/0/0",
        "corp_scale": "1-50人",
        "corp_industry": "IT服务",
        "corp_sub_industry": "计算机软件/硬件/信息服务",
    }


def _auth_info(corp: _Corp) -> Payload:
    return {
        "agent": [
            {
                "agentid": corp.agentid,
                "name": "IoT 平台",
                "round_logo_url": "https://p.qpic.cn/round/0",
                "square_logo_url": "https://p.qpic.cn/square/0",
                "auth_mode": 0,
                "is_customized_app": True,
                "privilege": {
                    "level": 1,
                    "allow_party": [1],
                    "allow_user": [],
                    "allow_tag": [],
                    "extra_party": [],
                    "extra_user": [],
                    "extra_tag": [],
                },
            }
        ]
    }
