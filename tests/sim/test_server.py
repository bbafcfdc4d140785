"""Tests for iotwx_watch.sim.server: the simulator's answers as raw HTTP, its rules, `simulate`."""

from __future__ import annotations

import json
import queue
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from iotwx_watch.cli import main
from iotwx_watch.engine.ledger import code_key
from iotwx_watch.sim.server import WeComSimulator
from iotwx_watch.wecom import WeComClient
from tests.conftest import SIM_START as START
from tests.conftest import SimClock

SUITE_ID = "dk1234567890abcdef"
OTHER_SUITE = "dkfedcba0987654321"
SECRET = "suite-secret-0123456789abcdef"
CORPID = "wwcorp0000000042"
ERRMSG_60020 = re.compile(
    r"not allow to access from your ip, hint: \[\d{25}\], from ip: (\S+), "
    r"more info at https://open\.work\.weixin\.qq\.com/devtool/query\?e=60020"
)


@pytest.fixture
def sim(clock: SimClock) -> Iterator[WeComSimulator]:
    with WeComSimulator(clock=clock) as simulator:
        simulator.add_suite(SUITE_ID, SECRET)
        simulator.add_suite(OTHER_SUITE, SECRET + "-other")
        yield simulator


@pytest.fixture
def http(sim: WeComSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url + "/cgi-bin/service/", trust_env=False) as client:
        yield client


def post(http: httpx.Client, endpoint: str, body: Any, token: str | None = None) -> dict[str, Any]:
    """POST JSON to the simulator and return the decoded answer."""
    params = {"suite_access_token": token} if token is not None else None
    response = http.post(endpoint, json=body, params=params)
    assert "application/json" in response.headers["content-type"]
    payload: dict[str, Any] = response.json()
    return payload


def suite_token(http: httpx.Client, ticket: str, suite_id: str = SUITE_ID) -> dict[str, Any]:
    secret = SECRET if suite_id == SUITE_ID else SECRET + "-other"
    body = {"suite_id": suite_id, "suite_secret": secret, "suite_ticket": ticket}
    return post(http, "get_suite_token", body)


def token(sim: WeComSimulator, http: httpx.Client, suite_id: str = SUITE_ID) -> str:
    value: str = suite_token(http, sim.push_ticket(suite_id), suite_id)["suite_access_token"]
    return value


def errcode(payload: dict[str, Any]) -> int:
    return int(payload.get("errcode", 0))


# --- answers as WeCom shapes them ------------------------------------------------------


def test_v1_success_has_no_errcode_key(sim: WeComSimulator, http: httpx.Client) -> None:
    """By default v1 get_permanent_code answers like WeCom: no errcode at all on success."""
    tok = token(sim, http)
    payload = post(
        http, "get_permanent_code", {"auth_code": sim.issue_auth_code(SUITE_ID, CORPID)}, tok
    )
    assert "errcode" not in payload
    assert sim.permanent_code_for(CORPID) == payload["permanent_code"]
    assert CORPID == payload["auth_corp_info"]["corpid"]
    assert [1000002] == [agent["agentid"] for agent in payload["auth_info"]["agent"]]
    assert "access_token" not in payload  # 代开发: no corp access_token


def test_v1_errcode_can_be_switched_on(sim: WeComSimulator, http: httpx.Client) -> None:
    """With omit_success_errcode off, v1 success carries errcode 0 / ok."""
    sim.omit_success_errcode = False
    tok = token(sim, http)
    payload = post(
        http, "get_permanent_code", {"auth_code": sim.issue_auth_code(SUITE_ID, CORPID)}, tok
    )
    assert (0, "ok") == (payload["errcode"], payload["errmsg"])


def test_v2_answer_and_auth_info(sim: WeComSimulator, http: httpx.Client) -> None:
    """v2 answers without auth_info; v2/get_auth_info gives the agentid for the permanent code."""
    tok = token(sim, http)
    code = sim.issue_auth_code(SUITE_ID, CORPID, agentid=1000011)
    payload = post(http, "v2/get_permanent_code", {"auth_code": code}, tok)
    assert (0, False) == (payload["errcode"], "auth_info" in payload)
    info = post(
        http,
        "v2/get_auth_info",
        {"auth_corpid": CORPID, "permanent_code": payload["permanent_code"]},
        tok,
    )
    assert 1000011 == info["auth_info"]["agent"][0]["agentid"]
    wrong = post(http, "get_auth_info", {"auth_corpid": CORPID, "permanent_code": "nope"}, tok)
    assert 40084 == errcode(wrong)


