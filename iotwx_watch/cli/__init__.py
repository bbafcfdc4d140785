"""Command line: each command module wires the layers below it; none decides anything."""

from iotwx_watch.cli import (
    commands_config,  # noqa: F401  (registers commands)
    commands_daemon,  # noqa: F401  (registers commands)
    commands_demo,  # noqa: F401  (registers commands)
    commands_files,  # noqa: F401  (registers commands)
    commands_notify,  # noqa: F401  (registers commands)
    commands_parse,  # noqa: F401  (registers commands)
    commands_redeem,  # noqa: F401  (registers commands)
    commands_schema,  # noqa: F401  (registers commands)
    commands_sim,  # noqa: F401  (registers commands)
    commands_state,  # noqa: F401  (registers commands)
    commands_status,  # noqa: F401  (registers commands)
)
from iotwx_watch.cli._group import main

__all__ = ["main"]
