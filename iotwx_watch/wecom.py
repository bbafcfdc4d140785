"""The WeCom HTTP client: the two service calls over one ``httpx.Client``, nothing else.

This is the adapter that owns HTTP. It makes exactly one request per call (retries,
backoff and deadlines belong to the engine) and turns every failure into
:class:`~iotwx_watch.errors.WeComError`, so nothing above it ever sees an httpx
exception. Success is judged by the payload, not the HTTP status: WeCom's v1
``get_permanent_code`` omits ``errcode`` on success.

Secrets (suite_secret, tickets, tokens, auth codes, permanent codes) are registered
with the client's :class:`~iotwx_watch.log.SecretRegistry` as they pass through, and
are scrubbed from every error text; the suite_access_token travels in the URL query, so URLs are
never put in a message.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlsplit

from iotwx_watch.config.checks import is_loopback
from iotwx_watch.engine.port import AuthInfo, Authorization, CallRecord, SuiteToken
from iotwx_watch.errors import (
    ERRCODE_ANSWER_LOST,
    ERRCODE_BAD_RESPONSE,
    ERRCODE_HTTP_STATUS,
    ERRCODE_TRANSPORT,
    ConfigError,
    WeComError,
)
from iotwx_watch.log import SecretRegistry, get_logger

if TYPE_CHECKING:
    import httpx

DEFAULT_BASE_URL = "https://qyapi.weixin.qq.com"
_SERVICE = "/cgi-bin/service/"

# Endpoint names as reported in CallRecord and logs (the path after /cgi-bin/service/).
GET_SUITE_TOKEN = "get_suite_token"
GET_PERMANENT_CODE = "get_permanent_code"
GET_PERMANENT_CODE_V2 = "v2/get_permanent_code"
GET_AUTH_INFO = "get_auth_info"
GET_AUTH_INFO_V2 = "v2/get_auth_info"

DEFAULT_EXPIRES_IN = 7200
_QUERY_SECRET = re.compile(r"(suite_access_token|access_token)=[^&\s'\"]*")
_ERRMSG_MAX = 500
_T = TypeVar("_T")


def _log() -> Any:
    """The logger, looked up at each use.

    ``get_logger`` binds the structlog configuration current when it is called, and
    this module is imported before the CLI configures logging (and before a test's
    ``capture_logs``); a module-level logger would bypass both.
    """
    return get_logger("wecom")


def check_base_url(url: str) -> str:
    """Return ``url`` without a trailing slash; https only, plain http only to loopback.

    config.py checks this too; the client re-checks because it can be built
    without a config (tests, ``redeem``), and a token must never cross the network
    in clear.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return url.rstrip("/")
    if parts.scheme == "http" and host and is_loopback(host):
        return url.rstrip("/")
    raise ConfigError(f"WeCom base_url must be https (plain http only to loopback), got {url!r}")


def _after_sending(exc: Exception) -> bool:
    """Whether the failure came after the request left this host: WeCom may have acted on
    it. (Every call uses a fresh connection, so a dropped idle keep-alive connection
    cannot look like one.)"""
    import httpx

    return isinstance(exc, httpx.ReadTimeout | httpx.ReadError | httpx.RemoteProtocolError)


def _scrub(text: str, registry: SecretRegistry, *secrets: str) -> str:
    """Remove secret values and token query parameters from a message."""
    for value in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(value, "***")
    return _QUERY_SECRET.sub(r"\1=***", registry.scrub(text))


