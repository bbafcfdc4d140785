"""Schema 1 of the state file (docs/state.md) as typed, mutable dataclasses.

The annotations are the whole schema: :mod:`iotwx_watch.state.codec` reads them to check
a file (with msgspec), to write one, and :mod:`iotwx_watch.state.schema` to publish the
JSON Schema. Times are epoch seconds (floats) in memory and ISO-8601 UTC
("2026-11-28T14:00:00Z") in the file. Keys this version does not know are kept in each
entry's ``extra`` and written back, so a newer writer's additions survive a round trip.
Reading raises :class:`ShapeError` naming the bad place; :mod:`iotwx_watch.state.store`
turns that into a StateError naming the file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

from iotwx_watch.state.codec import (
    MAX_TIME,
    EncodeMemo,
    Omitted,
    Range,
    ShapeError,
    Time,
    decode_entry,
    encode_entry,
    format_time,
    json_type,
    parse_time,
)

__all__ = [
    "AUTH_CODE_TTL_S",
    "FINAL_STATUSES",
    "SCHEMA_VERSION",
    "AuthCodeEntry",
    "AuthCodeStatus",
    "CancelCheck",
    "ConditionEntry",
    "NotifyState",
    "OutboxEntry",
    "ServiceProblem",
    "SinkRecord",
    "IgnoredRecords",
    "MissedRecord",
    "ReadProblem",
    "BlockedIpEntry",
    "CorpEntry",
    "CorpStatus",
    "EncodeMemo",
    "ShapeError",
    "State",
    "SuiteState",
    "TicketEntry",
    "TokenEntry",
    "Whitelist",
    "decode",
    "dumps",
    "encode",
    "encode_for_save",
    "format_time",
    "parse_time",
    "snapshot",
]

SCHEMA_VERSION = 1

AuthCodeStatus = Literal["pending", "redeeming", "redeemed", "failed", "expired"]
CorpStatus = Literal["active", "cancelled"]
Whitelist = Literal["app", "provider"]
FINAL_STATUSES: frozenset[str] = frozenset({"redeemed", "failed", "expired"})
AUTH_CODE_TTL_S = 600  # WeCom: an auth code is valid 10 minutes

Stamp = Annotated[int, Range(0, MAX_TIME)]  # a WeCom TimeStamp: whole epoch seconds
Count = Annotated[int, Range(0, 2**53 - 1)]
Int64 = Annotated[int, Range(-(2**63), 2**63 - 1)]


@dataclass
class TicketEntry:
    """The newest suite_ticket of a suite; ``rejected`` once WeCom answered 40085 to it."""

    value: str = field(repr=False)
    timestamp: Stamp
    received_at: Time
    rejected: Omitted[bool] = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TokenEntry:
    """A cached suite_access_token and when WeCom said it expires."""

    value: str = field(repr=False)
    expires_at: Time
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class CancelCheck:
    """A logged cancel_auth that waits for WeCom's word before the Secret is deleted.

    Log text can be forged; WeCom's get_auth_info cannot. Until it confirms, the corp
    stays as it is and the check is retried.
    """

    timestamp: Stamp  # the cancel_auth callback's TimeStamp
    first_seen: Time
    next_check_at: Time
    attempts: Count = 0
    error: Omitted[str | None] = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class CorpEntry:
    """A corp that authorized a suite's app; ``permanent_code`` is the app's Secret."""

    corp_name: str | None = None
    agentid: Int64 | None = None
    permanent_code: Omitted[str | None] = field(default=None, repr=False)
    obtained_at: Omitted[Time | None] = None
    status: CorpStatus = "active"
    # set when reset_permanent_code replaced it
    previous_obtained_at: Omitted[Time | None] = None
    cancelled_at: Omitted[Time | None] = None
    changed_at: Omitted[Time | None] = None  # last change_auth
    # TimeStamp of the callback whose code gave this secret
    auth_timestamp: Omitted[Stamp | None] = None
    state: Omitted[str | None] = None  # the State of the authorization link / QR code
    # a logged cancel_auth not yet confirmed by WeCom
    cancel_check: Omitted[CancelCheck | None] = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class AuthCodeEntry:
    """One auth code in the redemption ledger (keyed by the first 16 hex of its SHA-256).

    ``code`` is kept only while ``pending`` so a restart can retry it; a used or dead
    code is not left readable. ``waiting_for`` is ``"ticket"`` after a 40085 or when no
    usable ticket is known: the next newer ticket makes it due at once.
    """

    # The file's key order, older than this constructor's argument order.
    FILE_KEY_ORDER: ClassVar[tuple[str, ...]] = (
        "status", "attempts", "info_type", "timestamp", "first_seen", "updated_at", "corpid",
        "errcode", "error", "hint", "state", "next_attempt_at", "waiting_for", "code",
    )
    # Once it is no longer pending, the code and its retry plan leave the file.
    WRITTEN_WHILE: ClassVar[tuple[str, Any, tuple[str, ...]]] = (
        "status", "pending", ("next_attempt_at", "waiting_for", "code"),
    )

    status: AuthCodeStatus
    info_type: str
    timestamp: Stamp
    first_seen: Time
    updated_at: Time
    attempts: Count = 0
    corpid: Omitted[str | None] = None
    errcode: Omitted[Int64 | None] = None
    error: Omitted[str | None] = None
    next_attempt_at: Omitted[Time | None] = None
    code: Omitted[str | None] = field(default=None, repr=False)
    waiting_for: Omitted[str | None] = None
    hint: Omitted[str | None] = None
    state: Omitted[str | None] = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def deadline(self) -> float:
        """WeCom's auth code lives 10 minutes from its TimeStamp."""
        return float(self.timestamp + AUTH_CODE_TTL_S)


