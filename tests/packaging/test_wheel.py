"""The wheel carries what an offline server needs: `demo` runs from it in an empty
directory, and `files` writes the units pointing at the installed program."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from this checkout (no download: build isolation off)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-q", "-w", str(out), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )
    (built,) = out.glob("iotwx_watch-*.whl")
    return built


def run_from(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """iotwx-watch from ``site`` only (asserted), with this venv's dependencies."""
    code = (
        f"import sys; sys.path.insert(0, {str(site)!r}); import iotwx_watch; "
        f"assert iotwx_watch.__file__.startswith({str(site)!r}), iotwx_watch.__file__; "
        "from iotwx_watch.cli import main; sys.argv[0] = 'iotwx-watch'; main()"
    )
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_wheel_bundles_samples_units_and_the_sample_config(wheel: Path) -> None:
    """sample logs, demo world, sample config and every unit are package data."""
    names = set(zipfile.ZipFile(wheel).namelist())
    for wanted in ("iotwx_watch/bundled/sample_logs/receive.log",
                   "iotwx_watch/bundled/sample_logs/demo-world.toml",
                   "iotwx_watch/bundled/sample_logs/iotwx-watch.toml",
                   "iotwx_watch/bundled/systemd/iotwx-watch.service",
                   "iotwx_watch/bundled/systemd/iotwx-watch-once.timer",
                   "iotwx_watch/py.typed"):
        assert wanted in names


def test_demo_runs_from_the_wheel_in_an_empty_directory(wheel: Path, tmp_path: Path) -> None:
    """Installed from the wheel (no checkout around), `demo` finds its samples and works."""
    site, empty = tmp_path / "site", tmp_path / "empty"
    empty.mkdir()
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                    "--disable-pip-version-check", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=120)
    result = run_from(site, empty, "demo")
    assert 0 == result.returncode, result.stdout + result.stderr
    assert str(site / "iotwx_watch" / "bundled" / "sample_logs") in result.stdout
    assert "华东示例制造有限公司" in result.stdout
    units = run_from(site, empty, "files", "--units", str(tmp_path / "units"))
    assert 0 == units.returncode, units.stderr
    service = (tmp_path / "units" / "iotwx-watch.service").read_text()
    assert "/opt/iotwx-watch" not in service
    assert "ExecStart=" in service
