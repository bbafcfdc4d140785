"""The click group, its global options, and the one place that turns errors into exit codes.

Start-up cost matters (`status` runs from Nagios every minute, `--help` is typed by
hand): this module and the command modules import only click and the light core
(config, errors, log). A command imports what only it needs (httpx, watchdog,
prometheus_client, the simulator) inside its function.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

import click

from iotwx_watch.cli.console import SentenceRenderer, is_terminal, wants_color
from iotwx_watch.config import CONFIG_ENV, DEFAULT_CONFIG_PATH, Config, load_config
from iotwx_watch.errors import EXIT_USAGE, ConfigError, IotwxError
from iotwx_watch.log import SecretRegistry, configure_logging, get_logger

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C

# `iotwx-watch --help` lists commands in the order an operator meets them; any other
# command (one added later) follows, alphabetically.
COMMAND_ORDER = (
    "demo", "files", "check-config", "notify", "once", "run", "status", "parse", "redeem",
    "schema", "simulate",
)


@dataclass
class CliContext:
    """What the global options give every command, and the process's secret registry.

    The CLI is the shell: it alone reads the process environment and hands what the
    core needs (config, secrets registry, systemd socket) down as arguments.
    """

    config_path: str | None
    log_level: str | None
    log_format: str = "auto"
    no_color: bool = False
    secrets: SecretRegistry = field(default_factory=SecretRegistry)

    @property
    def human(self) -> bool:
        """Sentences on stderr (a person is watching) rather than JSON lines (journald, pipes)."""
        if self.log_format == "auto":
            return is_terminal(sys.stderr)
        return self.log_format == "console"

    def color(self, stream: Any) -> bool:
        """Whether to colour what goes to ``stream``: a terminal, and nobody said no."""
        return wants_color(stream, no_color=self.no_color, env=os.environ)

    def configure_logging(self, config: Config | None = None, *, to_stderr: bool = True) -> None:
        """Log at the level asked for (else the config's) to stderr, in the form that fits it.

        ``to_stderr`` is accepted for older callers: diagnostics always go to stderr.
        """
        level = self.log_level or (config.log_level if config else "info")
        renderer = SentenceRenderer(color=self.color(sys.stderr)) if self.human else None
        configure_logging(level, secrets=self.secrets, renderer=renderer)

    def reload_config(self, *, require_sources: bool = False) -> Config:
        """The config file as it is now (SIGHUP), its secrets registered for masking.

        ``require_sources``: for the commands that follow logs (check-config, once, run),
        a config that names no [[source]] would watch nothing: a ConfigError.
        """
        config = load_config(self.config_path, env=os.environ)
        if require_sources and not config.sources:
            raise ConfigError(
                f"config {config.path} names no [[source]]: iotwx-watch would watch nothing "
                "(add one for receive.log and one for policy_engine.log)"
            )
        self._register(config)
        return config

    def _register(self, config: Config) -> None:
        for suite in config.suites:
            self.secrets.add(suite.suite_secret, suite.token, suite.encoding_aes_key)
        self.secrets.add(*(sink.url for sink in config.notify))
        self.secrets.add(config.redis.password)

    def hook_options(self, config: Config) -> dict[str, Any]:
        """What the daemon's hooks take from the host: the name messages carry when the
        config has none, the readers' time zone, and what is running (build_info, read
        from the installed metadata only for the metrics that show it: ~10 ms)."""
        import socket
        from datetime import datetime

        options: dict[str, Any] = {"deployment": socket.gethostname() or "iotwx-watch",
                                   "tz": datetime.now().astimezone().tzinfo}
        if config.metrics.enabled:
            from importlib.metadata import PackageNotFoundError, version

            try:
                running = version("iotwx-watch")
            except PackageNotFoundError:
                running = "unknown"
            options["build_info"] = {"version": running}
        return options

    def load_config(self, *, to_stderr: bool = True, require_sources: bool = False) -> Config:
        """Load the config, set up logging from it, and report its warnings (once, as logs)."""
        config = self.reload_config(require_sources=require_sources)
        self.configure_logging(config)
        log = get_logger("config")
        for warning in config.warnings:
            log.warning("config.warning", message=warning)
        return config


def _set_on_context(attr: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    """An option callback that stores a value given after the command on the CliContext."""

    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        obj = ctx.find_object(CliContext)
        if obj is not None and value not in (None, False):
            setattr(obj, attr, value)

    return callback


CONFIG_HELP = f"TOML config file [env {CONFIG_ENV}; default {DEFAULT_CONFIG_PATH}]."
LOG_LEVELS = click.Choice(["debug", "info", "warning", "error"])
LOG_LEVEL_HELP = "Override the config's log_level."
LOG_FORMATS = click.Choice(["auto", "json", "console"])
LOG_FORMAT_HELP = "Diagnostics on stderr: auto is sentences on a terminal, JSON lines otherwise."
NO_COLOR_HELP = "No colour, even on a terminal (as does the NO_COLOR environment variable)."
GLOBAL_NAMES = frozenset({"config_path", "log_level", "log_format", "no_color"})


def _global_options() -> list[click.Parameter]:
    """The group's options, again for each command, so `status --config FILE` works too."""
    return [
        click.Option(["--config", "config_path"], type=click.Path(), metavar="FILE",
                     help=CONFIG_HELP, expose_value=False, callback=_set_on_context("config_path")),
        click.Option(["--log-level"], type=LOG_LEVELS, help=LOG_LEVEL_HELP, expose_value=False,
                     callback=_set_on_context("log_level")),
        click.Option(["--log-format"], type=LOG_FORMATS, help=LOG_FORMAT_HELP,
                     expose_value=False, callback=_set_on_context("log_format")),
        click.Option(["--no-color"], is_flag=True, help=NO_COLOR_HELP, expose_value=False,
                     callback=_set_on_context("no_color")),
    ]


