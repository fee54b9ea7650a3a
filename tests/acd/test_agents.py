"""Agent states: sign in/out, pause, auto-pause, wrap-up, ring in use (queue-admin.md §2.4,
§2.6, §6.1-§6.4, §6.7; behaviours §15.13-§15.17, §15.22-§15.28)."""

from acd_helpers import make, of_type, queue, rung

from acd import Acd, parse_acd_config
from acd.events import (
    AgentPaused,
    AgentSignedIn,
    InputRejected,
    MemberState,
    WrapupEnded,
    WrapupStarted,
)


def test_signed_out_or_paused_dynamic_agent_gets_no_calls() -> None:
    """§15.13."""
    acd = make(queue(dynamic_agents=["2001"], static_agents=["1001"], strategy="linear"))
    acd.handle_agent_paused("1001", "6400", 0.0)
    assert rung(acd.handle_task_arrived("c1", "6400", 1.0)) == []  # 2001 logged out, 1001 paused
    out = acd.handle_agent_signed_in("2001", "6400", 2.0)
    assert rung(out) == [("2001",)]
    acd.handle_agent_paused("2001", "6400", 3.0)
    assert acd.member_state("2001", "6400") is MemberState.PAUSED
    assert rung(acd.handle_task_arrived("c2", "6400", 4.0)) == []


def test_static_agent_cannot_sign_in_or_out() -> None:
    """§15.14."""
    acd = make(queue(static_agents=["1001"]))
    out = acd.handle_agent_signed_out("1001", "6400", 0.0)
    (rejected,) = of_type(out, InputRejected)
    assert "static" in rejected.reason
    assert acd.is_signed_in("1001", "6400")


def test_dynamic_agent_sign_in_then_out() -> None:
    """§15.15 (the shell toggles with *7<queue> using is_signed_in)."""
    acd = make(queue(dynamic_agents=["2001"]))
    assert not acd.is_signed_in("2001", "6400")
    assert of_type(acd.handle_agent_signed_in("2001", "6400", 0.0), AgentSignedIn)
    assert acd.is_signed_in("2001", "6400")
    acd.handle_agent_signed_out("2001", "6400", 1.0)
    assert acd.member_state("2001", "6400") is MemberState.LOGGED_OUT


def test_dynamic_agent_default_status_logged_in() -> None:
    """§6.4 / §15.77."""
    acd = make(queue(dynamic_agents=["2001"], dynamic_agent_default_status="logged_in"))
    assert acd.is_signed_in("2001", "6400")
    assert not make(queue(dynamic_agents=["2001"])).is_signed_in("2001", "6400")


def test_pause_without_reason_then_with_code_then_resume() -> None:
    """§15.16 / §15.17: *076400 -> paused no reason; *076400*03 -> Wrap up."""
    acd = make(queue(static_agents=["1001"]))
    (p,) = of_type(acd.handle_agent_paused("1001", "6400", 0.0), AgentPaused)
    assert (p.reason, p.auto) == ("", False)
    acd.handle_agent_resumed("1001", "6400", 1.0)
    (p,) = of_type(acd.handle_agent_paused("1001", "6400", 2.0, reason="*03"), AgentPaused)
    assert p.reason == "Wrap up"
    assert acd.pause_state("1001", "6400") == (True, "Wrap up")
    # changing the reason while paused (pause report: "reason changed")
    (p,) = of_type(acd.handle_agent_paused("1001", "6400", 3.0, reason="Lunch"), AgentPaused)
    assert acd.pause_state("1001", "6400") == (True, "Lunch")
    assert of_type(acd.handle_agent_paused("1001", "6400", 4.0, reason="*99"), InputRejected)


def test_pause_reasons_are_global() -> None:
    """§15.19: a reason defined once is usable in every queue."""
    acd = make(queue("6400", static_agents=["1001"]), queue("6401", static_agents=["1001"]),
               pause_reasons=[{"code": "*05", "reason": "Training"}])
    acd.handle_agent_paused("1001", "6401", 0.0, reason="*05")
    assert acd.pause_state("1001", "6401") == (True, "Training")
    assert acd.pause_state("1001", "6400") == (False, "")


def _miss(acd: Acd, task: str, t: float, timeout: float = 10.0) -> None:
    acd.handle_task_arrived(task, "6400", t)
    acd.tick(t + timeout)
    acd.handle_task_left(task, t + timeout + 0.5)


def test_auto_pause_after_consecutive_misses() -> None:
    """§15.24: threshold 3, three consecutive misses -> paused, with the e-mail flag."""
    acd = make(queue(strategy="linear", static_agents=["1001"], ring_timeout=10,
                     agent_auto_pause={"missed_calls": 3}))
    events = []
    for i in range(3):
        acd.handle_task_arrived(f"c{i}", "6400", 100.0 * i)
        events += acd.tick(100.0 * i + 10).events
        acd.handle_task_left(f"c{i}", 100.0 * i + 11)
    (paused,) = [e for e in events if isinstance(e, AgentPaused)]
    assert paused.auto and paused.agent == "1001"
    assert acd.pause_state("1001", "6400") == (True, "")


