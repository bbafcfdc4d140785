"""`iotwx-watch check-config`: what the config sets up on stdout, each warning once on stderr,
and a config mistake explained in one line (the likely key, where a key belongs)."""

from __future__ import annotations

import socket
import subprocess

import pytest

from tests.conftest import SECRETS, SUITE_A, SUITE_B, Workdir


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused config gets on stderr, without the `iotwx-watch: error: `."""
    assert "" == done.stdout
    (line,) = done.stderr.splitlines()
    return line.removeprefix("iotwx-watch: error: ")


def test_valid_config_is_reported_on_stdout(workdir: Workdir) -> None:
    """A good config: exit 0, the suites and logs on stdout, nothing on stderr."""
    result = workdir.run("check-config")
    assert (0, "") == (result.returncode, result.stderr)
    assert f"suite {SUITE_A}: secret: yes, no callback keys" in result.stdout
    assert result.stdout.endswith("config OK\n")
    assert SECRETS[SUITE_A] not in result.stdout


def test_each_warning_is_said_once(workdir: Workdir) -> None:
    """A suite without a secret: one warning line on stderr, counted on stdout, not repeated."""
    workdir.write_config(secrets={SUITE_A: None, SUITE_B: SECRETS[SUITE_B]})
    result = workdir.run("check-config")
    assert 0 == result.returncode
    assert 1 == result.stderr.count(f"suite {SUITE_A} has no suite_secret")
    assert "no suite_secret" not in result.stdout
    assert result.stdout.endswith("config OK (1 warning(s) on stderr)\n")


def test_unknown_config_key_suggests_the_right_one(workdir: Workdir) -> None:
    """A typo in a key: the error names the key accepted there that it resembles."""
    workdir.write_config("sate_file = 'x'")
    done = workdir.run("check-config")
    assert 2 == done.returncode
    assert "unknown key(s): sate_file (did you mean state_file?)" in error_line(done)


def test_unknown_key_in_a_table_suggests_from_that_table(workdir: Workdir) -> None:
    """Suggestions come from the keys of the table the typo is in."""
    text = workdir.config_file.read_text(encoding="utf-8")
    workdir.config_file.write_text(text.replace("suite_secret =", "suite_secrett ="),
                                   encoding="utf-8")
    done = workdir.run("check-config")
    assert 2 == done.returncode
    expected = "[[suite]] #1: unknown key(s): suite_secrett (did you mean suite_secret?)"
    assert expected == error_line(done)


def test_top_level_key_after_a_table(workdir: Workdir) -> None:
    """A top-level setting written below a [[table]] header: told to move it up."""
    workdir.append(workdir.config_file, "poll_interval_s = 1\n")
    done = workdir.run("check-config")
    assert 2 == done.returncode
    line = error_line(done)
    assert line.startswith("[[source]] #2: 'poll_interval_s' is a top-level setting")
    assert line.endswith("move `poll_interval_s` above the first [table]")


ROBOT = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=robot-key-0123456789"


@pytest.mark.parametrize(
    ("sink", "expected"),
    [
        ('kind = "webhook"\nurl = "ftp://example.com/hook"',
         "[[notify]] #1 (webhook): the url must be http(s)://host/…, not 'ftp:'"),
        ('kind = "wecom_robot"\nurl = "https://qyapi.weixin.qq.com/cgi-bin/send?key=abc"',
         "[[notify]] #1 (wecom_robot): not a WeCom group robot URL (expected "
         "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…)"),
        ('kind = "wecom_robot"\nurl = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"',
         "[[notify]] #1 (wecom_robot): not a WeCom group robot URL (expected "
         "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…)"),
        ('kind = "webhook"\nname = "a b"\nurl = "https://example.com/"',
         "[[notify]] #1: name 'a b' must be letters, digits, '.', '_', '-'"),
    ],
    ids=["scheme", "robot-path", "robot-key", "name"],
)
def test_a_bad_notify_url_is_refused_without_showing_it(
    workdir: Workdir, sink: str, expected: str
) -> None:
    """check-config refuses a sink URL of the wrong scheme or shape (exit 2), in one line
    that never repeats the URL."""
    workdir.write_config(f"\n[[notify]]\n{sink}\n")
    done = workdir.run("check-config")
    assert (2, expected) == (done.returncode, error_line(done))
    assert "example.com" not in done.stderr and "abc" not in done.stderr


def test_an_inline_robot_key_in_a_readable_config_is_warned(workdir: Workdir) -> None:
    """A robot URL written into a config others can read: a warning naming the credential
    to use instead, never the key; the sinks are listed by name on stdout."""
    workdir.write_config(f'\n[[notify]]\nname = "oncall"\nkind = "wecom_robot"\nurl = "{ROBOT}"\n')
    workdir.config_file.chmod(0o644)
    done = workdir.run("check-config")
    assert 0 == done.returncode, done.stderr
    assert "use the credential notify-oncall.url or url_file" in done.stderr
    assert "notify oncall: wecom_robot, url given\n" in done.stdout
    assert "robot-key" not in done.stdout + done.stderr


def test_a_sink_url_comes_from_its_credential(workdir: Workdir) -> None:
    """With no url in the config, $CREDENTIALS_DIRECTORY/notify-<name>.url is used."""
    creds = workdir.root / "creds"
    creds.mkdir()
    (creds / "notify-oncall.url").write_text(ROBOT + "\n")
    workdir.write_config('\n[[notify]]\nname = "oncall"\nkind = "wecom_robot"\n')
    workdir.env["CREDENTIALS_DIRECTORY"] = str(creds)
    done = workdir.run("check-config")
    assert (0, "") == (done.returncode, done.stderr)
    assert "notify oncall: wecom_robot, url given\n" in done.stdout
    del workdir.env["CREDENTIALS_DIRECTORY"]
    missing = workdir.run("check-config")
    assert 2 == missing.returncode
    assert "the credential notify-oncall.url is required" in missing.stderr


def test_metrics_listener_checks(workdir: Workdir) -> None:
    """A listener on every address is warned about; so is a port that cannot be bound."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        workdir.write_config(f'\n[metrics]\nlisten = "127.0.0.1:{port}"\n')
        busy = workdir.run("check-config")
    workdir.write_config('\n[metrics]\nlisten = "0.0.0.0:0"\n')
    wide = workdir.run("check-config")
    assert (0, 0) == (busy.returncode, wide.returncode)
    assert f"[metrics] listen 127.0.0.1:{port} cannot be bound now (Address already in use)" in (
        busy.stderr)
    assert "[metrics] listen 0.0.0.0:0 is reachable from other hosts" in wide.stderr
