"""Agent BLF keys (manual §6.2, §6.8) driven by feature codes (§6.7), in virtual time."""

from __future__ import annotations

from blf_helpers import DI, Switch, dial, dialogs, lamp, version

from softswitch.features import Prompt
from softswitch.presence import AgentQueueState, BlinkStyle, Notify, PauseReason


def by_sub(notifies: list[Notify]) -> dict[str, str]:
    """entity of each NOTIFY -> lamp."""
    import xml.etree.ElementTree as ET

    return {ET.fromstring(n.body).get("entity", ""): lamp(n) for n in notifies}


def test_dynamic_agent_login_and_pause_keys_follow_feature_codes() -> None:
    sw = Switch()
    login = sw.subscribe("*76400", "1001", now=0.0)
    pause = sw.subscribe("*076400", "1001", now=0.0)
    assert login.result.response.status == pause.result.response.status == 200
    # dynamic agents start signed out (manual §6.4): login key red, pause key green
    assert lamp(login.result.notifies[0]) == "red"
    assert lamp(pause.result.notifies[0]) == "green"

    outcome, sent = dial(sw, "1001", "*76400", now=1.0)
    assert outcome.prompt is Prompt.AGENT_SIGNED_IN
    assert by_sub(sent) == {"sip:*76400@pbx.example": "green"}  # pause key unchanged

    outcome, sent = dial(sw, "1001", "*076400", now=2.0)
    assert outcome.prompt is Prompt.AGENT_PAUSED
    assert by_sub(sent) == {"sip:*076400@pbx.example": "red blinking"}
    [held] = dialogs(sent[0])
    assert held.findtext(f"{DI}state") == "confirmed"  # held rendering, not "ringing"

    outcome, sent = dial(sw, "1001", "*076400", now=3.0)
    assert outcome.prompt is Prompt.AGENT_RESUMED
    assert by_sub(sent) == {"sip:*076400@pbx.example": "green"}

    outcome, sent = dial(sw, "1001", "*76400", now=4.0)
    assert outcome.prompt is Prompt.AGENT_SIGNED_OUT
    assert by_sub(sent) == {"sip:*76400@pbx.example": "red"}
    assert [version(n) for n in sent] == [2]


def test_pause_reason_key_lit_only_for_its_reason() -> None:
    sw = Switch()
    lunch = sw.subscribe("*071001*6400*01", "1005", now=0.0)   # a supervisor's keys
    brk = sw.subscribe("*071001*6400*02", "1005", now=0.0)
    other_queue = sw.subscribe("*071001*6401*01", "1005", now=0.0)
    for p in (lunch, brk, other_queue):
        assert p.result.response.status == 200 and lamp(p.result.notifies[0]) == "green"
    dial(sw, "1001", "*76400", now=1.0)
    dial(sw, "1001", "*76401", now=1.0)

    _, sent = dial(sw, "1001", "*076400*01", now=2.0)            # Lunch in 6400
    assert by_sub(sent) == {"sip:*071001*6400*01@pbx.example": "red blinking"}

    _, sent = dial(sw, "1001", "*076400*02", now=3.0)            # changed to Break
    assert by_sub(sent) == {"sip:*071001*6400*01@pbx.example": "green",
                            "sip:*071001*6400*02@pbx.example": "red blinking"}
    assert sw.notifier.agents.get("1001", "6400") == AgentQueueState(
        True, True, PauseReason("*02", "Break"))

    _, sent = dial(sw, "1001", "*076401*01", now=4.0)            # Lunch in the other queue
    assert by_sub(sent) == {"sip:*071001*6401*01@pbx.example": "red blinking"}

    _, sent = dial(sw, "1001", "*076400*02", now=5.0)            # same reason again: resume
    assert by_sub(sent) == {"sip:*071001*6400*02@pbx.example": "green"}
    assert sw.notifier.agents.get("1001", "6400") == AgentQueueState(True)


def test_pause_without_reason_lights_no_reason_key() -> None:
    sw = Switch()
    lunch = sw.subscribe("*071003*6400*01", "1001", now=0.0)
    assert lamp(lunch.result.notifies[0]) == "green"
    _, sent = dial(sw, "1003", "*076400", now=1.0)  # static agent pauses, no reason
    assert sent == []


def test_static_agent_cannot_sign_out_and_key_stays_green() -> None:
    sw = Switch()
    login = sw.subscribe("*76400", "1003", now=0.0)
    assert lamp(login.result.notifies[0]) == "green"
    outcome, sent = dial(sw, "1003", "*76400", now=1.0)
    assert outcome.prompt is Prompt.NOT_PERMITTED and sent == []
    assert sw.notifier.agents.get("1003", "6400") == AgentQueueState(True)
    # pausing is allowed for static agents (manual §6.7)
    pause = sw.subscribe("*076400", "1003", now=1.0)
    _, sent = dial(sw, "1003", "*076400*03", now=2.0)
    assert [n.key for n in sent] == [pause.result.notifies[0].key]
    assert lamp(sent[0]) == "red blinking"


def test_each_agent_sees_their_own_state_on_the_same_key_value() -> None:
    sw = Switch()
    a = sw.subscribe("*76400", "1001", now=0.0)
    b = sw.subscribe("*76400", "1002", now=0.0)
    _, sent = dial(sw, "1002", "*76400", now=1.0)
    assert [n.key for n in sent] == [b.result.notifies[0].key]
    assert lamp(sent[0]) == "green"
    assert a.result.notifies[0].key != b.result.notifies[0].key


def test_keys_that_name_nothing_get_404_so_the_lamp_stays_off() -> None:
    sw = Switch()
    assert sw.subscribe("*76400", "1004", now=0.0).result.response.status == 404  # not agent
    assert sw.subscribe("*76499", "1001", now=0.0).result.response.status == 404  # no queue
    assert sw.subscribe("*071004*6400*01", "1001", now=0.0).result.response.status == 404
    assert sw.subscribe("*071001*6400*09", "1005", now=0.0).result.response.status == 404
    assert sw.subscribe("*0764", "1001", now=0.0).result.response.status == 404


def test_blink_style_early_for_phones_without_held_rendering() -> None:
    sw = Switch(blink=BlinkStyle.EARLY)
    pause = sw.subscribe("*076400", "1003", now=0.0)
    _, [n] = dial(sw, "1003", "*076400", now=1.0)
    assert n.key == pause.result.notifies[0].key
    [d] = dialogs(n)
    assert d.findtext(f"{DI}state") == "early" and d.get("direction") == "recipient"


def test_own_reason_key_value_watches_own_pause_reason() -> None:
    sw = Switch()
    key = sw.subscribe("*076400*01", "1003", now=0.0)
    assert key.result.response.status == 200
    _, [n] = dial(sw, "1003", "*076400*01", now=1.0)
    assert n.key == key.result.notifies[0].key and lamp(n) == "red blinking"


def test_presence_watcher_of_an_agent_key_reads_the_state_as_text() -> None:
    sw = Switch()
    p = sw.subscribe("*076400", "1003", now=0.0, event="presence")
    assert b"Signed in to queue 6400" in p.result.notifies[0].body
    _, [n] = dial(sw, "1003", "*076400*01", now=1.0)
    assert b"Paused in queue 6400: Lunch" in n.body and b"<basic>closed</basic>" in n.body