def test_answer_resets_the_missed_counter() -> None:
    """§15.22: misses 2, answers, misses 2 -> not paused."""
    acd = make(queue(strategy="linear", static_agents=["1001"], ring_timeout=10,
                     agent_auto_pause={"missed_calls": 3}))
    _miss(acd, "a", 0)
    _miss(acd, "b", 100)
    acd.handle_task_arrived("c", "6400", 200.0)
    acd.handle_offer_answered("c", "1001", 201.0)
    acd.handle_call_ended("c", 210.0)
    _miss(acd, "d", 300)
    _miss(acd, "e", 400)
    assert acd.pause_state("1001", "6400") == (False, "")


def test_restart_resets_the_missed_counter() -> None:
    """§15.23: misses 2, PBX restarts (a new engine), misses 1 -> not paused."""
    sections = {"queues": [queue(strategy="linear", static_agents=["1001"], ring_timeout=10,
                                 agent_auto_pause={"missed_calls": 3})]}
    acd = Acd(parse_acd_config(sections))
    _miss(acd, "a", 0)
    _miss(acd, "b", 100)
    acd = Acd(parse_acd_config(sections), now=1000.0)
    _miss(acd, "c", 1000)
    assert acd.pause_state("1001", "6400") == (False, "")


def test_pause_resets_the_missed_counter() -> None:
    acd = make(queue(strategy="linear", static_agents=["1001"], ring_timeout=10,
                     agent_auto_pause={"missed_calls": 2}))
    _miss(acd, "a", 0)
    acd.handle_agent_paused("1001", "6400", 50.0)
    acd.handle_agent_resumed("1001", "6400", 60.0)
    _miss(acd, "b", 100)
    assert acd.pause_state("1001", "6400") == (False, "")


def test_wrapup_delays_the_next_call() -> None:
    """§15.25: wrap-up 30 s -> next call no earlier than 30 s after the previous one."""
    acd = make(queue(static_agents=["1001"], wrapup=30))
    acd.handle_task_arrived("c1", "6400", 0.0)
    acd.handle_offer_answered("c1", "1001", 1.0)
    out = acd.handle_call_ended("c1", 100.0)
    (w,) = of_type(out, WrapupStarted)
    assert w.until == 130.0
    assert acd.member_state("1001", "6400") is MemberState.WRAP_UP
    assert rung(acd.handle_task_arrived("c2", "6400", 110.0)) == []
    assert acd.next_deadline() == 130.0
    out = acd.tick(130.0)
    assert of_type(out, WrapupEnded)
    assert rung(out) == [("1001",)]


def test_shared_wrapup_applies_in_all_queues() -> None:
    """§15.26: shared; Q1 wrap-up 30 s; Q2 call 10 s later rings A only after 30 s."""
    acd = make(queue("6401", static_agents=["1001"], wrapup=30, share_wrapup_time=True),
               queue("6402", static_agents=["1001"]))
    acd.handle_task_arrived("c1", "6401", 0.0)
    acd.handle_offer_answered("c1", "1001", 1.0)
    acd.handle_call_ended("c1", 50.0)
    assert rung(acd.handle_task_arrived("c2", "6402", 60.0)) == []
    assert rung(acd.tick(79.0)) == []
    assert rung(acd.tick(80.0)) == [("1001",)]


def test_unshared_wrapup_applies_to_its_queue_only() -> None:
    """§15.27."""
    acd = make(queue("6401", static_agents=["1001"], wrapup=30),
               queue("6402", static_agents=["1001"]))
    acd.handle_task_arrived("c1", "6401", 0.0)
    acd.handle_offer_answered("c1", "1001", 1.0)
    acd.handle_call_ended("c1", 50.0)
    assert rung(acd.handle_task_arrived("c2", "6402", 60.0)) == [("1001",)]


def test_wrapup_can_be_ended_early() -> None:
    acd = make(queue(static_agents=["1001"], wrapup=300))
    acd.handle_task_arrived("c1", "6400", 0.0)
    acd.handle_offer_answered("c1", "1001", 1.0)
    acd.handle_call_ended("c1", 10.0)
    acd.handle_task_arrived("c2", "6400", 11.0)
    assert rung(acd.handle_wrapup_over("1001", 20.0)) == [("1001",)]


def test_ring_in_use() -> None:
    """§15.28: No -> an agent on a call is not offered; Yes -> offered."""
    acd = make(queue("6400", static_agents=["1001"]),
               queue("6401", static_agents=["1001"], ring_in_use=True))
    acd.handle_device_busy("1001", 0.0)
    assert rung(acd.handle_task_arrived("c1", "6400", 1.0)) == []
    assert rung(acd.handle_task_arrived("c2", "6401", 2.0)) == [("1001",)]


