"""Tests for iotwx_watch.config: TOML → frozen dataclasses, secrets, clear errors."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from iotwx_watch.config import Config, load_config, parse_config
from iotwx_watch.errors import ConfigError

AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_defaults_from_an_empty_config() -> None:
    """An empty config is valid and takes the documented defaults."""
    config = parse_config({})
    assert "https://qyapi.weixin.qq.com" == config.wecom.base_url
    assert "beginning" == config.start
    assert 1024 * 1024 == config.max_line_bytes
    assert () == config.suites


def test_full_config_round_trip(tmp_path: Path) -> None:
    """Every documented key of DESIGN.md's example config is read."""
    secret_file = tmp_path / "dk1.secret"
    secret_file.write_text("from-a-file\n")
    path = write(
        tmp_path,
        f"""
state_file = "{tmp_path}/state.json"
[wecom]
base_url = "http://127.0.0.1:8080"
timeout_s = 3
[[suite]]
suite_id = "dk1234567890abcdef"
suite_secret_file = "{secret_file}"
token = "tok"
encoding_aes_key = "{AES_KEY}"
[[source]]
kind = "callback"
path = "/tmp/receive.log"
[[source]]
kind = "policy_engine"
path = "/tmp/policy_engine.log"
""",
    )
    config = load_config(path)
    assert "http://127.0.0.1:8080" == config.wecom.base_url
    assert 3.0 == config.wecom.timeout_s
    suite = config.suite("dk1234567890abcdef")
    assert suite is not None
    assert "from-a-file" == suite.suite_secret
    assert suite.can_decrypt
    assert ["callback", "policy_engine"] == [s.kind for s in config.sources]


def test_secret_not_in_repr() -> None:
    """A secret never shows in the repr of the config (logs, tracebacks)."""
    config = parse_config({"suite": [{"suite_id": "dk1", "suite_secret": "s3cr3t-value"}]})
    assert "s3cr3t-value" not in repr(config)


def test_systemd_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret absent from the config is read from $CREDENTIALS_DIRECTORY."""
    (tmp_path / "dk1.suite_secret").write_text("cred-secret")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    config = parse_config({"suite": [{"suite_id": "dk1"}]})
    suite = config.suite("dk1")
    assert suite is not None
    assert "cred-secret" == suite.suite_secret


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"wecom": {"base_url": "http://qyapi.weixin.qq.com"}}, "plain http"),
        ({"wecom": {"base_url": "ftp://x"}}, "not an https URL"),
        ({"suite": [{"suite_id": "bad id!"}]}, "not a WeCom id"),
        ({"suite": [{"suite_id": "dk1", "token": "t"}]}, "both token and encoding_aes_key"),
        ({"suite": [{"suite_id": "dk1", "token": "t", "encoding_aes_key": "short"}]}, "43 letters"),
        ({"suite": [{"suite_id": "dk1"}, {"suite_id": "dk1"}]}, "configured twice"),
        ({"source": [{"kind": "nginx", "path": "/x"}]}, "must be one of"),
        ({"source": [{"kind": "callback"}]}, "'path' is required"),
        ({"pattern": [{"regex": "(unclosed"}]}, "does not compile"),
        ({"pattern": [{"regex": "no groups"}]}, "named groups"),
        ({"stat_file": "/x"}, "unknown key"),
        ({"poll_interval_s": "fast"}, "wrong type"),
        ({"poll_interval_s": True}, "true/false"),
        (
            {"suite": [{"suite_id": "dk1", "suite_secret": "a", "suite_secret_file": "/b"}]},
            "not both",
        ),
    ],
)
def test_bad_config_is_a_clear_error(data: dict[str, object], message: str) -> None:
    """Each kind of mistake is a ConfigError (exit 2) that names the problem."""
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert message in str(info.value)
    assert 2 == info.value.exit_code


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    """A missing file and invalid TOML are ConfigErrors naming the file."""
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "state_file = "))


def test_missing_secret_file_is_an_error(tmp_path: Path) -> None:
    """suite_secret_file pointing nowhere fails at load time, not at the first call."""
    with pytest.raises(ConfigError, match="cannot read"):
        parse_config({"suite": [{"suite_id": "dk1", "suite_secret_file": str(tmp_path / "x")}]})


def test_world_readable_config_with_inline_secret_warns(tmp_path: Path) -> None:
    """A config holding a secret and readable by others gets a warning."""
    path = write(tmp_path, '[[suite]]\nsuite_id = "dk1"\nsuite_secret = "abc"\n', mode=0o644)
    config = load_config(path)
    assert any("readable by group/others" in w for w in config.warnings)
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert not any("readable" in w for w in load_config(path).warnings)


def test_env_var_names_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """$IOTWX_WATCH_CONFIG is used when no path is given."""
    path = write(tmp_path, f'state_file = "{tmp_path}/s.json"\n')
    monkeypatch.setenv("IOTWX_WATCH_CONFIG", os.fspath(path))
    assert Config(state_file=f"{tmp_path}/s.json", path=str(path)) == load_config()


def test_suite_without_secret_warns() -> None:
    """A suite with no secret is allowed (tickets are still recorded) but warned about."""
    config = parse_config({"suite": [{"suite_id": "dk1"}]})
    assert any("no suite_secret" in w for w in config.warnings)
