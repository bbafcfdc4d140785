"""TOML configuration → frozen dataclasses.

Secrets (suite_secret, callback token, EncodingAESKey, webhook URLs) can be given
inline, as ``<name>_file = "path"``, or through systemd credentials: a file named
``<suite_id>.<name>`` (for a suite) in ``$CREDENTIALS_DIRECTORY``. Secret fields are
``repr=False``. Loading never logs: problems worth a warning are returned in
:attr:`Config.warnings` for the caller to report.

:func:`parse_config` is pure: the environment and the reading of secret files are
passed in. :func:`load_config` is the shell around it that reads the TOML file, the
process environment and the secret files.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from iotwx_watch.errors import ConfigError

SourceKind = Literal["callback", "policy_engine"]
SOURCE_KINDS: tuple[SourceKind, ...] = ("callback", "policy_engine")
CONFIG_ENV = "IOTWX_WATCH_CONFIG"
DEFAULT_CONFIG_PATH = "/etc/iotwx-watch/config.toml"
DEFAULT_STATE_FILE = "/var/lib/iotwx-watch/state.json"
DEFAULT_MAX_LINE_BYTES = 1024 * 1024
DEFAULT_METRICS_HOST = "127.0.0.1"
DEFAULT_REDIS_PREFIX = "iotwx-watch"
# The Redis password from the environment: for a systemd EnvironmentFile= (never argv).
REDIS_PASSWORD_ENV = "IOTWX_WATCH_REDIS_PASSWORD"
STATE_SCHEMES = ("redis", "rediss", "unix")
SECRET_FILE_MAX_BYTES = 64 * 1024  # a secret is a few dozen bytes; more means a wrong path

# Reads one secret file, raising ConfigError with a clear reason (load_config's own).
SecretFileReader = Callable[[Path, str], str]

# Settings that belong at the top of the file, before any [table]; found inside a table,
# they were written below its header (TOML puts every key after a header in that table).
TOP_LEVEL_KEYS = frozenset(
    {"state_file", "start", "watch", "poll_interval_s", "rotate_wait_s", "max_line_bytes",
     "log_level", "name", "language", "remind_critical_s", "remind_warn_s", "state",
     "state_mirror"}
)
LANGUAGES = ("zh-CN", "en")
NotifyKind = Literal["wecom_robot", "webhook"]
ROBOT_PATH = "/cgi-bin/webhook/send"
ROBOT_HOST = "qyapi.weixin.qq.com"

# WeCom ids: letters, digits and a few separators (suite ids start with ww/wx/dk/tj).
_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")
# A sink's name: a metric label and part of a credential's file name.
_SINK_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_AES_KEY_RE = re.compile(r"^[A-Za-z0-9]{43}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")  # an instance name, a key prefix


@dataclass(frozen=True)
class SuiteConfig:
    """One 代开发 template (suite) and its credentials."""

    suite_id: str
    suite_secret: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    encoding_aes_key: str | None = field(default=None, repr=False)
    # only signature-verified envelopes count (a callback script that logs raw POST bodies)
    require_signature: bool = False

    @property
    def can_decrypt(self) -> bool:
        return self.token is not None and self.encoding_aes_key is not None


@dataclass(frozen=True)
class SourceConfig:
    """A log file to follow and what kind of log it is."""

    kind: SourceKind
    path: str
    rotated_glob: str | None = None  # siblings to search after a rotation while stopped


@dataclass(frozen=True)
class PatternConfig:
    """An operator's regular expression with named groups, for a format the built-ins miss."""

    kind: SourceKind
    regex: str
    info_type: str | None = None  # used when the regex has no ``info_type`` group


@dataclass(frozen=True)
class WeComConfig:
    base_url: str = "https://qyapi.weixin.qq.com"
    timeout_s: float = 10.0
    permanent_code_api: Literal["v1", "v2"] = "v1"


@dataclass(frozen=True)
class MetricsConfig:
    textfile: str | None = None  # node_exporter textfile collector target
    listen: str | None = None  # "127.0.0.1:9464"; None = no HTTP listener


@dataclass(frozen=True)
class NotifyConfig:
    """A notification sink: a WeCom group robot or a generic JSON webhook.

    ``name`` labels its metrics and its state (so reordering ``[[notify]]`` changes
    nothing) and names its credential, ``notify-<name>.url``.
    """

    kind: NotifyKind
    url: str = field(repr=False)
    name: str = ""
    mentioned_list: tuple[str, ...] = ()  # critical robot messages @ these userids
    mentioned_mobile_list: tuple[str, ...] = ()  # … and these mobile numbers
    expire_after_s: float = 86400.0  # an undelivered message is retried this long

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.kind)


