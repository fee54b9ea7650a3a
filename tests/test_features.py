"""Agent feature codes (spec/queue-admin.md §6.1, §6.7, §13; queue-manager-agent.md §7.3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from softswitch.dialplan import DialPlan
from softswitch.features import (
    FeatureCodeError,
    FeatureCodePlan,
    FeatureCodes,
    FeatureOutcome,
    InvalidCode,
    Pause,
    PauseReasonValue,
    Prompt,
    Resume,
    SignIn,
    SignInAll,
    SignInLast,
    SignOut,
    SignOutAll,
    TogglePause,
    ToggleSignIn,
    state_after,
)
from softswitch.presence import (
    AgentQueueState,
    AgentStatusBook,
    DirectoryError,
    PauseReason,
    QueueDirectory,
    QueueMembers,
)

LUNCH, BREAK, WRAP = (PauseReason("*01", "Lunch"), PauseReason("*02", "Break"),
                      PauseReason("*03", "Wrap up"))


def directory() -> QueueDirectory:
    return QueueDirectory.from_config(
        [{"number": "6400", "static_agents": ["1003"], "dynamic_agents": ["1001", "1002"]},
         {"number": "6401", "dynamic_agents": [{"extension": "1001", "skill": 3}]},
         {"number": "6402", "static_agents": ["1004"]}],
        None)


@pytest.fixture
def plan() -> FeatureCodePlan:
    return FeatureCodePlan(FeatureCodes(), directory())


@pytest.fixture
def book() -> AgentStatusBook:
    return AgentStatusBook(directory())


def run(plan: FeatureCodePlan, book: AgentStatusBook, caller: str,
        dialled: str) -> FeatureOutcome:
    """Dial, then apply the actions the way the ACD would."""
    outcome = plan.dial(dialled, caller, book)
    assert outcome is not None
    for a in outcome.actions:
        book.set(a.agent, a.queue, state_after(a))
    return outcome


@pytest.mark.parametrize(("dialled", "code"), [
    ("*76400", ToggleSignIn("6400")),
    ("*076400", TogglePause("6400")),
    ("*076400*03", TogglePause("6400", WRAP)),     # the manual's example (§6.1)
    ("*076401*01", TogglePause("6401", LUNCH)),
    ("*071001*6400*01", PauseReasonValue("1001", "6400", LUNCH)),  # §6.2 BLF value
    ("*77", SignInAll()),
    ("*78", SignInLast()),
    ("*077", SignOutAll()),
])
def test_parse_the_manuals_codes(plan: FeatureCodePlan, dialled: str, code: object) -> None:
    assert plan.parse(dialled) == code


@pytest.mark.parametrize("dialled", [
    "", "6400", "1001", "*7", "*07", "*71", "*711001", "*0712", "*76499", "*7abc",
    " *76400", "*76400 ", "*7 6400", "*8", "#76400",
])
def test_strings_that_are_not_agent_codes_fall_through(plan: FeatureCodePlan,
                                                       dialled: str) -> None:
    assert plan.parse(dialled) is None


@pytest.mark.parametrize(("dialled", "problem"), [
    ("*764001", "no queue 64001"),
    ("*076400*99", "unknown pause reason code '*99' after queue 6400"),
    ("*0764009", "unknown pause reason code '9' after queue 6400"),
    ("*071001*6400*99", "unknown pause reason code '*99' after queue 6400"),
])
def test_queue_followed_by_garbage_is_invalid(plan: FeatureCodePlan, dialled: str,
                                              problem: str) -> None:
    code = plan.parse(dialled)
    assert isinstance(code, InvalidCode) and problem in code.problem
    outcome = plan.decide(code, "1001", AgentStatusBook(directory()))
    assert outcome.prompt is Prompt.INVALID and outcome.actions == () and not outcome.ok


def test_dynamic_agent_sign_in_out_toggle(plan: FeatureCodePlan, book: AgentStatusBook) -> None:
    o = run(plan, book, "1001", "*76400")
    assert o.actions == (SignIn("1001", "6400"),) and o.prompt is Prompt.AGENT_SIGNED_IN
    assert book.get("1001", "6400") == AgentQueueState(True)
    assert book.get("1001", "6401") == AgentQueueState(False)  # other queue untouched
    o = run(plan, book, "1001", "*76400")
    assert o.actions == (SignOut("1001", "6400"),) and o.prompt is Prompt.AGENT_SIGNED_OUT
    assert book.get("1001", "6400") == AgentQueueState(False)


def test_static_agent_cannot_sign_out(plan: FeatureCodePlan, book: AgentStatusBook) -> None:
    o = run(plan, book, "1003", "*76400")
    assert o.actions == () and o.prompt is Prompt.NOT_PERMITTED
    assert "static agent" in o.result
    assert book.get("1003", "6400") == AgentQueueState(True)
    with pytest.raises(ValueError, match="static agent 1003 cannot be signed out"):
        book.set("1003", "6400", AgentQueueState(False))


def test_non_member_is_refused(plan: FeatureCodePlan, book: AgentStatusBook) -> None:
    for dialled in ("*76401", "*076401", "*076401*01"):
        o = run(plan, book, "1002", dialled)
        assert o.prompt is Prompt.NOT_PERMITTED and o.actions == ()
        assert "not an agent of queue 6401" in o.result


def test_pause_toggle_and_reasons(plan: FeatureCodePlan, book: AgentStatusBook) -> None:
    o = run(plan, book, "1003", "*076400")            # static agent pauses, no reason
    assert o.actions == (Pause("1003", "6400", None),) and o.prompt is Prompt.AGENT_PAUSED
    assert run(plan, book, "1003", "*076400").actions == (Resume("1003", "6400"),)
    o = run(plan, book, "1003", "*076400*03")
    assert o.actions == (Pause("1003", "6400", WRAP),) and "(Wrap up)" in o.result
    o = run(plan, book, "1003", "*076400*01")          # another reason: change, stay paused
    assert o.actions == (Pause("1003", "6400", LUNCH),) and "changed pause reason" in o.result
    assert book.get("1003", "6400") == AgentQueueState(True, True, LUNCH)
    o = run(plan, book, "1003", "*076400")             # plain code resumes any pause
    assert o.actions == (Resume("1003", "6400"),) and o.prompt is Prompt.AGENT_RESUMED
    assert book.get("1003", "6400") == AgentQueueState(True)


def test_pause_needs_sign_in(plan: FeatureCodePlan, book: AgentStatusBook) -> None:
    o = run(plan, book, "1002", "*076400")
    assert o.prompt is Prompt.AGENT_NOT_SIGNED_IN and o.actions == () and not o.ok


def test_pause_reason_value_only_for_the_agent_it_names(plan: FeatureCodePlan,
                                                       book: AgentStatusBook) -> None:
    o = run(plan, book, "1002", "*071003*6400*01")
    assert o.prompt is Prompt.NOT_PERMITTED and o.actions == ()
    o = run(plan, book, "1003", "*071003*6400*01")
    assert o.actions == (Pause("1003", "6400", LUNCH),)


def test_all_queue_codes(plan: FeatureCodePlan, book: AgentStatusBook) -> None:
    run(plan, book, "1001", "*76401")
    o = run(plan, book, "1001", "*77")
    assert o.actions == (SignIn("1001", "6400"),) and o.prompt is Prompt.AGENT_SIGNED_IN
    o = run(plan, book, "1001", "*077")
    assert set(o.actions) == {SignOut("1001", "6400"), SignOut("1001", "6401")}
    assert o.prompt is Prompt.AGENT_SIGNED_OUT
    o = run(plan, book, "1001", "*78")  # restores both queues *077 signed out of
    assert set(o.actions) == {SignIn("1001", "6400"), SignIn("1001", "6401")}
    # static-only agent and non-agent are refused and nothing changes
    for caller, text in (("1004", "static agent only"), ("1005", "not a dynamic agent")):
        for dialled in ("*77", "*78", "*077"):
            out = plan.dial(dialled, caller, book)
            assert out is not None and out.prompt is Prompt.NOT_PERMITTED and text in out.result
    # an agent who is static everywhere is refused too
    assert run(plan, book, "1003", "*077").prompt is Prompt.NOT_PERMITTED


def test_sign_in_to_last_signed_in_queues(plan: FeatureCodePlan,
                                          book: AgentStatusBook) -> None:
    o = run(plan, book, "1001", "*78")  # nothing remembered yet: all dynamic queues
    assert set(o.actions) == {SignIn("1001", "6400"), SignIn("1001", "6401")}
    assert "last signed-in queues (6400, 6401)" in o.result
    run(plan, book, "1001", "*76401")   # out of 6401: remembers {6400, 6401}
    run(plan, book, "1001", "*76400")   # out of 6400 too: still {6400, 6401}
    assert book.last_signed_in("1001") == {"6400", "6401"}
    assert set(run(plan, book, "1001", "*78").actions) == {SignIn("1001", "6400"),
                                                           SignIn("1001", "6401")}
    run(plan, book, "1001", "*76401")   # out of 6401 after signing in: remembers both
    run(plan, book, "1001", "*77")      # back in 6401
    run(plan, book, "1001", "*76400")   # out of 6400: remembers {6400, 6401}
    run(plan, book, "1001", "*76401")
    run(plan, book, "1001", "*76400")   # in to 6400 only, then out: remembers {6400}
    run(plan, book, "1001", "*76400")
    assert book.last_signed_in("1001") == {"6400"}
    assert run(plan, book, "1001", "*78").actions == (SignIn("1001", "6400"),)
    assert book.get("1001", "6401") == AgentQueueState(False)


def test_configured_codes_replace_defaults() -> None:
    codes = FeatureCodes.from_config({"sign_in_out": "*45", "pause_unpause": "*46",
                                      "sign_in_all": None})
    d = QueueDirectory.build([QueueMembers("6400", dynamic_agents=frozenset({"1001"}))],
                             [PauseReason("55", "Meeting")])
    plan = FeatureCodePlan(codes, d)
    assert plan.parse("*456400") == ToggleSignIn("6400")
    assert plan.parse("*46640055") == TogglePause("6400", PauseReason("55", "Meeting"))
    assert plan.parse("*76400") is None and plan.parse("*77") is None
    assert plan.parse("*078") is None and plan.parse("*077") == SignOutAll()


def test_exact_code_wins_over_prefix_and_queue() -> None:
    d = QueueDirectory.build([QueueMembers("7", dynamic_agents=frozenset({"1001"}))], [])
    plan = FeatureCodePlan(FeatureCodes(), d)
    assert plan.parse("*77") == SignInAll()
    assert plan.parse("*077") == SignOutAll()


@pytest.mark.parametrize(("section", "message"), [
    ({"sign_in_out": "*7a"}, "feature_codes.sign_in_out: expected digits"),
    ({"sign_in_out": ""}, "feature_codes.sign_in_out: expected digits"),
    ({"pause_unpause": "*7"}, "feature_codes.pause_unpause: *7 is already used by sign_in_out"),
    ({"login": "*7"}, "feature_codes: unknown key 'login'"),
])
def test_bad_feature_code_settings_name_the_key(section: dict[str, str], message: str) -> None:
    with pytest.raises(FeatureCodeError) as exc:
        FeatureCodes.from_config(section)
    assert message in str(exc.value)


def test_directory_limits() -> None:
    with pytest.raises(DirectoryError, match="at most 20 pause reasons"):
        QueueDirectory.build([], [PauseReason(f"*{i:02}", f"r{i}") for i in range(21)])
    assert len(QueueDirectory.build(
        [], [PauseReason(f"*{i:02}", f"r{i}") for i in range(20)]).pause_reasons) == 20
    with pytest.raises(DirectoryError, match="queue 6400 defined twice"):
        QueueDirectory.build([QueueMembers("6400"), QueueMembers("6400")], [])
    with pytest.raises(DirectoryError, match="both static and dynamic"):
        QueueDirectory.build([QueueMembers("6400", frozenset({"1"}), frozenset({"1"}))], [])
    with pytest.raises(ValueError, match="signed-out agent cannot be paused"):
        AgentQueueState(signed_in=False, paused=True)
    assert directory().pause_reasons == {"*01": LUNCH, "*02": BREAK, "*03": WRAP}


FRAGMENTS = ["*", "#", "0", "1", "7", "9", "*7", "*07", "*77", "*78", "*077", "6400", "6401",
             "640", "1001", "*01", "*03", "*99", "64"]


@given(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=6))
def test_dialplan_rule_claims_exactly_what_parse_claims(parts: list[str]) -> None:
    plan = FeatureCodePlan(FeatureCodes(), directory())
    dialled = "".join(parts)
    dest = plan.dialplan_rule().apply(dialled, "1001")
    code = plan.parse(dialled)
    assert (dest is not None) == (code is not None), (dialled, code)
    if dest is not None:
        assert (dest.kind, dest.target, dest.args) == ("feature", "agent", (dialled,))


def test_dialplan_rule_in_the_switch_dial_plan(plan: FeatureCodePlan) -> None:
    dp = DialPlan.default(["1001", "1002"])
    dp.add(plan.dialplan_rule(), first=True)
    assert dp.route("*076400*03", "1001").target == "agent"
    assert dp.route("*43", "1001").kind == "echo"
    assert dp.route("1002", "1001").kind == "extension"
    assert dp.route("*711001", "1001").kind == "not_found"  # not ours: falls through
