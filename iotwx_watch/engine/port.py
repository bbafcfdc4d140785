"""The WeCom calls the engine needs, as a Protocol with plain result types.

The engine depends on this module only; :mod:`iotwx_watch.wecom` implements it over
httpx and the tests may implement it with fakes. Secret fields are ``repr=False``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class SuiteToken:
    """A ``suite_access_token`` and its lifetime in seconds as WeCom gave it."""

    value: str = field(repr=False)
    expires_in: int


@dataclass(frozen=True)
class Authorization:
    """What redeeming an auth code yields: the corp and the app secret (permanent_code)."""

    corpid: str
    corp_name: str | None
    agentid: int | None
    permanent_code: str = field(repr=False)
    state: str | None = None


@dataclass(frozen=True)
class AuthInfo:
    """What WeCom says of a corp's authorization now (get_auth_info): it still stands."""

    corpid: str
    corp_name: str | None
    agentid: int | None


class WeComApi(Protocol):
    """The WeCom service calls; every failure raises :class:`~iotwx_watch.errors.WeComError`."""

    def get_suite_token(self, suite_id: str, suite_secret: str, suite_ticket: str) -> SuiteToken:
        """POST /cgi-bin/service/get_suite_token."""
        ...

    def get_permanent_code(self, suite_access_token: str, auth_code: str) -> Authorization:
        """Redeem an auth code (v1, or v2 + get_auth_info when so configured)."""
        ...

    def get_auth_info(
        self, suite_access_token: str, corpid: str, permanent_code: str
    ) -> AuthInfo:
        """Ask whether the corp's authorization stands: the answer to a logged cancel or
        change, which log text alone cannot prove (40084/48004 when it is gone)."""
        ...


@dataclass(frozen=True)
class CallRecord:
    """One request to WeCom as the engine or metrics see it: no secret, only outcome.

    ``errcode`` is 0 on success, WeCom's errcode, or one of the negative pseudo codes
    of :mod:`iotwx_watch.errors`; ``http_status`` is None when no answer arrived.
    """

    endpoint: str
    errcode: int
    latency_s: float
    http_status: int | None
