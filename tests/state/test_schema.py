"""The published JSON Schemas: valid draft 2020-12, printed by the CLI, and true of real output."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from iotwx_watch.cli.status_document import STATUS_SCHEMA_VERSION, status_schema
from iotwx_watch.sim.demo import default_samples_dir, run_demo
from iotwx_watch.state.model import AuthCodeEntry, CorpEntry, State, encode
from iotwx_watch.state.schema import state_schema
from tests.conftest import BIN
from tests.state.support import CORP, PENDING, SUITE, previous_doc

T0 = 1795852800.0


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def errors(schema: dict[str, Any], document: Any) -> list[str]:
    found = validator(schema).iter_errors(document)
    return [f"{list(e.absolute_path)}: {e.message}" for e in found]


def closed(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with no unlisted key allowed anywhere, to catch output it does not describe."""
    strict = copy.deepcopy(schema)
    for body in strict["$defs"].values():
        body["additionalProperties"] = False
    return strict


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A work directory the demo left: logs, config.toml and a real state file."""
    workdir = tmp_path_factory.mktemp("demo")
    run_demo(default_samples_dir(), workdir)
    yield workdir


def test_both_schemas_are_valid_draft_2020_12() -> None:
    """The metaschema accepts both published schemas."""
    for schema in (state_schema(), status_schema()):
        assert "https://json-schema.org/draft/2020-12/schema" == schema["$schema"]
        Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize(("name", "build"), [("state", state_schema), ("status", status_schema)])
def test_cli_prints_the_schema(name: str, build: Any) -> None:
    """`iotwx-watch schema NAME` prints exactly the generated schema, as JSON on stdout."""
    done = subprocess.run([BIN, "schema", name], capture_output=True, text=True, timeout=60,
                          check=False)
    assert (0, "") == (done.returncode, done.stderr)
    assert build() == json.loads(done.stdout)


def test_demo_state_file_matches_the_state_schema(demo: Path) -> None:
    """The state file the demo's real pipeline wrote validates against `schema state`."""
    document = json.loads((demo / "state" / "state.json").read_text(encoding="utf-8"))
    assert [] == errors(state_schema(), document)
    assert document["suites"]  # not an empty state: the demo redeemed codes


def test_status_json_matches_the_status_schema_exactly(demo: Path) -> None:
    """`status --json` on the demo validates, with no key the schema does not describe."""
    done = subprocess.run([BIN, "--config", str(demo / "config.toml"), "status", "--json"],
                          capture_output=True, text=True, timeout=60, check=False)
    document = json.loads(done.stdout)
    assert STATUS_SCHEMA_VERSION == document["schema_version"]
    assert [] == errors(closed(status_schema()), document)
    assert document["suites"] and document["problems"] and document["blocked_ips"]


def test_writer_output_matches_the_state_schema_with_and_without_optional_keys() -> None:
    """What the writer writes validates, whether no optional key is set or every one is."""
    empty = State()
    empty.suite("dk1").corps["ww1"] = CorpEntry()
    empty.suite("dk1").auth_codes["k"] = AuthCodeEntry("redeemed", "create_auth", 1, T0, T0)
    for state_doc in (json.loads(encode(empty)), json.loads(encode(State())), previous_doc()):
        assert [] == errors(state_schema(), state_doc)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["suites"][SUITE]["corps"][CORP].update(permanent_code=None),
         "None is not of type 'string'"),
        (lambda d: d["suites"][SUITE]["corps"][CORP].pop("status"), "'status' is a required"),
        (lambda d: d["suites"][SUITE]["auth_codes"][PENDING].update(status="redeemed"),
         "False schema does not allow"),
        (lambda d: d["blocked_ips"]["121.46.1.2"].update(last_seen="2026-11-28 11:00:00"),
         "does not match"),
        (lambda d: d.update(schema_version=2), "1 was expected"),
    ],
)
def test_state_schema_refuses_what_the_writer_never_writes(change: Any, expected: str) -> None:
    """Nulls, missing keys, a code kept after redemption, other time formats fail validation."""
    document = previous_doc()
    change(document)
    assert any(expected in e for e in errors(state_schema(), document)), errors(
        state_schema(), document)
