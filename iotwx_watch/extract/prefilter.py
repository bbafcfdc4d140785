"""What an operator's regex needs, read from its parse tree: a literal every match holds,
and whether a match can run over a newline.

A ``[[pattern]]`` regex run over a whole chunk costs a pass of ``re`` over every byte,
and a pattern that does not start with a literal (``(?P<ip>\\S+) refused``) makes ``re``
try every position (~0.1 GB/s). Most operator patterns hold a literal (``wecom refused``,
``ticket-push suite=``) and never match a newline; then the scanner searches for the
literal like a trigger word and runs the regex on the lines that hold it only. A
pattern with no literal of :data:`MIN_LITERAL` bytes (or a case-insensitive one) runs
over every chunk, as before; one that can match a newline runs over a chunk only when
the chunk holds its literal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MIN_LITERAL = 3


@dataclass(frozen=True)
class Prefilter:
    """``literal``: bytes every match contains (None: none known); ``one_line``: no match
    can hold a newline (nor depend on the start or end of the whole buffer)."""

    literal: bytes | None
    one_line: bool


def prefilter(regex: re.Pattern[bytes]) -> Prefilter:
    """The :class:`Prefilter` of a compiled bytes regex (nothing known if it cannot be read)."""
    try:
        from re import _parser  # type: ignore[attr-defined]

        tree = _parser.parse(regex.pattern, regex.flags)
    except Exception:  # a future re module: run the regex over every chunk, as before
        return Prefilter(None, False)
    flags = int(tree.state.flags)
    literal = None if flags & re.IGNORECASE else _longest_literal(list(tree.data))
    try:
        one_line = not _may_cross(list(tree.data), dotall=bool(flags & re.DOTALL))
    except Exception:
        one_line = False
    return Prefilter(literal, one_line)


def _longest_literal(items: list[tuple[Any, Any]]) -> bytes | None:
    """The longest run of plain literal bytes in the top-level sequence (each match has it)."""
    best: list[int] = []
    run: list[int] = []
    for op, av in items:
        if str(op) == "LITERAL":
            run.append(int(av))
            if len(run) > len(best):
                best = list(run)
        else:
            run = []
    return bytes(best) if len(best) >= MIN_LITERAL else None


# Categories of a character class, by whether they match "\n".
_CROSSING = {"CATEGORY_SPACE", "CATEGORY_NOT_DIGIT", "CATEGORY_NOT_WORD", "CATEGORY_LINEBREAK",
             "CATEGORY_UNI_SPACE", "CATEGORY_UNI_NOT_DIGIT", "CATEGORY_UNI_NOT_WORD",
             "CATEGORY_UNI_LINEBREAK"}
_NOT_CROSSING = {"CATEGORY_DIGIT", "CATEGORY_WORD", "CATEGORY_NOT_SPACE",
                 "CATEGORY_NOT_LINEBREAK", "CATEGORY_UNI_DIGIT", "CATEGORY_UNI_WORD",
                 "CATEGORY_UNI_NOT_SPACE", "CATEGORY_UNI_NOT_LINEBREAK"}
_REPEATS = {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}
_NEWLINE = 10


def _may_cross(items: list[tuple[Any, Any]], *, dotall: bool) -> bool:
    """Whether any part of the pattern can match a newline (True when unsure)."""
    for op, av in items:
        name = str(op)
        if name == "LITERAL":
            crosses = av == _NEWLINE
        elif name == "NOT_LITERAL":
            crosses = av != _NEWLINE
        elif name == "ANY":
            crosses = dotall
        elif name == "IN":
            crosses = _class_crosses(list(av))
        elif name == "AT":
            crosses = str(av) in ("AT_BEGINNING_STRING", "AT_END_STRING")  # \A, \Z
        elif name == "SUBPATTERN":
            _, add, remove, sub = av
            crosses = _may_cross(list(sub), dotall=(dotall or bool(add & re.DOTALL))
                                 and not remove & re.DOTALL)
        elif name == "BRANCH":
            crosses = any(_may_cross(list(alt), dotall=dotall) for alt in av[1])
        elif name in _REPEATS:
            crosses = _may_cross(list(av[2]), dotall=dotall)
        elif name == "ATOMIC_GROUP":
            crosses = _may_cross(list(av), dotall=dotall)
        elif name in ("ASSERT", "ASSERT_NOT"):
            crosses = _may_cross(list(av[1]), dotall=dotall)
        elif name == "GROUPREF":
            crosses = False  # what the group matched was checked where it is
        elif name == "GROUPREF_EXISTS":
            crosses = any(_may_cross(list(sub), dotall=dotall) for sub in av[1:] if sub)
        else:
            crosses = True
        if crosses:
            return True
    return False


def _class_crosses(items: list[tuple[Any, Any]]) -> bool:
    """Whether a character class ``[…]`` (maybe negated) matches a newline."""
    negate = bool(items) and str(items[0][0]) == "NEGATE"
    holds = False
    for op, av in items[1:] if negate else items:
        name = str(op)
        if name == "LITERAL":
            holds = holds or av == _NEWLINE
        elif name == "RANGE":
            holds = holds or av[0] <= _NEWLINE <= av[1]
        elif name == "CATEGORY" and str(av) in _CROSSING:
            holds = True
        elif name == "CATEGORY" and str(av) in _NOT_CROSSING:
            continue
        else:
            return True  # unsure
    return holds != negate
