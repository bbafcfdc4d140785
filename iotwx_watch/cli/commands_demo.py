"""`demo`: the whole pipeline on sample_logs/ against the bundled simulator."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from iotwx_watch import bundled
from iotwx_watch.cli._group import CliContext, main
from iotwx_watch.errors import ConfigError


def default_samples_dir() -> Path:
    """The bundled sample_logs/ (installed with the package, or the checkout's)."""
    return bundled("sample_logs")


@main.command("demo")
@click.option(
    "--samples",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=default_samples_dir,
    show_default="the bundled sample_logs/",
    help="Directory holding the sample logs, iotwx-watch.toml and demo-world.toml.",
)
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Work in this directory and keep it (default: a temporary one, removed after).",
)
@click.pass_obj
def demo(obj: CliContext, samples: Path, keep: Path | None) -> None:
    """Run the whole pipeline on the bundled sample logs against the WeCom simulator.

    Copies receive.log, receive_encrypted.log and policy_engine.log to a scratch
    directory, starts the simulator on 127.0.0.1 (WeCom itself is never
    contacted), runs `once` over them exactly as the daemon would, and prints
    `status`. Needs no config. Secrets stay masked; with --keep DIR the logs,
    the state file and a config.toml stay there, so that
    `iotwx-watch status --config DIR/config.toml --show-secrets` shows them.

    \b
    Examples:
      iotwx-watch demo
      iotwx-watch demo --keep /tmp/demo && iotwx-watch status --config /tmp/demo/config.toml
      iotwx-watch demo --log-level info    # the pipeline's log lines too, on stderr
    """
    import tempfile

    from iotwx_watch.cli.status_views import render_text
    from iotwx_watch.sim.demo import DEMO_SOURCES, run_demo  # the simulator: only here
    from iotwx_watch.state.model import format_time

    if obj.log_level is None:
        obj.log_level = "warning"  # the report below says what happened; --log-level for more
    obj.configure_logging()
    if keep is not None:
        try:
            keep.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--keep: cannot create {keep}: {exc.strerror or exc}") from exc
        result = run_demo(samples, keep)
    else:
        with tempfile.TemporaryDirectory(prefix="iotwx-watch-demo-") as tmp:
            result = run_demo(samples, Path(tmp))
    calls = ", ".join(f"{endpoint} x{n}" for endpoint, n in sorted(result.calls.items()))
    click.echo(
        f"Replayed {', '.join(name for _, name in DEMO_SOURCES)} from {samples}\n"
        f"as if it were {format_time(result.replay_at)}, against the WeCom simulator "
        f"on 127.0.0.1.\nWeCom calls made: {calls or 'none'}\n"
        f"`once` exit code: {result.exit_code}\n"
    )
    click.echo(render_text(result.health, color=obj.color(sys.stdout)), nl=False)
    if keep is not None:
        click.echo(
            f"\nkept in {keep}: try `iotwx-watch status --config {keep / 'config.toml'}`"
        )
