"""Judging the logs: missing, stalled, unreadable by the daemon, or not being read.

:func:`observe_sources` is the only IO of the health model: one ``os.stat`` per log.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from iotwx_watch.config import Config, SourceConfig
from iotwx_watch.report.findings import (
    ACTION_TICKET,
    SOURCE_BEHIND_S,
    SOURCE_STALE_S,
    Problem,
    SourceHealth,
    SourceObservation,
)
from iotwx_watch.state.model import State, format_time


def observe_sources(sources: Sequence[SourceConfig], state: State) -> list[SourceObservation]:
    """Stat every configured log (the imperative part; :func:`health` stays pure)."""
    seen: list[SourceObservation] = []
    errors = state.source_errors
    for source in sources:
        cursor = state.sources.get(source.path) or {}
        offset = cursor.get("offset")
        offset = offset if isinstance(offset, int) and not isinstance(offset, bool) else None
        error = errors.get(source.path)
        try:
            st = os.stat(source.path)
        except OSError:
            seen.append(SourceObservation(source.path, source.kind, False, offset=offset,
                                          read_error=error))
            continue
        same = (cursor.get("dev"), cursor.get("inode")) == (st.st_dev, st.st_ino)
        seen.append(SourceObservation(source.path, source.kind, True, st.st_size, st.st_mtime,
                                      offset, same_file=same, read_error=error))
    return seen



def source_health(
    obs: SourceObservation, now: float, problems: list[Problem], state_updated_at: float | None,
    config: Config | None,
) -> SourceHealth:
    key = f"source:{obs.path}"
    if obs.read_error is not None:
        uid = obs.read_error.uid
        problems.append(
            Problem("source_unreadable", "critical", key,
                    f"iotwx-watch (uid {uid}) cannot read {obs.kind} log {obs.path}: "
                    f"{obs.read_error.error} (since {format_time(obs.read_error.since)})",
                    f"give uid {uid} read access to {obs.path} and its directories (e.g. the "
                    "file's group in SupplementaryGroups= of the unit, or a logrotate "
                    "'create' mode that keeps it readable), then `systemctl restart "
                    "iotwx-watch`")
        )
        return SourceHealth(obs, "critical")
    if not obs.exists:
        problems.append(
            Problem("source_missing", "warn", key, f"{obs.kind} log {obs.path} does not exist",
                    "check the path in the config and that the writer is running")
        )
        return SourceHealth(obs, "warn")
    behind = _bytes_behind(obs)
    poll = config.poll_interval_s if config is not None else 2.0
    quiet_for = now - state_updated_at if state_updated_at is not None else None
    if behind and (quiet_for is None or quiet_for > max(SOURCE_BEHIND_S, 3 * poll)):
        since = format_time(state_updated_at) if state_updated_at is not None else "never"
        problems.append(
            Problem("source_not_read", "critical", key,
                    f"iotwx-watch is not reading {obs.path} ({behind} bytes behind; state "
                    f"last written {since}); is the service running?",
                    "systemctl status iotwx-watch (or the timer: systemctl list-timers "
                    "iotwx-watch-once); journalctl -u iotwx-watch for why it stopped")
        )
        return SourceHealth(obs, "critical")
    if obs.kind == "callback" and obs.mtime is not None and now - obs.mtime > SOURCE_STALE_S:
        problems.append(
            Problem("source_stalled", "warn", key,
                    f"callback log {obs.path} has not grown for {int((now - obs.mtime) // 60)} min",
                    ACTION_TICKET)
        )
        return SourceHealth(obs, "warn")
    return SourceHealth(obs, "ok")



def _bytes_behind(obs: SourceObservation) -> int:
    """How far the file at the path is ahead of the saved position (0 if not known)."""
    if obs.size is None:
        return 0
    if obs.offset is None:
        return obs.size  # never read at all
    return obs.size - obs.offset if obs.same_file and obs.size > obs.offset else 0


