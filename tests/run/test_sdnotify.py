"""Tests for iotwx_watch.run.sdnotify against real AF_UNIX datagram sockets."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from iotwx_watch.run.sdnotify import SystemdNotifier

RECV_TIMEOUT = 5.0


class Listener:
    """A bound datagram socket standing in for systemd's notify socket."""

    def __init__(self, sock: socket.socket, name: str) -> None:
        self.sock = sock
        self.name = name

    def receive(self) -> str:
        """The next datagram, waiting at most RECV_TIMEOUT seconds."""
        return self.sock.recv(4096).decode()

    def pending(self) -> bool:
        """Whether a datagram is waiting, without blocking."""
        self.sock.setblocking(False)
        try:
            self.sock.recv(4096, socket.MSG_PEEK)
        except BlockingIOError:
            return False
        finally:
            self.sock.settimeout(RECV_TIMEOUT)
        return True


def _bind(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(RECV_TIMEOUT)
    return sock


@pytest.fixture
def path_listener() -> Iterator[Listener]:
    """A notify socket at a file-system path (short, to fit sun_path)."""
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        path = os.path.join(tmp, "notify")
        with _bind(path) as sock:
            yield Listener(sock, path)


@pytest.fixture
def abstract_listener() -> Iterator[Listener]:
    """A notify socket in the abstract namespace, named with a leading '@'."""
    name = f"iotwx-test-{uuid.uuid4().hex}"
    with _bind("\0" + name) as sock:
        yield Listener(sock, "@" + name)


@pytest.mark.parametrize(
    ("send", "expected"),
    [
        (SystemdNotifier.ready, "READY=1"),
        (SystemdNotifier.watchdog, "WATCHDOG=1"),
        (SystemdNotifier.stopping, "STOPPING=1"),
    ],
    ids=["ready", "watchdog", "stopping"],
)
def test_state_messages_reach_a_path_socket(
    path_listener: Listener, send: object, expected: str
) -> None:
    """ready/watchdog/stopping each send their one assignment to a path socket."""
    notifier = SystemdNotifier(path_listener.name)
    assert callable(send)
    send(notifier)
    assert expected == path_listener.receive()


def test_abstract_socket(abstract_listener: Listener) -> None:
    """An '@' name is sent to the abstract namespace."""
    notifier = SystemdNotifier(abstract_listener.name)
    notifier.ready()
    assert (True, "READY=1") == (notifier.enabled, abstract_listener.receive())


def test_status_is_one_line(path_listener: Listener) -> None:
    """A status with newlines is sent as one STATUS line, so it cannot inject assignments."""
    SystemdNotifier(path_listener.name).status("2 sources\nREADY=1\r\nlast event 12:00")
    assert "STATUS=2 sources READY=1 last event 12:00" == path_listener.receive()


def test_status_keeps_unicode(path_listener: Listener) -> None:
    """Status text is sent as UTF-8."""
    SystemdNotifier(path_listener.name).status("企业 corps: 3")
    assert "STATUS=企业 corps: 3" == path_listener.receive()


def test_reloading_sends_monotonic_usec(path_listener: Listener) -> None:
    """reloading sends RELOADING=1 with the injected monotonic clock in one datagram."""
    SystemdNotifier(path_listener.name, monotonic_usec=lambda: 123456).reloading()
    assert "RELOADING=1\nMONOTONIC_USEC=123456" == path_listener.receive()


def test_reloading_default_clock_is_clock_monotonic(path_listener: Listener) -> None:
    """Without injection, MONOTONIC_USEC is CLOCK_MONOTONIC in microseconds."""
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    SystemdNotifier(path_listener.name).reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    first, second = path_listener.receive().split("\n")
    sent = int(second.removeprefix("MONOTONIC_USEC="))
    assert ("RELOADING=1", True) == (first, before <= sent <= after)


def test_extend_timeout(path_listener: Listener) -> None:
    """extend_timeout sends EXTEND_TIMEOUT_USEC in microseconds."""
    SystemdNotifier(path_listener.name).extend_timeout(90.5)
    assert "EXTEND_TIMEOUT_USEC=90500000" == path_listener.receive()


def test_socket_from_an_environment_mapping(path_listener: Listener) -> None:
    """from_environ takes the socket from the NOTIFY_SOCKET entry of the mapping given."""
    SystemdNotifier.from_environ({"NOTIFY_SOCKET": path_listener.name}).watchdog()
    assert "WATCHDOG=1" == path_listener.receive()


def test_child_process_notifies_through_environment(abstract_listener: Listener) -> None:
    """A separate process given NOTIFY_SOCKET reaches the socket, as under systemd."""
    code = (
        "import os; from iotwx_watch.run.sdnotify import SystemdNotifier; "
        "SystemdNotifier.from_environ(os.environ).ready()"
    )
    env = {**os.environ, "NOTIFY_SOCKET": abstract_listener.name}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    assert "READY=1" == abstract_listener.receive()


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_no_socket_is_a_no_op(value: str | None) -> None:
    """Outside systemd every call does nothing and says so."""
    env = {} if value is None else {"NOTIFY_SOCKET": value}
    notifier = SystemdNotifier.from_environ(env)
    with capture_logs() as logs:
        notifier.ready()
        notifier.status("x")
        notifier.watchdog()
        notifier.reloading()
        notifier.stopping()
        sent = notifier.notify("READY=1")
    assert (False, False, []) == (notifier.enabled, sent, logs)


def test_unsupported_address_disables_with_warning() -> None:
    """A relative path or other socket form is not guessed at: disabled, one warning."""
    with capture_logs() as logs:
        notifier = SystemdNotifier("vsock:2:1234")
    assert (False, ["sdnotify.unsupported_socket"]) == (
        notifier.enabled,
        [entry["event"] for entry in logs],
    )


def test_send_failure_never_raises_and_warns_once() -> None:
    """Sending to a socket nobody listens on warns once, then logs at debug, never raises."""
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        notifier = SystemdNotifier(str(Path(tmp) / "gone"))
        with capture_logs() as logs:
            notifier.ready()
            notifier.watchdog()
            sent = notifier.notify("STOPPING=1")
    levels = [(entry["event"], entry["log_level"]) for entry in logs]
    assert [
        ("sdnotify.send_failed", "warning"),
        ("sdnotify.send_failed", "debug"),
        ("sdnotify.send_failed", "debug"),
    ] == levels
    assert (True, False) == (notifier.enabled, sent)


def test_oversized_message_is_a_failure_not_an_exception(path_listener: Listener) -> None:
    """A datagram too large for the socket is reported, not raised."""
    notifier = SystemdNotifier(path_listener.name)
    with capture_logs() as logs:
        sent = notifier.notify("STATUS=" + "x" * 8_000_000)
    assert (False, ["sdnotify.send_failed"], False) == (
        sent,
        [entry["event"] for entry in logs],
        path_listener.pending(),
    )


@pytest.mark.parametrize(
    ("usec", "pid", "expected"),
    [
        ("30000000", None, 30.0),
        ("1500000", "self", 1.5),
        ("30000000", "other", None),
        ("30000000", "junk", None),
        ("0", None, None),
        ("junk", None, None),
        (None, None, None),
    ],
    ids=["plain", "own-pid", "other-pid", "bad-pid", "zero", "bad-usec", "unset"],
)
def test_watchdog_interval(usec: str | None, pid: str | None, expected: float | None) -> None:
    """watchdog_interval uses WATCHDOG_USEC, only when WATCHDOG_PID is unset or ours."""
    env: dict[str, str] = {}
    if usec is not None:
        env["WATCHDOG_USEC"] = usec
    if pid is not None:
        env["WATCHDOG_PID"] = {"self": str(os.getpid()), "other": str(os.getpid() + 1)}.get(
            pid, pid
        )
    assert expected == SystemdNotifier.from_environ(env).watchdog_interval()


def test_full_receiver_queue_never_blocks(path_listener: Listener) -> None:
    """A receiver that stops reading makes sends fail (reported), never hang the daemon."""
    notifier = SystemdNotifier(path_listener.name)
    results = [notifier.notify("WATCHDOG=1") for _ in range(500)]
    assert False in results
    assert "WATCHDOG=1" == path_listener.receive()
