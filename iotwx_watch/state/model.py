"""Schema 1 of the state file (docs/state.md) as typed, mutable dataclasses.

Times are epoch seconds (floats) in memory and ISO-8601 UTC ("2026-11-28T14:00:00Z")
in the file. Keys this version does not know are kept in each entry's ``extra`` and
written back, so a newer writer's additions survive a round-trip. Reading checks
every shape and raises :class:`ShapeError` naming the place; :mod:`iotwx_watch.state.store`
turns that into a StateError naming the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, cast, get_args

SCHEMA_VERSION = 1
# Top-level key (kept in State.extra): per log path, why the daemon cannot read it.
SOURCE_ERRORS = "source_errors"

AuthCodeStatus = Literal["pending", "redeeming", "redeemed", "failed", "expired"]
CorpStatus = Literal["active", "cancelled"]
Whitelist = Literal["app", "provider"]
FINAL_STATUSES: frozenset[str] = frozenset({"redeemed", "failed", "expired"})
AUTH_CODE_TTL_S = 600  # WeCom: an auth code is valid 10 minutes

_T = TypeVar("_T")


def format_time(ts: float) -> str:
    """Epoch seconds → ``2026-11-28T14:00:00Z`` (whole seconds, UTC)."""
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> float:
    """ISO-8601 (``Z`` or an offset; naive means UTC) → epoch seconds."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class ShapeError(Exception):
    """A value in the file does not have the schema's shape; ``str`` names where."""


