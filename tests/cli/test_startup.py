"""Start-up: `--help`, `--version`, `status` and `check-config` load only what they use.

Each runs in a fresh interpreter (a test process has everything imported already),
through the click main with ``standalone_mode=False``, and reports what it loaded.
No timing here: speed is measured by bench/startup.py.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import SUITE_A, Workdir

HEAVY = ("httpx", "watchdog", "prometheus_client", "cryptography", "http.server", "structlog",
         "redis")

_PROBE = """\
import contextlib, io, json, sys
from iotwx_watch.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main(json.loads(sys.argv[1]), standalone_mode=False)
print(json.dumps(sorted(name for name in json.loads(sys.argv[2]) if name in sys.modules)))
"""


def loaded(*args: str) -> list[str]:
    """The heavy modules a fresh interpreter holds after running `iotwx-watch ARGS`."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args), json.dumps(HEAVY)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    result: list[str] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("args", [("--help",), ("--version",), ("status", "--help")])
def test_help_and_version_load_no_heavy_module(args: tuple[str, ...]) -> None:
    """Help and version load neither the HTTP, watch, metrics, crypto libraries nor structlog."""
    assert [] == loaded(*args)


def test_status_and_check_config_load_no_heavy_module(workdir: Workdir) -> None:
    """`status` and `check-config` on a deployment load none of the heavy libraries."""
    config = str(workdir.config_file)
    assert [] == loaded("status", "--config", config)
    assert [] == loaded("check-config", "--config", config)


def test_once_loads_httpx_only_to_call_wecom(workdir: Workdir) -> None:
    """`once` logs (structlog) but builds its HTTP client at the first WeCom call: a pass
    with nothing to redeem loads no httpx, nor metrics or notification code it was not
    configured for. The probe can fail: with a fresh code in the log it loads httpx."""
    config = str(workdir.config_file)
    idle = set(loaded("once", "--config", config))
    assert "structlog" in idle
    assert not idle & {"httpx", "prometheus_client", "http.server"}
    workdir.log_authorization("wwstartup00000001")
    assert {"httpx", "structlog"} <= set(loaded("once", "--config", config))
    corps = workdir.state()["suites"][SUITE_A]["corps"]
    assert corps["wwstartup00000001"]["permanent_code"]  # redeemed by that pass
