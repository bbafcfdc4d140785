"""How long the engine waits: WeCom's validity periods and the retry policy (pure)."""

from __future__ import annotations

TICKET_TTL_S = 30 * 60  # WeCom: a suite_ticket is valid 30 minutes
TOKEN_MARGIN_S = 300  # refetch the suite token this long before WeCom says it expires
BACKOFF_BASE_S = 2.0  # retryable failures: 2 s × 2^n ...
BACKOFF_CAP_S = 60.0  # ... capped at a minute
PROVIDER_PROBE_S = 15.0  # 60020 on our address: one probe call this often while it lasts
RATE_LIMIT_RETRY_S = 60.0  # 45009: WeCom blocks for the rest of the minute
STALE_NOTICE_WINDOW_S = 3600  # a code already dead when first seen is news only if this recent
# Time sanity for logged records, whose text anyone who can POST to the callback URL may
# forge: WeCom's TimeStamp is its own clock, so a few minutes ahead is skew, more is not.
FUTURE_SKEW_S = 300
# A ticket or code this old is history when first read; it is counted, not recorded.
PAST_LIMIT_S = 24 * 3600
# blocked_ips retention: an address WeCom has not refused for this long is forgotten, and
# the book keeps at most this many (the quietest go first), so the state stays small
# however many addresses a log names.
BLOCKED_IP_RETENTION_S = 30 * 24 * 3600
MAX_BLOCKED_IPS = 1000
BLOCKED_IP_SLACK = 100  # pruned back to MAX_BLOCKED_IPS when it grows this far beyond


def backoff_delay(retries: int) -> float:
    """Capped exponential backoff: 2, 4, 8, ... 60 seconds."""
    return min(BACKOFF_BASE_S * 2.0 ** min(retries, 16), BACKOFF_CAP_S)
