"""Company-contact names for callers (queue-admin.md §6.9 "Match last {number} digits"):
a caller number longer than N matches a stored number equal to its last N digits; a number
of N digits or fewer must equal a stored number exactly. Symbols and letters are ignored on
both sides (the manual's option "ignore symbols and letters", always on here: a caller ID
of "+1 (555) 010-0100" is the digits 15550100100).

Decisions: the names are shown to everyone who sees the queue (P7's "ignore the visibility
rules" is moot: the switch has no per-user contact visibility). When several contacts
match, the first configured wins.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_NOT_DIGIT = re.compile(r"[^0-9]")


class Contacts:
    def __init__(self, match_last_digits: int, entries: tuple[tuple[str, str], ...]) -> None:
        self.n = match_last_digits
        self.exact: dict[str, str] = {}
        for number, name in entries:
            self.exact.setdefault(_NOT_DIGIT.sub("", number), name)

    @staticmethod
    def of(config: Any) -> Contacts:
        c = config.contacts
        return _cached(c.match_last_digits, c.entries)

    def name(self, caller: str) -> str | None:
        digits = _NOT_DIGIT.sub("", caller)
        if not digits:
            return None
        if len(digits) <= self.n:
            return self.exact.get(digits)
        return self.exact.get(digits[-self.n:])


@lru_cache(maxsize=4)
def _cached(n: int, entries: tuple[tuple[str, str], ...]) -> Contacts:
    return Contacts(n, entries)
