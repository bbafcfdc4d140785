"""The fault soak (bench/soak.py) runs end to end in a few seconds, so CI proves it works."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


def test_a_short_soak_holds_every_promise() -> None:
    """Two kills, four codes, one WeCom fault and one full disk: the table is printed and
    every promise holds (exit 0); no answer is lost, so no code may be sent twice."""
    done = subprocess.run(
        [sys.executable, str(SOAK), "--kills", "2", "--codes", "4", "--seed", "3",
         "--lost-answers", "0", "--duration", "15", "--settle", "30"],
        capture_output=True, text=True, timeout=100, check=False)
    output = done.stdout + done.stderr
    assert 0 == done.returncode, output
    assert "OK: every promise held" in done.stdout
    for row in ("codes issued", "codes never sent although valid", "codes sent twice",
                "append → Secret in state, worst"):
        assert row in done.stdout, output