class _Reader:
    """Reads one JSON object's known keys with type checks; what is left over is ``extra``."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise ShapeError(f"{where} must be an object, not {type(data).__name__}")
        self.data: dict[str, Any] = data
        self.where = where
        self.used: set[str] = set()

    def _raw(self, key: str) -> Any:
        self.used.add(key)
        return self.data.get(key)

    def opt(self, key: str, kind: type[_T]) -> _T | None:
        value = self._raw(key)
        if value is None:
            return None
        # bool is an int in Python, but never a valid count or id here.
        if isinstance(value, bool) and kind is not bool:
            raise ShapeError(f"{self.where}.{key} must be {kind.__name__}, not true/false")
        if kind is float and isinstance(value, int):
            return cast(_T, float(value))
        if not isinstance(value, kind):
            raise ShapeError(f"{self.where}.{key} must be {kind.__name__}")
        return value

    def req(self, key: str, kind: type[_T]) -> _T:
        value = self.opt(key, kind)
        if value is None:
            raise ShapeError(f"{self.where}.{key} is missing")
        return value

    def time(self, key: str) -> float | None:
        text = self.opt(key, str)
        if text is None:
            return None
        try:
            return parse_time(text)
        except ValueError as exc:
            raise ShapeError(f"{self.where}.{key} is not an ISO-8601 time: {text!r}") from exc

    def choice(self, key: str, choices: Any, default: str | None = None) -> Any:
        value = self.opt(key, str) or default
        allowed = get_args(choices)
        if value not in allowed:
            raise ShapeError(f"{self.where}.{key} must be one of {', '.join(allowed)}")
        return value

    def objects(self, key: str) -> dict[str, Any]:
        value = self._raw(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ShapeError(f"{self.where}.{key} must be an object")
        return value

    def extra(self) -> dict[str, Any]:
        return {k: v for k, v in self.data.items() if k not in self.used}


def _put(out: dict[str, Any], key: str, value: Any, *, is_time: bool = False) -> None:
    """Set an optional key only when it has a value (keeps the file small and readable)."""
    if value is not None:
        out[key] = format_time(value) if is_time else value


@dataclass
class TicketEntry:
    """The newest suite_ticket of a suite; ``rejected`` once WeCom answered 40085 to it."""

    value: str = field(repr=False)
    timestamp: int
    received_at: float
    rejected: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "value": self.value,
            "timestamp": self.timestamp,
            "received_at": format_time(self.received_at),
        }
        if self.rejected:
            out["rejected"] = True
        return {**out, **self.extra}

    @classmethod
    def from_json(cls, data: Any, where: str) -> TicketEntry:
        r = _Reader(data, where)
        return cls(
            value=r.req("value", str),
            timestamp=r.req("timestamp", int),
            received_at=r.time("received_at") or 0.0,
            rejected=bool(r.opt("rejected", bool)),
            extra=r.extra(),
        )


@dataclass
class TokenEntry:
    """A cached suite_access_token and when WeCom said it expires."""

    value: str = field(repr=False)
    expires_at: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "expires_at": format_time(self.expires_at), **self.extra}

    @classmethod
    def from_json(cls, data: Any, where: str) -> TokenEntry:
        r = _Reader(data, where)
        return cls(value=r.req("value", str), expires_at=r.time("expires_at") or 0.0,
                   extra=r.extra())


@dataclass
class CorpEntry:
    """A corp that authorized a suite's app; ``permanent_code`` is the app's Secret."""

    corp_name: str | None = None
    agentid: int | None = None
    permanent_code: str | None = field(default=None, repr=False)
    obtained_at: float | None = None
    status: CorpStatus = "active"
    previous_obtained_at: float | None = None  # set when reset_permanent_code replaced it
    cancelled_at: float | None = None
    changed_at: float | None = None  # last change_auth
    auth_timestamp: int | None = None  # TimeStamp of the callback whose code gave this secret
    state: str | None = None  # the State of the authorization link / QR code
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"corp_name": self.corp_name, "agentid": self.agentid}
        _put(out, "permanent_code", self.permanent_code)
        _put(out, "obtained_at", self.obtained_at, is_time=True)
        out["status"] = self.status
        _put(out, "previous_obtained_at", self.previous_obtained_at, is_time=True)
        _put(out, "cancelled_at", self.cancelled_at, is_time=True)
        _put(out, "changed_at", self.changed_at, is_time=True)
        _put(out, "auth_timestamp", self.auth_timestamp)
        _put(out, "state", self.state)
        return {**out, **self.extra}

    @classmethod
    def from_json(cls, data: Any, where: str) -> CorpEntry:
        r = _Reader(data, where)
        return cls(
            corp_name=r.opt("corp_name", str),
            agentid=r.opt("agentid", int),
            permanent_code=r.opt("permanent_code", str),
            obtained_at=r.time("obtained_at"),
            status=r.choice("status", CorpStatus, "active"),
            previous_obtained_at=r.time("previous_obtained_at"),
            cancelled_at=r.time("cancelled_at"),
            changed_at=r.time("changed_at"),
            auth_timestamp=r.opt("auth_timestamp", int),
            state=r.opt("state", str),
            extra=r.extra(),
        )


@dataclass
class AuthCodeEntry:
    """One auth code in the redemption ledger (keyed by the first 16 hex of its SHA-256).

    ``code`` is kept only while ``pending`` so a restart can retry it; a used or dead
    code is not left readable. ``waiting_for`` is ``"ticket"`` after a 40085 or when no
    usable ticket is known: the next newer ticket makes it due at once.
    """

    status: AuthCodeStatus
    info_type: str
    timestamp: int
    first_seen: float
    updated_at: float
    attempts: int = 0
    corpid: str | None = None
    errcode: int | None = None
    error: str | None = None
    next_attempt_at: float | None = None
    code: str | None = field(default=None, repr=False)
    waiting_for: str | None = None
    hint: str | None = None
    state: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def deadline(self) -> float:
        """WeCom's auth code lives 10 minutes from its TimeStamp."""
        return float(self.timestamp + AUTH_CODE_TTL_S)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": self.status,
            "attempts": self.attempts,
            "info_type": self.info_type,
            "timestamp": self.timestamp,
            "first_seen": format_time(self.first_seen),
            "updated_at": format_time(self.updated_at),
        }
        _put(out, "corpid", self.corpid)
        _put(out, "errcode", self.errcode)
        _put(out, "error", self.error)
        _put(out, "hint", self.hint)
        _put(out, "state", self.state)
        if self.status == "pending":
            _put(out, "next_attempt_at", self.next_attempt_at, is_time=True)
            _put(out, "waiting_for", self.waiting_for)
            _put(out, "code", self.code)
        return {**out, **self.extra}

    @classmethod
    def from_json(cls, data: Any, where: str) -> AuthCodeEntry:
        r = _Reader(data, where)
        return cls(
            status=r.choice("status", AuthCodeStatus),
            attempts=r.opt("attempts", int) or 0,
            info_type=r.req("info_type", str),
            timestamp=r.req("timestamp", int),
            first_seen=r.time("first_seen") or 0.0,
            updated_at=r.time("updated_at") or 0.0,
            corpid=r.opt("corpid", str),
            errcode=r.opt("errcode", int),
            error=r.opt("error", str),
            next_attempt_at=r.time("next_attempt_at"),
            code=r.opt("code", str),
            waiting_for=r.opt("waiting_for", str),
            hint=r.opt("hint", str),
            state=r.opt("state", str),
            extra=r.extra(),
        )



