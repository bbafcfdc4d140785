"""iotwx-watch: follows WeCom 代开发 callback and policy-engine logs, redeems auth codes.

The package tree is the pipeline: ``follow`` (files) → ``extract`` (bytes → events) →
``engine`` (decisions, talking to WeCom through ``engine.port``) → ``state`` (model and
store); ``wecom`` is the HTTP adapter behind the port, ``report`` tells operators what the
state means, ``run`` is the loop, ``sim`` the WeCom simulator and demo, ``cli`` the wiring.

Each wing's ``__init__`` is its public face and loads its modules only when a name is
used (:func:`lazy_face`), so ``iotwx-watch --help`` does not pay for httpx or watchdog.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from pathlib import Path
from typing import Any


def bundled(name: str) -> Path:
    """A directory shipped with iotwx-watch (``sample_logs``, ``systemd``): inside the
    installed package (a wheel), else in the checkout this package runs from."""
    here = Path(__file__).resolve().parent
    installed = here / "bundled" / name
    return installed if installed.is_dir() else here.parent / name


def lazy_face(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) that imports ``package.<home>`` on first use."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f"{package}.{home}"), name)

    return __getattr__
