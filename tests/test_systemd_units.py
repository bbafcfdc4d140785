"""Tests for the unit files in systemd/: settings, `systemd-analyze verify`, exposure ≤ 2.0.

`systemd-analyze verify` checks that each Exec*= binary exists. The units name the
production path /opt/iotwx-watch/venv/bin/iotwx-watch, absent here, so verify runs
on copies whose venv prefix is swapped for this test's own venv: every other line
is checked as shipped. A separate test pins that the only complaint about the
unmodified unit is that missing binary.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from iotwx_watch.cli import main as cli_main
from iotwx_watch.errors import EXIT_LOCKED, EXIT_USAGE, ConfigError, StateLockedError

UNIT_DIR = Path(__file__).resolve().parent.parent / "systemd"
DAEMON = "iotwx-watch.service"
ONCE = "iotwx-watch-once.service"
TIMER = "iotwx-watch-once.timer"
UNITS = (DAEMON, ONCE, TIMER)
PROD_VENV = "/opt/iotwx-watch/venv"
PROD_BINARY = f"{PROD_VENV}/bin/iotwx-watch"
MAX_EXPOSURE = 2.0
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed"
)


def _settings(unit: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment, repeated keys kept in order."""
    section = ""
    result = []
    for raw in (UNIT_DIR / unit).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        result.append((section, key.strip(), value.strip()))
    return result


def _values(unit: str, key: str, section: str = "Service") -> list[str]:
    return [v for s, k, v in _settings(unit) if (s, k) == (section, key)]


def _one(unit: str, key: str, section: str = "Service") -> str:
    values = _values(unit, key, section)
    assert 1 == len(values), f"{unit}: {key}= set {len(values)} times"
    return values[0]


def _analyze(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    assert SYSTEMD_ANALYZE is not None
    return subprocess.run(
        [SYSTEMD_ANALYZE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )


def _local_copy(tmp_path: Path) -> Path:
    """The units with the production venv swapped for this venv, which really exists."""
    venv = Path(sys.executable).parent.parent
    assert (venv / "bin" / "iotwx-watch").is_file()
    for unit in UNITS:
        text = (UNIT_DIR / unit).read_text().replace(PROD_VENV, str(venv))
        (tmp_path / unit).write_text(text)
    return tmp_path


def _exposure(output: str, unit: str) -> float:
    match = re.search(rf"Overall exposure level for {re.escape(unit)}: (\d+\.\d+)", output)
    assert match is not None, output
    return float(match.group(1))


def test_daemon_is_a_notify_service_with_watchdog() -> None:
    """The daemon is Type=notify with a watchdog, and only its main process may notify."""
    actual = (
        _one(DAEMON, "Type"),
        _one(DAEMON, "NotifyAccess"),
        bool(re.fullmatch(r"\d+s", _one(DAEMON, "WatchdogSec"))),
    )
    assert ("notify", "main", True) == actual


def test_daemon_commands_and_paths() -> None:
    """ExecStart runs, reload checks the config then sends SIGHUP, config via env; no
    ExecStartPre (see below)."""
    actual = (
        _values(DAEMON, "ExecStartPre"),
        _one(DAEMON, "ExecStart"),
        _values(DAEMON, "ExecReload"),
        _one(DAEMON, "Environment"),
        _one(DAEMON, "StateDirectory"),
    )
    expected: tuple[list[str], str, list[str], str, str] = (
        [],
        f"{PROD_BINARY} run",
        [f"{PROD_BINARY} check-config", "/bin/kill -HUP $MAINPID"],
        "IOTWX_WATCH_CONFIG=/etc/iotwx-watch/config.toml",
        "iotwx-watch",
    )
    assert expected == actual


def test_reload_fails_on_a_bad_config_before_signalling(tmp_path: Path) -> None:
    """ExecReload's first command, with broken TOML, exits 2: systemd runs the commands in
    order and stops at a failure, so `systemctl reload` fails and no SIGHUP is sent."""
    venv = Path(sys.executable).parent.parent
    argv = _values(DAEMON, "ExecReload")[0].replace(PROD_VENV, str(venv)).split()
    config = tmp_path / "config.toml"
    config.write_text('[[source]]\npath = "/var/log/x"\n[wecom\n')
    key, _, _ = _one(DAEMON, "Environment").partition("=")
    env = {"PATH": "/usr/bin:/bin", key: str(config)}
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, check=False)
    assert (EXIT_USAGE, True) == (result.returncode, "is not valid TOML" in result.stderr)


def test_daemon_does_not_restart_on_config_or_lock_errors() -> None:
    """Restart=on-failure, except for exit 2 (config), 3 (lock held), 243 (credentials)."""
    prevent = set(_one(DAEMON, "RestartPreventExitStatus").split())
    assert ("on-failure", {"2", "3", "243"}) == (_one(DAEMON, "Restart"), prevent)


def test_daemon_has_no_start_step_that_restart_prevention_misses() -> None:
    """Only the main process is checked against RestartPreventExitStatus= (systemd.service(5)).

    A failing ExecStartPre=/ExecStartPost= would be restarted until the start limit,
    so the config check is left to the main process (`run`), which exits 2.
    """
    actual = [k for s, k, _ in _settings(DAEMON) if k in ("ExecStartPre", "ExecStartPost")]
    assert [] == actual


@pytest.mark.parametrize(
    ("config_text", "what"),
    [("state_file = 1\n", "wrong type"), (None, "missing file")],
)
def test_bad_config_makes_the_main_process_exit_with_a_no_restart_status(
    tmp_path: Path, config_text: str | None, what: str
) -> None:
    """ExecStart's own command, given an unusable config, exits 2, which is not restarted."""
    venv = Path(sys.executable).parent.parent
    argv = _one(DAEMON, "ExecStart").replace(PROD_VENV, str(venv)).split()
    config = tmp_path / "config.toml"
    if config_text is not None:
        config.write_text(config_text)
    key, _, _ = _one(DAEMON, "Environment").partition("=")
    env = {"PATH": "/usr/bin:/bin", key: str(config)}
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, check=False)
    prevent = _one(DAEMON, "RestartPreventExitStatus").split()
    actual = (result.returncode, str(result.returncode) in prevent, "error:" in result.stderr)
    assert (EXIT_USAGE, True, True) == actual, (what, result.stderr)


