"""Decisions: which WeCom call to make and when, given events and the state.

``core`` is the :class:`Engine`; ``tokens`` keeps suite tickets and tokens; ``ledger``
holds the auth-code ledger's helpers; ``port`` is the :class:`WeComApi` Protocol the
engine owns and :mod:`iotwx_watch.wecom` implements.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iotwx_watch import lazy_face

if TYPE_CHECKING:
    from iotwx_watch.engine.core import Engine
    from iotwx_watch.engine.ledger import code_key
    from iotwx_watch.engine.outcomes import Outcome
    from iotwx_watch.engine.port import Authorization, SuiteToken, WeComApi

_HOMES = {
    "Engine": "core",
    "Outcome": "outcomes",
    "code_key": "ledger",
    "Authorization": "port",
    "SuiteToken": "port",
    "WeComApi": "port",
}
__all__ = [
    "Authorization",
    "Engine",
    "Outcome",
    "SuiteToken",
    "WeComApi",
    "code_key",
]
__getattr__ = lazy_face(__name__, _HOMES)