def test_no_second_offer_without_ring_in_use() -> None:
    acd = make(queue(static_agents=["1001"], strategy="ring_all"))
    assert rung(acd.handle_task_arrived("c1", "6400", 0.0)) == [("1001",)]
    assert rung(acd.handle_task_arrived("c2", "6400", 1.0)) == []


def test_pausing_a_ringing_agent_stops_the_ring_and_moves_on() -> None:
    acd = make(queue(static_agents=["1001", "1002"], strategy="linear"))
    acd.handle_task_arrived("c1", "6400", 0.0)
    out = acd.handle_agent_paused("1001", "6400", 2.0)
    assert [c.agents for c in out.commands if type(c).__name__ == "StopRinging"] == [("1001",)]
    assert rung(out) == [("1002",)]


def test_unregistered_agent_gets_no_calls() -> None:
    acd = make(queue(static_agents=["1001"]))
    acd.handle_device_unregistered("1001", 0.0)
    assert acd.member_state("1001", "6400") is MemberState.UNREGISTERED
    assert rung(acd.handle_task_arrived("c1", "6400", 1.0)) == []
    assert rung(acd.handle_device_registered("1001", 2.0)) == [("1001",)]


def test_queries_for_panels() -> None:
    acd = make(queue("6400", static_agents=["1001"], dynamic_agents=["2001"]),
               queue("6401", static_agents=["1001"]))
    assert acd.agent_queues("1001") == ["6400", "6401"]
    assert acd.queue_members("6400") == [("1001", MemberState.IDLE),
                                         ("2001", MemberState.LOGGED_OUT)]


def test_ring_in_use_allows_a_second_offer_but_never_the_same_task_twice() -> None:
    acd = make(queue(static_agents=["1001"], ring_in_use=True, ring_timeout=20))
    assert rung(acd.handle_task_arrived("c1", "6400", 0.0)) == [("1001",)]
    assert rung(acd.handle_task_arrived("c2", "6400", 1.0)) == [("1001",)]  # call waiting
    assert rung(acd.tick(5.0)) == []  # c1 is not offered to 1001 again while it rings


# --- restore after a restart (Acd.restore_agent) -----------------------------------------


def test_restored_sign_in_and_pause_are_not_new_ones() -> None:
    acd = make(queue(dynamic_agents=["2001", "2002"], static_agents=["1001"]))
    out = acd.restore_agent("2001", "6400", 100.0, signed_in=True, paused=True,
                            reason="Lunch")
    assert not of_type(out, AgentSignedIn) and not of_type(out, AgentPaused)
    assert acd.pause_state("2001", "6400") == (True, "Lunch")
    assert acd.member_state("2001", "6400") is MemberState.PAUSED
    acd.restore_agent("1001", "6400", 100.0, signed_in=False, paused=True, reason="Break")
    assert acd.is_signed_in("1001", "6400")  # static: always signed in
    assert acd.pause_state("1001", "6400") == (True, "Break")
    acd.restore_agent("2002", "6400", 100.0, signed_in=True)
    assert rung(acd.handle_task_arrived("c1", "6400", 101.0)) == [("2002",)]


def test_default_status_applies_only_to_agents_new_to_the_queue() -> None:
    """§6.4: existing dynamic agents keep their status; newly added ones get the default."""
    acd = make(queue(dynamic_agents=["2001", "2002"], dynamic_agent_default_status="logged_in"))
    acd.restore_agent("2001", "6400", 100.0, signed_in=False)  # signed out before the restart
    assert not acd.is_signed_in("2001", "6400")
    assert acd.is_signed_in("2002", "6400")  # no persisted state: new, default applies


def test_restored_sign_ins_keep_their_order_for_linear() -> None:
    acd = make(queue(dynamic_agents=["2001", "2002"], strategy="linear"))
    acd.restore_agent("2002", "6400", 100.0, signed_in=True)  # signed in first
    acd.restore_agent("2001", "6400", 100.0, signed_in=True)
    assert rung(acd.handle_task_arrived("c1", "6400", 101.0)) == [("2002",)]


def test_restored_wrapup_holds_calls_until_it_ends() -> None:
    acd = make(queue(static_agents=["1001"], wrapup=30))
    acd.restore_agent("1001", "6400", 100.0, signed_in=True, wrapup_until=120.0)
    assert acd.member_state("1001", "6400") is MemberState.WRAP_UP
    assert rung(acd.handle_task_arrived("c1", "6400", 101.0)) == []
    out = acd.tick(120.0)
    assert of_type(out, WrapupEnded) and rung(out) == [("1001",)]
    # a wrap-up that ended while the switch was down is no wrap-up
    acd2 = make(queue(static_agents=["1001"], wrapup=30))
    acd2.restore_agent("1001", "6400", 100.0, signed_in=True, wrapup_until=90.0)
    assert acd2.member_state("1001", "6400") is MemberState.IDLE
