"""Values checked where they are read: secret files, listen addresses, URLs."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import stat
from pathlib import Path
from urllib.parse import SplitResult, parse_qs, urlsplit

from iotwx_watch.config.model import (
    DEFAULT_METRICS_HOST,
    REDIS_PASSWORD_ENV,
    ROBOT_HOST,
    ROBOT_PATH,
    SECRET_FILE_MAX_BYTES,
    STATE_SCHEMES,
)
from iotwx_watch.errors import ConfigError


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


def _split(url: str, where: str) -> SplitResult:
    """urlsplit, with its ValueError (an unclosed IPv6 bracket, a bad port) as a ConfigError."""
    try:
        parts = urlsplit(url)
        parts.hostname  # noqa: B018  (parsed lazily: may raise)
        parts.port  # noqa: B018
    except ValueError as exc:
        raise ConfigError(f"{where}: bad port or host in the URL ({exc})") from None
    return parts


def check_base_url(url: str) -> str:
    parts = _split(url, "[wecom] base_url")
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


def check_state(url: str) -> str:
    """``file`` or a Redis URL; a password in it is refused: the URL is shown in messages
    and `check-config`, and the config file may be readable by others."""
    if url == "file":
        return url
    parts = _split(url, "state")
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


def is_loopback(host: str) -> bool:
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
    if parts.scheme == "http" and not is_loopback(host):
        warnings.append(f"{where}: plain http to {host}: the URL and every message "
                        "cross the network in clear; use https")
    if kind == "wecom_robot":
        key = [v for v in parse_qs(parts.query).get("key", []) if v]
        if parts.path.rstrip("/") != ROBOT_PATH or not key:
            raise ConfigError(f"{where}: not a WeCom group robot URL (expected "
                              f"https://{ROBOT_HOST}{ROBOT_PATH}?key=…)")
        if host != ROBOT_HOST and not is_loopback(host):
            warnings.append(f"{where}: the robot URL's host is {host}, not {ROBOT_HOST}")
    return warnings


