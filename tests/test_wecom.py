"""Tests for iotwx_watch.wecom: the client over real loopback sockets against the simulator,
plus httpx.MockTransport cases for answers the simulator never gives."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any, Literal

import httpx
import pytest
import structlog

from iotwx_watch.engine.port import Authorization, CallRecord, SuiteToken
from iotwx_watch.errors import (
    ERRCODE_ANSWER_LOST,
    ERRCODE_BAD_RESPONSE,
    ERRCODE_HTTP_STATUS,
    ERRCODE_TRANSPORT,
    ConfigError,
    WeComError,
    WeComErrorKind,
)
from iotwx_watch.sim.server import WeComSimulator
from iotwx_watch.wecom import WeComClient
from tests.conftest import SimClock

SUITE_ID = "dk1234567890abcdef"
SUITE_SECRET = "suite-secret-0123456789abcdef"
CORPID = "wwcorp0000000042"


@pytest.fixture
def sim(clock: SimClock) -> Iterator[WeComSimulator]:
    with WeComSimulator(clock=clock) as simulator:
        simulator.add_suite(SUITE_ID, SUITE_SECRET)
        yield simulator


@pytest.fixture(autouse=True)
def default_logging() -> Iterator[None]:
    """structlog's defaults (all levels), whatever an earlier test configured."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture
def records() -> list[CallRecord]:
    return []


@pytest.fixture
def client(sim: WeComSimulator, records: list[CallRecord]) -> Iterator[WeComClient]:
    with WeComClient(base_url=sim.base_url, timeout_s=5, on_call=records.append) as wecom:
        yield wecom


def token_for(sim: WeComSimulator, client: WeComClient) -> str:
    """A fresh suite_access_token from the simulator."""
    return client.get_suite_token(SUITE_ID, SUITE_SECRET, sim.push_ticket(SUITE_ID)).value


def raises(call: Callable[[], Any]) -> WeComError:
    """Run ``call`` and return the WeComError it must raise."""
    with pytest.raises(WeComError) as info:
        call()
    return info.value


# --- the happy paths, over real sockets -------------------------------------------


def test_get_suite_token(
    sim: WeComSimulator, client: WeComClient, records: list[CallRecord]
) -> None:
    """A fresh ticket yields a suite_access_token with WeCom's 7200 s lifetime."""
    token = client.get_suite_token(SUITE_ID, SUITE_SECRET, sim.push_ticket(SUITE_ID))
    assert 7200 == token.expires_in
    assert 40 < len(token.value)
    assert [("get_suite_token", 0, 200)] == [
        (r.endpoint, r.errcode, r.http_status) for r in records
    ]
    assert [(SUITE_ID, 0)] == [(c.suite_id, c.errcode) for c in sim.calls]


@pytest.mark.parametrize("omit_errcode", [True, False], ids=["no-errcode", "errcode-0"])
def test_get_permanent_code_v1(
    sim: WeComSimulator, client: WeComClient, omit_errcode: bool
) -> None:
    """v1 yields corpid, corp_name, agentid, state and the secret, with or without errcode."""
    sim.omit_success_errcode = omit_errcode
    token = token_for(sim, client)
    code = sim.issue_auth_code(SUITE_ID, CORPID, corp_name="Corp", agentid=1000007, state="s1")
    auth = client.get_permanent_code(token, code)
    secret = sim.permanent_code_for(CORPID)
    assert secret is not None
    assert Authorization(CORPID, "Corp", 1000007, secret, "s1") == auth
    assert secret == auth.permanent_code


def test_get_permanent_code_v2_asks_auth_info_for_agentid(
    sim: WeComSimulator, records: list[CallRecord]
) -> None:
    """v2 redeems, then get_auth_info supplies the agentid the v2 answer lacks."""
    with WeComClient(base_url=sim.base_url, permanent_code_api="v2", on_call=records.append) as v2:
        token = token_for(sim, v2)
        code = sim.issue_auth_code(SUITE_ID, CORPID, corp_name="Corp", agentid=1000009)
        auth = v2.get_permanent_code(token, code)
    assert Authorization(CORPID, "Corp", 1000009, sim.permanent_code_for(CORPID) or "") == auth
    expected = ["get_suite_token", "v2/get_permanent_code", "v2/get_auth_info"]
    assert expected == [r.endpoint for r in records]
    assert expected == [c.endpoint for c in sim.calls]


