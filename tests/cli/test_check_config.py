"""`iotwx-watch check-config`: what the config sets up on stdout, each warning once on stderr,
and a config mistake explained in one line (the likely key, where a key belongs)."""

from __future__ import annotations

import subprocess

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