class WeComClient:
    """Implements :class:`iotwx_watch.engine.port.WeComApi` over httpx.

    Args:
        base_url: WeCom's API root; the simulator's ``base_url`` in tests and demo.
        timeout_s: applied to connect, read, write and pool waits alike.
        permanent_code_api: ``v1`` (one call, agentid included) or ``v2``
            (``v2/get_permanent_code`` then ``v2/get_auth_info`` for the agentid).
        transport: an ``httpx.BaseTransport`` (``httpx.MockTransport`` in tests).
        on_call: told about every request, success or not (metrics, the engine).
        secrets: where secret values seen in requests and answers are registered, so
            the log masker and error texts hide them.
    """

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout_s: float = 10.0,
        permanent_code_api: Literal["v1", "v2"] = "v1",
        transport: httpx.BaseTransport | None = None,
        on_call: Callable[[CallRecord], None] | None = None,
        secrets: SecretRegistry | None = None,
    ) -> None:
        self.secrets = secrets or SecretRegistry()
        self.base_url = check_base_url(base_url)
        if permanent_code_api not in ("v1", "v2"):
            raise ConfigError(f"permanent_code_api must be v1 or v2, got {permanent_code_api!r}")
        if not timeout_s > 0:
            raise ConfigError(f"WeCom timeout_s must be positive, got {timeout_s!r}")
        self.permanent_code_api = permanent_code_api
        self._on_call = on_call
        self._timeout_s = timeout_s
        self._transport = transport
        self._client: httpx.Client | None = None

    def prepare(self) -> None:
        """Build the HTTP client now rather than at the first call (the daemon, before it
        says it is ready: the first code must not wait for httpx and its TLS context)."""
        self._http()

    def _http(self) -> httpx.Client:
        """The httpx client, made at the first call: most `once` runs make no call, and
        httpx with its TLS context costs about 0.1 s to import and build."""
        if self._client is None:
            import httpx

            timeout_s = self._timeout_s
            loopback = is_loopback(urlsplit(self.base_url).hostname or "")
            self._client = httpx.Client(
                base_url=self.base_url,
                timeout=httpx.Timeout(
                    connect=timeout_s, read=timeout_s, write=timeout_s, pool=timeout_s
                ),
                transport=self._transport,
                follow_redirects=False,
                trust_env=not loopback,  # an http_proxy in the environment must not catch loopback
                headers={"User-Agent": "iotwx-watch"},
                # A few calls per ten minutes: a fresh connection each time costs little and
                # means a dropped connection is never a stale pooled one (_after_sending).
                limits=httpx.Limits(max_keepalive_connections=0),
            )
        return self._client

    def __enter__(self) -> WeComClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool (if a call made one)."""
        if self._client is not None:
            self._client.close()

    def get_suite_token(self, suite_id: str, suite_secret: str, suite_ticket: str) -> SuiteToken:
        """POST get_suite_token with the suite's secret and newest ticket."""
        self.secrets.add(suite_secret, suite_ticket)
        token = self._post(
            GET_SUITE_TOKEN,
            token=None,
            body={"suite_id": suite_id, "suite_secret": suite_secret, "suite_ticket": suite_ticket},
            secrets=(suite_secret, suite_ticket),
            parse=_suite_token,
        )
        self.secrets.add(token.value)
        return token

    def get_permanent_code(self, suite_access_token: str, auth_code: str) -> Authorization:
        """Redeem a single-use auth code for the corp's permanent_code (the app Secret)."""
        self.secrets.add(suite_access_token, auth_code)
        if self.permanent_code_api == "v2":
            return self._get_permanent_code_v2(suite_access_token, auth_code)
        auth = self._post(
            GET_PERMANENT_CODE,
            token=suite_access_token,
            body={"auth_code": auth_code},
            secrets=(auth_code,),
            parse=_authorization_v1,
        )
        self.secrets.add(auth.permanent_code)
        return auth

    def get_auth_info(
        self, suite_access_token: str, corpid: str, permanent_code: str
    ) -> AuthInfo:
        """get_auth_info (v1 or v2, as configured) for a corp whose secret we hold."""
        endpoint = GET_AUTH_INFO_V2 if self.permanent_code_api == "v2" else GET_AUTH_INFO
        self.secrets.add(suite_access_token, permanent_code)
        return self._post(
            endpoint,
            token=suite_access_token,
            body={"auth_corpid": corpid, "permanent_code": permanent_code},
            secrets=(permanent_code,),
            parse=lambda payload: _corp_auth_info(payload, endpoint, corpid),
        )

    def _get_permanent_code_v2(self, suite_access_token: str, auth_code: str) -> Authorization:
        first = self._post(
            GET_PERMANENT_CODE_V2,
            token=suite_access_token,
            body={"auth_code": auth_code},
            secrets=(auth_code,),
            parse=_authorization_v2,
        )
        self.secrets.add(first.permanent_code)
        try:
            agentid, corp_name = self._post(
                GET_AUTH_INFO_V2,
                token=suite_access_token,
                body={"auth_corpid": first.corpid, "permanent_code": first.permanent_code},
                secrets=(first.permanent_code,),
                parse=_auth_info,
            )
        except WeComError as exc:
            # The auth code is spent and the permanent_code issued: losing the secret
            # over a missing agentid would be far worse than a null agentid.
            _log().warning(
                "wecom.auth_info_failed",
                corpid=first.corpid,
                errcode=exc.errcode,
                kind=exc.kind.value,
            )
            return first
        return replace(first, agentid=agentid, corp_name=first.corp_name or corp_name)

    def _post(
        self,
        endpoint: str,
        *,
        token: str | None,
        body: dict[str, Any],
        secrets: tuple[str, ...],
        parse: Callable[[dict[str, Any]], _T],
    ) -> _T:
        """One request, parsed; WeComError on any failure. Recorded either way."""
        secrets = (*secrets, token or "")
        params = {"suite_access_token": token} if token is not None else None
        client = self._http()
        import httpx

        started = time.monotonic()
        status: int | None = None
        try:
            try:
                response = client.post(_SERVICE + endpoint, params=params, json=body)
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                detail = _scrub(str(exc), self.secrets, *secrets) or "no detail"
                errcode = ERRCODE_ANSWER_LOST if _after_sending(exc) else ERRCODE_TRANSPORT
                raise WeComError(
                    errcode, f"{endpoint}: {type(exc).__name__}: {detail}"
                ) from exc
            status = response.status_code
            result = parse(_decode(endpoint, response, self.secrets, secrets))
        except WeComError as exc:
            self._record(endpoint, exc.errcode, started, status)
            raise
        self._record(endpoint, 0, started, status)
        return result

    def _record(self, endpoint: str, errcode: int, started: float, status: int | None) -> None:
        record = CallRecord(endpoint, errcode, time.monotonic() - started, status)
        fields = {
            "endpoint": endpoint,
            "errcode": errcode,
            "latency_s": round(record.latency_s, 4),
            "http_status": status,
        }
        if errcode == 0:
            _log().debug("wecom.call", **fields)
        else:
            _log().warning("wecom.call_failed", **fields)
        if self._on_call is not None:
            self._on_call(record)


