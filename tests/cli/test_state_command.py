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


def everything_in(server: RedisServer) -> str:
    """Every key and value Redis holds, as text (strings, hashes, sets)."""
    client = server.client()
    found: list[bytes | str] = []
    for key in client.scan_iter(match="*"):
        kind = client.type(key)
        found.append(key)
        if kind == b"string":
            found.append(client.get(key) or b"")
        elif kind == b"hash":
            for name, value in client.hgetall(key).items():
                found += [name, value]
        elif kind == b"set":
            found += list(client.smembers(key))
    return "\n".join(x.decode() if isinstance(x, bytes) else x for x in found)


def with_local_parts() -> bytes:
    """The fixture plus what belongs to one instance: notifications, a service problem and
    a record it could not read."""
    doc = json.loads(previous_bytes())
    doc["notifications"] = {"outbox": {"7": {
        "sink": "oncall", "kind": "ticket_stale", "key": "ticket:dk1", "severity": "warn",
        "title": "stale", "created_at": "2026-11-28T13:00:00Z",
        "expires_at": "2026-11-29T13:00:00Z"}}, "seq": 7}
    doc["service_errors"] = {"metrics_listen": {"error": "port in use",
                                                "since": "2026-11-28T13:00:00Z"}}
    doc["missed_records"] = {"/logs/receive.log:10": {
        "path": "/logs/receive.log", "offset": 10, "kind": "callback", "reason": "no_fields",
        "excerpt": "<xml>…", "first_seen": "2026-11-28T13:00:00Z"}}
    return json.dumps(doc, ensure_ascii=False).encode()


def test_an_instances_own_part_stays_on_its_host(workdir: Workdir, redis_server: RedisServer,
                                                 tmp_path: Path) -> None:
    """Notifications, service problems and unread records (like read positions) go to this
    host's local file, not to Redis, and come back with the rest on the way back."""
    document = with_local_parts()
    workdir.state_file.parent.mkdir(parents=True)
    workdir.state_file.write_bytes(document)
    redis_config(workdir, redis_server)
    assert 0 == workdir.run("state", "migrate", str(workdir.state_file),
                            redis_server.url).returncode
    in_redis = everything_in(redis_server)
    assert "pc-secret-0001" in in_redis  # the probe can fail: the shared parts are there
    for own in ("port in use", "ticket_stale", "no_fields", "mtime_ns"):
        assert own not in in_redis
    back = tmp_path / "back.json"
    assert 0 == workdir.run("state", "migrate", redis_server.url, str(back)).returncode
    assert without_save_time(document) == without_save_time(back.read_bytes())


def test_check_config_names_the_redis_state_never_its_password(
    workdir: Workdir, redis_server: RedisServer
) -> None:
    """check-config shows the URL, prefix and instance, says a password is given, and
    never shows it; it connects to nothing (Redis may be down)."""
    redis_config(workdir, redis_server, 'state_mirror = true\n\n[redis]\ninstance = "cb-9"\n')
    redis_server.stop()
    done = workdir.run("check-config")
    assert 0 == done.returncode, done.stderr
    assert (f"state: {redis_server.url} (prefix iotwx-watch, instance cb-9, password: given, "
            "mirror at state_file)") in done.stdout
    assert PASSWORD not in done.stdout + done.stderr