@dataclass(frozen=True)
class RedisConfig:
    """The shared state in Redis (``state = "redis://…"``): one key prefix per deployment.

    ``instance`` names this server in the fleet (claims, blocked-IP sightings); None
    means the host name, which the CLI supplies. The password is a secret: inline,
    ``password_file``, the credential ``redis.password`` or $IOTWX_WATCH_REDIS_PASSWORD.
    """

    prefix: str = DEFAULT_REDIS_PREFIX
    instance: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Config:
    state_file: str = DEFAULT_STATE_FILE
    state: str = "file"  # "file", or the Redis URL (redis://, rediss://, unix://), no password
    state_mirror: bool = False  # with Redis: keep a read-only copy at state_file
    start: Literal["beginning", "end"] = "beginning"
    watch: Literal["auto", "inotify", "poll"] = "auto"
    poll_interval_s: float = 2.0
    rotate_wait_s: float = 30.0
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    log_level: str = "info"
    wecom: WeComConfig = WeComConfig()
    suites: tuple[SuiteConfig, ...] = ()
    sources: tuple[SourceConfig, ...] = ()
    patterns: tuple[PatternConfig, ...] = ()
    metrics: MetricsConfig = MetricsConfig()
    notify: tuple[NotifyConfig, ...] = ()
    name: str | None = None  # the deployment's name in messages; None: the host name
    language: Literal["zh-CN", "en"] = "zh-CN"  # of notification messages
    remind_critical_s: float = 4 * 3600.0  # a critical condition is told again this often
    remind_warn_s: float = 24 * 3600.0  # a warning likewise; 0: never
    redis: RedisConfig = RedisConfig()
    path: str | None = None
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def uses_redis(self) -> bool:
        """The state lives in Redis, shared by every instance of the deployment."""
        return self.state != "file"

    def suite(self, suite_id: str) -> SuiteConfig | None:
        for suite in self.suites:
            if suite.suite_id == suite_id:
                return suite
        return None


@dataclass(frozen=True)
class _Inputs:
    """What parse_config needs from outside the TOML: environment and secret files."""

    env: Mapping[str, str]
    read_secret_file: SecretFileReader


def _no_secret_files(path: Path, what: str) -> str:
    raise ConfigError(f"{what}: {path} is not read here; load the config with load_config")


