"""Building a :class:`Config` from parsed TOML (pure) and from a file (the shell)."""

from __future__ import annotations

import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from iotwx_watch.config.checks import (
    check_base_url,
    check_notify_url,
    check_state,
    is_loopback,
    parse_listen,
    read_secret_file,
)
from iotwx_watch.config.model import (
    AES_KEY_RE,
    CONFIG_ENV,
    DEFAULT_CONFIG_PATH,
    DEFAULT_MAX_LINE_BYTES,
    DEFAULT_REDIS_PREFIX,
    DEFAULT_STATE_FILE,
    ID_RE,
    LANGUAGES,
    NAME_RE,
    REDIS_PASSWORD_ENV,
    SINK_NAME_RE,
    SOURCE_KINDS,
    Config,
    MetricsConfig,
    NotifyConfig,
    PatternConfig,
    RedisConfig,
    SecretFileReader,
    SourceConfig,
    SuiteConfig,
    WeComConfig,
)
from iotwx_watch.config.table import (
    ParseInputs,
    TomlTable,
    no_secret_files,
)
from iotwx_watch.errors import ConfigError


def _redis(table: TomlTable, state: str) -> RedisConfig:
    prefix = table.text("prefix", DEFAULT_REDIS_PREFIX) or ""
    if not NAME_RE.match(prefix):
        raise ConfigError(f"{table.where}: prefix must be 1-64 letters, digits, '_', '.' or '-'")
    instance = table.text("instance")
    if instance is not None and not NAME_RE.match(instance):
        raise ConfigError(
            f"{table.where}: instance must be 1-64 letters, digits, '_', '.' or '-'"
        )
    password = table.secret("password", "redis.password")
    if password is None:
        password = table.inputs.env.get(REDIS_PASSWORD_ENV) or None
    table.reject_unknown()
    if password is None and urlsplit(state).scheme in ("redis", "rediss"):
        raise ConfigError(
            f"state = {state!r}: Redis holds the corps' Secrets, so iotwx-watch does not use "
            "it without a password over TCP; give [redis] password_file, the credential "
            f"redis.password or ${REDIS_PASSWORD_ENV} (or connect through a unix:// socket)"
        )
    return RedisConfig(prefix=prefix, instance=instance, password=password)


def _suite(table: TomlTable) -> SuiteConfig:
    suite_id = table.required_str("suite_id")
    if not ID_RE.match(suite_id):
        raise ConfigError(f"{table.where}: suite_id {suite_id!r} is not a WeCom id")
    suite = SuiteConfig(
        suite_id=suite_id,
        suite_secret=table.secret("suite_secret", f"{suite_id}.suite_secret"),
        token=table.secret("token", f"{suite_id}.token"),
        encoding_aes_key=table.secret("encoding_aes_key", f"{suite_id}.encoding_aes_key"),
        require_signature=table.flag("require_signature"),
    )
    if suite.encoding_aes_key is not None and not AES_KEY_RE.match(suite.encoding_aes_key):
        raise ConfigError(f"{table.where}: encoding_aes_key must be 43 letters and digits")
    if (suite.token is None) != (suite.encoding_aes_key is None):
        raise ConfigError(f"{table.where}: give both token and encoding_aes_key, or neither")
    if suite.require_signature and not suite.can_decrypt:
        raise ConfigError(f"{table.where}: require_signature needs token and encoding_aes_key "
                          "(to verify the envelopes)")
    table.reject_unknown()
    return suite


def _pattern(table: TomlTable) -> PatternConfig:
    kind = table.choice("kind", SOURCE_KINDS, "callback")
    regex = table.required_str("regex")
    try:
        compiled = re.compile(regex)
    except re.error as exc:
        raise ConfigError(f"{table.where}: regex does not compile: {exc}") from exc
    if not compiled.groupindex:
        raise ConfigError(f"{table.where}: regex needs named groups such as (?P<ip>...)")
    pattern = PatternConfig(kind=kind, regex=regex, info_type=table.text("info_type"))  # type: ignore[arg-type]
    table.reject_unknown()
    return pattern


