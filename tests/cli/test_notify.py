"""`iotwx-watch notify test`: a test message to every sink, each one's result on stdout,
with real receivers that take it, are down, or answer too late."""

from __future__ import annotations

import json

from tests.conftest import Workdir
from tests.report.receiver import Receiver


def sinks(*pairs: tuple[str, str, str]) -> str:
    return "".join(f'\n[[notify]]\nname = "{name}"\nkind = "{kind}"\nurl = "{url}"\n'
                   for name, kind, url in pairs)


def test_each_sink_is_tried_and_reported(workdir: Workdir, receiver: Receiver,
                                         robot: Receiver) -> None:
    """A webhook that takes it, a robot that answers too late, a receiver that is down:
    one line each, exit 1, and the robot's message says where it comes from."""
    down = Receiver().start()
    down.stop()
    robot.mode, robot.delay_s = "slow", 10.0
    workdir.write_config('name = "cb-prod-1"\n' + sinks(
        ("hook", "webhook", f"{receiver.url}/hook"),
        ("oncall", "wecom_robot", robot.robot_url),
        ("backup", "webhook", f"{down.url}/hook")))
    done = workdir.run("notify", "test", "--timeout", "2")
    assert 1 == done.returncode, done.stderr
    assert ["hook (webhook): delivered",
            "oncall (wecom_robot): probably delivered (no answer yet; the request was sent)",
            "backup (webhook): FAILED: ConnectError"] == done.stdout.splitlines()
    (body,) = receiver.bodies
    assert ("test", "cb-prod-1", "iotwx-watch 测试消息") == (
        body["kind"], body["deployment"], body["title"])
    content = robot.bodies[0]["markdown"]["content"]
    assert content.startswith('<font color="comment">**【通知】**</font> **iotwx-watch 测试消息**')
    assert "部署：cb-prod-1" in content
    assert "robotkey" not in done.stdout + done.stderr + json.dumps(receiver.bodies)


def test_all_delivered_exits_0_and_no_sink_is_a_usage_error(workdir: Workdir,
                                                             receiver: Receiver) -> None:
    """Every sink took it: exit 0. A config without [[notify]]: exit 2, nothing sent."""
    assert 2 == workdir.run("notify", "test").returncode
    workdir.write_config(sinks(("hook", "webhook", f"{receiver.url}/hook")))
    done = workdir.run("notify", "test")
    assert (0, "hook (webhook): delivered\n") == (done.returncode, done.stdout)