@dataclass
class SuiteState:
    """Everything known about one suite (代开发 template)."""

    suite_ticket: TicketEntry | None = None
    suite_access_token: TokenEntry | None = None
    corps: dict[str, CorpEntry] = field(default_factory=dict)
    auth_codes: dict[str, AuthCodeEntry] = field(default_factory=dict)
    last_error: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "suite_ticket": self.suite_ticket.to_json() if self.suite_ticket else None,
            "suite_access_token": (
                self.suite_access_token.to_json() if self.suite_access_token else None
            ),
            "corps": {k: v.to_json() for k, v in self.corps.items()},
            "auth_codes": {k: v.to_json() for k, v in self.auth_codes.items()},
            "last_error": self.last_error,
            **self.extra,
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> SuiteState:
        r = _Reader(data, where)
        ticket = r._raw("suite_ticket")
        token = r._raw("suite_access_token")
        return cls(
            suite_ticket=TicketEntry.from_json(ticket, f"{where}.suite_ticket") if ticket else None,
            suite_access_token=(
                TokenEntry.from_json(token, f"{where}.suite_access_token") if token else None
            ),
            corps={k: CorpEntry.from_json(v, f"{where}.corps.{k}")
                   for k, v in r.objects("corps").items()},
            auth_codes={k: AuthCodeEntry.from_json(v, f"{where}.auth_codes.{k}")
                        for k, v in r.objects("auth_codes").items()},
            last_error=r.opt("last_error", dict),
            extra=r.extra(),
        )


@dataclass
class BlockedIpEntry:
    """An address WeCom refused with 60020, and where the operator must whitelist it."""

    whitelist: Whitelist
    first_seen: float
    last_seen: float
    count: int = 1
    hint: str | None = None
    corpid: str | None = None
    call: str | None = None  # provider side: which of our calls was refused
    resolved_at: float | None = None  # provider side: a later call of ours succeeded
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "whitelist": self.whitelist,
            "first_seen": format_time(self.first_seen),
            "last_seen": format_time(self.last_seen),
            "count": self.count,
        }
        _put(out, "hint", self.hint)
        _put(out, "corpid", self.corpid)
        _put(out, "call", self.call)
        _put(out, "resolved_at", self.resolved_at, is_time=True)
        return {**out, **self.extra}

    @classmethod
    def from_json(cls, data: Any, where: str) -> BlockedIpEntry:
        r = _Reader(data, where)
        return cls(
            whitelist=r.choice("whitelist", Whitelist),
            first_seen=r.time("first_seen") or 0.0,
            last_seen=r.time("last_seen") or 0.0,
            count=r.opt("count", int) or 0,
            hint=r.opt("hint", str),
            corpid=r.opt("corpid", str),
            call=r.opt("call", str),
            resolved_at=r.time("resolved_at"),
            extra=r.extra(),
        )


@dataclass
class State:
    """The whole state document. ``sources`` holds the follower's opaque cursors per path."""

    schema_version: int = SCHEMA_VERSION
    updated_at: float | None = None
    suites: dict[str, SuiteState] = field(default_factory=dict)
    blocked_ips: dict[str, BlockedIpEntry] = field(default_factory=dict)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def suite(self, suite_id: str) -> SuiteState:
        """The suite's entry, created empty on first use."""
        return self.suites.setdefault(suite_id, SuiteState())

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "updated_at": format_time(self.updated_at) if self.updated_at is not None else None,
            "suites": {k: v.to_json() for k, v in self.suites.items()},
            "blocked_ips": {k: v.to_json() for k, v in self.blocked_ips.items()},
            "sources": self.sources,
            **self.extra,
        }

    @classmethod
    def from_json(cls, data: Any) -> State:
        """Build from a parsed document; raises :class:`ShapeError` naming the bad place."""
        r = _Reader(data, "top level")
        version = r._raw("schema_version")
        if version != SCHEMA_VERSION:
            raise ShapeError(f"unknown schema_version {version!r} (this version reads 1)")
        sources = r.objects("sources")
        for path, cursor in sources.items():
            if not isinstance(cursor, dict):
                raise ShapeError(f"sources.{path} must be an object")
        return cls(
            updated_at=r.time("updated_at"),
            suites={k: SuiteState.from_json(v, f"suites.{k}")
                    for k, v in r.objects("suites").items()},
            blocked_ips={k: BlockedIpEntry.from_json(v, f"blocked_ips.{k}")
                         for k, v in r.objects("blocked_ips").items()},
            sources=sources,
            extra=r.extra(),
        )


def dumps(state: State) -> str:
    """The state as the file holds it (also what ``status --json`` prints)."""
    return json.dumps(state.to_json(), ensure_ascii=False, indent=2) + "\n"