def test_v2_keeps_the_secret_when_auth_info_fails(
    sim: WeComSimulator, records: list[CallRecord]
) -> None:
    """A failed get_auth_info leaves agentid None, keeps the secret and is reported via on_call."""
    with WeComClient(base_url=sim.base_url, permanent_code_api="v2", on_call=records.append) as v2:
        token = token_for(sim, v2)
        code = sim.issue_auth_code(SUITE_ID, CORPID)
        sim.fail_next("v2/get_auth_info", errcode=-1)
        auth = v2.get_permanent_code(token, code)
    assert (CORPID, None) == (auth.corpid, auth.agentid)
    assert sim.permanent_code_for(CORPID) == auth.permanent_code
    assert ("v2/get_auth_info", -1) == (records[-1].endpoint, records[-1].errcode)


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_get_auth_info_confirms_an_authorization_and_refuses_a_cancelled_one(
    sim: WeComSimulator, api: Literal["v1", "v2"]
) -> None:
    """get_auth_info answers for a corp that is authorized; after cancel_auth it is 40084."""
    with WeComClient(base_url=sim.base_url, timeout_s=5, permanent_code_api=api) as wecom:
        token = token_for(sim, wecom)
        auth = wecom.get_permanent_code(token, sim.issue_auth_code(SUITE_ID, CORPID))
        info = wecom.get_auth_info(token, CORPID, auth.permanent_code)
        assert (CORPID, auth.agentid) == (info.corpid, info.agentid)
        sim.cancel_auth(CORPID)
        error = raises(lambda: wecom.get_auth_info(token, CORPID, auth.permanent_code))
    assert 40084 == error.errcode
    assert auth.permanent_code not in str(error)


def test_reset_permanent_code_yields_a_new_secret(sim: WeComSimulator, client: WeComClient) -> None:
    """A reset_permanent_code auth code gives the same corp a different permanent_code."""
    token = token_for(sim, client)
    first = client.get_permanent_code(token, sim.issue_auth_code(SUITE_ID, CORPID))
    reset = sim.issue_auth_code(SUITE_ID, CORPID, info_type="reset_permanent_code")
    second = client.get_permanent_code(token, reset)
    assert CORPID == second.corpid
    assert first.permanent_code != second.permanent_code
    assert sim.permanent_code_for(CORPID) == second.permanent_code


# --- every error class, over real sockets --------------------------------------------


def _retryable(sim: WeComSimulator, client: WeComClient, clock: SimClock) -> None:
    sim.fail_next("get_suite_token", errcode=-1)
    client.get_suite_token(SUITE_ID, SUITE_SECRET, sim.push_ticket(SUITE_ID))


def _token_expired(sim: WeComSimulator, client: WeComClient, clock: SimClock) -> None:
    token = token_for(sim, client)
    clock.now += 7200
    client.get_permanent_code(token, sim.issue_auth_code(SUITE_ID, CORPID))


def _token_unknown(sim: WeComSimulator, client: WeComClient, clock: SimClock) -> None:
    client.get_permanent_code("not-a-token-the-sim-issued", sim.issue_auth_code(SUITE_ID, CORPID))


def _ticket_stale(sim: WeComSimulator, client: WeComClient, clock: SimClock) -> None:
    ticket = sim.push_ticket(SUITE_ID)
    clock.now += 1801
    client.get_suite_token(SUITE_ID, SUITE_SECRET, ticket)


def _code_used(sim: WeComSimulator, client: WeComClient, clock: SimClock) -> None:
    token, code = token_for(sim, client), sim.issue_auth_code(SUITE_ID, CORPID)
    client.get_permanent_code(token, code)
    client.get_permanent_code(token, code)


def _code_expired(sim: WeComSimulator, client: WeComClient, clock: SimClock) -> None:
    code = sim.issue_auth_code(SUITE_ID, CORPID)
    clock.now += 601
    client.get_permanent_code(token_for(sim, client), code)


