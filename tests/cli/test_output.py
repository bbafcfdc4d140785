"""Output that fits its place: data on stdout, diagnostics on stderr; JSON lines for pipes and
journald, sentences and colour on a terminal (a real pseudo-terminal here), NO_COLOR honoured."""

from __future__ import annotations

import errno
import json
import os
import pty
import subprocess

from tests.conftest import BIN, SUITE_A, Workdir, blocked_record

ESC = "\x1b["


def terminal_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "IOTWX_WATCH_CONFIG")}
    return {**env, "TERM": "xterm", **extra}


def on_terminal(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``argv`` with stdin, stdout and stderr on a pseudo-terminal; its exit code and text."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(argv, stdin=follower, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError as exc:  # EIO: the child closed the terminal
            if exc.errno != errno.EIO:
                raise
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    code = process.wait(timeout=60)
    return code, b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


def busy_deployment(work: Workdir) -> None:
    """A ticket, a create_auth and an app-whitelist refusal: three events, all three kinds."""
    work.log_authorization("wwcorp0000000001")
    work.append(work.policy_log, blocked_record("121.46.1.2"))


def test_once_in_a_pipe_prints_nothing_on_stdout(workdir: Workdir) -> None:
    """`once | …` (or >/dev/null): stdout stays empty; JSON lines with the warnings on stderr."""
    busy_deployment(workdir)
    done = subprocess.run(
        [BIN, "--config", str(workdir.config_file), "once"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert (0, "") == (done.returncode, done.stdout), done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    events = {line["event"]: line for line in lines}
    assert "warning" == events["engine.ip_blocked"]["level"]
    assert (3, 1, 1) == tuple(events["daemon.once_done"][k] for k in ("events", "redeemed",
                                                                      "new_ips"))


def test_once_with_stderr_to_a_file_prints_nothing_on_stdout(workdir: Workdir) -> None:
    """`once 2>err.log`: nothing on stdout, the log lines in the file, no summary sentence."""
    busy_deployment(workdir)
    err_log = workdir.root / "err.log"
    with err_log.open("w") as err:
        done = subprocess.run(
            [BIN, "once", "--config", str(workdir.config_file)],
            stdout=subprocess.PIPE, stderr=err, text=True, timeout=60, check=False,
        )
    assert (0, "") == (done.returncode, done.stdout)
    text = err_log.read_text(encoding="utf-8")
    assert "engine.redeemed" in text
    assert "once:" not in text


def test_once_on_a_terminal_speaks_in_sentences_and_colour(workdir: Workdir) -> None:
    """On a terminal: HH:MM:SS sentences, colour by level, and a closing summary."""
    busy_deployment(workdir)
    code, text = on_terminal([BIN, "--config", str(workdir.config_file), "once"],
                             terminal_env())
    assert 0 == code, text
    assert "redeemed auth code of wwcorp0000000001: agentid 1000002, secret stored" in text
    assert "WeCom refuses 121.46.1.2 (60020): add it to the app whitelist" in text
    assert "once: 3 events read, 1 auth code redeemed, 1 new IP to whitelist\n" in text
    assert ESC in text
    assert '"event"' not in text
    secret = workdir.sim.permanent_code_for("wwcorp0000000001")
    assert secret is not None and secret not in text


def test_no_color_environment_removes_the_colours(workdir: Workdir) -> None:
    """NO_COLOR=1 keeps the sentences and drops every escape sequence."""
    busy_deployment(workdir)
    code, text = on_terminal([BIN, "--config", str(workdir.config_file), "once"],
                             terminal_env(NO_COLOR="1"))
    assert 0 == code, text
    assert "warning: WeCom refuses 121.46.1.2" in text
    assert ESC not in text


def test_no_color_option_after_the_command(workdir: Workdir) -> None:
    """`status --no-color` on a terminal: the page without escape sequences."""
    code, text = on_terminal([BIN, "status", "--config", str(workdir.config_file), "--no-color"],
                             terminal_env())
    assert (1, False) == (code, ESC in text)
    assert text.startswith("WARNING: no suite_ticket yet")


def test_status_is_coloured_on_a_terminal_only(workdir: Workdir) -> None:
    """The status page is coloured by level on a terminal, plain in a pipe."""
    code, text = on_terminal([BIN, "status", "--config", str(workdir.config_file)],
                             terminal_env())
    piped = workdir.run("status")
    assert (1, True) == (code, f"{ESC}33mWARNING: no suite_ticket yet" in text)
    assert ESC not in piped.stdout
    assert piped.stdout.startswith("WARNING: no suite_ticket yet")


def test_once_after_a_failure_says_what_next(workdir: Workdir) -> None:
    """Exit 1 on a terminal ends by pointing at `iotwx-watch status`."""
    workdir.sim.block_ip("127.0.0.1")
    workdir.log_authorization("wwcorp0000000002")
    code, text = on_terminal([BIN, "--config", str(workdir.config_file), "once"],
                             terminal_env())
    assert 1 == code, text
    assert "an auth code waits for a retry" in text
    assert "next: `iotwx-watch status` says what needs doing" in text
    assert SUITE_A in text
