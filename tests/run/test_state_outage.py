"""Redis down under a running instance (in-process runner, real redis-server): the logs are
still read, no saved position runs ahead of what Redis holds, the outage is a metric and a
notification, and everything read meanwhile is written once Redis is back."""

from __future__ import annotations

import json
import time
from pathlib import Path

from iotwx_watch.config import load_config
from iotwx_watch.run.daemon import make_client, make_runner
from iotwx_watch.run.hooks import hooks_for
from iotwx_watch.state.backend import local_path, read_state
from tests.conftest import Workdir, blocked_record
from tests.redis_server import PASSWORD, RedisServer
from tests.report.receiver import Receiver


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def saved_offset(work: Workdir) -> int:
    """The policy log's position in this host's local file (0 when none yet)."""
    path = local_path(str(work.state_file))
    if not path.exists():
        return 0
    sources = json.loads(path.read_text())["sources"]
    return int(sources.get(str(work.policy_log), {}).get("offset", 0))


def gauge(textfile: Path, name: str) -> float:
    for line in textfile.read_text().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in {textfile}")


def test_an_outage_loses_nothing_and_says_so(workdir: Workdir, redis_server: RedisServer,
                                             receiver: Receiver, tmp_path: Path) -> None:
    """Lines read while Redis is down stay in memory with the position saved before them;
    the outage is state_write_ok 0 and one state_unwritable message; when Redis is back
    they are written, the position catches up, and one recovery message follows."""
    textfile = tmp_path / "metrics.prom"
    workdir.extra_config = (
        f'state = "{redis_server.url}"\nlanguage = "en"\n\n[metrics]\ntextfile = "{textfile}"\n'
        f'\n[[notify]]\nname = "hook"\nkind = "webhook"\nurl = "{receiver.url}/hook"\n')
    workdir.write_config()
    config = load_config(workdir.config_file, env={"IOTWX_WATCH_REDIS_PASSWORD": PASSWORD})
    clock = Clock()
    hooks = hooks_for(config, clock=clock, sink_options={"min_spacing_s": 0.0})
    try:
        with make_client(config) as client, make_runner(config, client, hooks,
                                                        clock=clock) as runner:
            workdir.append(workdir.policy_log, blocked_record("198.51.100.1"))
            runner.batch()
            before = saved_offset(workdir)
            assert workdir.policy_log.stat().st_size == before
            redis_server.stop()
            workdir.append(workdir.policy_log, blocked_record("198.51.100.2") * 2)
            runner.batch()
            assert runner.write_failure is not None
            assert "198.51.100.2" in runner.state.blocked_ips  # read, kept in memory
            assert before == saved_offset(workdir)  # the position did not move past it
            assert 0.0 == gauge(textfile, "iotwx_watch_state_write_ok")
            hooks.flush(runner, 10)
            assert "state_unwritable" in receiver.kinds()
            redis_server.start()
            clock.now = runner.write_failure.next_retry_at + 0.1
            runner.batch()
            runner.batch()
            assert runner.write_failure is None
            assert workdir.policy_log.stat().st_size == saved_offset(workdir)
            assert 1.0 == gauge(textfile, "iotwx_watch_state_write_ok")
            hooks.flush(runner, 10)
    finally:
        hooks.close()
    kinds = receiver.kinds()
    assert kinds.index("state_unwritable") < kinds.index("state_recovered")
    assert 1 == kinds.count("state_unwritable")
    shared = read_state(config)
    assert {"198.51.100.1": 1, "198.51.100.2": 2} == {
        ip: entry.count for ip, entry in shared.blocked_ips.items()}