def _decode(
    endpoint: str, response: httpx.Response, registry: SecretRegistry, secrets: tuple[str, ...]
) -> dict[str, Any]:
    """Judge an answer by its payload: errcode != 0 fails, a missing errcode succeeds."""
    status = response.status_code
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        if status >= 400:
            raise WeComError(
                ERRCODE_HTTP_STATUS,
                f"{endpoint}: HTTP {status} without a WeCom errcode",
                http_status=status,
            )
        raise WeComError(
            ERRCODE_BAD_RESPONSE, f"{endpoint}: HTTP {status}, body is not a JSON object"
        )
    raw_errcode = payload.get("errcode", 0)
    if isinstance(raw_errcode, bool) or not isinstance(raw_errcode, int | str):
        raise WeComError(ERRCODE_BAD_RESPONSE, f"{endpoint}: errcode is not a number")
    try:
        errcode = int(raw_errcode)
    except ValueError:
        raise WeComError(ERRCODE_BAD_RESPONSE, f"{endpoint}: errcode is not a number") from None
    if errcode != 0:
        errmsg = _scrub(str(payload.get("errmsg", "")), registry, *secrets)[:_ERRMSG_MAX]
        raise WeComError(errcode, errmsg, http_status=status if status >= 400 else None)
    if status >= 400:
        raise WeComError(
            ERRCODE_HTTP_STATUS,
            f"{endpoint}: HTTP {status} without a WeCom errcode",
            http_status=status,
        )
    return payload


