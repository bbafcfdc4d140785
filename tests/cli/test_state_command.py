"""`state export` and `state migrate` as real processes: the document out of either backend,
and a deployment moved from a file to Redis and back without loss."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import Workdir
from tests.redis_server import PASSWORD, RedisServer
from tests.state.support import previous_bytes


def redis_config(work: Workdir, server: RedisServer, extra: str = "") -> None:
    """Point the workdir's config at ``server``; the password comes from the environment."""
    work.env["IOTWX_WATCH_REDIS_PASSWORD"] = PASSWORD
    work.write_config(f'state = "{server.url}"\n{extra}')


def without_save_time(text: str | bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(text)
    data.pop("updated_at")
    return data


def test_export_from_a_file_prints_the_file(workdir: Workdir) -> None:
    """With the file backend, `state export` prints the state file's document."""
    workdir.state_file.parent.mkdir(parents=True)
    workdir.state_file.write_bytes(previous_bytes())
    done = workdir.run("state", "export")
    assert 0 == done.returncode, done.stderr
    assert without_save_time(previous_bytes()) == without_save_time(done.stdout)


def test_file_to_redis_and_back_loses_nothing(workdir: Workdir, redis_server: RedisServer,
                                              tmp_path: Path) -> None:
    """Every key of the schema-1 fixture (unknown keys too) goes to Redis and back; export
    from Redis shows the same document; a second migration into the same prefix is refused."""
    workdir.state_file.parent.mkdir(parents=True)
    workdir.state_file.write_bytes(previous_bytes())
    redis_config(workdir, redis_server)
    to_redis = workdir.run("state", "migrate", str(workdir.state_file), redis_server.url)
    assert 0 == to_redis.returncode, to_redis.stderr
    assert "read back identical" in to_redis.stderr
    exported = workdir.run("state", "export")
    assert without_save_time(previous_bytes()) == without_save_time(exported.stdout)
    back = tmp_path / "back" / "state.json"
    to_file = workdir.run("state", "migrate", redis_server.url, str(back))
    assert 0 == to_file.returncode, to_file.stderr
    assert without_save_time(previous_bytes()) == without_save_time(back.read_bytes())
    again = workdir.run("state", "migrate", str(workdir.state_file), redis_server.url)
    assert 2 == again.returncode
    assert "already holds a deployment" in again.stderr
    replaced = workdir.run("state", "migrate", "--replace", str(workdir.state_file),
                           redis_server.url)
    assert 0 == replaced.returncode, replaced.stderr


def test_migrate_refuses_what_would_lose_data(workdir: Workdir, redis_server: RedisServer,
                                              tmp_path: Path) -> None:
    """A missing source, an existing target file, and FROM/TO missing are refused."""
    redis_config(workdir, redis_server)
    existing = tmp_path / "existing.json"
    existing.write_text("{}")
    cases = [
        (("state", "migrate", str(tmp_path / "absent.json"), redis_server.url),
         "does not exist"),
        (("state", "migrate", redis_server.url, str(existing)), "exists; move it away"),
        (("state", "migrate", redis_server.url), "needs FROM and TO"),
    ]
    for args, message in cases:
        done = workdir.run(*args)
        assert 2 == done.returncode, (args, done.stderr)
        assert message in done.stderr
    assert "{}" == existing.read_text()


def test_status_and_export_with_redis_down_exit_2(workdir: Workdir,
                                                   redis_server: RedisServer) -> None:
    """Redis unreachable: `status` and `state export` say so in one line and exit 2;
    the password is in no output."""
    redis_config(workdir, redis_server)
    assert 0 == workdir.run("once").returncode
    redis_server.stop()
    for args in (("status",), ("state", "export")):
        done = workdir.run(*args)
        assert 2 == done.returncode, done.stdout + done.stderr
        assert f"cannot use Redis {redis_server.url}" in done.stderr
        assert PASSWORD not in done.stdout + done.stderr
