"""`redeem` while `run` (or a timer's `once`) holds the state: the code is handed over.

An auth code lives ten minutes, and the state lock is held for as long as the daemon
runs, so the manual fallback cannot wait for it. `redeem` writes a request into a spool
directory beside the state file (``redeem-requests/<id>.request``: 0600, renamed into
place so it is never read half-written); the lock holder takes each request between two
batches, redeems it through the same engine and ledger (so a code is still sent at most
once), and writes ``<id>.result`` with the outcome, which `redeem` prints.

Only the service user can write into the state directory (0700), which is the whole
authorization: the request holds the code itself, as a pending ledger entry does. The
result holds no secret: status, corpid, agentid, errcode and the advice.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iotwx_watch.engine.ledger import code_key
from iotwx_watch.log import get_logger
from iotwx_watch.run.runner import Runner
from iotwx_watch.state.model import AuthCodeEntry, State
from iotwx_watch.state.store import write_atomically

log = get_logger("handoff")

SPOOL_NAME = "redeem-requests"
RESULT_KEEP_S = 600.0  # an answer nobody collected is removed after this


@dataclass(frozen=True)
class RedeemRequest:
    """One handed-over code."""

    id: str
    suite_id: str
    code: str = field(repr=False)


def spool_dir(state_file: str | os.PathLike[str]) -> Path:
    return Path(state_file).parent / SPOOL_NAME


def _write_private(path: Path, data: dict[str, Any]) -> None:
    """Mode 0600 (a code is inside), replaced atomically: readers see all or nothing."""
    write_atomically(path, json.dumps(data).encode("utf-8"), mode=0o600)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "r", encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# -- the `redeem` side -------------------------------------------------------------------
def submit(state_file: str | os.PathLike[str], suite_id: str, code: str, *, now: float) -> str:
    """Hand a code to the lock holder; returns the request id to wait on."""
    directory = spool_dir(state_file)
    directory.mkdir(mode=0o700, exist_ok=True)
    request_id = f"{int(now)}-{secrets.token_hex(4)}"
    _write_private(directory / f"{request_id}.request",
                   {"suite_id": suite_id, "code": code, "at": int(now)})
    return request_id


def wait_answer(
    state_file: str | os.PathLike[str], request_id: str, timeout_s: float, *,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> dict[str, Any] | None:
    """The lock holder's answer, or None after ``timeout_s`` (the request is withdrawn
    if it was not taken yet, so the code does not linger on disk)."""
    directory = spool_dir(state_file)
    result = directory / f"{request_id}.result"
    deadline = monotonic() + timeout_s
    while True:
        answer = _read(result)
        if answer is not None:
            with contextlib.suppress(OSError):
                result.unlink()
            return answer
        if monotonic() >= deadline:
            with contextlib.suppress(OSError):
                (directory / f"{request_id}.request").unlink()
            return None
        sleep(0.1)


# -- the lock holder's side --------------------------------------------------------------
def pending(state_file: str | os.PathLike[str]) -> list[RedeemRequest]:
    """The requests waiting, oldest first; an unreadable one is removed and logged."""
    directory = spool_dir(state_file)
    try:
        names = sorted(p for p in directory.iterdir() if p.suffix == ".request")
    except OSError:
        return []
    requests = []
    for path in names:
        data = _read(path)
        suite_id, code = (data or {}).get("suite_id"), (data or {}).get("code")
        if not isinstance(suite_id, str) or not isinstance(code, str) or not code:
            log.warning("handoff.bad_request", request=path.stem)
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        requests.append(RedeemRequest(path.stem, suite_id, code))
    return requests


def result_of(state: State, suite_id: str, entry: AuthCodeEntry) -> dict[str, Any]:
    """What `redeem` prints: no secret, only ids, status and advice."""
    corp = state.suites[suite_id].corps.get(entry.corpid) if entry.corpid else None
    return {"status": entry.status, "corpid": entry.corpid,
            "agentid": corp.agentid if corp is not None else None,
            "errcode": entry.errcode, "error": entry.error, "hint": entry.hint,
            "deadline": int(entry.deadline)}


def serve(runner: Runner, *, now: float) -> int:
    """Redeem every waiting request through the runner's engine; returns how many."""
    state_file = runner.config.state_file
    served = 0
    for request in pending(state_file):
        if runner.config.suite(request.suite_id) is None:
            answer: dict[str, Any] = {"status": "refused",
                                      "error": f"suite {request.suite_id} is not in the config"}
        else:
            runner.secrets.add(request.code)
            entry = runner.active_engine.redeem(request.suite_id, request.code)
            runner.checkpoint(acted=True)
            answer = result_of(runner.state, request.suite_id, entry)
            answer["key"] = code_key(request.code)
        directory = spool_dir(state_file)
        try:
            _write_private(directory / f"{request.id}.result", answer)
        except OSError as exc:
            log.error("handoff.answer_failed", request=request.id, error=str(exc))
        with contextlib.suppress(OSError):
            (directory / f"{request.id}.request").unlink()
        log.info("handoff.redeem_served", request=request.id, suite_id=request.suite_id,
                 status=answer["status"])
        served += 1
    _sweep(spool_dir(state_file), now)
    return served


def _sweep(directory: Path, now: float) -> None:
    """Answers nobody collected (the `redeem` that asked gave up) are removed."""
    with contextlib.suppress(OSError):
        for path in directory.iterdir():
            if path.suffix == ".result" and now - path.stat().st_mtime > RESULT_KEEP_S:
                path.unlink()
