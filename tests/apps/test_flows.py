"""The switch's own applications as sans-IO flows, in virtual time: echo, prompt, feature
codes and connecting an answered caller (softswitch.apps)."""

from __future__ import annotations

from acd.config import Destination, DestinationType
from softswitch.apps.connect import ConnectFlow
from softswitch.apps.echo import EchoFlow
from softswitch.apps.events import FeatureCodeDialled
from softswitch.apps.feature_codes import FeatureCodeFlow
from softswitch.apps.flow import Answer, Bridge, CallInfo, Echo, Hangup, Play, Publish, RouteTo
from softswitch.apps.prompt import AFTER_PROMPT, PromptFlow
from softswitch.features import FeatureOutcome, Prompt, SignIn

CALL = CallInfo("c1", "1001", "Alice", "*76400", "en")


def test_echo_answers_and_loops_back() -> None:
    assert EchoFlow().start(CALL, 0.0) == [Answer(), Echo(True)]


def test_prompt_plays_then_hangs_up_after_the_tail() -> None:
    flow = PromptFlow(prompt="goodbye")
    assert flow.start(CALL, 0.0) == [Answer(), Play(1, ["goodbye"])]
    assert flow.next_deadline() is None  # nothing before the prompt ends
    assert flow.handle_digit("5", 1.0) == []  # keys do not cut "play and exit"
    assert flow.handle_playback_done(1, False, 2.0) == []
    assert flow.next_deadline() == 2.0 + AFTER_PROMPT
    assert flow.handle_timer(2.0 + AFTER_PROMPT / 2) == []
    assert flow.handle_timer(2.0 + AFTER_PROMPT) == [Hangup()]
    assert flow.next_deadline() is None


def test_prompt_then_a_destination() -> None:
    then = Destination(DestinationType.QUEUE, "6400")
    flow = PromptFlow(prompt="holiday-greeting", then=then)
    flow.start(CALL, 0.0)
    flow.handle_playback_done(1, False, 3.0)
    assert flow.handle_timer(3.0 + AFTER_PROMPT) == [RouteTo(then)]


def test_feature_code_publishes_the_change_before_answering() -> None:
    outcome = FeatureOutcome((SignIn("1001", "6400"),), Prompt.AGENT_SIGNED_IN, "signed in")
    actions = FeatureCodeFlow(outcome=outcome).start(CALL, 5.0)
    assert actions == [
        Publish(FeatureCodeDialled(5.0, "c1", "1001", "*76400", (SignIn("1001", "6400"),),
                                   "signed in", True)),
        Answer(), Play(1, ["agent-signed-in"])]


def test_unknown_feature_code_says_invalid_and_changes_nothing() -> None:
    assert FeatureCodeFlow(outcome=None).start(CALL, 0.0) == [
        Answer(), Play(1, ["feature-code-invalid"])]


def test_connect_rings_then_hangs_up_when_the_far_side_does() -> None:
    flow = ConnectFlow("1002", 20.0)
    assert flow.start(CALL, 0.0) == [Answer(), Bridge(1, ["1002"], 20.0)]
    assert flow.handle_bridge_ended(1, 200, 60.0) == [Hangup()]


def test_connect_nobody_answers_says_goodbye() -> None:
    flow = ConnectFlow("1002", 20.0)
    flow.start(CALL, 0.0)
    assert flow.handle_bridge_ended(1, 408, 20.0) == [Answer(), Play(1, ["goodbye"])]
    flow.handle_playback_done(1, False, 21.0)
    assert flow.handle_timer(21.0 + AFTER_PROMPT) == [Hangup()]
