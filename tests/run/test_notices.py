"""Durable notifications (iotwx_watch.run.notices) through real passes and a real HTTP
receiver: one message per condition and per item whatever the number of passes, nothing
lost while the receiver is down, nothing sent twice to a slow one, reminders and expiry
on an injected clock (no test waits for time to pass)."""

from __future__ import annotations

import json
import time
from typing import Any

from iotwx_watch.config import load_config
from iotwx_watch.report.health import assess
from iotwx_watch.run.daemon import catch_up
from iotwx_watch.run.hooks import hooks_for
from iotwx_watch.run.notices import OutboxPolicy
from iotwx_watch.state.store import StateStore
from tests.conftest import SUITE_A, SUITE_B, Workdir, auth_record, blocked_record, ticket_record
from tests.report.receiver import Receiver


class Clock:
    """Wall time that a test moves forward; ``sleep`` moves it too."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def with_webhook(work: Workdir, rec: Receiver, extra: str = "") -> None:
    work.extra_config = (f'language = "en"\nname = "cb-test"\n\n[[notify]]\nname = "hook"\n'
                         f'kind = "webhook"\nurl = "{rec.url}/hook"\n{extra}\n')
    work.write_config()


def one_pass(work: Workdir, clock: Clock, **options: Any) -> None:
    """One `once` pass in this process (a fresh set of hooks, as a new process has)."""
    config = load_config(work.config_file)
    hooks = hooks_for(config, clock=clock, sink_options={"min_spacing_s": 0.0, **options},
                      policy=OutboxPolicy(retry_base_s=10, retry_max_s=600))
    try:
        catch_up(config, hooks, clock=clock, sleep=clock.sleep)
    finally:
        hooks.close()


def outbox(work: Workdir) -> dict[str, Any]:
    result: dict[str, Any] = work.state().get("notifications", {}).get("outbox", {})
    return result


def test_three_once_passes_with_a_stale_ticket_give_one_message(
    workdir: Workdir, receiver: Receiver
) -> None:
    """Three real `once` passes with a stale ticket send one message; a fourth after a fresh
    ticket sends one recovery. (Suite B's missing ticket is not news within 20 minutes.)"""
    with_webhook(workdir, receiver)
    now = int(time.time())
    stale = workdir.sim.push_ticket(SUITE_A, timestamp=now - 25 * 60)
    workdir.append(workdir.receive_log, ticket_record(SUITE_A, stale, now - 25 * 60))
    for _ in range(3):
        done = workdir.run("once")
        assert 0 == done.returncode, done.stderr
    assert ["ticket_stale"] == receiver.kinds()
    fresh = workdir.sim.push_ticket(SUITE_A, timestamp=now)
    workdir.append(workdir.receive_log, ticket_record(SUITE_A, fresh, now))
    assert 0 == workdir.run("once").returncode
    assert ["ticket_stale", "ticket_recovered"] == receiver.kinds()
    assert [f"ticket:{SUITE_A}"] * 2 == [b["key"] for b in receiver.bodies]
    assert {} == outbox(workdir)


def test_a_receiver_down_for_a_minute_loses_nothing(workdir: Workdir, receiver: Receiver) -> None:
    """Passes every 30 s while the receiver refuses connections keep every message in the
    state's outbox (written with the results they report); once it is back, each message
    arrives exactly once."""
    with_webhook(workdir, receiver)
    receiver.stop()
    clock = Clock()
    now = int(clock.now)
    workdir.log_authorization("wwcorp0000000031")
    stale = workdir.sim.push_ticket(SUITE_B, timestamp=now - 25 * 60)
    workdir.append(workdir.receive_log, ticket_record(SUITE_B, stale, now - 25 * 60))
    workdir.append(workdir.policy_log, blocked_record("121.46.1.2"))
    one_pass(workdir, clock)
    queued = outbox(workdir)
    assert ["corp_obtained", "ip_to_whitelist", "ticket_stale"] == sorted(
        e["kind"] for e in queued.values())
    assert "wwcorp0000000031" in workdir.state()["suites"][SUITE_A]["corps"]
    clock.now += 30
    one_pass(workdir, clock)
    assert [2, 2, 2] == [e["attempts"] for e in outbox(workdir).values()]
    clock.now += 30
    receiver.start()
    one_pass(workdir, clock)
    assert ["corp_obtained", "ip_to_whitelist", "ticket_stale"] == sorted(receiver.kinds())
    assert {} == outbox(workdir)
    record = workdir.state()["notifications"]["sinks"]["hook"]
    assert (3, 6) == (record["delivered"], record["failed_attempts"])


def test_a_slow_receiver_gets_each_message_once(workdir: Workdir, receiver: Receiver) -> None:
    """A receiver that answers after the read timeout got the post: it counts as probably
    delivered and is not sent again by later passes."""
    with_webhook(workdir, receiver)
    receiver.mode, receiver.delay_s = "slow", 1.0
    clock = Clock()
    workdir.log_authorization("wwcorp0000000032")
    workdir.append(workdir.policy_log, blocked_record("121.46.1.3"))
    for _ in range(3):
        one_pass(workdir, clock, read_timeout_s=0.3)
        clock.now += 60
    assert ["corp_obtained", "ip_to_whitelist"] == sorted(receiver.kinds())
    record = workdir.state()["notifications"]["sinks"]["hook"]
    assert (2, {}) == (record["probably_delivered"], outbox(workdir))


def test_an_unanswered_post_at_exit_is_not_sent_again(workdir: Workdir,
                                                      receiver: Receiver) -> None:
    """A post whose request went out but whose answer has not come when `once` must exit
    counts as probably delivered: the next pass does not repeat it."""
    with_webhook(workdir, receiver)
    receiver.mode = "hang"
    clock = Clock()
    workdir.append(workdir.policy_log, blocked_record("121.46.1.4"))
    config = load_config(workdir.config_file)
    hooks = hooks_for(config, clock=clock, sink_options={"min_spacing_s": 0.0})
    try:
        catch_up(config, hooks, clock=clock, sleep=clock.sleep, flush_s=0.5)
    finally:
        hooks.close()
    receiver.mode = "ok"
    one_pass(workdir, clock)
    assert ["ip_to_whitelist"] == receiver.kinds()
    assert 1 == workdir.state()["notifications"]["sinks"]["hook"]["probably_delivered"]


def test_two_corps_failing_for_the_same_reason_give_two_messages(
    workdir: Workdir, receiver: Receiver
) -> None:
    """Two codes refused with 40078 are two messages, each naming its code's key, its
    deadline and what 40078 means, never WeCom's raw errmsg."""
    with_webhook(workdir, receiver)
    now = int(time.time())
    ticket = workdir.sim.push_ticket(SUITE_A, timestamp=now)
    codes = [workdir.sim.issue_auth_code(SUITE_A, f"wwcorp000000004{n}") for n in (1, 2)]
    workdir.append(workdir.receive_log, ticket_record(SUITE_A, ticket, now)
                   + "".join(auth_record(SUITE_A, code, now) for code in codes))
    workdir.sim.fail_next("get_permanent_code", errcode=40078, times=2)
    done = workdir.run("once")
    assert 1 == done.returncode, done.stderr
    failed = [b for b in receiver.bodies if b["kind"] == "auth_code_failed"]
    keys = {b["fields"]["code_key"] for b in failed}
    assert (2, 2) == (len(failed), len(keys))
    for body in failed:
        assert body["fields"]["code_key"] in body["title"]
        assert "40078 the auth code was already used or has expired" in body["text"]
        assert "valid until: " in body["text"]
        assert "hint" not in body["text"] and "http" not in body["text"]
    sent = json.dumps(receiver.bodies)
    assert [] == [code for code in codes + [ticket] if code in sent]


def test_a_critical_condition_is_told_again_every_four_hours(
    workdir: Workdir, receiver: Receiver
) -> None:
    """An expired ticket (critical) is one message, quiet at 3 h, a reminder after 4 h."""
    with_webhook(workdir, receiver)
    clock = Clock()
    now = int(clock.now)
    old = workdir.sim.push_ticket(SUITE_A, timestamp=now - 40 * 60)
    workdir.append(workdir.receive_log, ticket_record(SUITE_A, old, now - 40 * 60))
    one_pass(workdir, clock)
    clock.now += 3 * 3600
    one_pass(workdir, clock)
    mine = [b["kind"] for b in receiver.bodies if b["key"] == f"ticket:{SUITE_A}"]
    assert ["ticket_expired"] == mine
    clock.now += 3600 + 1
    one_pass(workdir, clock)
    tickets = [b for b in receiver.bodies if b["key"] == f"ticket:{SUITE_A}"]
    assert ["start", "reminder"] == [b["fields"]["event"] for b in tickets]
    assert tickets[1]["title"].startswith("Still open: The suite_ticket of ")
    assert f"since: {tickets[0]['at'][:10]}" in tickets[1]["text"]


def test_a_missing_ticket_is_news_after_20_minutes_of_passes(
    workdir: Workdir, receiver: Receiver
) -> None:
    """No ticket yet is held back for 20 minutes counted from the first pass that saw it
    (kept in the state), then told once per suite."""
    with_webhook(workdir, receiver)
    clock = Clock()
    for _ in range(2):
        one_pass(workdir, clock)
        clock.now += 11 * 60
    assert [] == receiver.kinds()
    one_pass(workdir, clock)
    assert sorted([f"ticket:{SUITE_A}", f"ticket:{SUITE_B}"]) == sorted(
        b["key"] for b in receiver.bodies)
    assert {"ticket_missing"} == set(receiver.kinds())


def test_expired_messages_show_in_status_and_the_metrics(workdir: Workdir,
                                                         receiver: Receiver) -> None:
    """A message undelivered past expire_after_s is given up, counted per sink, and
    `status` names it (the state says so, whatever process reads it)."""
    textfile = workdir.root / "iotwx.prom"
    with_webhook(workdir, receiver, "expire_after_s = 3600\n\n[metrics]\n"
                                    f'textfile = "{textfile}"\n')
    receiver.stop()
    clock = Clock()
    workdir.append(workdir.policy_log, blocked_record("121.46.1.5"))
    one_pass(workdir, clock)
    clock.now += 3601
    one_pass(workdir, clock)
    state = StateStore(workdir.state_file).load()
    record = state.notifications.sinks["hook"]
    waiting = [e.kind for e in state.notifications.outbox.values()]
    assert (1, False) == (record.expired, "ip_to_whitelist" in waiting)
    problems = assess(state, now=clock.now, config=load_config(workdir.config_file)).problems
    assert ["notify_expired"] == [p.code for p in problems if p.code.startswith("notify")]
    assert 'iotwx_watch_notifications_total{outcome="expired",sink="hook"} 1.0' in (
        textfile.read_text())
