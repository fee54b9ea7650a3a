"""The dial plan: extensions, the echo test, and the rules later issues plug in."""

from __future__ import annotations

from softswitch.dialplan import (
    ECHO,
    EXTENSION,
    EXTERNAL,
    FEATURE,
    NOT_FOUND,
    QUEUE,
    Destination,
    DialPlan,
    feature_code_rule,
    queue_rule,
    trunk_rule,
)


def test_extensions_echo_and_unknown() -> None:
    plan = DialPlan.default(["1001", "1002"])
    assert plan.route("1002") == Destination(EXTENSION, "1002")
    assert plan.route("10-02") == Destination(EXTENSION, "1002")  # phone-inserted separators
    assert plan.route("*43").kind == ECHO
    assert plan.route("1999") == Destination(NOT_FOUND, "1999")
    assert plan.route("6400").kind == NOT_FOUND  # no queue module plugged in yet


def test_plugged_rules_queues_feature_codes_trunks() -> None:
    plan = DialPlan.default(["1001", "6450"])
    plan.add(queue_rule(["6400", "6401", "6450"]))
    plan.add(feature_code_rule("*07", "pause"))
    plan.add(feature_code_rule("*7", "sign_in_out"))
    plan.add(trunk_rule("9", "provider"))
    assert plan.route("6401") == Destination(QUEUE, "6401")
    assert plan.route("6450") == Destination(EXTENSION, "6450")  # an extension wins
    assert plan.route("*076401*2") == Destination(FEATURE, "pause", ("6401", "2"))
    assert plan.route("*76401") == Destination(FEATURE, "sign_in_out", ("6401",))
    assert plan.route("*7") == Destination(FEATURE, "sign_in_out", ())
    assert plan.route("9+4930123") == Destination(EXTERNAL, "provider", ("+4930123",))
    assert plan.route("6499").kind == NOT_FOUND