def test_unknown_path_and_get_are_404_json(sim: WeComSimulator) -> None:
    """An unknown path, or a GET, is HTTP 404 with a JSON errcode."""
    with httpx.Client(base_url=sim.base_url, trust_env=False) as raw:
        for response in (
            raw.post("/cgi-bin/nope", json={}),
            raw.get("/cgi-bin/service/get_suite_token"),
        ):
            assert (404, 404) == (response.status_code, response.json()["errcode"])


def test_bad_json_body_is_47001(sim: WeComSimulator, http: httpx.Client) -> None:
    """A body that is not a JSON object is WeCom's 47001."""
    response = http.post("get_suite_token", content=b"{nope")
    assert 47001 == response.json()["errcode"]


# --- suite tickets and tokens -----------------------------------------------------------


def test_suite_token_checks_suite_secret_and_ticket(
    sim: WeComSimulator, http: httpx.Client
) -> None:
    """Unknown suite 40083, wrong secret 40080, unknown ticket 40085, missing ticket 41023."""
    ticket = sim.push_ticket(SUITE_ID)
    cases = [
        ({"suite_id": "dkunknown", "suite_secret": SECRET, "suite_ticket": ticket}, 40083),
        ({"suite_id": SUITE_ID, "suite_secret": "wrong", "suite_ticket": ticket}, 40080),
        ({"suite_id": SUITE_ID, "suite_secret": SECRET, "suite_ticket": "unknown"}, 40085),
        ({"suite_id": SUITE_ID, "suite_secret": SECRET}, 41023),
    ]
    assert [code for _, code in cases] == [
        errcode(post(http, "get_suite_token", b)) for b, _ in cases
    ]


def test_ticket_of_another_suite_is_40085(sim: WeComSimulator, http: httpx.Client) -> None:
    """A ticket pushed for one suite does not open another."""
    other_ticket = sim.push_ticket(OTHER_SUITE)
    assert 40085 == errcode(suite_token(http, other_ticket))


def test_only_the_newest_tickets_work(sim: WeComSimulator, http: httpx.Client) -> None:
    """The newest ticket and the two before it work; an older one is 40085."""
    tickets = [sim.push_ticket(SUITE_ID) for _ in range(4)]
    assert [40085, 0, 0, 0] == [errcode(suite_token(http, t)) for t in tickets]


def test_ticket_goes_stale(sim: WeComSimulator, http: httpx.Client, clock: SimClock) -> None:
    """A ticket is good for ticket_ttl_s from its timestamp, then 40085."""
    ticket = sim.push_ticket(SUITE_ID, timestamp=int(START) - 1700)
    assert 0 == errcode(suite_token(http, ticket))
    clock.now += 101
    assert 40085 == errcode(suite_token(http, ticket))


def test_accepted_ticket_from_a_log_is_fresh_now(sim: WeComSimulator, http: httpx.Client) -> None:
    """A ticket registered from a sample log (old timestamp) counts as just pushed."""
    sim.accept_ticket(SUITE_ID, "ticket-from-sample-log", 1704421425)
    assert 7200 == suite_token(http, "ticket-from-sample-log")["expires_in"]


def test_token_expiry_and_unknown(
    sim: WeComSimulator, http: httpx.Client, clock: SimClock
) -> None:
    """A token works until token_ttl_s or expire_tokens() (42009); unknown 40082, none 41022."""
    body = {"auth_code": "whatever-code"}
    tok = token(sim, http)
    assert 40078 == errcode(post(http, "get_permanent_code", body, tok))
    clock.now += 7200
    assert 42009 == errcode(post(http, "get_permanent_code", body, tok))
    fresh = token(sim, http)
    sim.expire_tokens()
    assert 42009 == errcode(post(http, "get_permanent_code", body, fresh))
    assert 40082 == errcode(post(http, "get_permanent_code", body, "never-issued"))
    assert 41022 == errcode(post(http, "get_permanent_code", body))


# --- auth codes ----------------------------------------------------------------------


