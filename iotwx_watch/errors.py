"""The one exception tree of iotwx-watch.

Every error the program expects to meet derives from :class:`IotwxError`; the CLI
prints those as one clean line and exits with their ``exit_code``. Anything else is
a bug and shows a traceback.

::

    IotwxError                 exit 1 unless said otherwise
    ├── ConfigError            exit 2: bad config or usage; systemd must not restart on it
    ├── SourceError            a log file cannot be read (parse: exit 2)
    ├── StateError             the state file is corrupt, of an unknown schema, or unwritable
    │   ├── StateLockedError   another iotwx-watch process holds the lock (exit 3)
    │   └── StateWriteError    a save failed (disk full, I/O error): retried, never fatal
    ├── CryptoError(reason)    an encrypted callback envelope was rejected
    └── WeComError(errcode, errmsg)   WeCom answered with an error, or could not be reached

Messages never carry a secret value: callers pass names, ids and errcodes, not
tickets, tokens, codes or secrets.
"""

from __future__ import annotations

import enum
import ipaddress
import re

EXIT_OK = 0
EXIT_ACTION_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3


class IotwxError(Exception):
    """Root of every error iotwx-watch expects."""

    exit_code: int = EXIT_ACTION_FAILED


class ConfigError(IotwxError):
    """The configuration (or the command line) cannot be used as given."""

    exit_code = EXIT_USAGE


class SourceError(IotwxError):
    """A log file given on the command line cannot be read."""

    exit_code = EXIT_USAGE


class StateError(IotwxError):
    """The state file cannot be read or written safely; nothing was overwritten."""

    exit_code = EXIT_USAGE


class StateWriteError(StateError):
    """Saving the state failed (ENOSPC, EIO, …); the state is intact in memory.

    At run time this is retryable: the daemon keeps following its logs, keeps what it
    learned in memory and retries the write. Only a failure at start-up, before
    anything was learned, ends the process.
    """

    exit_code = EXIT_ACTION_FAILED


class StateLockedError(StateError):
    """Another process holds the state lock."""

    exit_code = EXIT_LOCKED

    def __init__(self, lock_path: str, holder_pid: int | None) -> None:
        self.lock_path = lock_path
        self.holder_pid = holder_pid
        who = f"pid {holder_pid}" if holder_pid else "another process"
        super().__init__(f"state is locked by {who} ({lock_path}); is iotwx-watch already running?")


class CryptoError(IotwxError):
    """An encrypted callback could not be verified or decrypted.

    ``reason`` is a short stable token (``bad_signature``, ``bad_receiveid``, ...) used
    as the reject counter's key.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class WeComErrorKind(enum.Enum):
    """What the engine should do about a WeCom error."""

    RETRYABLE = "retryable"  # -1, HTTP 5xx, transport errors
    TOKEN_INVALID = "token_invalid"  # 40082, 42009, 40014: refetch the suite token once
    TICKET_STALE = "ticket_stale"  # 40085: wait for a newer suite_ticket
    AUTH_CODE_DEAD = "auth_code_dead"  # 40078: used or expired; never retry
    IP_BLOCKED = "ip_blocked"  # 60020: whitelist our address, retry a minute later
    CONFIG = "config"  # 40080, 40083, 40013: wrong secret or id; never retry
    AUTHORIZATION_GONE = "authorization_gone"  # 40084, 48004: the corp cancelled
    RATE_LIMITED = "rate_limited"  # 45009, 45033
    ANSWER_LOST = "answer_lost"  # the request went out, the answer did not come back
    OTHER = "other"  # anything else: recorded, not retried


_KIND_BY_ERRCODE: dict[int, WeComErrorKind] = {
    -1: WeComErrorKind.RETRYABLE,
    40082: WeComErrorKind.TOKEN_INVALID,
    42009: WeComErrorKind.TOKEN_INVALID,
    40014: WeComErrorKind.TOKEN_INVALID,
    40085: WeComErrorKind.TICKET_STALE,
    40078: WeComErrorKind.AUTH_CODE_DEAD,
    60020: WeComErrorKind.IP_BLOCKED,
    40080: WeComErrorKind.CONFIG,
    40083: WeComErrorKind.CONFIG,
    40013: WeComErrorKind.CONFIG,
    48003: WeComErrorKind.CONFIG,
    40084: WeComErrorKind.AUTHORIZATION_GONE,
    48004: WeComErrorKind.AUTHORIZATION_GONE,
    45009: WeComErrorKind.RATE_LIMITED,
    45033: WeComErrorKind.RATE_LIMITED,
}

# Pseudo errcodes for failures that never reached a WeCom answer.
ERRCODE_TRANSPORT = -1001
ERRCODE_HTTP_STATUS = -1002
ERRCODE_BAD_RESPONSE = -1003
# The request was sent but its answer was lost (read timeout, connection dropped after
# sending): WeCom may have acted on it. Harmless to repeat for a token; for an auth code
# it means the outcome is unknown, and the code is not sent again.
ERRCODE_ANSWER_LOST = -1004

_FROM_IP = re.compile(r"from ip:\s*([0-9A-Fa-f:.]+)")


def parse_from_ip(errmsg: str) -> str | None:
    """Return the valid address after ``from ip:`` in a WeCom errmsg, if any."""
    match = _FROM_IP.search(errmsg)
    if match is None:
        return None
    candidate = match.group(1).rstrip(".,")
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


class WeComError(IotwxError):
    """WeCom answered ``errcode != 0``, or the call failed before an answer.

    Negative errcodes below -1000 are ours (transport error, HTTP status, unreadable
    body); they are retryable like WeCom's own -1.
    """

    def __init__(self, errcode: int, errmsg: str, *, http_status: int | None = None) -> None:
        self.errcode = errcode
        self.errmsg = errmsg
        self.http_status = http_status
        super().__init__(errcode, errmsg)

    @property
    def kind(self) -> WeComErrorKind:
        if self.errcode in _KIND_BY_ERRCODE:
            return _KIND_BY_ERRCODE[self.errcode]
        if self.errcode == ERRCODE_ANSWER_LOST:
            return WeComErrorKind.ANSWER_LOST
        if self.errcode <= ERRCODE_TRANSPORT:
            if self.errcode == ERRCODE_HTTP_STATUS and (self.http_status or 0) < 500:
                return WeComErrorKind.OTHER
            return WeComErrorKind.RETRYABLE
        return WeComErrorKind.OTHER

    @property
    def blocked_ip(self) -> str | None:
        """Our address as WeCom saw it, when the call was refused with 60020."""
        if self.errcode != 60020:
            return None
        return parse_from_ip(self.errmsg)

    def __str__(self) -> str:
        return f"WeCom errcode {self.errcode}: {self.errmsg}"
