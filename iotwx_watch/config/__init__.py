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

from iotwx_watch.config.checks import check_notify_url, parse_listen, read_secret_file
from iotwx_watch.config.model import (
    CONFIG_ENV,
    DEFAULT_CONFIG_PATH,
    DEFAULT_MAX_LINE_BYTES,
    DEFAULT_METRICS_HOST,
    DEFAULT_REDIS_PREFIX,
    DEFAULT_STATE_FILE,
    LANGUAGES,
    REDIS_PASSWORD_ENV,
    ROBOT_HOST,
    ROBOT_PATH,
    SECRET_FILE_MAX_BYTES,
    SOURCE_KINDS,
    STATE_SCHEMES,
    TOP_LEVEL_KEYS,
    Config,
    MetricsConfig,
    NotifyConfig,
    NotifyKind,
    PatternConfig,
    RedisConfig,
    SecretFileReader,
    SourceConfig,
    SourceKind,
    SuiteConfig,
    WeComConfig,
)
from iotwx_watch.config.parse import load_config, parse_config

__all__ = [
    "CONFIG_ENV",
    "Config",
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_MAX_LINE_BYTES",
    "DEFAULT_METRICS_HOST",
    "DEFAULT_REDIS_PREFIX",
    "DEFAULT_STATE_FILE",
    "LANGUAGES",
    "MetricsConfig",
    "NotifyConfig",
    "NotifyKind",
    "PatternConfig",
    "REDIS_PASSWORD_ENV",
    "ROBOT_HOST",
    "ROBOT_PATH",
    "RedisConfig",
    "SECRET_FILE_MAX_BYTES",
    "SOURCE_KINDS",
    "STATE_SCHEMES",
    "SecretFileReader",
    "SourceConfig",
    "SourceKind",
    "SuiteConfig",
    "TOP_LEVEL_KEYS",
    "WeComConfig",
    "check_notify_url",
    "load_config",
    "parse_config",
    "parse_listen",
    "read_secret_file",
]
