"""Without Hyperscan, every sample log gives the same events as with it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from iotwx_watch.extract.compiled_search import load

SAMPLES = Path(__file__).resolve().parents[2] / "sample_logs"

# parse every sample in a fresh interpreter, Hyperscan importable or not
_PARSE = """
import sys
if sys.argv[1] == "without":
    sys.modules["hyperscan"] = None  # what a machine without the wheel sees: ImportError
from iotwx_watch.cli import main
sys.argv = ["iotwx-watch", "parse", "--stats", *sys.argv[2:]]
main()
"""


def parse_all(mode: str) -> subprocess.CompletedProcess[str]:
    logs = sorted(str(p) for p in SAMPLES.glob("*.log"))
    return subprocess.run([sys.executable, "-c", _PARSE, mode, *logs],
                          capture_output=True, text=True, timeout=120)


def test_samples_read_the_same_without_hyperscan() -> None:
    if load() is None:
        pytest.skip("hyperscan is not installed here: every run is already without it")
    with_it, without = parse_all("with"), parse_all("without")
    assert with_it.returncode == without.returncode
    assert with_it.stdout.count("\n") > 20  # the samples hold records
    assert with_it.stdout == without.stdout
    timing = ("elapsed_s", "search")
    assert others(with_it.stderr, timing) == others(without.stderr, timing)
    # parse --stats says which search ran
    assert {"hyperscan"} == set(values(with_it.stderr, "search"))
    assert {"python (Hyperscan not available here)"} == set(values(without.stderr, "search"))


def others(text: str, keys: tuple[str, ...]) -> list[str]:
    """The --stats lines of ``text`` but those of ``keys``."""
    return [line for line in text.splitlines() if (line.split() or [""])[0] not in keys]


def values(text: str, key: str) -> list[str]:
    """The values of the --stats lines of ``key`` in ``text``."""
    return [line.split(None, 1)[1] for line in text.splitlines()
            if line.split(None, 1)[:1] == [key]]
