"""`files`: the systemd units and the complete sample config shipped with iotwx-watch.

An offline server installs from a wheel, not a checkout: the units and the sample config
come out of the installed package, with ``ExecStart=`` (and ``ExecReload=``) pointing at
this installation's ``iotwx-watch`` instead of the units' default /opt path.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from iotwx_watch import bundled
from iotwx_watch.cli._group import CliContext, main
from iotwx_watch.errors import ConfigError

UNIT_BINARY = "/opt/iotwx-watch/venv/bin/iotwx-watch"  # what the shipped units name
UNITS = ("iotwx-watch.service", "iotwx-watch-once.service", "iotwx-watch-once.timer")
DROP_INS = ("credentials.conf",)  # an example, installed beside the units, not enabled


def this_binary() -> str:
    """The iotwx-watch script of this installation (a venv's bin/ in practice)."""
    script = Path(sys.argv[0])
    if script.name == "iotwx-watch" and script.exists():
        return str(script.resolve())
    return str(Path(sys.executable).with_name("iotwx-watch"))


def unit_text(name: str, binary: str) -> str:
    """A shipped unit with its program path pointing at ``binary``."""
    return (bundled("systemd") / name).read_text(encoding="utf-8").replace(UNIT_BINARY, binary)


@main.command("files")
@click.option("--units", "units_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write the systemd units (and the credentials drop-in example) here.")
@click.option("--sample-config", is_flag=True,
              help="Print the complete sample config (every key, commented) on stdout.")
@click.pass_obj
def files(obj: CliContext, units_dir: Path | None, sample_config: bool) -> None:
    """Install or show the systemd units and the sample config shipped with iotwx-watch.

    Without an option, lists where the bundled files are. The units written by --units
    run this installation's iotwx-watch; copy the credentials drop-in example to
    /etc/systemd/system/iotwx-watch.service.d/ after filling it in (README, "Install as
    a service").

    \b
    Examples:
      iotwx-watch files
      sudo iotwx-watch files --units /etc/systemd/system && sudo systemctl daemon-reload
      iotwx-watch files --sample-config > /etc/iotwx-watch/config.toml
    """
    if sample_config:
        click.echo((bundled("sample_logs") / "iotwx-watch.toml").read_text(encoding="utf-8"),
                   nl=False)
        return
    binary = this_binary()
    if units_dir is None:
        click.echo(f"systemd units:  {bundled('systemd')}  (ExecStart would be {binary})")
        click.echo(f"sample config:  {bundled('sample_logs') / 'iotwx-watch.toml'}")
        click.echo(f"sample logs:    {bundled('sample_logs')}")
        return
    try:
        units_dir.mkdir(parents=True, exist_ok=True)
        for name in UNITS:
            (units_dir / name).write_text(unit_text(name, binary), encoding="utf-8")
            click.echo(f"wrote {units_dir / name}")
        for name in DROP_INS:
            example = units_dir / f"{name}.example"
            example.write_text(unit_text(name, binary), encoding="utf-8")
            click.echo(f"wrote {example}  (fill in, then copy into iotwx-watch.service.d/)")
    except OSError as exc:
        raise ConfigError(f"cannot write the units to {units_dir}: {exc.strerror}") from exc
