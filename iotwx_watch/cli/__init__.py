"""Command line: each command module wires the layers below it; none decides anything."""

from iotwx_watch.cli import commands_config  # noqa: F401  (registers commands)
from iotwx_watch.cli._group import main

__all__ = ["main"]