def test_auth_code_is_single_use(sim: WeComSimulator, http: httpx.Client) -> None:
    """The second redemption of a code is 40078."""
    tok, code = token(sim, http), sim.issue_auth_code(SUITE_ID, CORPID)
    results = [
        errcode(post(http, "get_permanent_code", {"auth_code": code}, tok)) for _ in range(2)
    ]
    assert [0, 40078] == results


def test_auth_code_expires(sim: WeComSimulator, http: httpx.Client, clock: SimClock) -> None:
    """A code is good for auth_code_ttl_s from its timestamp, then 40078."""
    tok = token(sim, http)
    late = sim.issue_auth_code(SUITE_ID, CORPID, timestamp=int(START) - 601)
    on_time = sim.issue_auth_code(SUITE_ID, "wwcorp2", timestamp=int(START) - 599)
    assert 40078 == errcode(post(http, "get_permanent_code", {"auth_code": late}, tok))
    assert 0 == errcode(post(http, "get_permanent_code", {"auth_code": on_time}, tok))


def test_auth_code_needs_its_own_suite_token(sim: WeComSimulator, http: httpx.Client) -> None:
    """A code issued for one suite cannot be redeemed with another suite's token."""
    code = sim.issue_auth_code(SUITE_ID, CORPID)
    other = token(sim, http, OTHER_SUITE)
    assert 40078 == errcode(post(http, "get_permanent_code", {"auth_code": code}, other))


def test_accepted_auth_code_and_repeats(sim: WeComSimulator, http: httpx.Client) -> None:
    """A code from a sample log works once even when the log repeats it (WeCom retries)."""
    for _ in range(3):
        sim.accept_auth_code(SUITE_ID, "code-from-sample-log", CORPID, timestamp=1704421425)
    tok = token(sim, http)
    body = {"auth_code": "code-from-sample-log"}
    assert [0, 40078] == [errcode(post(http, "get_permanent_code", body, tok)) for _ in range(2)]


def test_reset_permanent_code_replaces_the_secret(sim: WeComSimulator, http: httpx.Client) -> None:
    """reset_permanent_code issues a new permanent_code; the old one stops working."""
    tok = token(sim, http)
    first = post(
        http, "get_permanent_code", {"auth_code": sim.issue_auth_code(SUITE_ID, CORPID)}, tok
    )
    reset = sim.issue_auth_code(SUITE_ID, CORPID, info_type="reset_permanent_code")
    second = post(http, "get_permanent_code", {"auth_code": reset}, tok)
    assert first["permanent_code"] != second["permanent_code"]
    old = {"auth_corpid": CORPID, "permanent_code": first["permanent_code"]}
    assert 40084 == errcode(post(http, "v2/get_auth_info", old, tok))


def test_cancel_auth_invalidates_the_secret(sim: WeComSimulator, http: httpx.Client) -> None:
    """After cancel_auth the corp's permanent_code is 40084."""
    tok = token(sim, http)
    code = sim.issue_auth_code(SUITE_ID, CORPID)
    secret = post(http, "get_permanent_code", {"auth_code": code}, tok)["permanent_code"]
    sim.cancel_auth(CORPID)
    body = {"auth_corpid": CORPID, "permanent_code": secret}
    assert 40084 == errcode(post(http, "v2/get_auth_info", body, tok))


def test_unknown_suite_and_info_type_are_refused(sim: WeComSimulator) -> None:
    """Registering for a suite the simulator does not know, or a bad info_type, is a test bug."""
    with pytest.raises(KeyError):
        sim.push_ticket("dkunknown")
    with pytest.raises(ValueError):
        sim.issue_auth_code(SUITE_ID, CORPID, info_type="cancel_auth")
    with pytest.raises(ValueError):
        sim.fail_next("no_such_endpoint", errcode=-1)


# --- fault switches ---------------------------------------------------------------------


def test_fail_next_is_consumed(sim: WeComSimulator, http: httpx.Client) -> None:
    """fail_next(times=2) answers two calls with the errcode, then the real answer returns."""
    ticket = sim.push_ticket(SUITE_ID)
    sim.fail_next("get_suite_token", errcode=-1, times=2)
    assert [-1, -1, 0] == [errcode(suite_token(http, ticket)) for _ in range(3)]


