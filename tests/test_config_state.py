"""The state settings of the config: `state` (file or a Redis URL), `state_mirror` and
`[redis]`, whose password never comes from the URL or the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from iotwx_watch.config import REDIS_PASSWORD_ENV, load_config, parse_config, read_secret_file
from iotwx_watch.errors import ConfigError


def test_the_file_backend_is_the_default() -> None:
    """No `state` key: the state file, as before, and no Redis settings needed."""
    config = parse_config({})
    assert ("file", False, False) == (config.state, config.state_mirror, config.uses_redis)
    assert ("iotwx-watch", None, None) == (config.redis.prefix, config.redis.instance,
                                           config.redis.password)


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://redis.internal:6380/2",
                                 "redis://iotwx@10.0.0.5/0"])
def test_a_redis_url_with_a_password_from_the_environment(url: str) -> None:
    """A TCP URL works with the password from $IOTWX_WATCH_REDIS_PASSWORD (an
    EnvironmentFile), which never shows in the config's repr."""
    config = parse_config({"state": url, "state_mirror": True,
                           "redis": {"prefix": "prod.cb", "instance": "cb-1"}},
                          env={REDIS_PASSWORD_ENV: "env-pass-0001"})
    assert (url, True, True) == (config.state, config.state_mirror, config.uses_redis)
    assert ("prod.cb", "cb-1", "env-pass-0001") == (
        config.redis.prefix, config.redis.instance, config.redis.password)
    assert "env-pass-0001" not in repr(config)


def test_the_password_from_a_file_or_a_credential(tmp_path: Path) -> None:
    """password_file, else the systemd credential redis.password, is read like every secret."""
    (tmp_path / "pw").write_text("file-pass\n")
    (tmp_path / "redis.password").write_text("cred-pass\n")
    base: dict[str, Any] = {"state": "redis://127.0.0.1/0"}
    from_file = parse_config({**base, "redis": {"password_file": str(tmp_path / "pw")}},
                             read_secret=read_secret_file)
    from_credential = parse_config(base, env={"CREDENTIALS_DIRECTORY": str(tmp_path)},
                                   read_secret=read_secret_file)
    assert ["file-pass", "cred-pass"] == [from_file.redis.password,
                                          from_credential.redis.password]


def test_a_unix_socket_needs_no_password() -> None:
    """Over a unix socket the file's permissions guard Redis: no password required."""
    config = parse_config({"state": "unix:///run/redis/redis-server.sock?db=1"})
    assert config.uses_redis
    assert config.redis.password is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"state": "redis://:hunter2@127.0.0.1/0"}, "holds a password"),
        ({"state": "redis://127.0.0.1/0?password=hunter2"}, "holds a password"),
        ({"state": "redis://127.0.0.1/0"}, "without a password over TCP"),
        ({"state": "mysql://db/x"}, 'expected "file" or a redis://'),
        ({"state": "unix://"}, "the socket's path"),
        ({"state": "redis:///0"}, "names no host"),
        ({"state": "redis://127.0.0.1:99999/0"}, "bad port"),
        ({"redis": {"prefix": "a b"}}, "prefix must be"),
        ({"redis": {"instance": ""}}, "instance must be"),
        ({"redis": {"prefx": "x"}}, "prefx (did you mean prefix?)"),
        ({"state_mirror": "yes"}, "wrong type"),
        ({"wecom": {"state": "file"}}, "move `state` above"),
    ],
)
def test_bad_state_settings_are_clear_errors(data: dict[str, Any], message: str) -> None:
    """Each mistake is one ConfigError (exit 2) naming it; no password is ever echoed."""
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert message in str(info.value)
    assert "hunter2" not in str(info.value)


def test_plain_tcp_to_another_host_warns() -> None:
    """redis:// to a remote host sends the password and Secrets in clear: a warning."""
    config = parse_config({"state": "redis://10.0.0.5/0"}, env={REDIS_PASSWORD_ENV: "p"})
    assert any("use rediss://" in warning for warning in config.warnings)
    local = parse_config({"state": "redis://127.0.0.1/0"}, env={REDIS_PASSWORD_ENV: "p"})
    assert not any("rediss" in warning for warning in local.warnings)


def test_an_inline_password_in_a_readable_config_warns(tmp_path: Path) -> None:
    """The inline-secret warning covers the Redis password too."""
    path = tmp_path / "c.toml"
    path.write_text('state = "redis://127.0.0.1/0"\n[redis]\npassword = "inline-pw"\n')
    path.chmod(0o644)
    assert any("readable by group/others" in w for w in load_config(path, env={}).warnings)
