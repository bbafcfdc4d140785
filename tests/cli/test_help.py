"""Commands people find: workflow order, whole summaries, examples, global options anywhere."""

from __future__ import annotations

import subprocess

import pytest
from click.testing import CliRunner

from iotwx_watch.cli import main
from tests.conftest import BIN, Workdir

COMMANDS = sorted(main.commands)
# Commands whose module another branch owns: their docstring brings its own examples.
WRITTEN_ELSEWHERE = {"parse", "schema"}


def help_text(*args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--help"], terminal_width=100)
    assert 0 == result.exit_code, result.output
    return result.output


def test_commands_listed_in_workflow_order() -> None:
    """`--help` lists the commands in the order an operator meets them."""
    text = help_text()
    listed = [line.split()[0] for line in text[text.index("Commands:"):].splitlines()[1:]
              if line.startswith("  ") and not line.startswith("   ")]
    expected = [name for name in ("demo", "files", "check-config", "notify", "once", "run",
                                  "status", "parse", "redeem", "schema", "simulate")
                if name in main.commands]
    assert expected == listed[: len(expected)]
    assert sorted(listed) == COMMANDS


def test_summaries_are_whole_sentences() -> None:
    """No summary in the command list is cut short with "..."."""
    text = help_text()
    commands = text[text.index("Commands:"):]
    assert "..." not in commands
    assert "against the WeCom simulator." in " ".join(commands.split())


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_examples_and_global_options(command: str) -> None:
    """Each command's help lists the global options and has an Examples: section."""
    text = help_text(command)
    globals_ = text[text.index("Global options:"):]
    for option in ("--config", "--log-level", "--log-format", "--no-color"):
        assert option in globals_
    if command in WRITTEN_ELSEWHERE and "Examples:" not in text:
        pytest.xfail(f"the help of {command} is written in its own module, rewritten elsewhere")
    assert "Examples:" in text
    assert "\n    iotwx-watch " in text  # the example lines kept as written (\b)


def test_group_help_has_examples() -> None:
    """`iotwx-watch --help` itself ends with examples."""
    assert "Examples:" in help_text()


def test_global_options_work_after_the_command(workdir: Workdir) -> None:
    """`status --config FILE --log-format json` works like `--config FILE status`."""
    before = subprocess.run(
        [BIN, "--config", str(workdir.config_file), "status"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    after = subprocess.run(
        [BIN, "status", "--config", str(workdir.config_file), "--log-format", "json",
         "--no-color"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert (1, before.stdout) == (after.returncode, after.stdout)
    assert "no suite_ticket yet" in after.stdout


def test_config_after_the_command_wins(workdir: Workdir) -> None:
    """A --config after the command overrides one before it."""
    missing = workdir.root / "missing.toml"
    done = subprocess.run(
        [BIN, "--config", str(missing), "status", "--config", str(workdir.config_file)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert 1 == done.returncode, done.stderr
