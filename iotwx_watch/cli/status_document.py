"""The typed shape of `status --json`: what :func:`~iotwx_watch.cli.status_views.health_to_json`
prints, as TypedDicts, and the JSON Schema generated from them.

Imported only by `status` and `schema status`, never for `--help`. A test validates a
real `status --json` against a closed copy of the schema, so a key added to the output
without being added here fails it; keys are only ever added within one schema_version.
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from iotwx_watch.config import SourceKind
from iotwx_watch.report.health import Level
from iotwx_watch.state.codec import TIME, Range
from iotwx_watch.state.model import AuthCodeStatus, CorpStatus, Whitelist

STATUS_SCHEMA_VERSION = 1

TimeText = Annotated[str, TIME]  # "2026-11-28T14:00:00Z"
Count = Annotated[int, Range(0, 2**53 - 1)]


class TicketStatus(TypedDict):
    """The newest suite_ticket: its WeCom TimeStamp, age, and whether WeCom rejected it."""

    timestamp: int
    age_s: float
    received_at: TimeText
    rejected: bool
    level: Level


class TokenStatus(TypedDict):
    """The cached suite_access_token (never its value)."""

    valid: bool
    expires_at: TimeText
    valid_for_s: float


class CorpStatusEntry(TypedDict):
    """A corp of the suite; ``permanent_code`` is masked unless --show-secrets is given."""

    corp_name: str | None
    agentid: int | None
    status: CorpStatus
    obtained_at: TimeText | None
    permanent_code: str | None


class AuthCodeStatusEntry(TypedDict):
    """An auth code that still needs attention, with what to do about it."""

    key: str
    status: AuthCodeStatus
    info_type: str
    attempts: Count
    deadline: TimeText
    corpid: str | None
    errcode: int | None
    error: str | None
    level: Level
    action: str


class SuiteStatus(TypedDict):
    """One suite: from the config, the state file, or both."""

    configured: bool
    ticket: TicketStatus | None
    token: TokenStatus | None
    corps: dict[str, CorpStatusEntry]
    auth_codes: list[AuthCodeStatusEntry]
    auth_code_counts: dict[str, Count]
    last_error: dict[str, Any] | None


class BlockedIpStatus(TypedDict):
    """An address WeCom refused (60020), once per whitelist it must be added to."""

    ip: str
    whitelist: Whitelist
    where: str
    waiting: bool
    count: Count
    first_seen: TimeText
    last_seen: TimeText
    corpid: str | None
    hint: str | None
    resolved_at: TimeText | None


class SourceStatus(TypedDict):
    """A configured log file as the file system shows it, and how far it was read."""

    path: str
    kind: SourceKind
    exists: bool
    size: int | None
    modified_at: TimeText | None
    offset: int | None
    level: Level


class ProblemStatus(TypedDict):
    """Something an operator must act on; ``key`` stays the same while it lasts."""

    code: str
    level: Level
    key: str
    message: str
    action: str | None
    suite_id: str | None


class NotifySinkStatus(TypedDict):
    """One [[notify]] sink: its outbox and what became of its messages (from the state)."""

    sink: str
    waiting: Count
    oldest_at: TimeText | None
    delivered: Count
    probably_delivered: Count
    expired: Count
    failed_attempts: Count
    last_error: str | None
    last_delivered_at: TimeText | None
    last_expired_at: TimeText | None


class StatusDocument(TypedDict):
    """What `iotwx-watch status --json` prints."""

    schema_version: int
    level: Level
    exit_code: int
    now: TimeText
    state_updated_at: TimeText | None
    suites: dict[str, SuiteStatus]
    blocked_ips: list[BlockedIpStatus]
    sources: list[SourceStatus]
    problems: list[ProblemStatus]
    notifications: list[NotifySinkStatus]


def status_schema() -> dict[str, Any]:
    """The schema of `status --json`, as `iotwx-watch schema status` prints it."""
    from iotwx_watch.state.schema import schema_of

    schema = schema_of(
        StatusDocument,
        title=f"iotwx-watch status --json, schema {STATUS_SCHEMA_VERSION}",
        description=(
            "The health model as `iotwx-watch status --json` prints it. Keys may be added "
            "in later versions of the same schema_version; none is renamed or removed "
            "without a new schema_version."
        ),
    )
    schema["$defs"]["StatusDocument"]["properties"]["schema_version"] = {
        "const": STATUS_SCHEMA_VERSION
    }
    return schema
