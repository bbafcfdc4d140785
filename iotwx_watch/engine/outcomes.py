"""What the engine tells the rest of the program happened: one :class:`Outcome` per fact.

Reporting turns outcomes into notifications; an outcome never carries a secret value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

HINT_NEW_CODE = (
    "ask for a new code: on the provider console's 代开发应用 page click 重新获取 (secret), "
    "and WeCom sends a new reset_permanent_code callback"
)

OutcomeKind = Literal[
    "corp_obtained",
    "secret_reset",
    "corp_cancelled",
    "ip_to_whitelist",
    "egress_ip_changed",
    "auth_code_failed",
    "auth_code_expired",
    "auth_code_interrupted",
    "ticket_rejected",
]


@dataclass(frozen=True)
class Outcome:
    """Something an operator should hear about; never carries a secret value."""

    kind: OutcomeKind
    suite_id: str | None = None
    corpid: str | None = None
    corp_name: str | None = None
    agentid: int | None = None
    ip: str | None = None
    whitelist: str | None = None
    errcode: int | None = None
    detail: str | None = None
    code_key: str | None = None  # an auth code's ledger key (a hash, not the code)