@dataclass
class SuiteState:
    """Everything known about one suite (代开发 template)."""

    suite_ticket: TicketEntry | None = None
    suite_access_token: TokenEntry | None = None
    corps: dict[str, CorpEntry] = field(default_factory=dict)
    auth_codes: dict[str, AuthCodeEntry] = field(default_factory=dict)
    last_error: dict[str, Any] | None = None
    # cancel_auth TimeStamps of corps not known yet, kept while a code being redeemed may
    # turn out to be theirs (a customer who authorized and cancelled at once)
    pending_cancels: Omitted[dict[str, Stamp]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class BlockedIpEntry:
    """An address WeCom refused with 60020, and where the operator must whitelist it."""

    whitelist: Whitelist
    first_seen: Time
    last_seen: Time
    count: Count = 1
    hint: Omitted[str | None] = None
    corpid: Omitted[str | None] = None
    call: Omitted[str | None] = None  # provider side: which of our calls was refused
    # provider side: a later call of ours succeeded
    resolved_at: Omitted[Time | None] = None
    # with a shared (Redis) state: instance → the logs it saw the address in (none for
    # our own refused calls), so an operator knows which server and file to look at
    seen_by: Omitted[dict[str, list[str]]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReadProblem:
    """Why the daemon cannot read a log (permissions, I/O), for `status` run as another user."""

    error: str
    since: Time
    errno: Omitted[Int64 | None] = None
    uid: Omitted[Int64 | None] = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class IgnoredRecords:
    """Log records of one kind that were not acted on (forged or impossible), counted."""

    count: Count
    last_at: Time
    last_suite_id: Omitted[str | None] = None
    last_source: Omitted[str | None] = None  # "<path>:<byte offset>"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ConditionEntry:
    """A condition operators hear about once when it starts, again every reminder
    interval while it lasts, and once when it clears; keyed like its health problem.

    Kept in the state so that every `once` pass and every restart of `run` knows what was
    already said: a stale ticket is one message, not one per pass.
    """

    code: str  # the health problem's code now (ticket_stale, ip_to_whitelist, …)
    level: str  # warn | critical
    since: Time  # first seen
    announced_at: Omitted[Time | None] = None  # the last message; unset while held back
    reminders: Omitted[Count] = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class OutboxEntry:
    """One message for one sink, kept until the sink took it or it expired.

    Rendered when it was queued (texts, no secret), so a retry after a restart sends the
    same words.
    """

    sink: str  # the [[notify]] name
    kind: str  # corp_obtained, ticket_stale, ticket_recovered, …
    key: str  # the item it is about (corp, code, address, ticket, log)
    severity: str  # info | ok | warn | critical
    title: str
    created_at: Time
    expires_at: Time
    lines: Omitted[list[str]] = field(default_factory=list)
    fields: Omitted[dict[str, Any]] = field(default_factory=dict)  # for webhook receivers
    attempts: Omitted[Count] = 0
    next_attempt_at: Omitted[Time | None] = None
    last_error: Omitted[str | None] = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class SinkRecord:
    """What became of the messages for one sink, for `status` and the metrics."""

    delivered: Omitted[Count] = 0
    probably_delivered: Omitted[Count] = 0  # the post was sent but its answer timed out
    expired: Omitted[Count] = 0  # given up undelivered
    failed_attempts: Omitted[Count] = 0
    last_delivered_at: Omitted[Time | None] = None
    last_error: Omitted[str | None] = None
    last_error_at: Omitted[Time | None] = None
    last_expired_at: Omitted[Time | None] = None
    last_expired_title: Omitted[str | None] = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class NotifyState:
    """The durable half of notifications: open conditions, the outbox, per-sink results."""

    conditions: Omitted[dict[str, ConditionEntry]] = field(default_factory=dict)
    outbox: Omitted[dict[str, OutboxEntry]] = field(default_factory=dict)
    sinks: Omitted[dict[str, SinkRecord]] = field(default_factory=dict)
    seq: Omitted[Count] = 0  # the last outbox id handed out
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ServiceProblem:
    """Something the daemon cannot do for itself (today: bind the metrics listener)."""

    error: str
    since: Time
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class MissedRecord:
    """A record that looked like a callback (or a 60020 line) but gave no event.

    Kept with its position and a masked excerpt (never a value) so `status` can name it
    and a reload with a new ``[[pattern]]`` can read it again while its code may still be
    valid; dropped once read, or after a week.
    """

    path: str
    offset: Count
    kind: str  # "callback" or "policy_engine"
    reason: str
    excerpt: str  # values masked
    first_seen: Time
    info_type: Omitted[str | None] = None
    suite_id: Omitted[str | None] = None
    dev: Omitted[Int64 | None] = None  # the file it was read from, to read it again
    inode: Omitted[Int64 | None] = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class State:
    """The whole state document. ``sources`` holds the follower's opaque cursors per path."""

    schema_version: int = SCHEMA_VERSION
    updated_at: Time | None = None
    suites: dict[str, SuiteState] = field(default_factory=dict)
    blocked_ips: dict[str, BlockedIpEntry] = field(default_factory=dict)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    # per log path, why the daemon cannot read it; empty (and left out) while all read
    source_errors: Omitted[dict[str, ReadProblem]] = field(default_factory=dict)
    # per reason (unknown_suite, future_timestamp, …), records that changed nothing
    ignored_records: Omitted[dict[str, IgnoredRecords]] = field(default_factory=dict)
    # conditions told to operators and messages not yet delivered; empty (left out) without
    # [[notify]]
    notifications: Omitted[NotifyState] = field(default_factory=NotifyState)
    # per facility (metrics_listen), what the daemon cannot do; left out while all works
    service_errors: Omitted[dict[str, ServiceProblem]] = field(default_factory=dict)
    # "<path>:<offset>" → a record no extractor understood; left out while there is none
    missed_records: Omitted[dict[str, MissedRecord]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def suite(self, suite_id: str) -> SuiteState:
        """The suite's entry, created empty on first use."""
        return self.suites.setdefault(suite_id, SuiteState())

    def to_json(self) -> dict[str, Any]:
        """The document as plain JSON values, sharing nothing with this state."""
        import msgspec

        document: dict[str, Any] = msgspec.to_builtins(encode_entry(self))
        return document

    @classmethod
    def from_json(cls, data: Any) -> State:
        """Build from a parsed document; raises :class:`ShapeError` naming the bad place."""
        import msgspec

        try:
            text = msgspec.json.encode(data)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ShapeError(f"is not a JSON document ({exc})") from exc
        return decode(text)


def decode(data: bytes | str) -> State:
    """Read a state file's bytes; anything but a schema-1 document is a :class:`ShapeError`."""
    import msgspec

    try:
        raw = msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # older msgspec: the latter
        raise ShapeError(f"is not valid JSON ({exc})") from exc
    except RecursionError as exc:
        raise ShapeError("is not valid JSON (nested too deeply)") from exc
    if type(raw) is not dict:
        raise ShapeError(f"top level must be an object, not {json_type(raw)}")
    if "schema_version" not in raw:
        raise ShapeError(f"schema_version is missing (this version reads {SCHEMA_VERSION})")
    version = raw["schema_version"]
    if type(version) is not int or version != SCHEMA_VERSION:
        shown = msgspec.json.encode(version).decode()
        raise ShapeError(f"unknown schema_version {shown} (this version reads {SCHEMA_VERSION})")
    return decode_entry(State, raw, "")


def encode(state: State, memo: EncodeMemo | None = None) -> bytes:
    """The state file's bytes: two-space indents, UTF-8 unescaped, a final newline.

    A writer that saves again and again passes its ``memo``: the same bytes, with the
    entries unchanged since its last save not encoded again.
    """
    import msgspec

    compact = memo.encode(state) if memo is not None else msgspec.json.encode(encode_entry(state))
    return msgspec.json.format(compact, indent=2) + b"\n"


def encode_for_save(state: State, memo: EncodeMemo) -> tuple[bytes, Callable[[float], bytes]]:
    """What a save compares and what it writes, from one walk of the state.

    The first is the state's content but ``updated_at`` (compact JSON): equal to the last
    save's, there is nothing to write. The second gives the file's bytes (:func:`encode`'s)
    for a new ``updated_at``, which it sets on ``state``.
    """
    import msgspec

    tree = memo.tree(state)
    tree["updated_at"] = None
    content = msgspec.json.encode(tree)

    def file_bytes(updated_at: float) -> bytes:
        state.updated_at = updated_at
        tree["updated_at"] = format_time(updated_at)
        return msgspec.json.format(msgspec.json.encode(tree), indent=2) + b"\n"

    return content, file_bytes


def dumps(state: State) -> str:
    """The state as the file holds it, as text."""
    return encode(state).decode("utf-8")


def snapshot(state: State) -> bytes:
    """Compact bytes of everything but ``updated_at``, sharing nothing with ``state``.

    Cheap (msgspec encodes the dataclasses in C, no ISO formatting), so a caller can keep
    the last saved one and compare it with a fresh one to know whether a save is due.
    ``updated_at`` is left out because every save changes it.
    """
    import msgspec

    return msgspec.json.encode(dataclasses.replace(state, updated_at=None))