class _Table:
    """A TOML table read with type checks and a clear error naming the key."""

    def __init__(
        self, data: Mapping[str, Any], where: str, inputs: _Inputs, *, nested: bool = False
    ) -> None:
        self.data = data
        self.where = where
        self.nested = nested
        self.inputs = inputs
        self.used: set[str] = set()

    def _get(self, key: str, types: type | tuple[type, ...], default: Any) -> Any:
        self.used.add(key)
        if key not in self.data:
            return default
        value = self.data[key]
        allowed = types if isinstance(types, tuple) else (types,)
        if isinstance(value, bool) and bool not in allowed:
            raise ConfigError(f"{self.where}: '{key}' must not be true/false")
        if not isinstance(value, types):
            raise ConfigError(f"{self.where}: '{key}' has the wrong type ({type(value).__name__})")
        return value

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self._get(key, str, default)
        return None if value is None else str(value)

    def flag(self, key: str, default: bool = False) -> bool:
        return bool(self._get(key, bool, default))

    def required_str(self, key: str) -> str:
        value = self.text(key)
        if not value:
            raise ConfigError(f"{self.where}: '{key}' is required")
        return value

    def number(self, key: str, default: float, *, minimum: float = 0.0) -> float:
        value = float(self._get(key, (int, float), default))
        if not math.isfinite(value):
            raise ConfigError(f"{self.where}: '{key}' must be a finite number, not {value}")
        if value < minimum:
            raise ConfigError(f"{self.where}: '{key}' must be at least {minimum}")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        values = self._get(key, list, [])
        if not all(isinstance(v, str) and v for v in values):
            raise ConfigError(f"{self.where}: '{key}' must be a list of strings")
        return tuple(values)
    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.text(key, default)
        if value not in choices:
            raise ConfigError(f"{self.where}: '{key}' must be one of {', '.join(choices)}")
        return value

    def table(self, key: str) -> _Table:
        return _Table(self._get(key, dict, {}), f"[{key}]", self.inputs, nested=True)

    def tables(self, key: str) -> list[_Table]:
        items = self._get(key, list, [])
        if not all(isinstance(item, dict) for item in items):
            raise ConfigError(f"{self.where}: '{key}' must be written as [[{key}]] tables")
        return [
            _Table(item, f"[[{key}]] #{n}", self.inputs, nested=True)
            for n, item in enumerate(items, 1)
        ]

    def secret(self, key: str, credential: str | None) -> str | None:
        """A secret given inline, as ``<key>_file``, or as a systemd credential."""
        inline = self.text(key)
        file_name = self.text(f"{key}_file")
        if inline is not None and file_name is not None:
            raise ConfigError(f"{self.where}: give '{key}' or '{key}_file', not both")
        if inline is not None:
            return inline
        read = self.inputs.read_secret_file
        if file_name is not None:
            return read(Path(file_name), f"{self.where}: '{key}_file'")
        cred_dir = self.inputs.env.get("CREDENTIALS_DIRECTORY")
        if credential and cred_dir:
            path = Path(cred_dir) / credential
            if path.is_file():
                return read(path, f"{self.where}: credential {credential}")
        return None

    def reject_unknown(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if not unknown:
            return
        misplaced = [key for key in unknown if key in TOP_LEVEL_KEYS and self.nested]
        if misplaced:  # TOML put a top-level key written below a [table] header into it
            raise ConfigError(
                f"{self.where}: '{misplaced[0]}' is a top-level setting, but it is written "
                f"below a table header, so TOML puts it in the table; "
                f"move `{misplaced[0]}` above the first [table]"
            )
        raise ConfigError(
            f"{self.where}: unknown key(s): {', '.join(self._did_you_mean(k) for k in unknown)}"
        )

    def _did_you_mean(self, key: str) -> str:
        """``key`` with the closest key accepted here, if one is close (a typo)."""
        import difflib

        close = difflib.get_close_matches(key, sorted(self.used), n=1, cutoff=0.7)
        return f"{key} (did you mean {close[0]}?)" if close else key


def read_secret_file(path: Path, what: str) -> str:
    """A secret file's text: a small regular UTF-8 file, else one clear ConfigError.

    Opened non-blocking and checked to be a regular file first, so a mistaken path
    such as ``/dev/zero`` or a FIFO fails at once instead of hanging or filling memory.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read {path}: {exc.strerror}") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError(f"{what}: {path} is not a regular file")
        data = os.read(fd, SECRET_FILE_MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)
    if len(data) > SECRET_FILE_MAX_BYTES:
        raise ConfigError(f"{what}: {path} is larger than {SECRET_FILE_MAX_BYTES} bytes")
    try:
        value = data.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what}: {path} is not UTF-8 text") from exc
    if not value:
        raise ConfigError(f"{what}: {path} is empty")
    return value


def parse_listen(listen: str) -> tuple[str, int]:
    """``127.0.0.1:9464``, ``[::1]:9464``, ``9464`` or ``:9464`` (loopback) → (host, port)."""
    host, _, port_text = listen.strip().rpartition(":")
    host = host.strip("[]") or DEFAULT_METRICS_HOST
    if not port_text.isdigit() or int(port_text) > 65535:  # 0: any free port
        raise ConfigError(f"[metrics] listen: expected host:port (port 0-65535), got {listen!r}")
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError as exc:
            raise ConfigError(
                f"[metrics] listen: {host!r} is not an IP address (or localhost)"
            ) from exc
    return host, int(port_text)


def _check_base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url.rstrip("/")
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        loopback = host == "localhost"
        with contextlib.suppress(ValueError):
            loopback = loopback or ipaddress.ip_address(host).is_loopback
        if loopback:
            return url.rstrip("/")
        raise ConfigError(f"[wecom] base_url: plain http is allowed only to loopback, not {host}")
    raise ConfigError(f"[wecom] base_url: not an https URL: {url!r}")


def _check_state(url: str) -> str:
    """``file`` or a Redis URL; a password in it is refused: the URL is shown in messages
    and `check-config`, and the config file may be readable by others."""
    if url == "file":
        return url
    parts = urlsplit(url)
    if parts.scheme not in STATE_SCHEMES:
        raise ConfigError(
            f"state: expected \"file\" or a redis://, rediss:// or unix:// URL, not {url!r}"
        )
    try:
        parts.port  # noqa: B018  (a bad port raises)
    except ValueError as exc:
        raise ConfigError(f"state: bad port in the Redis URL ({exc})") from None
    if parts.password is not None or "password" in parse_qs(parts.query):
        raise ConfigError(
            "state: the Redis URL holds a password; put it in [redis] password_file, the "
            f"credential redis.password or ${REDIS_PASSWORD_ENV} instead"
        )
    if parts.scheme == "unix" and not parts.path:
        raise ConfigError(f"state: a unix:// URL needs the socket's path, e.g. "
                          f"unix:///run/redis/redis.sock, not {url!r}")
    if parts.scheme != "unix" and not parts.hostname:
        raise ConfigError(f"state: the Redis URL names no host: {url!r}")
    return url


def _redis(table: _Table, state: str) -> RedisConfig:
    prefix = table.text("prefix", DEFAULT_REDIS_PREFIX) or ""
    if not _NAME_RE.match(prefix):
        raise ConfigError(f"{table.where}: prefix must be 1-64 letters, digits, '_', '.' or '-'")
    instance = table.text("instance")
    if instance is not None and not _NAME_RE.match(instance):
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


def _suite(table: _Table) -> SuiteConfig:
    suite_id = table.required_str("suite_id")
    if not _ID_RE.match(suite_id):
        raise ConfigError(f"{table.where}: suite_id {suite_id!r} is not a WeCom id")
    suite = SuiteConfig(
        suite_id=suite_id,
        suite_secret=table.secret("suite_secret", f"{suite_id}.suite_secret"),
        token=table.secret("token", f"{suite_id}.token"),
        encoding_aes_key=table.secret("encoding_aes_key", f"{suite_id}.encoding_aes_key"),
        require_signature=table.flag("require_signature"),
    )
    if suite.encoding_aes_key is not None and not _AES_KEY_RE.match(suite.encoding_aes_key):
        raise ConfigError(f"{table.where}: encoding_aes_key must be 43 letters and digits")
    if (suite.token is None) != (suite.encoding_aes_key is None):
        raise ConfigError(f"{table.where}: give both token and encoding_aes_key, or neither")
    if suite.require_signature and not suite.can_decrypt:
        raise ConfigError(f"{table.where}: require_signature needs token and encoding_aes_key "
                          "(to verify the envelopes)")
    table.reject_unknown()
    return suite


def _pattern(table: _Table) -> PatternConfig:
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


def _notify(table: _Table, warnings: list[str]) -> NotifyConfig:
    """One sink; its URL inline, from ``url_file`` or the credential ``notify-<name>.url``."""
    kind = table.choice("kind", ("wecom_robot", "webhook"), "webhook")
    name = table.text("name") or kind
    if not _SINK_NAME_RE.match(name):
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


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_notify_url(kind: str, url: str, where: str) -> list[str]:
    """Errors (raised) and warnings (returned) about a sink URL; none repeats the URL,
    which holds the robot's key or the webhook's token."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # e.g. an unclosed [IPv6 bracket
        raise ConfigError(f"{where}: the url is not a URL") from None
    if parts.scheme not in ("http", "https") or not host:
        shown = f"'{parts.scheme}:'" if parts.scheme else "no scheme"
        raise ConfigError(f"{where}: the url must be http(s)://host/…, not {shown}")
    warnings = []
    if parts.scheme == "http" and not _is_loopback(host):
        warnings.append(f"{where}: plain http to {host}: the URL and every message "
                        "cross the network in clear; use https")
    if kind == "wecom_robot":
        key = [v for v in parse_qs(parts.query).get("key", []) if v]
        if parts.path.rstrip("/") != ROBOT_PATH or not key:
            raise ConfigError(f"{where}: not a WeCom group robot URL (expected "
                              f"https://{ROBOT_HOST}{ROBOT_PATH}?key=…)")
        if host != ROBOT_HOST and not _is_loopback(host):
            warnings.append(f"{where}: the robot URL's host is {host}, not {ROBOT_HOST}")
    return warnings


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
    inputs = _Inputs(env=env or {}, read_secret_file=read_secret or _no_secret_files)
    top = _Table(data, path or "config", inputs)
    warnings: list[str] = []

    wecom_t = top.table("wecom")
    wecom = WeComConfig(
        base_url=_check_base_url(wecom_t.text("base_url", WeComConfig.base_url) or ""),
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

    state = _check_state(top.text("state", "file") or "file")
    redis = _redis(top.table("redis"), state)
    if urlsplit(state).scheme == "redis" and not _is_loopback(urlsplit(state).hostname or ""):
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