def _ip_blocked(sim: WeComSimulator, client: WeComClient, clock: SimClock) -> None:
    sim.block_ip("127.0.0.1")
    client.get_suite_token(SUITE_ID, SUITE_SECRET, sim.push_ticket(SUITE_ID))


def _bad_secret(sim: WeComSimulator, client: WeComClient, clock: SimClock) -> None:
    client.get_suite_token(SUITE_ID, "wrong-secret-000000", sim.push_ticket(SUITE_ID))


def _bad_suite(sim: WeComSimulator, client: WeComClient, clock: SimClock) -> None:
    client.get_suite_token("dkunknown000000000", SUITE_SECRET, sim.push_ticket(SUITE_ID))


def _rate_limited(sim: WeComSimulator, client: WeComClient, clock: SimClock) -> None:
    sim.fail_next("get_suite_token", errcode=45009)
    client.get_suite_token(SUITE_ID, SUITE_SECRET, sim.push_ticket(SUITE_ID))


def _other(sim: WeComSimulator, client: WeComClient, clock: SimClock) -> None:
    sim.fail_next("get_permanent_code", errcode=48002)
    client.get_permanent_code(token_for(sim, client), sim.issue_auth_code(SUITE_ID, CORPID))


def _authorization_gone(sim: WeComSimulator, client: WeComClient, clock: SimClock) -> None:
    token = token_for(sim, client)
    auth = client.get_permanent_code(token, sim.issue_auth_code(SUITE_ID, CORPID))
    sim.cancel_auth(CORPID)
    client.get_auth_info(token, CORPID, auth.permanent_code)


Scenario = Callable[[WeComSimulator, WeComClient, SimClock], None]
SCENARIOS: list[tuple[str, Scenario, int, WeComErrorKind]] = [
    ("busy", _retryable, -1, WeComErrorKind.RETRYABLE),
    ("token-expired", _token_expired, 42009, WeComErrorKind.TOKEN_INVALID),
    ("token-unknown", _token_unknown, 40082, WeComErrorKind.TOKEN_INVALID),
    ("ticket-stale", _ticket_stale, 40085, WeComErrorKind.TICKET_STALE),
    ("code-used", _code_used, 40078, WeComErrorKind.AUTH_CODE_DEAD),
    ("code-expired", _code_expired, 40078, WeComErrorKind.AUTH_CODE_DEAD),
    ("ip-blocked", _ip_blocked, 60020, WeComErrorKind.IP_BLOCKED),
    ("bad-secret", _bad_secret, 40080, WeComErrorKind.CONFIG),
    ("bad-suite", _bad_suite, 40083, WeComErrorKind.CONFIG),
    ("rate-limited", _rate_limited, 45009, WeComErrorKind.RATE_LIMITED),
    ("authorization-gone", _authorization_gone, 40084, WeComErrorKind.AUTHORIZATION_GONE),
    ("other", _other, 48002, WeComErrorKind.OTHER),
]


@pytest.mark.parametrize(
    ("scenario", "errcode", "kind"), [s[1:] for s in SCENARIOS], ids=[s[0] for s in SCENARIOS]
)
def test_wecom_errors_over_loopback(
    sim: WeComSimulator,
    client: WeComClient,
    clock: SimClock,
    records: list[CallRecord],
    scenario: Scenario,
    errcode: int,
    kind: WeComErrorKind,
) -> None:
    """Each WeCom errcode arrives as WeComError with its errcode and kind, and is recorded."""
    error = raises(lambda: scenario(sim, client, clock))
    assert (errcode, kind) == (error.errcode, error.kind)
    assert errcode == records[-1].errcode
    assert f"more info at https://open.work.weixin.qq.com/devtool/query?e={errcode}" in str(error)


def test_every_error_kind_is_exercised() -> None:
    """The scenarios above cover every kind WeCom can answer with (a lost answer has its
    own test: it is no answer at all)."""
    assert set(WeComErrorKind) - {WeComErrorKind.ANSWER_LOST} == {s[3] for s in SCENARIOS}


def test_60020_names_the_blocked_address(sim: WeComSimulator, client: WeComClient) -> None:
    """A 60020 answer yields the address WeCom saw, for the provider whitelist."""
    sim.block_ip("127.0.0.1")
    error = raises(lambda: token_for(sim, client))
    assert "127.0.0.1" == error.blocked_ip
    sim.unblock_ip()
    assert (
        7200 == client.get_suite_token(SUITE_ID, SUITE_SECRET, sim.push_ticket(SUITE_ID)).expires_in
    )


