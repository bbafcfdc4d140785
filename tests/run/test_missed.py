"""A record no extractor understands reaches the operator (status, metric, one message),
and a [[pattern]] plus a reload reads it after all, while its code is still valid.
Real `iotwx-watch run` against the simulator and a real webhook receiver."""

from __future__ import annotations

import signal
import time

from tests.conftest import SUITE_A, Workdir, ticket_record, wait_for
from tests.report.receiver import Receiver
from tests.run.support import Daemon, corps

PATTERN = (
    '\n[[pattern]]\nkind = "callback"\n'
    "regex = 'InfoType->(?P<info_type>\\w+) \\| SuiteId->(?P<suite_id>\\w+) \\| "
    "AuthCode->(?P<auth_code>[\\w-]+) \\| TimeStamp->(?P<timestamp>\\d+)'\n"
)


def test_missed_record_alarm_then_pattern_and_reload_reads_it(
    workdir: Workdir, receiver: Receiver
) -> None:
    """A create_auth in a form nobody reads: status exit 1 naming file and offset, the
    metric, one notification; a [[pattern]] and SIGHUP redeem the code and clear it."""
    textfile = workdir.root / "metrics.prom"
    sinks = f'\n[[notify]]\nkind = "webhook"\nname = "oncall"\nurl = "{receiver.url}/hook"\n'
    metrics = f'\n[metrics]\ntextfile = "{textfile}"\n'
    workdir.write_config()
    base = workdir.config_file.read_text()
    workdir.config_file.write_text(base + metrics + sinks)
    now = int(time.time())
    ticket = workdir.sim.push_ticket(SUITE_A, timestamp=now)
    code = workdir.sim.issue_auth_code(SUITE_A, "wwcorp0000000077")
    workdir.append(workdir.receive_log, ticket_record(SUITE_A, ticket, now))
    offset = workdir.receive_log.stat().st_size
    workdir.append(workdir.receive_log, f"INFO got callback: InfoType->create_auth | SuiteId->"
                   f"{SUITE_A} | AuthCode->{code} | TimeStamp->{now}\n")
    daemon = Daemon(workdir)
    try:
        daemon.wait_ready()
        wait_for(lambda: workdir.state().get("missed_records"), what="the missed record")
        status = workdir.run("status")
        assert 1 == status.returncode
        assert f"{workdir.receive_log}:{offset} was not understood" in status.stdout
        assert code not in status.stdout
        wait_for(lambda: "iotwx_watch_unrecognized_records_total" in (
            textfile.read_text() if textfile.exists() else ""), what="the metric")
        assert 'reason="unknown_form"' in textfile.read_text()
        wait_for(lambda: "record_unrecognized" in str(receiver.bodies), what="the message")
        workdir.config_file.write_text(base + metrics + sinks + PATTERN)
        daemon.process.send_signal(signal.SIGHUP)
        wait_for(lambda: "wwcorp0000000077" in corps(workdir, SUITE_A), what="redeemed")
        assert {} == workdir.state().get("missed_records", {})
    finally:
        exit_code, output = daemon.stop()
    assert 0 == exit_code, output
    assert code not in output
    assert 1 == sum(1 for body in receiver.bodies if "record_unrecognized" in str(body)
                    and "recovered" not in str(body.get("kind", "")))