def test_exit_codes_match_errors_module() -> None:
    """The exit codes in the units are the ones errors.py defines."""
    actual = {str(ConfigError.exit_code), str(StateLockedError.exit_code)}
    assert {str(EXIT_USAGE), str(EXIT_LOCKED)} == actual
    assert {str(EXIT_LOCKED)} == set(_one(ONCE, "SuccessExitStatus").split())


def test_once_service_and_timer() -> None:
    """The oneshot runs `once`; the timer starts it every minute."""
    actual = (
        _one(ONCE, "Type"),
        _one(ONCE, "ExecStart"),
        _one(TIMER, "Unit", "Timer"),
        _one(TIMER, "OnCalendar", "Timer"),
        _one(TIMER, "WantedBy", "Install"),
    )
    expected = (
        "oneshot",
        f"{PROD_BINARY} once",
        ONCE,
        "*-*-* *:*:00",
        "timers.target",
    )
    assert expected == actual


def test_both_services_share_identity_and_sandbox() -> None:
    """The daemon and the oneshot run as the same user with the same hardening."""

    def sandbox(unit: str) -> list[tuple[str, str]]:
        settings = [(k, v) for s, k, v in _settings(unit) if s == "Service"]
        start = settings.index(("DynamicUser", "yes"))
        return settings[start:]

    daemon = sandbox(DAEMON)
    assert ("User", "iotwx-watch") in daemon
    assert daemon == sandbox(ONCE)


def test_log_directories_are_read_only_and_state_is_the_only_write() -> None:
    """Both log directories are mounted read-only; ProtectSystem=strict leaves StateDirectory."""
    actual = (
        _one(DAEMON, "ProtectSystem"),
        _one(DAEMON, "BindReadOnlyPaths"),
        _one(DAEMON, "ReadOnlyPaths"),
        _values(DAEMON, "ReadWritePaths"),
    )
    expected: tuple[str, str, str, list[str]] = (
        "strict",
        "-/home/docker-nginx/www/wxcallback/basic",
        "-/iotp/log",
        [],
    )
    assert expected == actual


def test_network_limited_to_internet_and_unix_sockets() -> None:
    """Only AF_INET/AF_INET6 (WeCom API) and AF_UNIX (notify, journald) are allowed."""
    families = set(_one(DAEMON, "RestrictAddressFamilies").split())
    assert {"AF_INET", "AF_INET6", "AF_UNIX"} == families


@pytest.mark.parametrize("unit", [DAEMON, ONCE])
def test_unit_commands_exist_in_the_cli(unit: str) -> None:
    """The subcommand each unit's ExecStart runs is a registered CLI command."""
    binary, command, *_ = _one(unit, "ExecStart").split()
    assert (PROD_BINARY, True) == (binary, command in cli_main.commands), command