def test_http_500_without_errcode(
    sim: WeComSimulator, client: WeComClient, records: list[CallRecord]
) -> None:
    """A bare HTTP 500 page is ERRCODE_HTTP_STATUS with the status, and retryable."""
    sim.fail_next("get_suite_token", http_status=500)
    error = raises(lambda: token_for(sim, client))
    assert (ERRCODE_HTTP_STATUS, 500) == (error.errcode, error.http_status)
    assert WeComErrorKind.RETRYABLE == error.kind
    assert (ERRCODE_HTTP_STATUS, 500) == (records[-1].errcode, records[-1].http_status)


def test_http_500_with_errcode_uses_the_errcode(sim: WeComSimulator, client: WeComClient) -> None:
    """An error status carrying a JSON errcode is judged by the errcode."""
    sim.fail_next("get_suite_token", errcode=-1, http_status=503)
    error = raises(lambda: token_for(sim, client))
    assert (-1, 503) == (error.errcode, error.http_status)


def test_slow_answer_is_an_answer_lost_after_sending(
    sim: WeComSimulator, records: list[CallRecord]
) -> None:
    """An answer slower than timeout_s: the request went out, so its outcome is unknown
    (ERRCODE_ANSWER_LOST), not a plain transport error and never an httpx error."""
    sim.fail_next("get_suite_token", delay_s=2.0)
    with WeComClient(base_url=sim.base_url, timeout_s=0.2, on_call=records.append) as slow:
        error = raises(lambda: token_for(sim, slow))
    assert (ERRCODE_ANSWER_LOST, WeComErrorKind.ANSWER_LOST) == (error.errcode, error.kind)
    assert isinstance(error.__cause__, httpx.TimeoutException)
    assert (ERRCODE_ANSWER_LOST, None) == (records[-1].errcode, records[-1].http_status)


