"""The state file: one JSON document (schema 1), locked, loaded loudly, saved atomically.

The file holds secrets (permanent codes, tokens), hence mode 0600 in a 0700
directory. A file that cannot be read as schema 1 is a loud :class:`StateError`,
never a silent reset: the operator decides what to do with it. The model itself
lives in :mod:`iotwx_watch.state.model`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from iotwx_watch.errors import StateError, StateLockedError, StateWriteError
from iotwx_watch.log import get_logger
from iotwx_watch.state.model import EncodeMemo, ShapeError, State, decode, encode_for_save

__all__ = ["StateStore", "write_atomically"]

log = get_logger("state")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: str | os.PathLike[str], data: bytes, *, mode: int) -> None:
    """Replace ``path`` with ``data``: a temp file (``mode``) in the same directory, fsync,
    rename, so a reader sees the old file or the new one, never half of one."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class StateStore:
    """Owns the state file: one process lock, loud loads, atomic saves that keep a ``.bak``."""

    def __init__(
        self, path: str | os.PathLike[str], *, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = Path(path)
        self.lock_path = Path(f"{self.path}.lock")
        self.bak_path = Path(f"{self.path}.bak")
        self._clock = clock
        self._memo = EncodeMemo()  # what this store wrote last: unchanged entries are reused
        self._written: bytes | None = None  # the content it wrote last, but updated_at

    def _ensure_dir(self) -> None:
        """Create the state directory (0700), and refuse one others may write into.

        Anyone who can write into the directory can plant a symlink or swap files, so a
        directory writable by others (without the sticky bit) is refused; one writable
        by the group or owned by another user is allowed with a warning.
        """
        directory = self.path.parent
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            st = directory.stat()
        except OSError as exc:
            raise StateError(f"cannot create state directory {directory}: {exc}") from exc
        mode = stat.S_IMODE(st.st_mode)
        if mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
            raise StateError(
                f"state directory {directory} is writable by others (mode {mode:o}): anyone "
                f"could replace the state file; chmod 700 {directory}"
            )
        if mode & stat.S_IWGRP or st.st_uid != os.geteuid():
            log.warning("state.directory_not_private", path=str(directory), mode=f"{mode:o}",
                        owner_uid=st.st_uid, uid=os.geteuid())

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the state lock for the ``with`` block so ``once`` and ``run`` never interleave.

        The lock file is opened without following a symlink and must be a plain file: a
        planted ``state.json.lock -> /etc/passwd`` must not make a root ``once`` write there.
        """
        self._ensure_dir()
        try:
            fd = os.open(self.lock_path,
                         os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise StateError(
                    f"lock file {self.lock_path} is a symbolic link; refusing to follow it "
                    "(remove it and check who can write into the state directory)"
                ) from exc
            raise StateError(f"cannot open lock file {self.lock_path}: {exc}") from exc
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                raise StateError(f"lock file {self.lock_path} is not a plain file of its own; "
                                 "remove it")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StateLockedError(str(self.lock_path), self._holder(fd)) from None
            os.ftruncate(fd, 0)
            # The pid only names the holder in another process's "locked" message: a full
            # disk must not stop a daemon that would otherwise wait for space.
            with contextlib.suppress(OSError):
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            self._remove_stale_temp_files()
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def _remove_stale_temp_files(self) -> None:
        """A save killed between mkstemp and rename leaves its temp file; holding the lock,
        no other writer can own one, so they go (a full disk needs every byte)."""
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()
                log.info("state.stale_temp_removed", path=str(stale))

    @staticmethod
    def _holder(fd: int) -> int | None:
        try:
            return int(os.pread(fd, 32, 0).decode("ascii", "replace").strip())
        except (OSError, ValueError):
            return None

    def load(self) -> State:
        """Read the state; a missing file is an empty state, anything unreadable is an error."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return State()
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise self._symlinked() from exc
            raise StateError(f"cannot read state file {self.path}: {exc.strerror}") from exc
        try:
            with os.fdopen(fd, "rb") as handle:
                raw = handle.read()
        except OSError as exc:
            raise StateError(f"cannot read state file {self.path}: {exc.strerror}") from exc
        try:
            return decode(raw)
        except ShapeError as exc:
            raise self._corrupt(str(exc)) from exc

    def _symlinked(self) -> StateError:
        return StateError(
            f"state file {self.path} is a symbolic link; refusing to read or replace it "
            "(move the real file into place and check who can write into the directory)"
        )

    def _corrupt(self, problem: str) -> StateError:
        bak = f"; the previous version is in {self.bak_path}" if self.bak_path.exists() else ""
        return StateError(
            f"state file {self.path}: {problem}; not overwriting it{bak}. "
            "Fix or move the file, then start again."
        )

    def save(self, state: State, *, if_changed: bool = False) -> bool:
        """Write atomically: temp (0600) in the same dir, fsync, keep .bak, replace, fsync dir.

        With ``if_changed``, a state that would write what this store wrote last (but for
        ``updated_at``) is not written, and False returned: the comparison comes with the
        encode, where a separate snapshot would walk the whole state once more.
        """
        content, file_bytes = encode_for_save(state, self._memo)
        if if_changed and content == self._written:
            return False
        text = file_bytes(self._clock())
        directory = self.path.parent
        tmp: str | None = None
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{self.path.name}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), 0o600)
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            if self.path.is_symlink():
                raise self._symlinked()
            if self.path.exists():
                self._keep_backup()
            os.replace(tmp, self.path)
            tmp = None
            _fsync_dir(directory)
        except OSError as exc:
            raise StateWriteError(f"cannot write state file {self.path}: {exc}") from exc
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        self._written = content
        log.debug("state.saved", path=str(self.path), bytes=len(text))
        return True

    def _keep_backup(self) -> None:
        """Make ``<path>.bak`` the file about to be replaced (hard link; copy if links fail)."""
        staging = Path(f"{self.bak_path}.new")
        with contextlib.suppress(FileNotFoundError):
            staging.unlink()
        try:
            os.link(self.path, staging)
        except OSError:
            shutil.copy2(self.path, staging)
        os.replace(staging, self.bak_path)
