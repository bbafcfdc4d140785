"""A TOML table read with type checks, one clear error naming the key, and "did you
mean" for a misspelt one."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iotwx_watch.config.model import (
    TOP_LEVEL_KEYS,
    SecretFileReader,
)
from iotwx_watch.errors import ConfigError


@dataclass(frozen=True)
class ParseInputs:
    """What parse_config needs from outside the TOML: environment and secret files."""

    env: Mapping[str, str]
    read_secret_file: SecretFileReader


def no_secret_files(path: Path, what: str) -> str:
    raise ConfigError(f"{what}: {path} is not read here; load the config with load_config")


class TomlTable:
    """A TOML table read with type checks and a clear error naming the key."""

    def __init__(
        self, data: Mapping[str, Any], where: str, inputs: ParseInputs, *, nested: bool = False
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

    def table(self, key: str) -> TomlTable:
        return TomlTable(self._get(key, dict, {}), f"[{key}]", self.inputs, nested=True)

    def tables(self, key: str) -> list[TomlTable]:
        items = self._get(key, list, [])
        if not all(isinstance(item, dict) for item in items):
            raise ConfigError(f"{self.where}: '{key}' must be written as [[{key}]] tables")
        return [
            TomlTable(item, f"[[{key}]] #{n}", self.inputs, nested=True)
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