def test_connection_refused_is_transport_error() -> None:
    """Nothing listening is ERRCODE_TRANSPORT."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with WeComClient(base_url=f"http://127.0.0.1:{port}", timeout_s=2) as client:
        error = raises(lambda: client.get_suite_token(SUITE_ID, SUITE_SECRET, "ticket-000000"))
    assert ERRCODE_TRANSPORT == error.errcode


@pytest.mark.parametrize(
    "url",
    ["http://qyapi.weixin.qq.com", "ftp://127.0.0.1", "qyapi.weixin.qq.com", "http://10.0.0.1"],
)
def test_base_url_must_be_https_unless_loopback(url: str) -> None:
    """Plain http is refused except to loopback, so a token never crosses a network in clear."""
    with pytest.raises(ConfigError):
        WeComClient(base_url=url)


@pytest.mark.parametrize(
    "url", ["https://qyapi.weixin.qq.com/", "http://localhost:1", "http://[::1]:1"]
)
def test_base_url_accepted(url: str) -> None:
    """https anywhere and http to loopback are accepted, without a trailing slash."""
    with WeComClient(base_url=url) as client:
        assert url.rstrip("/") == client.base_url


# --- MockTransport: answers the simulator never gives -----------------------------------


def mock_client(
    answer: Callable[[httpx.Request], httpx.Response],
    *,
    api: str = "v1",
    records: list[CallRecord] | None = None,
) -> WeComClient:
    on_call = records.append if records is not None else None
    return WeComClient(
        base_url="https://wecom.test",
        transport=httpx.MockTransport(answer),
        permanent_code_api="v2" if api == "v2" else "v1",
        on_call=on_call,
    )


def json_answer(payload: Any, status: int = 200) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, json=payload)


def test_request_shapes() -> None:
    """v1 posts the auth code in the body and the token in the query; token call has no query."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("get_suite_token"):
            return httpx.Response(200, json={"suite_access_token": "tok-abcdef", "expires_in": 60})
        return httpx.Response(
            200,
            json={"permanent_code": "pc-abcdef", "auth_corp_info": {"corpid": CORPID}},
        )

    with mock_client(answer) as client:
        assert SuiteToken("tok-abcdef", 60) == client.get_suite_token(
            SUITE_ID, "s-123456", "t-123456"
        )
        auth = client.get_permanent_code("tok-abcdef", "code-123456")
    expected_token_body = {
        "suite_id": SUITE_ID,
        "suite_secret": "s-123456",
        "suite_ticket": "t-123456",
    }
    assert ("POST", "/cgi-bin/service/get_suite_token", b"") == (
        seen[0].method,
        seen[0].url.path,
        seen[0].url.query,
    )
    assert expected_token_body == json.loads(seen[0].content)
    assert "/cgi-bin/service/get_permanent_code" == seen[1].url.path
    assert {"suite_access_token": "tok-abcdef"} == dict(seen[1].url.params)
    assert {"auth_code": "code-123456"} == json.loads(seen[1].content)
    assert Authorization(CORPID, None, None, "pc-abcdef", None) == auth


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"errcode": 0, "expires_in": 7200}, "suite_access_token"),
        ({"suite_access_token": "", "expires_in": 7200}, "suite_access_token"),
        ({"suite_access_token": "tok-abcdef", "expires_in": "soon"}, "expires_in"),
    ],
)
def test_suite_token_missing_fields(body: dict[str, Any], field: str) -> None:
    """A success answer without a usable token is ERRCODE_BAD_RESPONSE naming the field."""
    records: list[CallRecord] = []
    with mock_client(json_answer(body), records=records) as client:
        error = raises(lambda: client.get_suite_token(SUITE_ID, SUITE_SECRET, "ticket-123456"))
    assert ERRCODE_BAD_RESPONSE == error.errcode
    assert field in error.errmsg
    assert ERRCODE_BAD_RESPONSE == records[-1].errcode


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"auth_corp_info": {"corpid": CORPID}}, "permanent_code"),
        ({"permanent_code": "pc-abcdef"}, "auth_corp_info"),
        ({"permanent_code": "pc-abcdef", "auth_corp_info": {"corp_name": "x"}}, "corpid"),
    ],
)
def test_permanent_code_missing_fields(body: dict[str, Any], field: str) -> None:
    """A v1 answer without permanent_code or corpid is ERRCODE_BAD_RESPONSE naming the field."""
    with mock_client(json_answer(body)) as client:
        error = raises(lambda: client.get_permanent_code("tok-abcdef", "code-123456"))
    assert ERRCODE_BAD_RESPONSE == error.errcode
    assert field in error.errmsg


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, content=b"{not json"),
        httpx.Response(200, json=["a", "list"]),
        httpx.Response(200, content=b"\xff\xfe garbage"),
        httpx.Response(200, json={"errcode": None}),
        httpx.Response(200, json={"errcode": "busy"}),
    ],
    ids=["malformed", "list", "binary", "errcode-null", "errcode-text"],
)
def test_unreadable_answers_are_bad_response(response: httpx.Response) -> None:
    """A 200 whose body is not a WeCom JSON object is ERRCODE_BAD_RESPONSE."""
    with mock_client(lambda request: response) as client:
        error = raises(lambda: client.get_suite_token(SUITE_ID, SUITE_SECRET, "ticket-123456"))
    assert ERRCODE_BAD_RESPONSE == error.errcode
    assert WeComErrorKind.RETRYABLE == error.kind


def test_errcode_as_string_is_honoured() -> None:
    """An errcode sent as a string is still the errcode."""
    with mock_client(json_answer({"errcode": "40078", "errmsg": "invalid auth_code"})) as client:
        error = raises(lambda: client.get_permanent_code("tok-abcdef", "code-123456"))
    assert (40078, WeComErrorKind.AUTH_CODE_DEAD) == (error.errcode, error.kind)


def test_http_404_json_without_errcode_is_http_status() -> None:
    """An error status whose JSON has no errcode is ERRCODE_HTTP_STATUS, not retryable below 500."""
    with mock_client(json_answer({"detail": "nope"}, status=404)) as client:
        error = raises(lambda: client.get_suite_token(SUITE_ID, SUITE_SECRET, "ticket-123456"))
    assert (ERRCODE_HTTP_STATUS, 404, WeComErrorKind.OTHER) == (
        error.errcode,
        error.http_status,
        error.kind,
    )


