"""Layering: the extractors are pure, so importing them loads no IO or CLI library."""

from __future__ import annotations

import json
import subprocess
import sys


def test_importing_extract_loads_no_httpx_watchdog_or_click() -> None:
    """`import iotwx_watch.extract` (and its parsers) pulls in neither httpx, watchdog nor click."""
    code = (
        "import json, sys\n"
        "import iotwx_watch.extract, iotwx_watch.extract.callback, iotwx_watch.extract.policy\n"
        "import iotwx_watch.extract.patterns\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('httpx', 'watchdog', 'click', 'structlog'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert [] == json.loads(done.stdout)
