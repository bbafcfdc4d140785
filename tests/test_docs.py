"""The documentation against the code: references, config examples, module lists, layers.

Everything checked here is derived from the code or the files themselves, so a new
config key, module or import that the docs do not describe fails a test instead of
drifting silently.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iotwx_watch.config import Config, load_config, parse_config
from iotwx_watch.events import event_to_json
from iotwx_watch.extract import ExtractorKind
from iotwx_watch.run.reader import iter_file_events

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "iotwx_watch"
DOCS = ROOT / "docs"
README = ROOT / "README.md"
ARCHITECTURE = DOCS / "architecture.md"
SAMPLE_CONFIG = ROOT / "sample_logs" / "iotwx-watch.toml"

# Never part of the repository's own content (generated, installed or VCS data).
SKIP_DIRS = {".git", ".venv", "venv", "__pycache__", ".mypy_cache", ".ruff_cache",
             ".pytest_cache", ".hypothesis", "build", "dist", "node_modules"}

# Notes that live outside the repository. Written in pieces so this file does not
# match itself.
OUTSIDE_NAMES = ("DESIGN", "STYLE", "tailing", "peers", "wecom")
OUTSIDE_DOC = re.compile(
    r"(?P<prefix>(?:[\w.-]+/)*)(?P<name>" + "|".join(OUTSIDE_NAMES) + r")\.md"
)
OUTSIDE_DIR = re.compile("shared" + "/")
VENDOR_MANUAL = re.compile("000_" + "da67997a511e9987")

# Config fields that are not read from the TOML file.
NOT_FROM_TOML = {"path", "warnings"}
# Config fields whose TOML name differs: arrays of tables are named in the singular.
TOML_NAMES = {"suites": "suite", "sources": "source", "patterns": "pattern"}

AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"  # a public test vector

# Pages another branch is writing: until they land, a link to them may dangle. Nothing
# else may; drop a name from here once its page is in the tree.
PENDING_PAGES: set[str] = set()

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


# -- helpers ----------------------------------------------------------------------------


def repo_files() -> Iterator[Path]:
    """Every file of the repository's own content, text or not."""
    stack = [ROOT]
    while stack:
        directory = stack.pop()
        for entry in sorted(directory.iterdir()):
            if entry.is_dir():
                if entry.name in SKIP_DIRS or entry.name.endswith(".egg-info"):
                    continue
                if entry.relative_to(ROOT).as_posix() == "bench/out":
                    continue
                stack.append(entry)
            elif entry.is_file() and entry.name != ".git":
                yield entry