def test_fail_until_cleared(sim: WeComSimulator, http: httpx.Client) -> None:
    """fail_next(times=None) lasts until clear_faults(); '*' matches every endpoint."""
    ticket = sim.push_ticket(SUITE_ID)
    sim.fail_next("*", errcode=45009, times=None)
    assert [45009] * 4 == [errcode(suite_token(http, ticket)) for _ in range(4)]
    sim.clear_faults()
    assert 0 == errcode(suite_token(http, ticket))


def test_bare_http_error(sim: WeComSimulator, http: httpx.Client) -> None:
    """fail_next(http_status=502) answers a non-JSON page with that status."""
    sim.fail_next("get_suite_token", http_status=502)
    response = http.post("get_suite_token", json={})
    assert (502, "text/html") == (response.status_code, response.headers["content-type"][:9])
    assert (None, 502) == (sim.calls[-1].errcode, sim.calls[-1].http_status)


def test_block_ip_uses_wecom_errmsg_format(sim: WeComSimulator, http: httpx.Client) -> None:
    """block_ip answers 60020 in WeCom's exact errmsg format, naming the caller's address."""
    ticket = sim.push_ticket(SUITE_ID)
    sim.block_ip()
    match = ERRMSG_60020.fullmatch(suite_token(http, ticket)["errmsg"])
    assert match is not None
    assert "127.0.0.1" == match.group(1)
    sim.unblock_ip()
    assert 0 == errcode(suite_token(http, ticket))


def test_block_ip_report_as_and_other_addresses(sim: WeComSimulator, http: httpx.Client) -> None:
    """Blocking another address lets loopback through; report_as shows a NAT address."""
    ticket = sim.push_ticket(SUITE_ID)
    sim.block_ip("10.9.8.7")
    assert 0 == errcode(suite_token(http, ticket))
    sim.block_ip(None, report_as="121.46.1.2")
    match = ERRMSG_60020.fullmatch(suite_token(http, ticket)["errmsg"])
    assert match is not None
    assert "121.46.1.2" == match.group(1)


def test_delay_answers_late(sim: WeComSimulator, http: httpx.Client) -> None:
    """fail_next(delay_s=...) alone gives the normal answer, after the delay."""
    ticket = sim.push_ticket(SUITE_ID)
    sim.fail_next("get_suite_token", delay_s=0.3)
    started = time.monotonic()
    assert 0 == errcode(suite_token(http, ticket))
    assert 0.3 <= time.monotonic() - started


# --- call log, XML, threads -----------------------------------------------------------------


def test_calls_log(sim: WeComSimulator, http: httpx.Client, clock: SimClock) -> None:
    """Each answered request is logged with endpoint, suite, errcode and the sim's time."""
    tok = token(sim, http)
    post(http, "get_permanent_code", {"auth_code": "unknown-code"}, tok)
    expected = [
        ("get_suite_token", SUITE_ID, 0, START),
        ("get_permanent_code", SUITE_ID, 40078, START),
    ]
    assert expected == [(c.endpoint, c.suite_id, c.errcode, c.time) for c in sim.calls]
    assert 1 == len(sim.calls_to("get_permanent_code"))


def test_calls_name_the_code_by_key_and_the_call_that_spent_it(
    sim: WeComSimulator, http: httpx.Client
) -> None:
    """get_permanent_code calls carry the code's ledger key (not the code), whether that
    call spent it, and how late it was answered; a faulted call spends nothing."""
    tok, code = token(sim, http), sim.issue_auth_code(SUITE_ID, CORPID)
    sim.fail_next("get_permanent_code", errcode=-1)
    sim.fail_next("get_permanent_code", delay_s=0.05)
    for _ in range(3):
        post(http, "get_permanent_code", {"auth_code": code}, tok)
    calls = sim.calls_to("get_permanent_code")
    expected = [(-1, False, 0.0), (0, True, 0.05), (40078, False, 0.0)]
    assert expected == [(c.errcode, c.spent, c.delay_s) for c in calls]
    assert {code_key(code)} == {c.code_key for c in calls}
    assert code not in repr(sim.calls)
    assert None is sim.calls_to("get_suite_token")[0].code_key


def test_calls_from_many_threads(sim: WeComSimulator) -> None:
    """Concurrent clients are all answered and all logged."""
    ticket = sim.push_ticket(SUITE_ID)

    def work() -> None:
        with WeComClient(base_url=sim.base_url) as client:
            for _ in range(5):
                client.get_suite_token(SUITE_ID, SECRET, ticket)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert 40 == len(sim.calls_to("get_suite_token"))
    assert {0} == {call.errcode for call in sim.calls}


