"""Tests for iotwx_watch.config: TOML → frozen dataclasses, secrets, clear errors."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from iotwx_watch.config import (
    Config,
    load_config,
    parse_config,
    parse_listen,
    read_secret_file,
)
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
    """Every key of a full config is read, a secret from its _file."""
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


def test_systemd_credentials(tmp_path: Path) -> None:
    """A secret absent from the config is read from $CREDENTIALS_DIRECTORY."""
    (tmp_path / "dk1.suite_secret").write_text("cred-secret")
    config = parse_config(
        {"suite": [{"suite_id": "dk1"}]},
        env={"CREDENTIALS_DIRECTORY": str(tmp_path)},
        read_secret=read_secret_file,
    )
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
        parse_config(
            {"suite": [{"suite_id": "dk1", "suite_secret_file": str(tmp_path / "x")}]},
            read_secret=read_secret_file,
        )


def test_world_readable_config_with_inline_secret_warns(tmp_path: Path) -> None:
    """A config holding a secret and readable by others gets a warning."""
    path = write(tmp_path, '[[suite]]\nsuite_id = "dk1"\nsuite_secret = "abc"\n', mode=0o644)
    config = load_config(path)
    assert any("readable by group/others" in w for w in config.warnings)
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert not any("readable" in w for w in load_config(path).warnings)


def test_env_var_names_the_config(tmp_path: Path) -> None:
    """$IOTWX_WATCH_CONFIG is used when no path is given."""
    path = write(tmp_path, f'state_file = "{tmp_path}/s.json"\n')
    env = {"IOTWX_WATCH_CONFIG": os.fspath(path)}
    assert Config(state_file=f"{tmp_path}/s.json", path=str(path)) == load_config(env=env)


def test_suite_without_secret_warns() -> None:
    """A suite with no secret is allowed (tickets are still recorded) but warned about."""
    config = parse_config({"suite": [{"suite_id": "dk1"}]})
    assert any("no suite_secret" in w for w in config.warnings)


@pytest.mark.parametrize(
    ("listen", "expected"),
    [("127.0.0.1:9464", ("127.0.0.1", 9464)), ("9464", ("127.0.0.1", 9464)),
     (":9464", ("127.0.0.1", 9464)), ("[::1]:9464", ("::1", 9464)),
     ("0.0.0.0:80", ("0.0.0.0", 80)), ("localhost:9464", ("localhost", 9464))],
)
def test_parse_listen(listen: str, expected: tuple[str, int]) -> None:
    """listen defaults to loopback; IPv6 in brackets works."""
    assert expected == parse_listen(listen)


@pytest.mark.parametrize(
    "listen", ["localhost", "127.0.0.1:http", "1.2.3.4:70000", "nonsense", "99999",
               "example.com:9464"],
)
def test_parse_listen_rejects_junk(listen: str) -> None:
    """A listen value without a usable address and port is a config error."""
    with pytest.raises(ConfigError):
        parse_listen(listen)


@pytest.mark.parametrize("listen", ["nonsense", "127.0.0.1:99999"])
def test_bad_metrics_listen_is_a_config_error(listen: str) -> None:
    """check-config and once reject the same listen values: both go through parse_config."""
    with pytest.raises(ConfigError, match=r"\[metrics\] listen"):
        parse_config({"metrics": {"listen": listen}})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize(
    "data", [lambda v: {"max_line_bytes": v}, lambda v: {"wecom": {"timeout_s": v}},
             lambda v: {"poll_interval_s": v}],
    ids=["max_line_bytes", "timeout_s", "poll_interval_s"],
)
def test_non_finite_numbers_are_rejected(value: float, data: Any) -> None:
    """nan and inf are never a usable size or duration: one clear ConfigError."""
    with pytest.raises(ConfigError, match="finite"):
        parse_config(data(value))


def test_secret_file_must_be_a_regular_file() -> None:
    """/dev/zero as a secret file fails at once instead of hanging."""
    with pytest.raises(ConfigError, match="not a regular file"):
        read_secret_file(Path("/dev/zero"), "suite_secret_file")


def test_secret_file_must_be_utf8(tmp_path: Path) -> None:
    """A secret file that is not UTF-8 gives one clear line, not a traceback."""
    path = tmp_path / "secret"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_secret_file(path, "suite_secret_file")


def test_huge_secret_file_is_refused(tmp_path: Path) -> None:
    """A file far larger than any secret is a wrong path, not a secret."""
    path = tmp_path / "secret"
    path.write_bytes(b"a" * 100_000)
    with pytest.raises(ConfigError, match="larger than"):
        read_secret_file(path, "suite_secret_file")


def test_parse_config_reads_no_file_by_itself(tmp_path: Path) -> None:
    """Without a reader, parse_config refuses a secret file rather than opening it."""
    (tmp_path / "s").write_text("secret-value")
    data = {"suite": [{"suite_id": "dk1", "suite_secret_file": str(tmp_path / "s")}]}
    with pytest.raises(ConfigError, match="load_config"):
        parse_config(data)
    config = parse_config(data, read_secret=lambda path, what: path.read_text())
    suite = config.suite("dk1")
    assert suite is not None
    assert "secret-value" == suite.suite_secret


# -- property tests: whatever the file holds, one ConfigError or a Config ---------------

_KEYS = {
    None: ["state_file", "start", "watch", "poll_interval_s", "rotate_wait_s", "max_line_bytes",
           "log_level", "wecom", "suite", "source", "pattern", "metrics", "notify", "name",
           "language", "remind_critical_s", "remind_warn_s", "junk", "state", "state_mirror",
           "redis"],
    "wecom": ["base_url", "timeout_s", "permanent_code_api", "junk"],
    "suite": ["suite_id", "suite_secret", "suite_secret_file", "token", "encoding_aes_key",
              "junk"],
    "source": ["kind", "path", "rotated_glob", "junk"],
    "pattern": ["kind", "regex", "info_type", "junk"],
    "metrics": ["textfile", "listen", "junk"],
    "notify": ["kind", "url", "url_file", "min_interval_s", "name", "mentioned_list",
               "mentioned_mobile_list", "expire_after_s", "junk"],
    "redis": ["prefix", "instance", "password", "password_file", "junk"],
}
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.sampled_from(["callback", "policy_engine", "end", "poll", "v2", "webhook",
                     "wecom_robot", "https://qyapi.weixin.qq.com", "http://127.0.0.1:1",
                     "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", "http://[::1",
                     "zh-CN", "oncall",
                     "(?P<ip>x)", "[", "127.0.0.1:0", "dk1", "/dev/zero", "file",
                     "redis://127.0.0.1:6379/0", "unix:///run/redis.sock", "redis://:pw@h"]),
)


def _table(where: str | None) -> st.SearchStrategy[dict[str, Any]]:
    keys = st.sampled_from(_KEYS[where])
    return st.dictionaries(keys, _SCALARS | st.lists(_SCALARS, max_size=3), max_size=6)


_CONFIGS = st.fixed_dictionaries({}, optional={
    "state_file": _SCALARS, "start": _SCALARS, "watch": _SCALARS, "poll_interval_s": _SCALARS,
    "max_line_bytes": _SCALARS, "log_level": _SCALARS, "junk": _SCALARS,
    "name": _SCALARS, "language": _SCALARS, "remind_critical_s": _SCALARS,
    "wecom": _table("wecom") | _SCALARS, "metrics": _table("metrics") | _SCALARS,
    "suite": st.lists(_table("suite") | _SCALARS, max_size=3) | _SCALARS,
    "source": st.lists(_table("source"), max_size=3),
    "pattern": st.lists(_table("pattern"), max_size=2),
    "notify": st.lists(_table("notify"), max_size=2),
    "state": _SCALARS, "state_mirror": _SCALARS, "redis": _table("redis") | _SCALARS,
})


def _no_files(path: Path, what: str) -> str:
    raise ConfigError(f"{what}: not read in this test")


@settings(max_examples=300, deadline=None)
@given(_CONFIGS)
def test_any_config_shape_gives_a_config_or_one_config_error(data: dict[str, Any]) -> None:
    """Wrong types, nan, huge numbers, unknown keys: parse_config raises only ConfigError."""
    try:
        config = parse_config(data, read_secret=_no_files)
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(config, Config)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300) | st.text(max_size=300).map(lambda s: s.encode("utf-8")))
def test_any_bytes_as_a_config_file_give_one_config_error(tmp_path: Path, raw: bytes) -> None:
    """Arbitrary bytes in the config file: a Config or one ConfigError, never a traceback."""
    path = tmp_path / "fuzz.toml"
    path.write_bytes(raw)
    path.chmod(0o600)
    try:
        load_config(path, env={})
    except ConfigError as exc:
        assert "\n" not in str(exc)


def test_require_signature_needs_the_callback_keys() -> None:
    """require_signature without token and encoding_aes_key could verify nothing."""
    with pytest.raises(ConfigError, match="require_signature needs"):
        parse_config({"suite": [{"suite_id": "dk1", "require_signature": True}]})
    config = parse_config({"suite": [{"suite_id": "dk1", "require_signature": True,
                                      "token": "t", "encoding_aes_key": AES_KEY}]})
    suite = config.suite("dk1")
    assert suite is not None and suite.require_signature
