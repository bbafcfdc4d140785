"""Layering: each layer loads only the libraries of its own resource.

The parsers are pure (no IO library, no logging); the engine decides without touching
HTTP, files being watched or the CLI; the follower owns files, not HTTP. Checked in a
fresh interpreter, since a test process has everything imported already.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

LIBRARIES = ("httpx", "watchdog", "click", "structlog", "prometheus_client")


@pytest.mark.parametrize(
    ("modules", "forbidden"),
    [
        (
            ["iotwx_watch.extract", "iotwx_watch.extract.callback", "iotwx_watch.extract.policy",
             "iotwx_watch.extract.patterns", "iotwx_watch.extract.crypto"],
            ("httpx", "watchdog", "click", "structlog", "prometheus_client"),
        ),
        (["iotwx_watch.engine.core", "iotwx_watch.state.store"], ("httpx", "watchdog", "click")),
        (["iotwx_watch.follow.follower"], ("httpx", "click", "prometheus_client")),
        # (httpx itself imports click, for its command line, when click is installed)
        (["iotwx_watch.wecom"], ("watchdog", "prometheus_client")),
    ],
    ids=["extract", "engine", "follow", "wecom"],
)
def test_layer_loads_only_its_libraries(modules: list[str], forbidden: tuple[str, ...]) -> None:
    """Importing a layer pulls in none of the libraries that belong to other layers."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(json.loads(done.stdout))
    assert [] == sorted(loaded & set(forbidden))
    assert set(LIBRARIES) >= set(forbidden)