class IotwxCommand(click.Command):
    """A command that takes the global options after its name as well, and lists them apart."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(_global_options())

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        own: list[tuple[str, str]] = []
        shared: list[tuple[str, str]] = []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                (shared if param.name in GLOBAL_NAMES else own).append(record)
        for title, rows in (("Options", own), ("Global options", shared)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        obj = ctx.find_object(CliContext)
        if obj is not None:  # every option is known now, those after the command included
            obj.configure_logging()
        return super().invoke(ctx)


class IotwxGroup(click.Group):
    """The group: commands in workflow order with whole summaries, and errors as one line."""

    command_class = IotwxCommand

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        rank = {name: n for n, name in enumerate(COMMAND_ORDER)}
        return sorted(names, key=lambda name: (rank.get(name, len(rank)), name))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Like click's, but each summary is the docstring's whole first sentence, wrapped."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=sys.maxsize)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except IotwxError as exc:
            click.echo(f"iotwx-watch: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            _interrupted()
        except click.Abort as exc:  # a prompt stopped by Ctrl-C, or by the end of its input
            if isinstance(exc.__context__, KeyboardInterrupt):
                _interrupted()
            raise usage_error("no input") from None


def _interrupted() -> NoReturn:
    """Ctrl-C: stop quietly with 130 (no traceback, no "Aborted!")."""
    if sys.stderr.isatty():
        click.echo(err=True)  # end the line the terminal's ^C echo is on
    sys.exit(EXIT_INTERRUPTED)


CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=IotwxGroup, context_settings=CONTEXT_SETTINGS)
@click.option("--config", "config_path", envvar=CONFIG_ENV, type=click.Path(), metavar="FILE",
              help=CONFIG_HELP)
@click.option("--log-level", type=LOG_LEVELS, help=LOG_LEVEL_HELP)
@click.option("--log-format", type=LOG_FORMATS, default="auto", show_default=True,
              help=LOG_FORMAT_HELP)
@click.option("--no-color", is_flag=True, help=NO_COLOR_HELP)
@click.version_option(package_name="iotwx-watch")
@click.pass_context
def main(
    ctx: click.Context,
    config_path: str | None,
    log_level: str | None,
    log_format: str,
    no_color: bool,
) -> None:
    """Follow WeCom 代开发 callback and policy-engine logs and act on them.

    Reads suite_ticket and AuthCode callbacks from receive.log, calls WeCom's
    get_suite_token and get_permanent_code, and records each customer corp's
    corpid, agentid and app Secret, plus the IP addresses WeCom rejects (errcode
    60020) that must be whitelisted, in a JSON state file (see `status`).

    The options below work after the command too (`iotwx-watch status --config
    FILE`). Diagnostics go to stderr, data (`status`, `parse`) to stdout.

    Exit codes: 0 done, 1 an action failed (state still written), 2 bad usage or
    config, 3 another iotwx-watch holds the state lock, 130 stopped by Ctrl-C.

    \b
    Examples:
      iotwx-watch demo                      # the whole pipeline on sample logs, no config
      iotwx-watch check-config --config /etc/iotwx-watch/config.toml
      iotwx-watch status                    # what is known, what to do
      iotwx-watch COMMAND --help
    """
    ctx.obj = CliContext(
        config_path=config_path, log_level=log_level, log_format=log_format, no_color=no_color
    )


def usage_error(message: str) -> click.exceptions.Exit:
    """Print a one-line usage error and return the exit to raise."""
    click.echo(f"iotwx-watch: error: {message}", err=True)
    return click.exceptions.Exit(EXIT_USAGE)
