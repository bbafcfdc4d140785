"""Tests for `iotwx-watch demo`: the README's first command works on a fresh checkout."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import BIN

SAMPLES = Path(__file__).resolve().parents[2] / "sample_logs"


def test_demo_runs_the_whole_pipeline(tmp_path: Path) -> None:
    """The demo redeems the samples' codes once each, records corps and IPs, masks secrets."""
    result = subprocess.run(
        [BIN, "demo", "--keep", str(tmp_path)], capture_output=True, text=True, timeout=120,
        check=False,
    )
    assert 0 == result.returncode, result.stderr
    assert "get_permanent_code x4, get_suite_token x2" in result.stdout
    assert "corp wwa1c7e3b0d2f94e61  name 华东示例制造有限公司  agentid 1000002" in result.stdout
    assert "[cancelled]" in result.stdout
    assert "2408:8207:1851:5d40::1f  app" in result.stdout
    state = json.loads((tmp_path / "state" / "state.json").read_text(encoding="utf-8"))
    corp = state["suites"]["dk7f3a9c2b41e05d68"]["corps"]["wwa1c7e3b0d2f94e61"]
    secret = corp["permanent_code"]
    assert corp["previous_obtained_at"]
    output = result.stdout + result.stderr
    assert secret not in output
    assert "sim-secret" not in output
    for line in (SAMPLES / "receive.log").read_text(encoding="utf-8").splitlines():
        if line.startswith("# expect:") and '"auth_code"' in line:
            assert json.loads(line.removeprefix("# expect:"))["auth_code"] not in output
