"""A WeCom simulator on loopback (``core`` the rules, ``server`` the HTTP face) and the
``demo`` that replays the sample logs through the whole pipeline against it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iotwx_watch import lazy_face

if TYPE_CHECKING:
    from iotwx_watch.sim.demo import run_demo
    from iotwx_watch.sim.server import WeComSimulator

_HOMES = {"WeComSimulator": "server", "run_demo": "demo"}
__all__ = [
    "WeComSimulator",
    "run_demo",
]
__getattr__ = lazy_face(__name__, _HOMES)