@needs_systemd_analyze
def test_verify_is_clean(tmp_path: Path) -> None:
    """`systemd-analyze verify` prints nothing for the units (venv path made local)."""
    copy = _local_copy(tmp_path)
    result = _analyze("verify", *(str(copy / unit) for unit in UNITS))
    assert (0, "") == (result.returncode, result.stdout + result.stderr)


@needs_systemd_analyze
def test_verify_complains_only_about_the_production_binary() -> None:
    """Unmodified, verify's only complaint is that /opt/iotwx-watch/venv is not installed."""
    result = _analyze("verify", *(str(UNIT_DIR / unit) for unit in UNITS))
    lines = set((result.stdout + result.stderr).splitlines())
    allowed = {
        f"{unit}: Command {PROD_BINARY} is not executable: No such file or directory"
        for unit in (DAEMON, ONCE)
    }
    assert set() == lines - allowed


@needs_systemd_analyze
def test_documented_credentials_drop_in_verifies(tmp_path: Path) -> None:
    """The LoadCredential= drop-in shown in the daemon unit's comments is valid."""
    copy = _local_copy(tmp_path)
    example = [
        line.removeprefix("#     ")
        for line in (UNIT_DIR / DAEMON).read_text().splitlines()
        if line.startswith("#     ") and ("[Service]" in line or "LoadCredential=" in line)
    ]
    drop_in = copy / "iotwx-.service.d"
    drop_in.mkdir()
    text = "\n".join(example).replace("<suite_id>", "dk1234567890abcdef") + "\n"
    (drop_in / "credentials.conf").write_text(text)
    result = _analyze("verify", str(copy / DAEMON), str(copy / ONCE))
    assert 4 == len(example)
    assert (0, "") == (result.returncode, result.stdout + result.stderr)


@needs_systemd_analyze
def test_shipped_credentials_drop_in_verifies(tmp_path: Path) -> None:
    """systemd/credentials.conf, installed as the units' drop-in, verifies cleanly and
    names a suite's secret and a sink's URL credential as the config looks for them."""
    copy = _local_copy(tmp_path)
    drop_in = copy / "iotwx-.service.d"
    drop_in.mkdir()
    shipped = UNIT_DIR / "credentials.conf"
    (drop_in / "credentials.conf").write_text(shipped.read_text())
    result = _analyze("verify", str(copy / DAEMON), str(copy / ONCE))
    names = {v.split(":", 1)[0] for v in _values("credentials.conf", "LoadCredential")}
    assert (0, "") == (result.returncode, result.stdout + result.stderr)
    assert {"dk1234567890abcdef.suite_secret", "notify-oncall.url"} <= names


@needs_systemd_analyze
@pytest.mark.parametrize("unit", [DAEMON, ONCE])
def test_security_exposure_at_most_2(unit: str) -> None:
    """`systemd-analyze security --offline=true` rates each service 2.0 or less."""
    result = _analyze("security", "--offline=true", "--no-pager", str(UNIT_DIR / unit))
    exposure = _exposure(result.stdout + result.stderr, unit)
    assert exposure <= MAX_EXPOSURE, result.stdout
    threshold = _analyze(
        "security", "--offline=true", f"--threshold={int(MAX_EXPOSURE * 10)}", str(UNIT_DIR / unit)
    )
    assert 0 == threshold.returncode


_MDWE_CHILD = """
import ctypes, mmap, sys, tempfile
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN (Linux 6.3)
    sys.exit(77)
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit("W+X mapping was allowed: the check is not in force")
except OSError:
    pass
import httpx, watchdog.events, watchdog.observers
import iotwx_watch.cli
from iotwx_watch.extract.crypto import CallbackCrypto
crypto = CallbackCrypto("t", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "id")
encrypt, sig = crypto.encrypt(b"hi", timestamp="1", nonce="2")
assert b"hi" == crypto.decrypt(msg_signature=sig, timestamp="1", nonce="2", encrypt=encrypt)
httpx.Client(timeout=5).close()
with tempfile.TemporaryDirectory() as tmp:
    observer = watchdog.observers.Observer()
    observer.schedule(watchdog.events.FileSystemEventHandler(), tmp)
    observer.start()
    observer.stop()
    observer.join()
print("ok")
"""


def test_runtime_works_under_memory_deny_write_execute() -> None:
    """The libraries the daemon loads work with W+X memory refused, as MemoryDenyWriteExecute=."""
    assert "yes" == _one(DAEMON, "MemoryDenyWriteExecute")
    result = subprocess.run(
        [sys.executable, "-c", _MDWE_CHILD], capture_output=True, text=True, timeout=60
    )
    if result.returncode == 77:
        pytest.skip("kernel has no PR_SET_MDWE (Linux < 6.3)")
    assert (0, "ok\n") == (result.returncode, result.stdout), result.stderr
