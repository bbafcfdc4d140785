"""The configuration as frozen dataclasses, its defaults and the names it accepts."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

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
ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")
# A sink's name: a metric label and part of a credential's file name.
SINK_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
AES_KEY_RE = re.compile(r"^[A-Za-z0-9]{43}$")
NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")  # an instance name, a key prefix


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

    @property
    def enabled(self) -> bool:
        """Whether any export is configured (else the exporter is never built)."""
        return bool(self.textfile or self.listen)


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


