"""No traceback anywhere: one `iotwx-watch: error: …` line and the right exit code for a busy
port, a file that cannot be read, a config mistake; Ctrl-C stops quietly with 130."""

from __future__ import annotations

import contextlib
import os
import pty
import signal
import socket
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import BIN, SUITE_A, Workdir, wait_for


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "IOTWX_WATCH_CONFIG"}
    return subprocess.run([BIN, "--log-format", "json", *args], capture_output=True, text=True,
                          timeout=60, env=env, check=False)


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The single line a failed command printed on stderr (and nothing on stdout)."""
    assert "Traceback" not in done.stderr
    assert "" == done.stdout
    (line,) = done.stderr.splitlines()
    assert line.startswith("iotwx-watch: error: ")
    return line.removeprefix("iotwx-watch: error: ")


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_simulate_on_a_busy_port(busy_port: int) -> None:
    """A port in use: exit 2 and one line naming the address."""
    done = cli("simulate", "--port", str(busy_port), "--no-push-ticket")
    assert 2 == done.returncode
    assert f"cannot listen on 127.0.0.1:{busy_port}: Address already in use" == one_error_line(
        done)


def test_ctrl_c_at_the_redeem_prompt(workdir: Workdir) -> None:
    """Ctrl-C at `redeem`'s hidden prompt: exit 130, no traceback, no "Aborted!"."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(workdir.command("redeem", SUITE_A), stdin=follower,
                               stdout=follower, stderr=follower)
    os.close(follower)
    shown = b""
    while b"AuthCode" not in shown:
        shown += os.read(leader, 1024)
    process.send_signal(signal.SIGINT)
    code = process.wait(timeout=30)
    with contextlib.suppress(OSError):  # EIO once the child has closed the terminal
        shown += os.read(leader, 65536)
    os.close(leader)
    assert 130 == code
    assert b"Traceback" not in shown and b"Aborted" not in shown


def test_ctrl_c_ends_simulate_normally() -> None:
    """SIGINT is how `simulate` is stopped: exit 0, a last word, no traceback."""
    process = subprocess.Popen([BIN, "simulate", "--no-push-ticket"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline().startswith("http://127.0.0.1:")
    assert "simulating; Ctrl-C stops\n" == process.stderr.readline()  # serving now
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert (0, "stopped\n") == (process.returncode, err)


def test_ctrl_c_during_a_wecom_call(workdir: Workdir) -> None:
    """SIGINT to `once` while WeCom is slow to answer: exit 130, no traceback."""
    workdir.sim.fail_next("*", delay_s=5)
    workdir.log_authorization("wwcorp0000000007")
    process = subprocess.Popen(workdir.command("once"), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    stderr = process.stderr
    assert stderr is not None
    wait_for(lambda: "engine.auth_code_recorded" in stderr.readline(),
             what="the auth code recorded")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert (130, "") == (process.returncode, out)
    assert "Traceback" not in err and "Aborted" not in err


def test_config_that_is_a_directory(workdir: Workdir) -> None:
    """A config path that cannot be read as a file: exit 2, one line."""
    done = cli("status", "--config", str(workdir.root))
    assert 2 == done.returncode
    assert f"cannot read config {workdir.root}: Is a directory" == one_error_line(done)


def test_state_file_that_cannot_be_read(workdir: Workdir) -> None:
    """A state file that cannot be read: exit 2, one line naming it."""
    workdir.state_file.mkdir(parents=True)
    done = workdir.run("status")
    assert 2 == done.returncode
    assert str(workdir.state_file) in one_error_line(done)