def test_a_client_killed_mid_request_prints_nothing(
    sim: WeComSimulator, http: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    """A connection reset by a killed client is not reported as a server error, and the
    server keeps answering."""
    with socket.create_connection((sim.host, sim.port)) as raw:
        raw.sendall(b"POST /cgi-bin/service/get_suite_token HTTP/1.1\r\n")
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    time.sleep(0.3)
    assert 41021 == errcode(post(http, "get_suite_token", {}))
    assert "" == capsys.readouterr().err


def test_callback_xml(sim: WeComSimulator) -> None:
    """callback_xml renders the decrypted callback for an issued ticket or auth code."""
    ticket = sim.push_ticket(SUITE_ID, timestamp=1704421425)
    code = sim.issue_auth_code(SUITE_ID, CORPID, timestamp=1704421430, state="st")
    ticket_fields = {e.tag: e.text for e in ET.fromstring(sim.callback_xml(ticket))}
    code_fields = {e.tag: e.text for e in ET.fromstring(sim.callback_xml(code))}
    assert {
        "SuiteId": SUITE_ID,
        "InfoType": "suite_ticket",
        "TimeStamp": "1704421425",
        "SuiteTicket": ticket,
    } == ticket_fields
    assert {
        "SuiteId": SUITE_ID,
        "AuthCode": code,
        "InfoType": "create_auth",
        "TimeStamp": "1704421430",
        "State": "st",
    } == code_fields
    with pytest.raises(KeyError):
        sim.callback_xml("never-issued")


def test_stop_is_prompt_and_idempotent() -> None:
    """stop() returns quickly, twice, and the port is then closed."""
    simulator = WeComSimulator()
    simulator.start()
    url = simulator.base_url
    started = time.monotonic()
    simulator.stop()
    simulator.stop()
    assert 2 > time.monotonic() - started
    with pytest.raises(httpx.ConnectError), httpx.Client(trust_env=False) as raw:
        raw.get(url)


# --- `iotwx-watch simulate` ---------------------------------------------------------------


def line_reader(proc: subprocess.Popen[str]) -> Callable[[], str]:
    """A function returning the next stdout line of ``proc``, failing after 15 s."""
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line.strip())

    threading.Thread(target=pump, daemon=True).start()

    def next_line() -> str:
        try:
            return lines.get(timeout=15)
        except queue.Empty:
            raise AssertionError("no output line within 15 s") from None

    return next_line


def test_simulate_command_serves_until_ctrl_c() -> None:
    """`simulate` prints base_url and a ticket XML, serves, and exits 0 on SIGINT."""
    command = [sys.executable, "-c", "from iotwx_watch.cli import main; main()"]
    args = ["--log-format", "json", "simulate", "--suite", f"{SUITE_ID}:{SECRET}"]
    proc = subprocess.Popen(command + args, stdout=subprocess.PIPE, text=True, bufsize=1)
    try:
        read_line = line_reader(proc)
        base_url = read_line()
        ticket = ET.fromstring(read_line()).findtext("SuiteTicket") or ""
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url)
        with WeComClient(base_url=base_url, timeout_s=5) as client:
            assert 7200 == client.get_suite_token(SUITE_ID, SECRET, ticket).expires_in
        proc.send_signal(signal.SIGINT)
        assert 0 == proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_simulate_rejects_bad_suite() -> None:
    """A --suite without ':' is a usage error (exit 2) that does not echo the secret part."""
    result = CliRunner().invoke(main, ["simulate", "--suite", "dkonly"])
    assert 2 == result.exit_code
    assert "ID:SECRET" in result.output


def test_json_output_is_utf8(sim: WeComSimulator, http: httpx.Client) -> None:
    """Chinese corp names go out as UTF-8 JSON."""
    tok = token(sim, http)
    code = sim.issue_auth_code(SUITE_ID, CORPID, corp_name="示例科技")
    response = http.post(
        "get_permanent_code", json={"auth_code": code}, params={"suite_access_token": tok}
    )
    assert "示例科技" == json.loads(response.content.decode("utf-8"))["auth_corp_info"]["corp_name"]
