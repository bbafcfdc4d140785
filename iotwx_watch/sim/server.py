"""A WeCom simulator on loopback, for the tests and ``iotwx-watch demo`` / ``simulate``.

A real HTTP server (stdlib ``ThreadingHTTPServer``, one daemon thread) that speaks the
service API the client uses: ``get_suite_token``, ``get_permanent_code`` (v1 and v2)
and ``get_auth_info`` (v1 and v2), with WeCom's error codes and errmsg format, so the
client is tested over real sockets rather than mocks. The rules live in
:mod:`iotwx_watch.sim.core`; this module is the server, the facade tests drive, and
the callback XML a test writes into a receive.log.

Fault switches (:meth:`WeComSimulator.fail_next`, :meth:`~WeComSimulator.block_ip`,
:meth:`~WeComSimulator.expire_tokens`) make the failure paths reproducible.
"""

from __future__ import annotations

import json
import secrets
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from iotwx_watch.sim.core import (
    ENDPOINTS,
    Answer,
    SimCall,
    SimCore,
    SimSuite,
    new_fault,
)

__all__ = [
    "ENDPOINTS",
    "SimCall",
    "SimSuite",
    "WeComSimulator",
    "auth_change_xml",
    "auth_code_xml",
    "ticket_xml",
]

_PREFIX = "/cgi-bin/service/"


def ticket_xml(suite_id: str, suite_ticket: str, timestamp: int) -> str:
    """The decrypted ``suite_ticket`` callback, as the callback script logs it."""
    return (
        f"<xml><SuiteId><![CDATA[{suite_id}]]></SuiteId>"
        f"<InfoType><![CDATA[suite_ticket]]></InfoType>"
        f"<TimeStamp>{timestamp}</TimeStamp>"
        f"<SuiteTicket><![CDATA[{suite_ticket}]]></SuiteTicket></xml>"
    )


def auth_code_xml(
    suite_id: str, auth_code: str, info_type: str, timestamp: int, state: str | None = None
) -> str:
    """The decrypted ``create_auth`` / ``reset_permanent_code`` callback (no corpid in it)."""
    state_xml = f"<State><![CDATA[{state}]]></State>" if state is not None else ""
    return (
        f"<xml><SuiteId><![CDATA[{suite_id}]]></SuiteId>"
        f"<AuthCode><![CDATA[{auth_code}]]></AuthCode>"
        f"<InfoType><![CDATA[{info_type}]]></InfoType>"
        f"<TimeStamp>{timestamp}</TimeStamp>{state_xml}</xml>"
    )


def auth_change_xml(suite_id: str, corpid: str, info_type: str, timestamp: int) -> str:
    """The decrypted ``change_auth`` / ``cancel_auth`` callback."""
    return (
        f"<xml><SuiteId><![CDATA[{suite_id}]]></SuiteId>"
        f"<InfoType><![CDATA[{info_type}]]></InfoType>"
        f"<TimeStamp>{timestamp}</TimeStamp>"
        f"<AuthCorpId><![CDATA[{corpid}]]></AuthCorpId></xml>"
    )