def test_v1_without_auth_info_has_no_agentid() -> None:
    """A v1 answer without auth_info still yields the secret, with agentid None."""
    body = {"permanent_code": "pc-abcdef", "auth_corp_info": {"corpid": CORPID}, "state": ""}
    with mock_client(json_answer(body)) as client:
        auth = client.get_permanent_code("tok-abcdef", "code-123456")
    assert Authorization(CORPID, None, None, "pc-abcdef", None) == auth


def test_v2_takes_top_level_auth_corpid() -> None:
    """A v2 answer with a top-level auth_corpid (older SDK shape) is understood."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("v2/get_permanent_code"):
            return httpx.Response(
                200, json={"errcode": 0, "permanent_code": "pc-a", "auth_corpid": CORPID}
            )
        assert {"auth_corpid": CORPID, "permanent_code": "pc-a"} == json.loads(request.content)
        return httpx.Response(200, json={"errcode": 0, "auth_info": {"agent": [{"agentid": 5}]}})

    with mock_client(answer, api="v2") as client:
        auth = client.get_permanent_code("tok-abcdef", "code-123456")
    assert Authorization(CORPID, None, 5, "pc-a", None) == auth


# --- no secret in an exception or a log line ---------------------------------------------


def test_no_secret_in_errors_or_logs() -> None:
    """Secrets echoed by WeCom or by httpx never reach an exception text or a log event."""
    token, ticket, code, secret = (
        "tok-SECRET-1111",
        "tkt-SECRET-2222",
        "code-SECRET-3333",
        "sec-SECRET-4444",
    )

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("get_suite_token"):
            return httpx.Response(
                200,
                json={"errcode": 40085, "errmsg": f"invalid suite_ticket {ticket} for {secret}"},
            )
        if request.url.params.get("suite_access_token") == token:
            raise httpx.ConnectError(f"cannot reach {request.url}", request=request)
        return httpx.Response(500, text=f"<html>error at {request.url} code {code}</html>")

    errors: list[WeComError] = []
    with structlog.testing.capture_logs() as logs, mock_client(answer) as client:
        errors.append(raises(lambda: client.get_suite_token(SUITE_ID, secret, ticket)))
        errors.append(raises(lambda: client.get_permanent_code(token, code)))
        errors.append(raises(lambda: client.get_permanent_code("tok-SECRET-5555", code)))
    texts = [str(e) for e in errors] + [e.errmsg for e in errors] + [repr(event) for event in logs]
    assert [40085, ERRCODE_TRANSPORT, ERRCODE_HTTP_STATUS] == [e.errcode for e in errors]
    assert 3 == sum(1 for event in logs if event["event"] == "wecom.call_failed")
    for value in (token, ticket, code, secret, "tok-SECRET-5555"):
        assert [] == [text for text in texts if value in text]


def test_no_secret_in_loopback_logs(sim: WeComSimulator, client: WeComClient) -> None:
    """A full redemption over loopback logs ids and errcodes only."""
    with structlog.testing.capture_logs() as logs:
        ticket = sim.push_ticket(SUITE_ID)
        token = client.get_suite_token(SUITE_ID, SUITE_SECRET, ticket).value
        code = sim.issue_auth_code(SUITE_ID, CORPID)
        auth = client.get_permanent_code(token, code)
        raises(lambda: client.get_permanent_code(token, code))
    rendered = repr(logs)
    assert ["wecom.call", "wecom.call", "wecom.call_failed"] == [e["event"] for e in logs]
    for value in (SUITE_SECRET, ticket, token, code, auth.permanent_code):
        assert value not in rendered


def test_the_http_client_is_built_at_the_first_call_or_when_prepared() -> None:
    """httpx (and its TLS context) loads at the first call, so `once` with nothing to
    redeem never pays for it; the daemon calls prepare() before it says it is ready, so
    its first code does not either."""
    code = (
        "import sys\n"
        "from iotwx_watch.wecom import WeComClient\n"
        "client = WeComClient(base_url='http://127.0.0.1:9')\n"
        "print('httpx' in sys.modules)\n"
        "client.prepare()\n"
        "print('httpx' in sys.modules)\n"
        "client.close()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert ["False", "True"] == done.stdout.split()
