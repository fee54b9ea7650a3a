"""Per-source request rate limit: the flood guard of Kamailio's `pike` module, sans-IO.

Pike counts the requests of each source IP address per sampling interval
(`sampling_time_unit`, 2 s by default) and marks an address that sends more than
`reqs_density_per_unit` (30) in one interval; what to do with a marked address is left to
the routing script, usually to drop its requests. Here the rule is built in:

- a source that sends more than `requests` requests within one `interval` (fixed windows,
  starting at its first request) is blocked for `block_time` seconds;
- while blocked, every request from it is dropped, unanswered: over UDP an answer goes to a
  source address anyone can forge, so answering a flood would amplify it;
- when the block ends the source starts again with a clean count; a flood that goes on is
  blocked again after `requests` more requests.

Decisions where pike is vague or different:
- Pike's blocking limit is fuzzy (its tree of address prefixes makes it "between x and 3x");
  this one is exact per address, which is what an admin reading the config expects.
- Pike keeps an idle address for `remove_latency` seconds; here an address is forgotten as
  soon as its window (or block) is over, so memory holds only the sources of the last
  `interval` seconds plus the blocked ones.
- Only requests are counted; the shell also counts what is not a response at all (garbage
  that would otherwise be parsed), so a garbage flood is cheap to drop too.
- Sources inside `trusted` networks (the switch's own host, the office LAN) are never
  limited.
- Over TCP the same rule applies (requests dropped, the connection kept): the sender cannot
  be forged there, but every answer still costs the switch; the client's own transaction
  timer ends its request.

`check(host, now)` is the only input; the class reads no clock and touches no socket.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from .networks import Network, in_networks

__all__ = ["RateVerdict", "RequestRateLimit"]


class RateVerdict(enum.Enum):
    """What to do with one request."""

    ADMIT = "admit"
    #: this request put its source over the limit: drop it, and log the block (once)
    BLOCK_STARTED = "block_started"
    #: the source is blocked: drop it silently
    BLOCKED = "blocked"


class RequestRateLimit:
    """Counts requests per source host; see the module docstring."""

    #: trusted/untrusted answers remembered per host (cleared when full)
    TRUST_CACHE = 10_000

    def __init__(self, requests: int, interval: float, block_time: float,
                 trusted: Iterable[Network] = ()) -> None:
        if requests < 1 or interval <= 0 or block_time <= 0:
            raise ValueError("requests, interval and block_time must be positive")
        self.requests = requests
        self.interval = interval
        self.block_time = block_time
        self.trusted = tuple(trusted)
        # host -> [window start, requests in it]; in window-start order (a host is moved to
        # the end when its new window starts), so expired windows are at the front
        self._windows: dict[str, list[float]] = {}
        # host -> end of its block; in block-start order, so ended blocks are at the front
        self._blocked: dict[str, float] = {}
        self._trust: dict[str, bool] = {}

    def check(self, host: str, now: float) -> RateVerdict:
        """Count one request from `host` at `now` and say whether to handle it."""
        if self.is_trusted(host):
            return RateVerdict.ADMIT
        self._expire(now)
        if host in self._blocked:
            return RateVerdict.BLOCKED
        w = self._windows.get(host)
        if w is None:
            self._windows[host] = [now, 1.0]
            return RateVerdict.ADMIT
        w[1] += 1
        if w[1] <= self.requests:
            return RateVerdict.ADMIT
        del self._windows[host]
        self._blocked[host] = now + self.block_time
        return RateVerdict.BLOCK_STARTED

    def is_trusted(self, host: str) -> bool:
        known = self._trust.get(host)
        if known is not None:
            return known
        trusted = in_networks(host, self.trusted)
        if len(self._trust) >= self.TRUST_CACHE:
            self._trust.clear()
        self._trust[host] = trusted
        return trusted

    def is_blocked(self, host: str, now: float) -> bool:
        self._expire(now)
        return host in self._blocked

    def blocked_sources(self, now: float) -> list[str]:
        self._expire(now)
        return list(self._blocked)

    @property
    def tracked_sources(self) -> int:
        """Hosts with a counting window or a block in memory."""
        return len(self._windows) + len(self._blocked)

    def _expire(self, now: float) -> None:
        windows = self._windows
        while windows:
            host = next(iter(windows))
            if windows[host][0] + self.interval > now:
                break
            del windows[host]
        blocked = self._blocked
        while blocked:
            host = next(iter(blocked))
            if blocked[host] > now:
                break
            del blocked[host]
