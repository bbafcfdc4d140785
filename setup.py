"""setuptools entry: metadata lives in setup.cfg; this only ships the sample logs, the sample
config and the systemd units inside the package, so a wheel's `iotwx-watch demo` and
`iotwx-watch files` work without a checkout."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLED = ("sample_logs", "systemd")


class BuildWithBundledFiles(build_py):
    """build_py, plus sample_logs/ and systemd/ copied to iotwx_watch/bundled/."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "iotwx_watch" / "bundled"
        for name in BUNDLED:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, target / name, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__"))


setup(cmdclass={"build_py": BuildWithBundledFiles})