def _notify(table: TomlTable, warnings: list[str]) -> NotifyConfig:
    """One sink; its URL inline, from ``url_file`` or the credential ``notify-<name>.url``."""
    kind = table.choice("kind", ("wecom_robot", "webhook"), "webhook")
    name = table.text("name") or kind
    if not SINK_NAME_RE.match(name):
        raise ConfigError(f"{table.where}: name {name!r} must be letters, digits, '.', '_', '-'")
    where = f"{table.where} ({name})"
    url = table.secret("url", f"notify-{name}.url")
    if not url:
        raise ConfigError(f"{where}: 'url', 'url_file' or the credential notify-{name}.url "
                          "is required")
    warnings.extend(check_notify_url(kind, url, where))
    if "min_interval_s" in table.data:  # older configs must still load
        table.number("min_interval_s", 0.0)
        warnings.append(f"{where}: min_interval_s is no longer used (a condition is told once "
                        "when it starts, once when it clears; see remind_critical_s)")
    sink = NotifyConfig(
        kind=kind,  # type: ignore[arg-type]
        url=url,
        name=name,
        mentioned_list=table.strings("mentioned_list"),
        mentioned_mobile_list=table.strings("mentioned_mobile_list"),
        expire_after_s=table.number("expire_after_s", NotifyConfig.expire_after_s, minimum=60),
    )
    table.reject_unknown()
    return sink


def parse_config(
    data: Mapping[str, Any],
    *,
    path: str | None = None,
    env: Mapping[str, str] | None = None,
    read_secret: SecretFileReader | None = None,
) -> Config:
    """Build a :class:`Config` from already-parsed TOML, without touching the system.

    ``env`` supplies ``CREDENTIALS_DIRECTORY``; ``read_secret`` reads ``*_file`` secrets
    and credentials (without it, a config naming a secret file is an error).
    """
    inputs = ParseInputs(env=env or {}, read_secret_file=read_secret or no_secret_files)
    top = TomlTable(data, path or "config", inputs)
    warnings: list[str] = []

    wecom_t = top.table("wecom")
    wecom = WeComConfig(
        base_url=check_base_url(wecom_t.text("base_url", WeComConfig.base_url) or ""),
        timeout_s=wecom_t.number("timeout_s", WeComConfig.timeout_s, minimum=0.1),
        permanent_code_api=wecom_t.choice("permanent_code_api", ("v1", "v2"), "v1"),  # type: ignore[arg-type]
    )
    wecom_t.reject_unknown()

    suites = tuple(_suite(t) for t in top.tables("suite"))
    seen: set[str] = set()
    for suite in suites:
        if suite.suite_id in seen:
            raise ConfigError(f"suite {suite.suite_id} is configured twice")
        seen.add(suite.suite_id)
        if suite.suite_secret is None:
            warnings.append(
                f"suite {suite.suite_id} has no suite_secret: tickets are recorded, no call is made"
            )

    sources = []
    for t in top.tables("source"):
        sources.append(
            SourceConfig(
                kind=t.choice("kind", SOURCE_KINDS, "callback"),  # type: ignore[arg-type]
                path=t.required_str("path"),
                rotated_glob=t.text("rotated_glob"),
            )
        )
        t.reject_unknown()
    paths = [s.path for s in sources]
    if len(set(paths)) != len(paths):
        raise ConfigError("the same [[source]] path is configured twice")

    metrics_t = top.table("metrics")
    metrics = MetricsConfig(textfile=metrics_t.text("textfile"), listen=metrics_t.text("listen"))
    if metrics.listen is not None:
        parse_listen(metrics.listen)
    metrics_t.reject_unknown()

    notify = [_notify(t, warnings) for t in top.tables("notify")]
    names = [sink.name for sink in notify]
    if len(set(names)) != len(names):
        raise ConfigError("two [[notify]] have the same name: give each a distinct 'name' "
                          "(it labels their metrics and names their credential)")

    state = check_state(top.text("state", "file") or "file")
    redis = _redis(top.table("redis"), state)
    if urlsplit(state).scheme == "redis" and not is_loopback(urlsplit(state).hostname or ""):
        warnings.append(
            f"state = {state!r} is plain TCP to another host: the Redis password and the "
            "Secrets cross the network unencrypted; use rediss:// (TLS)"
        )

    config = Config(
        state_file=top.text("state_file", DEFAULT_STATE_FILE) or DEFAULT_STATE_FILE,
        state=state,
        state_mirror=top.flag("state_mirror", False),
        start=top.choice("start", ("beginning", "end"), "beginning"),  # type: ignore[arg-type]
        watch=top.choice("watch", ("auto", "inotify", "poll"), "auto"),  # type: ignore[arg-type]
        poll_interval_s=top.number("poll_interval_s", 2.0, minimum=0.05),
        rotate_wait_s=top.number("rotate_wait_s", 30.0),
        max_line_bytes=int(top.number("max_line_bytes", DEFAULT_MAX_LINE_BYTES, minimum=1024)),
        log_level=top.choice("log_level", ("debug", "info", "warning", "error"), "info"),
        wecom=wecom,
        suites=suites,
        sources=tuple(sources),
        patterns=tuple(_pattern(t) for t in top.tables("pattern")),
        metrics=metrics,
        notify=tuple(notify),
        name=top.text("name"),
        language=top.choice("language", LANGUAGES, "zh-CN"),  # type: ignore[arg-type]
        remind_critical_s=top.number("remind_critical_s", Config.remind_critical_s),
        remind_warn_s=top.number("remind_warn_s", Config.remind_warn_s),
        redis=redis,
        path=path,
        warnings=tuple(warnings),
    )
    top.reject_unknown()
    return config


