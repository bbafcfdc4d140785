"""`iotwx-watch check-config`: a config mistake explained in one line (the likely key, where
a key belongs)."""

from __future__ import annotations

import subprocess

from tests.conftest import Workdir


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused config gets on stderr, without the `iotwx-watch: error: `."""
    assert "" == done.stdout
    (line,) = done.stderr.splitlines()
    return line.removeprefix("iotwx-watch: error: ")


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
