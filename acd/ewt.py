"""Estimated wait time, position aware (queue-admin.md §2.5 "Announce Estimated Wait Time").

Asterisk's app_queue announces a running average of hold times, the same for every caller.
Here the estimate is for a caller at ``position`` (1 = next in line)::

    EWT(position) = max(0, position - idle) * H / N

* ``N``: agents serving the queue now (signed in, not paused, registered);
* ``idle``: of those, agents free to ring now;
* ``H``: the queue's mean handle time (talk + wrap-up), an exponentially weighted moving
  average over answered calls (``alpha`` = 0.2), seeded with the queue's configured
  ``estimated_handle_time``.

Reasoning: with every agent busy, agents free up about once every ``H / N`` seconds; the
caller is served after the callers ahead of them and itself get an agent, minus the idle
agents that take callers immediately. With no agent serving the queue there is no estimate
(None).
"""

from __future__ import annotations

ALPHA = 0.2


def estimated_wait(position: int, serving: int, idle: int, handle_time: float) -> float | None:
    if serving <= 0:
        return None
    return max(0, position - idle) * handle_time / serving


def update_handle_time(average: float, sample: float, alpha: float = ALPHA) -> float:
    return average + alpha * (sample - average)
