"""Where the ledger lives, as far as instances that share it must agree: the store's port.

One process with its own state file owns the ledger alone, so a claim is just a save
(:class:`LocalLedger`). Several instances sharing one state (Redis) can collide at three
places, and the store implements :class:`SharedLedger` with an atomic operation for each:

- the claim of an auth code (``pending → redeeming``) before ``get_permanent_code``: only
  the instance whose claim the store accepts makes the call;
- a ``redeeming`` entry found in the state: another instance's call in flight while its
  lease runs, else an interrupted call whose outcome is unknown;
- the suite token: one instance fetches it under a short lock, the others reuse it.

Everything else (results, tickets, blocked IPs) goes through the ``persist`` callback:
the store merges it (newest ticket wins, sightings add up, a stale write is refused).
The engine owns this Protocol; the stores in :mod:`iotwx_watch.state` implement it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from iotwx_watch.state.model import AuthCodeEntry, TokenEntry


class SharedLedger(Protocol):
    """The store's atomic operations the engine needs (see the module docstring)."""

    def claim(
        self, suite_id: str, key: str, entry: AuthCodeEntry, *, lease_until: float
    ) -> bool:
        """Store ``entry`` (now ``redeeming``) if nobody changed it since this instance last
        saw it. True: this instance holds the claim until ``lease_until`` and may call.
        False: another instance got there first, and ``entry`` now holds what the store
        holds. Raises :class:`~iotwx_watch.errors.StateWriteError` when it cannot tell."""
        ...

    def held_elsewhere(self, suite_id: str, key: str, now: float) -> bool:
        """True while a ``redeeming`` entry is another live instance's call (lease running)."""
        ...

    def refreshing_token(
        self, suite_id: str, fetch: Callable[[], str], *, usable: Callable[[TokenEntry], bool]
    ) -> str:
        """A suite token, ``fetch()`` run by at most one instance at a time: under the
        store's lock, a token another instance stored that is ``usable`` (not expiring,
        not one WeCom refused) is returned instead, and becomes the state's."""
        ...


class LocalLedger:
    """The single-process ledger: the state file is this process's alone (flock)."""

    def __init__(self, persist: Callable[[], None]) -> None:
        self._persist = persist

    def claim(
        self, suite_id: str, key: str, entry: AuthCodeEntry, *, lease_until: float
    ) -> bool:
        """Saved before the code leaves the host; nobody else can hold it."""
        self._persist()
        return True

    def held_elsewhere(self, suite_id: str, key: str, now: float) -> bool:
        """No other process shares this state: a ``redeeming`` entry was interrupted."""
        return False

    def refreshing_token(
        self, suite_id: str, fetch: Callable[[], str], *, usable: Callable[[TokenEntry], bool]
    ) -> str:
        return fetch()