def _suite_token(payload: dict[str, Any]) -> SuiteToken:
    value = _required_str(payload, GET_SUITE_TOKEN, "suite_access_token")
    expires_in = payload.get("expires_in", DEFAULT_EXPIRES_IN)
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in <= 0:
        raise WeComError(ERRCODE_BAD_RESPONSE, f"{GET_SUITE_TOKEN}: expires_in is not a count")
    return SuiteToken(value=value, expires_in=expires_in)


def _authorization_v1(payload: dict[str, Any]) -> Authorization:
    """v1 answer: corp in auth_corp_info, agentid in auth_info.agent[0]."""
    permanent_code = _required_str(payload, GET_PERMANENT_CODE, "permanent_code")
    corp = payload.get("auth_corp_info")
    if not isinstance(corp, dict):
        raise WeComError(ERRCODE_BAD_RESPONSE, f"{GET_PERMANENT_CODE}: auth_corp_info is missing")
    return Authorization(
        corpid=_required_str(corp, GET_PERMANENT_CODE, "corpid", where="auth_corp_info."),
        corp_name=_optional_str(corp.get("corp_name")),
        agentid=_agentid(payload, GET_PERMANENT_CODE),
        permanent_code=permanent_code,
        state=_optional_str(payload.get("state")),
    )


def _authorization_v2(payload: dict[str, Any]) -> Authorization:
    """v2 answer: no auth_info, so agentid stays None until get_auth_info."""
    permanent_code = _required_str(payload, GET_PERMANENT_CODE_V2, "permanent_code")
    corp_info = payload.get("auth_corp_info")
    corp = corp_info if isinstance(corp_info, dict) else {}
    corpid = _optional_str(corp.get("corpid")) or _optional_str(payload.get("auth_corpid"))
    if corpid is None:
        raise WeComError(
            ERRCODE_BAD_RESPONSE, f"{GET_PERMANENT_CODE_V2}: auth_corp_info.corpid is missing"
        )
    return Authorization(
        corpid=corpid,
        corp_name=_optional_str(corp.get("corp_name")),
        agentid=None,
        permanent_code=permanent_code,
        state=_optional_str(payload.get("state")),
    )


def _auth_info(payload: dict[str, Any]) -> tuple[int | None, str | None]:
    """get_auth_info answer: the agentid, and the corp name in case v2 left it out."""
    agentid = _agentid(payload, GET_AUTH_INFO_V2)
    if agentid is None:
        raise WeComError(ERRCODE_BAD_RESPONSE, f"{GET_AUTH_INFO_V2}: auth_info.agent is missing")
    corp = payload.get("auth_corp_info")
    return agentid, _optional_str(corp.get("corp_name")) if isinstance(corp, dict) else None


def _corp_auth_info(payload: dict[str, Any], endpoint: str, corpid: str) -> AuthInfo:
    """get_auth_info answer for a cancel/change check: the corp as WeCom knows it now."""
    corp = payload.get("auth_corp_info")
    corp = corp if isinstance(corp, dict) else {}
    return AuthInfo(
        corpid=_optional_str(corp.get("corpid")) or corpid,
        corp_name=_optional_str(corp.get("corp_name")),
        agentid=_agentid(payload, endpoint),
    )


def _required_str(payload: dict[str, Any], endpoint: str, key: str, *, where: str = "") -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value:
        raise WeComError(ERRCODE_BAD_RESPONSE, f"{endpoint}: {where}{key} is missing")
    return value


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _agentid(payload: dict[str, Any], endpoint: str) -> int | None:
    """``auth_info.agent[0].agentid``: a single-app authorization has exactly one agent."""
    auth_info = payload.get("auth_info")
    agents = auth_info.get("agent") if isinstance(auth_info, dict) else None
    if not isinstance(agents, list) or not agents or not isinstance(agents[0], dict):
        return None
    agentid = agents[0].get("agentid")
    if isinstance(agentid, bool) or not isinstance(agentid, int):
        return None
    return agentid
