"""Fakes for the engine tests: a clock that moves on command, a WeComApi that records calls,
and the `rig` fixture the engine test modules share."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from iotwx_watch.config import Config, SuiteConfig
from iotwx_watch.engine import Engine, Outcome, code_key
from iotwx_watch.engine.port import AuthInfo, Authorization, SuiteToken
from iotwx_watch.errors import WeComError
from iotwx_watch.events import AuthCode, Event, SuiteTicket
from iotwx_watch.state.model import State

SUITE = "dkSuiteAAAA"
OTHER = "dkSuiteBBBB"
SECRET = "suite-secret-aaaa"
T0 = 1795852800  # 2026-11-28T08:00:00Z
CODE = "auth-code-0001-abcdef"


class Clock:
    """A clock that moves only when the test says so."""

    def __init__(self, now: float) -> None:
        self.now = float(now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeApi:
    """Records every call; answers from queued faults first, then successfully."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    token_faults: list[WeComError] = field(default_factory=list)
    redeem_faults: list[WeComError] = field(default_factory=list)
    corps: dict[str, str] = field(default_factory=dict)  # auth code → corpid
    tokens: int = 0
    on_redeem: Any = None
    auth_info_faults: list[WeComError] = field(default_factory=list)
    cancelled: set[str] = field(default_factory=set)  # corps whose authorization is gone

    def get_suite_token(self, suite_id: str, suite_secret: str, suite_ticket: str) -> SuiteToken:
        self.calls.append(("get_suite_token", suite_ticket))
        if self.token_faults:
            raise self.token_faults.pop(0)
        self.tokens += 1
        return SuiteToken(f"sat-{suite_id}-{self.tokens}", 7200)

    def get_permanent_code(self, suite_access_token: str, auth_code: str) -> Authorization:
        self.calls.append(("get_permanent_code", auth_code))
        if self.on_redeem is not None:
            self.on_redeem()
        if self.redeem_faults:
            raise self.redeem_faults.pop(0)
        corpid = self.corps.get(auth_code, "wwCorpOne")
        return Authorization(corpid=corpid, corp_name=f"name-{corpid}", agentid=1000002,
                             permanent_code=f"perm-{auth_code}", state="st")


    def get_auth_info(self, suite_access_token: str, corpid: str, permanent_code: str) -> AuthInfo:
        self.calls.append(("get_auth_info", corpid))
        if self.auth_info_faults:
            raise self.auth_info_faults.pop(0)
        if corpid in self.cancelled:
            raise WeComError(40084, "invalid permanent_code")
        return AuthInfo(corpid=corpid, corp_name=f"name-{corpid}", agentid=1000002)


def blocked(ip: str = "203.0.113.7") -> WeComError:
    return WeComError(60020, f"not allow to access from your ip, hint: [1688], from ip: {ip}, "
                      "more info at https://open.work.weixin.qq.com/devtool/query?e=60020")


@dataclass
class Rig:
    """An engine over a fresh state, with everything it did recorded."""

    clock: Clock
    api: FakeApi | None
    state: State = field(default_factory=State)
    notices: list[Outcome] = field(default_factory=list)
    saved: list[dict[str, Any]] = field(default_factory=list)
    suites: tuple[SuiteConfig, ...] = (SuiteConfig(SUITE, SECRET), SuiteConfig(OTHER, "other-s"))
    engine: Engine = field(init=False)

    def __post_init__(self) -> None:
        self.engine = self.new_engine()

    def new_engine(self) -> Engine:
        return Engine(config=Config(suites=self.suites), state=self.state, api=self.api,
                      persist=lambda: self.saved.append(json.loads(json.dumps(
                          self.state.to_json()))),
                      clock=self.clock, on_outcome=self.notices.append)

    def handle(self, *events: Event) -> None:
        self.engine.handle(events)

    def entry(self, code: str = CODE, suite: str = SUITE) -> dict[str, Any]:
        data: dict[str, Any] = self.state.to_json()["suites"][suite]["auth_codes"][code_key(code)]
        return data

    def kinds(self) -> list[str]:
        return [n.kind for n in self.notices]

    @property
    def fake(self) -> FakeApi:
        assert self.api is not None
        return self.api


@pytest.fixture
def rig() -> Rig:
    """A fresh engine with a recording fake API, at T0 on a clock the test moves."""
    return Rig(clock=Clock(T0), api=FakeApi())


def ticket(ts: int, value: str | None = None, suite: str = SUITE) -> SuiteTicket:
    return SuiteTicket(suite, value or f"ticket-{ts}", ts)


def code(value: str = CODE, ts: int = T0, info_type: Any = "create_auth",
         suite: str = SUITE) -> AuthCode:
    return AuthCode(info_type, suite, value, ts)