def text_of(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", "replace")


def fenced_blocks(text: str, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(text) if lang == language]


def block_after(text: str, marker: str) -> str:
    """The body of the first fenced block after the line holding ``marker``."""
    start = text.index(marker)
    match = FENCE.search(text, start)
    assert match is not None, f"no fenced block after {marker!r}"
    return match.group(2)


def modules() -> set[str]:
    """Every module of the package, as a path relative to iotwx_watch/."""
    return {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")}


def secret_fields(cls: type) -> set[str]:
    """Secret fields (``repr=False``) can also be given as ``<name>_file``."""
    return {f.name for f in dataclasses.fields(cls) if not f.repr}


def table_keys(cls: type) -> set[str]:
    keys = {f.name for f in dataclasses.fields(cls)}
    return keys | {f"{name}_file" for name in secret_fields(cls)}


def accepted_keys() -> set[str]:
    """Every key the config accepts, derived from the Config dataclasses (dotted for tables)."""
    hints = typing.get_type_hints(Config)
    keys: set[str] = set()
    for f in dataclasses.fields(Config):
        if f.name in NOT_FROM_TOML:
            continue
        kind = hints[f.name]
        args = typing.get_args(kind)
        item = args[0] if typing.get_origin(kind) is tuple and args else kind
        if isinstance(item, type) and dataclasses.is_dataclass(item):
            name = TOML_NAMES.get(f.name, f.name)
            keys |= {f"{name}.{key}" for key in table_keys(item)}
        else:
            keys.add(f.name)
    return keys


def keys_in(data: dict[str, Any]) -> set[str]:
    """The keys a parsed TOML document sets, dotted for tables and arrays of tables."""
    keys: set[str] = set()
    for key, value in data.items():
        tables = [value] if isinstance(value, dict) else value if isinstance(value, list) else []
        if tables and all(isinstance(t, dict) for t in tables):
            keys |= {f"{key}.{sub}" for table in tables for sub in table}
        else:
            keys.add(key)
    return keys


def example_secret(path: Path, what: str) -> str:
    """Stands in for reading a ``*_file`` secret: a value of the right shape."""
    if "notify" in what:  # a sink's URL: a robot's, which has the strictest shape
        return "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=example-key"
    return AES_KEY if "encoding_aes_key" in what else f"secret from {path.name}"


def readme_configs() -> list[dict[str, Any]]:
    """The README's ```toml blocks, and the configs its shell steps write with a heredoc."""
    text = README.read_text("utf-8")
    bodies = fenced_blocks(text, "toml")
    for script in fenced_blocks(text, "sh"):
        bodies += re.findall(r"^cat > \S+\.toml <<'EOF'\n(.*?)^EOF$", script, re.M | re.S)
    return [tomllib.loads(body) for body in bodies]


def wing_of(module: str) -> str:
    """``follow/cursor.py`` → ``follow``; ``config.py`` → ``config``; the root → ``""``."""
    first = module.split("/")[0]
    if first == "__init__.py":
        return ""
    return first.removesuffix(".py")


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


# -- references -------------------------------------------------------------------------


def test_no_reference_to_documents_outside_the_repository() -> None:
    """No file points to a note kept outside the repo; doc names resolve to repo files."""
    found: list[str] = []
    for path in repo_files():
        text = text_of(path)
        if text is None:
            continue
        where = path.relative_to(ROOT).as_posix()
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE_DIR.search(line) or VENDOR_MANUAL.search(line):
                found.append(f"{where}:{number}: {line.strip()}")
                continue
            for match in OUTSIDE_DOC.finditer(line):
                name = f"{match['prefix']}{match['name']}.md"
                candidates = [(path.parent / name).resolve(), (ROOT / name).resolve()]
                if not any(c.is_file() and c.is_relative_to(ROOT) for c in candidates):
                    found.append(f"{where}:{number}: {line.strip()}")
    assert [] == found


def test_readme_doc_links_exist() -> None:
    """Every docs/… file the README names exists."""
    named = set(re.findall(r"docs/[\w./-]+\.md", README.read_text("utf-8")))
    assert {"docs/architecture.md", "docs/state.md"} <= named
    missing = {name for name in named if not (ROOT / name).is_file()}
    assert set() == missing - PENDING_PAGES


def test_links_between_docs_resolve() -> None:
    """Relative links in docs/*.md name existing files, and their #anchors existing headings."""
    broken: list[str] = []
    for page in sorted(DOCS.glob("*.md")):
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text("utf-8")):
            if re.match(r"[a-z]+:", target):
                continue
            name, _, anchor = target.partition("#")
            linked = (page.parent / name).resolve() if name else page
            if not linked.is_file():
                if linked.relative_to(ROOT).as_posix() not in PENDING_PAGES:
                    broken.append(f"{page.name}: {target}")
                continue
            if anchor:
                headings = re.findall(r"^#+ (.+)$", linked.read_text("utf-8"), re.M)
                if anchor not in {slug(h) for h in headings}:
                    broken.append(f"{page.name}: {target}")
    assert [] == broken


# -- configuration ----------------------------------------------------------------------


def test_sample_config_loads() -> None:
    """sample_logs/iotwx-watch.toml loads with the project's own loader."""
    config = load_config(SAMPLE_CONFIG)
    assert str(SAMPLE_CONFIG) == config.path
    assert 2 == len(config.sources)


@pytest.mark.parametrize("index", range(len(readme_configs())))
def test_readme_config_examples_parse(index: int) -> None:
    """Each config example in the README parses with the project's parser."""
    data = readme_configs()[index]
    config = parse_config(data, read_secret=example_secret)
    assert len(data.get("source", [])) == len(config.sources)


def test_readme_has_config_examples() -> None:
    """The README shows the essentials block and the config of the service install."""
    assert 2 <= len(readme_configs())


def test_examples_cover_every_config_key() -> None:
    """Together the sample config and the README's examples set every key the code reads."""
    shown = keys_in(tomllib.loads(SAMPLE_CONFIG.read_text("utf-8")))
    for data in readme_configs():
        shown |= keys_in(data)
    assert set() == accepted_keys() - shown


def test_every_sample_key_has_a_comment() -> None:
    """Each key line in the sample config has a comment on it or on the line(s) above."""
    lines = SAMPLE_CONFIG.read_text("utf-8").splitlines()
    first_seen: set[str] = set()
    bare: list[str] = []
    table = ""
    for number, line in enumerate(lines):
        if line.startswith("["):
            table = line.strip("[] ")
            continue
        match = re.match(r"(\w+) = ", line)
        if match is None:
            continue
        key = f"{table}.{match[1]}" if table else match[1]
        if key in first_seen:
            continue
        first_seen.add(key)
        if "#" not in line and not lines[number - 1].startswith("#"):
            bare.append(key)
    assert [] == bare


def test_accepted_keys_include_secret_files() -> None:
    """The derived key set knows the *_file form of every secret."""
    keys = accepted_keys()
    expected = {"suite.suite_secret_file", "suite.token_file", "suite.encoding_aes_key_file",
                "notify.url_file", "state_file", "wecom.base_url", "source.rotated_glob"}
    assert set() == expected - keys


# -- modules and layers -----------------------------------------------------------------


def test_architecture_lists_every_module() -> None:
    """docs/architecture.md has one row per module of iotwx_watch/, and no stale row."""
    rows = re.findall(r"^\| `([\w/]+\.py)` \|", ARCHITECTURE.read_text("utf-8"), re.M)
    assert len(rows) == len(set(rows))
    assert modules() == set(rows)


def test_readme_module_tree_matches_the_package() -> None:
    """The README's module tree names every module (but the __init__ files), and only those."""
    block = block_after(README.read_text("utf-8"), "<!-- modules:")
    listed: set[str] = set()
    wing = ""
    for line in block.splitlines()[1:]:
        if match := re.match(r"  (\w+)/\s", line + " "):
            wing = match[1] + "/"
        elif match := re.match(r"    (\w+\.py)\s", line + " "):
            listed.add(wing + match[1])
        elif match := re.match(r"  (\w+\.py)\s", line + " "):
            listed.add(match[1])
    assert {m for m in modules() if not m.endswith("__init__.py")} == listed


def test_documented_layers_are_the_import_linter_contract() -> None:
    """The layer block in docs/architecture.md lists the rows of pyproject.toml's contract."""
    block = block_after(ARCHITECTURE.read_text("utf-8"), "<!-- layers:")
    documented = [{wing.strip() for wing in line.split("|")} for line in block.splitlines()]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    contracts = pyproject["tool"]["importlinter"]["contracts"]
    layers = next(c["layers"] for c in contracts if c["type"] == "layers")
    contract = [{m.strip().removeprefix("iotwx_watch.") for m in row.split("|")} for row in layers]
    assert contract == documented


def test_documented_layers_name_every_wing() -> None:
    """Every wing and top-level module of the package has its row in the layer block."""
    block = block_after(ARCHITECTURE.read_text("utf-8"), "<!-- layers:")
    documented = {wing.strip() for line in block.splitlines() for wing in line.split("|")}
    assert {wing_of(m) for m in modules()} - {""} == documented


# -- the parse contract -----------------------------------------------------------------


def test_documented_event_shapes_match_the_code() -> None:
    """The parse lines in docs/architecture.md have exactly the keys the sample logs yield."""
    block = block_after(ARCHITECTURE.read_text("utf-8"), "<!-- events:")
    documented = {}
    for line in block.splitlines():
        body = json.loads(line)
        documented[body["type"]] = (sorted(body), sorted(body["source"]))
    config = load_config(SAMPLE_CONFIG)
    produced = {}
    logs: tuple[tuple[str, ExtractorKind], ...] = (
        ("receive.log", "callback"), ("policy_engine.log", "policy_engine"))
    for name, kind in logs:
        path = str(ROOT / "sample_logs" / name)
        for event in iter_file_events(path, kind, config=config):
            body = event_to_json(event)
            produced[body["type"]] = (sorted(body), sorted(body["source"]))
    assert produced == documented
