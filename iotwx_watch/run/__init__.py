"""The loop: ``runner`` feeds followed bytes through the extractors to the engine and
saves the state; ``daemon`` is ``once`` and ``run``; ``observers`` hook reporting onto
each batch; ``wakeup``, ``signals`` and ``sdnotify`` connect it to the filesystem, to
signals and to systemd.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iotwx_watch import lazy_face

if TYPE_CHECKING:
    from iotwx_watch.run.daemon import run_forever, run_once
    from iotwx_watch.run.runner import Runner

_HOMES = {"Runner": "runner", "run_forever": "daemon", "run_once": "daemon"}
__all__ = [
    "Runner",
    "run_forever",
    "run_once",
]
__getattr__ = lazy_face(__name__, _HOMES)
