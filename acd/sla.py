"""Service level (queue-admin.md §7.3).

``SLA = calls answered within the SLA time / total calls * 100 %`` where total calls counts
every call that entered the queue and was settled: answered, abandoned by the caller, or
missed by the queue.

Decision (ambiguity §14.7): a call answered after exactly the SLA time meets it ("answered
within 20 s" includes 20 s).
"""

from __future__ import annotations


def service_level(answered_within: int, total: int) -> float | None:
    """The SLA in percent, or None when no call was settled (nothing to measure)."""
    if total <= 0:
        return None
    return answered_within * 100.0 / total


def meets_sla(waited: float, sla_time: float) -> bool:
    return waited <= sla_time