def load_config(
    path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None
) -> Config:
    """Read the config from ``path``, ``$IOTWX_WATCH_CONFIG`` or the default location.

    ``env`` defaults to the process environment; secret files are read from disk.
    """
    env = os.environ if env is None else env
    chosen = Path(path or env.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)
    try:
        raw = chosen.read_bytes()
        mode = chosen.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"cannot read config {chosen}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config {chosen} is not valid TOML: {exc}") from exc
    config = parse_config(data, path=str(chosen), env=env, read_secret=read_secret_file)
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        config = replace(config, warnings=(*config.warnings, *_exposed_secrets(data, chosen,
                                                                              mode)))
    return config


def _exposed_secrets(data: Mapping[str, Any], chosen: Path, mode: int) -> list[str]:
    """Warnings for secrets written inline in a config that group or others can read."""
    warnings = []
    has_inline_secret = any(
        key in suite for suite in data.get("suite", []) if isinstance(suite, dict)
        for key in ("suite_secret", "token", "encoding_aes_key")
    )
    if has_inline_secret:
        warnings.append(
            f"config {chosen} holds secrets and is readable by group/others "
            f"(mode {stat.S_IMODE(mode):o}); chmod 600 it or use suite_secret_file"
        )
    redis = data.get("redis")
    if isinstance(redis, dict) and "password" in redis:
        warnings.append(
            f"[redis] password is inline in {chosen}, readable by group/others (mode "
            f"{stat.S_IMODE(mode):o}): Redis holds every Secret; use password_file, the "
            "credential redis.password or $IOTWX_WATCH_REDIS_PASSWORD, or chmod 600 the config"
        )
    for n, sink in enumerate(data.get("notify", []), 1):
        if isinstance(sink, dict) and "url" in sink:
            name = sink.get("name") or sink.get("kind") or "webhook"
            warnings.append(
                f"[[notify]] #{n} ({name}): its url (a robot key or webhook token) is inline "
                f"in {chosen}, readable by group/others (mode {stat.S_IMODE(mode):o}); use the "
                f"credential notify-{name}.url or url_file, or chmod 600 the config"
            )
    return warnings