class WeComSimulator:
    """WeCom's service API on ``http://127.0.0.1:<port>``; use as a context manager.

    Args:
        clock: the simulator's notion of now (ticket, token and code lifetimes).
        ticket_ttl_s / token_ttl_s / auth_code_ttl_s: WeCom's 30 min / 7200 s / 10 min.
        omit_success_errcode: answer v1 get_permanent_code without any ``errcode``
            key on success, as WeCom does ("没返回 errcode 视为调用成功").
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
        ticket_ttl_s: float = 1800,
        token_ttl_s: int = 7200,
        auth_code_ttl_s: float = 600,
        omit_success_errcode: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self._core = SimCore(
            clock=clock,
            ticket_ttl_s=ticket_ttl_s,
            token_ttl_s=token_ttl_s,
            auth_code_ttl_s=auth_code_ttl_s,
            omit_success_errcode=omit_success_errcode,
        )
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._xml: dict[str, str] = {}

    # --- lifecycle -----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The URL to give the client (``[wecom] base_url``); valid once started."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Bind and serve on a daemon thread; ``port`` holds the real port afterwards."""
        if self._server is not None:
            return
        server = _Server((self.host, self.port), _Handler)
        server.core = self._core
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.name = f"wecom-sim:{self.port}"
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> WeComSimulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- the provider's world ---------------------------------------------------------

    @property
    def omit_success_errcode(self) -> bool:
        return self._core.omit_success_errcode

    @omit_success_errcode.setter
    def omit_success_errcode(self, value: bool) -> None:
        with self._core.lock:
            self._core.omit_success_errcode = value

    def add_suite(self, suite_id: str, suite_secret: str) -> None:
        """Register a 代开发 template and its secret."""
        with self._core.lock:
            self._core.suites[suite_id] = SimSuite(suite_id, suite_secret)

    def push_ticket(self, suite_id: str, *, timestamp: int | None = None) -> str:
        """Issue a new suite_ticket (fresh from ``timestamp``, default now) and return it."""
        value = secrets.token_urlsafe(32)
        with self._core.lock:
            ts = int(self._core.clock()) if timestamp is None else timestamp
            self._core.add_ticket(suite_id, value, ts, fresh_from=float(ts))
        self._xml[value] = ticket_xml(suite_id, value, ts)
        return value

    def accept_ticket(self, suite_id: str, ticket: str, timestamp: int) -> None:
        """Treat a ticket found in a sample log as just pushed (its timestamp is history)."""
        with self._core.lock:
            self._core.add_ticket(suite_id, ticket, timestamp, fresh_from=self._core.clock())
        self._xml[ticket] = ticket_xml(suite_id, ticket, timestamp)

    def issue_auth_code(
        self,
        suite_id: str,
        corpid: str,
        *,
        corp_name: str = "示例科技有限公司",
        agentid: int = 1000002,
        info_type: str = "create_auth",
        timestamp: int | None = None,
        state: str | None = None,
    ) -> str:
        """A single-use auth code for ``corpid``, valid ``auth_code_ttl_s`` from ``timestamp``."""
        value = secrets.token_urlsafe(48)
        with self._core.lock:
            ts = int(self._core.clock()) if timestamp is None else timestamp
            self._core.add_code(
                value, suite_id=suite_id, corpid=corpid, corp_name=corp_name, agentid=agentid,
                info_type=info_type, timestamp=ts, valid_from=float(ts), state=state,
            )
        self._xml[value] = auth_code_xml(suite_id, value, info_type, ts, state)
        return value

    def accept_auth_code(
        self,
        suite_id: str,
        auth_code: str,
        corpid: str,
        *,
        corp_name: str = "示例科技有限公司",
        agentid: int = 1000002,
        info_type: str = "create_auth",
        timestamp: int = 0,
        state: str | None = None,
    ) -> None:
        """Register a code found in a sample log; valid ``auth_code_ttl_s`` from now."""
        with self._core.lock:
            self._core.add_code(
                auth_code, suite_id=suite_id, corpid=corpid, corp_name=corp_name, agentid=agentid,
                info_type=info_type, timestamp=timestamp, valid_from=self._core.clock(),
                state=state,
            )
        self._xml[auth_code] = auth_code_xml(suite_id, auth_code, info_type, timestamp, state)

    def callback_xml(self, value: str) -> str:
        """The callback XML for a ticket or auth code this simulator issued or accepted."""
        try:
            return self._xml[value]
        except KeyError:
            raise KeyError("not a ticket or auth code of this simulator") from None

    def cancel_auth(self, corpid: str) -> None:
        """The corp cancels: its permanent_code stops working (40084). A corp whose code is
        not redeemed yet cancels right after (its code still redeems, as WeCom's may)."""
        with self._core.lock:
            corp = self._core.corps.get(corpid)
            if corp is None:
                self._core.cancel_on_redeem.add(corpid)
            else:
                corp.cancelled = True

    def permanent_code_for(self, corpid: str) -> str | None:
        """The permanent_code last issued to ``corpid``, for assertions."""
        with self._core.lock:
            corp = self._core.corps.get(corpid)
            return corp.permanent_code if corp is not None else None

    # --- fault switches -----------------------------------------------------------------

    def fail_next(
        self,
        endpoint: str,
        *,
        errcode: int | None = None,
        http_status: int | None = None,
        times: int | None = 1,
        delay_s: float = 0.0,
    ) -> None:
        """Answer the next ``times`` calls (None: until :meth:`clear_faults`) of ``endpoint``.

        ``errcode``: a WeCom error (HTTP ``http_status`` or 200); ``http_status`` alone:
        a bare non-JSON HTTP error; ``delay_s`` alone: a normal answer, late. ``endpoint``
        is a name from :data:`ENDPOINTS` or ``"*"``.
        """
        fault = new_fault(endpoint, errcode, http_status, times, delay_s)
        with self._core.lock:
            self._core.faults.append(fault)

    def clear_faults(self) -> None:
        """Drop every pending fault switch."""
        with self._core.lock:
            self._core.faults.clear()

    def block_ip(self, ip: str | None = "127.0.0.1", *, report_as: str | None = None) -> None:
        """Refuse calls from ``ip`` (None: from anyone) with 60020.

        ``report_as`` makes the errmsg's ``from ip:`` show another address, as when
        the daemon sits behind NAT.
        """
        with self._core.lock:
            self._core.blocked.add(ip)
            self._core.report_ip_as = report_as

    def unblock_ip(self, ip: str | None = None) -> None:
        """Lift the block on ``ip``, or every block when None."""
        with self._core.lock:
            if ip is None:
                self._core.blocked.clear()
                self._core.report_ip_as = None
            else:
                self._core.blocked.discard(ip)

    def expire_tokens(self) -> None:
        """Every suite_access_token issued so far is now expired (42009 on use)."""
        with self._core.lock:
            for token in self._core.tokens.values():
                token.expires_at = float("-inf")

    @property
    def calls(self) -> list[SimCall]:
        """A snapshot of the requests answered so far, in order."""
        with self._core.lock:
            return list(self._core.calls)

    def calls_to(self, endpoint: str) -> list[SimCall]:
        """The calls made to one endpoint."""
        return [call for call in self.calls if call.endpoint == endpoint]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    core: SimCore

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that vanished mid-request (killed, gave up) is no error of ours: the
        default would print a traceback per killed daemon. Anything else still prints."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Turns HTTP into :meth:`SimCore.answer` calls; JSON in, JSON out."""

    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms stall
    server_version = "wecom-sim"

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        endpoint = parts.path[len(_PREFIX) :] if parts.path.startswith(_PREFIX) else parts.path
        query = dict(parse_qsl(parts.query))
        self._send(self.server.core.answer(endpoint, query, body, self.client_address[0]))

    def do_GET(self) -> None:
        core = self.server.core
        with core.lock:
            answer = core.error(404, self.client_address[0], status=404)
        self._send(answer)

    def _send(self, answer: Answer) -> None:
        if answer.delay_s > 0:
            time.sleep(answer.delay_s)  # a slow WeCom, on the server's own thread
        if answer.payload is not None:
            data = json.dumps(answer.payload, ensure_ascii=False).encode("utf-8")
            content_type = "application/json; charset=UTF-8"
        else:
            data, content_type = answer.raw, "text/html; charset=UTF-8"
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout test): nothing to do

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request line carries the suite_access_token."""
