"""Layering: the import-linter contracts in pyproject.toml hold, and they do catch a
lower layer importing a higher one; each layer loads only the libraries of its resource.

The contracts are checked on the real tree, then on a copy with one deliberate upward
import, which must break them. The library check runs in a fresh interpreter, since a
test process has everything imported already.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports with the project's pyproject.toml on the package in ``project``."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(project / "pyproject.toml"), "--no-cache"],
        cwd=project,
        env={"PYTHONPATH": str(project), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_layer_contracts_hold() -> None:
    """The package keeps its layers: every contract is KEPT."""
    done = lint_imports(ROOT)
    assert 0 == done.returncode, done.stdout + done.stderr
    assert "BROKEN" not in done.stdout


@pytest.mark.parametrize(
    ("module", "upward_import", "contract"),
    [
        ("extract/fields.py", "import iotwx_watch.engine.core", "Pipeline layers"),
        ("state/model.py", "import iotwx_watch.report.health", "Pipeline layers"),
        ("engine/tokens.py", "import iotwx_watch.wecom", "The engine decides through its port"),
    ],
    ids=["extract-imports-engine", "state-imports-report", "engine-imports-adapter"],
)
def test_an_upward_import_breaks_the_contract(
    tmp_path: Path, module: str, upward_import: str, contract: str
) -> None:
    """A copy of the package with one upward import fails lint-imports, naming it."""
    shutil.copytree(ROOT / "iotwx_watch", tmp_path / "iotwx_watch",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "iotwx_watch" / module
    target.write_text(target.read_text() + f"\n{upward_import}  # deliberate violation\n")
    done = lint_imports(tmp_path)
    assert 1 == done.returncode, done.stdout + done.stderr
    broken = done.stdout[done.stdout.index("Broken contracts"):]
    assert contract in broken
    assert upward_import.split()[-1] in broken


@pytest.mark.parametrize(
    ("modules", "forbidden"),
    [
        (
            ["iotwx_watch.extract", "iotwx_watch.extract.callback", "iotwx_watch.extract.policy",
             "iotwx_watch.extract.patterns", "iotwx_watch.extract.crypto"],
            ("httpx", "watchdog", "click", "structlog", "prometheus_client", "redis"),
        ),
        (["iotwx_watch.engine.core", "iotwx_watch.state.model"],
         ("httpx", "watchdog", "click", "redis")),
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


def test_public_class_names_are_unique() -> None:
    """One name per idea: no two public classes in the package share a name."""
    homes: dict[str, list[str]] = {}
    for path in sorted((ROOT / "iotwx_watch").rglob("*.py")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("class ") and not line.startswith("class _"):
                name = line[6:].split("(")[0].split(":")[0].strip()
                homes.setdefault(name, []).append(str(path.relative_to(ROOT)))
    assert {} == {name: where for name, where in homes.items() if len(where) > 1}
