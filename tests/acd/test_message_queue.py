"""Message queues (omnichannel.md §5.3; behaviours §28-§30)."""

from acd_helpers import make, of_type

from acd.commands import HideSession, ShowSession
from acd.events import CallStatus, InputRejected, SessionTakenOver, TaskLeft


def _acd(mode: str):  # type: ignore[no-untyped-def]
    return make(message_queues=[{"name": "Tech Support", "chat_assignment_mode": mode,
                                 "agents": ["2000", "2001"]}])


def test_manual_take_over() -> None:
    """§28: both see and may reply; after 2000 takes over, 2001 no longer sees it."""
    acd = _acd("manual_take_over")
    out = acd.handle_task_arrived("s1", "Tech Support", 0.0, caller="+15550100")
    assert of_type(out, ShowSession) == [ShowSession("s1", "Tech Support", ("2000", "2001"))]
    assert not of_type(acd.handle_message_reply("s1", "2001", 5.0), InputRejected)
    assert acd.messages.owner("s1") is None  # replying does not take over in manual mode
    out = acd.handle_take_over("s1", "2000", 10.0)
    assert of_type(out, SessionTakenOver)[0].agent == "2000"
    assert of_type(out, HideSession) == [HideSession("s1", "Tech Support", ("2001",))]
    assert acd.messages.visible_to("s1") == ("2000",)
    assert of_type(acd.handle_message_reply("s1", "2001", 12.0), InputRejected)
    (left,) = of_type(out, TaskLeft)
    assert (left.status, left.agent, left.waited) == (CallStatus.ANSWERED, "2000", 10.0)


def test_auto_take_over_first_reply_wins() -> None:
    """§29."""
    acd = _acd("auto_take_over")
    acd.handle_task_arrived("s1", "Tech Support", 0.0)
    out = acd.handle_message_reply("s1", "2001", 3.0)
    assert of_type(out, SessionTakenOver)[0].agent == "2001"
    assert acd.messages.visible_to("s1") == ("2001",)
    assert of_type(acd.handle_message_reply("s1", "2000", 4.0), InputRejected)


def test_no_take_over() -> None:
    """§30: everyone replies throughout; Take over is refused."""
    acd = _acd("no_take_over")
    acd.handle_task_arrived("s1", "Tech Support", 0.0)
    assert not of_type(acd.handle_message_reply("s1", "2000", 1.0), InputRejected)
    assert not of_type(acd.handle_message_reply("s1", "2001", 2.0), InputRejected)
    assert of_type(acd.handle_take_over("s1", "2000", 3.0), InputRejected)
    assert acd.messages.visible_to("s1") == ("2000", "2001")
    out = acd.handle_task_left("s1", 60.0)  # closed after replies: answered
    assert of_type(out, TaskLeft)[0].status is CallStatus.ANSWERED


def test_unanswered_session_closed_is_abandoned_and_counted() -> None:
    acd = _acd("manual_take_over")
    acd.handle_task_arrived("s1", "Tech Support", 0.0)
    acd.handle_task_left("s1", 30.0)
    s = acd.statistics("Tech Support", 30.0)
    assert (s.total, s.abandoned, s.waiting) == (1, 1, 0)


def test_restored_session_keeps_its_first_replier() -> None:
    """A session put back after a restart with the agents who had replied in it: closing it
    is Answered by the first of them, waited from its first join; one put back without
    repliers is Abandoned."""
    acd = _acd("manual_take_over")
    acd.restore_message_session("s1", "Tech Support", 100.0, caller="+15550100", joined=40.0,
                                repliers=("2001", "2000"))
    acd.restore_message_session("s2", "Tech Support", 100.0, caller="+15550101", joined=50.0)
    (left,) = of_type(acd.handle_task_left("s1", 130.0), TaskLeft)
    assert (left.status, left.agent, left.waited) == (CallStatus.ANSWERED, "2001", 90.0)
    (left,) = of_type(acd.handle_task_left("s2", 130.0), TaskLeft)
    assert (left.status, left.agent) == (CallStatus.ABANDONED, None)
