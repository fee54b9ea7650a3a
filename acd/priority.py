"""Queue priority (queue-admin.md §5 / §9.4).

``overall weight = initial weight + (waiting time / acceleration duration) * 1``, a fractional
result rounded half up (四舍五入). An agent serving several queues is offered the waiting call
whose queue has the highest overall weight.

Decisions (ambiguity §14.6): "waiting time" is that of the call being compared, i.e. the
longest-waiting ready call at the head of each queue; equal overall weights go to the call
that arrived first (arrival order across all queues), so callers of equal weight are served
in arrival order.
"""

from __future__ import annotations

import math

from acd.config import PriorityConfig


def overall_weight(priority: PriorityConfig, waited: float) -> int:
    """The queue's overall weight for a call that has waited ``waited`` seconds."""
    if priority.acceleration is None:
        return priority.weight
    return priority.weight + math.floor(max(0.0, waited) / priority.acceleration + 0.5)
