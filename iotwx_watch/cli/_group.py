"""The click group, its global options, and the one place that turns errors into exit codes."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

import click

from iotwx_watch.config import CONFIG_ENV, DEFAULT_CONFIG_PATH, Config, load_config
from iotwx_watch.errors import EXIT_USAGE, IotwxError
from iotwx_watch.log import SecretRegistry, configure_logging, get_logger


@dataclass
class CliContext:
    """What the group options give every command, and the process's secret registry.

    The CLI is the shell: it alone reads the process environment and hands what the
    core needs (config, secrets registry, systemd socket) down as arguments.
    """

    config_path: str | None
    log_level: str | None
    log_format: str
    secrets: SecretRegistry = field(default_factory=SecretRegistry)

    def configure_logging(self, config: Config | None = None, *, to_stderr: bool = False) -> None:
        level = self.log_level or (config.log_level if config else "info")
        json_lines = {"json": True, "console": False}.get(self.log_format)
        configure_logging(
            level,
            secrets=self.secrets,
            json_lines=json_lines,
            stream=sys.stderr if to_stderr else None,
        )

    def reload_config(self) -> Config:
        """The config file as it is now (SIGHUP), its secrets registered for masking."""
        config = load_config(self.config_path, env=os.environ)
        self._register(config)
        return config

    def _register(self, config: Config) -> None:
        for suite in config.suites:
            self.secrets.add(suite.suite_secret, suite.token, suite.encoding_aes_key)
        self.secrets.add(*(sink.url for sink in config.notify))

    def load_config(self, *, to_stderr: bool = False) -> Config:
        """Load the config, set up logging from it, and report its warnings."""
        config = self.reload_config()
        self.configure_logging(config, to_stderr=to_stderr)
        log = get_logger("config")
        for warning in config.warnings:
            log.warning("config.warning", message=warning)
        return config


class IotwxGroup(click.Group):
    """A group that prints an expected error as one line and exits with its code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except IotwxError as exc:
            click.echo(f"iotwx-watch: error: {exc}", err=True)
            sys.exit(exc.exit_code)


CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=IotwxGroup, context_settings=CONTEXT_SETTINGS)
@click.option(
    "--config",
    "config_path",
    envvar=CONFIG_ENV,
    type=click.Path(dir_okay=False),
    help=f"TOML config file [env {CONFIG_ENV}; default {DEFAULT_CONFIG_PATH}].",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Override the config's log_level.",
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "console"]),
    default="auto",
    show_default=True,
    help="auto: console on a terminal, JSON lines otherwise (for journald).",
)
@click.version_option(package_name="iotwx-watch")
@click.pass_context
def main(
    ctx: click.Context, config_path: str | None, log_level: str | None, log_format: str
) -> None:
    """Follow WeCom 代开发 callback and policy-engine logs and act on them.

    Reads suite_ticket and AuthCode callbacks from receive.log, calls WeCom's
    get_suite_token and get_permanent_code, and records each customer corp's
    corpid, agentid and app Secret, plus the IP addresses WeCom rejects (errcode
    60020) that must be whitelisted, in a JSON state file (see `status`).

    Exit codes: 0 done, 1 an action failed (state still written), 2 bad usage or
    config, 3 another iotwx-watch holds the state lock.
    """
    ctx.obj = CliContext(config_path=config_path, log_level=log_level, log_format=log_format)


def usage_error(message: str) -> click.exceptions.Exit:
    """Print a one-line usage error and return the exit to raise."""
    click.echo(f"iotwx-watch: error: {message}", err=True)
    return click.exceptions.Exit(EXIT_USAGE)
