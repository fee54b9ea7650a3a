"""The queue caller's flow (softswitch.queue.flow) in virtual time: the ACD's commands and
the caller's keys, playback results and timers in; the framework's actions and the engine's
inputs out. No loop, no leg, no clock: `now` is a number the test advances."""

from __future__ import annotations

import pytest

from acd.commands import (
    AnnouncePosition,
    CollectCallbackNumber,
    EndCallbackDialogue,
    HangUp,
    PlayPrompt,
    StartMusic,
)
from acd.config import Destination, DestinationType
from media.player import announce_position, announce_wait, say_digits
from softswitch.apps.flow import (
    CallInfo,
    Hangup,
    Music,
    Play,
    Publish,
    RouteTo,
    SetLanguage,
    StopPlayback,
)
from softswitch.events import SurveyAnswered
from softswitch.queue.flow import (
    HANGUP_AFTER_PROMPT,
    SURVEY_ANSWER_TIME,
    CallbackNumberToAcd,
    JoinPromptFinished,
    KeyToAcd,
    Phase,
    QueueFlow,
    SurveyPlan,
)

T = "call-1"
CALLER = CallInfo(T, "1001", "Alice", "6400", "en")
VOICEMAIL = Destination(DestinationType.VOICEMAIL, "1002")
SURVEY = SurveyPlan("survey-question", "survey-thanks-custom", {"1": 5, "2": 3})


def waiting(now: float = 0.0) -> QueueFlow:
    flow = QueueFlow(queue="6400")
    assert flow.start(CALLER, now) == []
    assert flow.phase is Phase.WAITING
    return flow


def plays(actions: list[object]) -> list[Play]:
    return [a for a in actions if isinstance(a, Play)]


def test_join_prompt_then_music_and_the_engine_hears_when_it_ended() -> None:
    flow = waiting()
    out = flow.handle_command(PlayPrompt(T, "welcome-sales", "en"), 0.0, join=True)
    assert out == [Play(1, ["welcome-sales"])]
    assert flow.handle_command(StartMusic(T, "default"), 0.0) == [Music("default")]
    # a key while waiting goes to the engine (callback key, destination keys)
    assert flow.handle_digit("5", 1.0) == [KeyToAcd("5")]
    assert flow.handle_playback_done(1, False, 4.0) == [JoinPromptFinished()]
    # only once, and only for the join prompt
    assert flow.handle_playback_done(1, False, 4.0) == []
    flow.handle_command(PlayPrompt(T, "queue-announcement", "en"), 5.0)
    assert flow.handle_playback_done(2, False, 7.0) == []


def test_position_announcement_words_and_language() -> None:
    flow = waiting()
    out = flow.handle_command(AnnouncePosition(T, 3, 120.0, True, "zh"), 30.0)
    assert out == [SetLanguage("zh"), Play(1, [announce_position(3, "zh"),
                                               announce_wait(120.0, "zh"),
                                               "thank-you-for-patience"])]
    assert flow.language == "zh"
    # the same language again is not said twice
    assert flow.handle_command(AnnouncePosition(T, None, None, True, "zh"), 60.0) == [
        Play(2, ["thank-you-for-patience"])]


def test_callback_dialogue_confirm_own_number() -> None:
    flow = waiting()
    out = flow.handle_command(CollectCallbackNumber(T, ""), 10.0)
    assert out == [Play(1, ["callback-number-confirm-prefix", say_digits("1001", "en"),
                            "press-1-to-confirm-or-2-to-change"])]
    assert flow.phase is Phase.COLLECTING
    # periodic prompts and position announcements do not talk over the dialogue
    assert flow.handle_command(PlayPrompt(T, "queue-announcement", "en"), 11.0) == []
    assert flow.handle_command(AnnouncePosition(T, 2, None, False, "en"), 11.0) == []
    # music still follows the engine
    assert flow.handle_command(StartMusic(T, "default"), 11.0) == [Music("default")]
    assert flow.handle_digit("1", 12.0) == [KeyToAcd("1"), CallbackNumberToAcd("")]
    assert flow.phase is Phase.WAITING
    # the engine accepted it: HangUp, "callback confirmed", then BYE after the jitter tail
    out = flow.handle_command(HangUp(T), 12.0)
    assert out == [Music(None), Play(2, ["callback-confirmed"])]
    assert flow.handle_number_fed(12.0) == []  # accepted: no "invalid number"
    assert flow.keep_place and flow.phase is Phase.ENDING
    assert flow.handle_digit("1", 13.0) == []  # keys after the request are nobody's
    assert flow.next_deadline() is None
    assert flow.handle_playback_done(2, False, 15.0) == []
    assert flow.next_deadline() == pytest.approx(15.0 + HANGUP_AFTER_PROMPT)
    assert flow.handle_timer(15.1) == []
    assert flow.handle_timer(15.0 + HANGUP_AFTER_PROMPT) == [Hangup("callback registered")]
    assert flow.phase is Phase.ENDED and flow.next_deadline() is None


def test_callback_dialogue_another_number_refused_then_accepted() -> None:
    flow = waiting()
    flow.handle_command(CollectCallbackNumber(T, "1001"), 10.0)
    assert flow.handle_digit("2", 11.0) == [KeyToAcd("2"), Play(2, ["enter-callback-number"])]
    assert flow.handle_digit("1", 12.0) == [KeyToAcd("1")]
    assert flow.handle_digit("2", 12.5) == [KeyToAcd("2")]
    assert flow.handle_digit("#", 13.0) == [KeyToAcd("#"), CallbackNumberToAcd("12")]
    # the engine did not answer with HangUp (too short, §4.2): "invalid number", waiting
    assert flow.handle_number_fed(13.0) == [Play(3, ["invalid-number"])]
    assert flow.phase is Phase.WAITING
    assert flow.handle_digit("3", 14.0) == [KeyToAcd("3")]
    # a new dialogue, typing straight away (no confirm key): the digit starts the number
    flow.handle_command(CollectCallbackNumber(T, "1001"), 20.0)
    for d in "55501":
        flow.handle_digit(d, 21.0)
    assert flow.handle_digit("#", 22.0) == [KeyToAcd("#"), CallbackNumberToAcd("55501")]


def test_callback_dialogue_silence_back_in_line() -> None:
    flow = waiting()
    flow.handle_command(CollectCallbackNumber(T, "anonymous"), 10.0)
    # not a number: straight to "enter your callback number"
    assert flow.entry is not None and flow.entry.default_number == "anonymous"
    assert flow.handle_command(EndCallbackDialogue(T), 30.0) == [StopPlayback(1)]
    assert flow.phase is Phase.WAITING and flow.entry is None
    assert flow.handle_digit("4", 31.0) == [KeyToAcd("4")]
    # a second EndCallbackDialogue (no dialogue) changes nothing
    assert flow.handle_command(EndCallbackDialogue(T), 32.0) == []


def test_connected_stops_the_queue_and_says_the_agent_id() -> None:
    flow = waiting()
    flow.handle_command(PlayPrompt(T, "welcome-sales", "en"), 0.0, join=True)
    words = ["agent-id-prefix", "num-1", "num-0", "num-0", "num-2"]
    out = flow.handle_connected("1002", words, 5.0)
    assert out == [Music(None), StopPlayback(1), Play(2, [words])]
    assert flow.phase is Phase.CONNECTED
    # the join prompt's end is no news once connected; keys are not the engine's
    assert flow.handle_playback_done(1, True, 5.0) == []
    assert flow.handle_digit("5", 6.0) == []
    assert flow.handle_playback_done(2, False, 7.0) == []


def test_survey_key_publishes_then_end_prompt_then_bye() -> None:
    flow = waiting()
    flow.handle_connected("1002", [], 5.0)
    assert flow.handle_survey(SURVEY, 60.0) == [Play(1, ["survey-question"])]
    assert flow.phase is Phase.SURVEY
    assert flow.handle_digit("9", 61.0) == []  # not a survey key
    out = flow.handle_digit("2", 62.0)
    assert out == [Publish(SurveyAnswered(62.0, T, "6400", "1002", "1001", "2", 3)),
                   Music(None), Play(2, ["survey-thanks-custom"])]
    assert flow.handle_digit("1", 63.0) == []  # only the first key counts
    # the survey prompt's end (cut short by the key) does not start the answer timer
    assert flow.handle_playback_done(1, True, 62.0) == []
    assert flow.next_deadline() is None
    flow.handle_playback_done(2, False, 64.0)
    assert flow.handle_timer(64.0 + HANGUP_AFTER_PROMPT) == [Hangup("goodbye")]


def test_survey_without_a_key_says_goodbye() -> None:
    flow = waiting()
    flow.handle_connected("1002", [], 5.0)
    flow.handle_survey(SurveyPlan("survey-question", None, {"1": 5}), 60.0)
    assert flow.next_deadline() is None  # the time to answer starts after the prompt
    flow.handle_playback_done(1, False, 66.0)
    assert flow.next_deadline() == 66.0 + SURVEY_ANSWER_TIME
    assert flow.handle_timer(70.0) == []
    assert flow.handle_timer(66.0 + SURVEY_ANSWER_TIME) == [Music(None), Play(2, ["goodbye"])]
    flow.handle_playback_done(2, False, 77.0)
    assert flow.handle_timer(77.0 + HANGUP_AFTER_PROMPT) == [Hangup("goodbye")]


def test_survey_default_end_prompt() -> None:
    flow = waiting()
    flow.handle_connected("1002", [], 5.0)
    flow.handle_survey(SurveyPlan("survey-question", None, {"1": 5}), 60.0)
    assert flow.handle_digit("1", 61.0)[-1] == Play(2, ["survey-thanks"])


def test_routed_caller_keys_are_nobodys() -> None:
    flow = waiting()
    flow.handle_command(CollectCallbackNumber(T, "1001"), 1.0)
    # a route without a prompt of its own: what plays stops, RouteTo at once
    assert flow.handle_route(VOICEMAIL, False, 2.0) == [StopPlayback(1), RouteTo(VOICEMAIL)]
    assert flow.phase is Phase.ROUTED and flow.entry is None
    assert flow.handle_digit("1", 3.0) == []
    # a destination that is not available: goodbye, then BYE
    assert flow.goodbye(["goodbye"], 3.0) == [Music(None), Play(2, ["goodbye"])]
    flow.handle_playback_done(2, False, 4.0)
    assert flow.handle_timer(4.0 + HANGUP_AFTER_PROMPT) == [Hangup("goodbye")]


def test_holiday_prompt_is_heard_before_the_route() -> None:
    """Time-based routing: PlayPrompt(holiday) and RouteTask in one engine output; the
    caller hears the prompt to its end, then RouteTo."""
    flow = waiting()
    assert flow.handle_command(PlayPrompt(T, "holiday-greeting", "en"), 0.0) == [
        Play(1, ["holiday-greeting"])]
    assert flow.handle_route(VOICEMAIL, True, 0.0) == []
    assert flow.handle_digit("5", 1.0) == []  # nobody's
    assert flow.handle_playback_done(1, False, 4.0) == [RouteTo(VOICEMAIL)]
    assert flow.handle_playback_done(1, False, 4.0) == []  # once


def test_caller_hanging_up_during_the_holiday_prompt_is_not_routed() -> None:
    flow = waiting()
    flow.handle_command(PlayPrompt(T, "holiday-greeting", "en"), 0.0)
    flow.handle_route(VOICEMAIL, True, 0.0)
    assert flow.handle_hangup(2.0) == []
    assert flow.handle_playback_done(1, True, 2.0) == []


def test_a_destination_key_cuts_the_position_announcement() -> None:
    flow = waiting()
    flow.handle_command(AnnouncePosition(T, 2, None, False, "en"), 30.0)
    assert flow.handle_digit("0", 31.0) == [KeyToAcd("0")]
    # the engine answers the key with RouteTask (no prompt of its own)
    assert flow.handle_route(VOICEMAIL, False, 31.0) == [StopPlayback(1), RouteTo(VOICEMAIL)]
    # after a route to another queue, the flow starts again there
    assert flow.start(CallInfo(T, "1001", "Alice", "6401", "en"), 32.0) == []
    assert flow.phase is Phase.WAITING
    assert flow.handle_digit("1", 33.0) == [KeyToAcd("1")]


def test_goodbye_prompt_not_heard_still_hangs_up() -> None:
    """A goodbye whose playback was cut short (a newer prompt on the leg) still ends."""
    flow = waiting()
    flow.goodbye(["goodbye"], 0.0)
    flow.handle_playback_done(1, True, 0.0)
    assert flow.handle_timer(HANGUP_AFTER_PROMPT) == [Hangup("goodbye")]


@pytest.mark.parametrize("phase", ["waiting", "collecting", "connected", "survey", "ending"])
def test_hang_up_in_each_phase_ends_everything(phase: str) -> None:
    flow = waiting()
    if phase == "collecting":
        flow.handle_command(CollectCallbackNumber(T, "1001"), 1.0)
    elif phase in ("connected", "survey"):
        flow.handle_connected("1002", [], 1.0)
        if phase == "survey":
            flow.handle_survey(SURVEY, 2.0)
            flow.handle_playback_done(1, False, 3.0)
            assert flow.next_deadline() is not None
    elif phase == "ending":
        flow.goodbye(["goodbye"], 1.0)
        flow.handle_playback_done(1, False, 2.0)
        assert flow.next_deadline() is not None
    assert flow.handle_hangup(5.0) == []
    assert flow.phase is Phase.ENDED and flow.next_deadline() is None
    # nothing the engine or the caller sends afterwards produces an action
    assert flow.handle_digit("1", 6.0) == []
    assert flow.handle_command(PlayPrompt(T, "queue-announcement", "en"), 6.0) == []
    assert flow.handle_command(HangUp(T), 6.0) == []
    assert flow.handle_timer(100.0) == []
    assert flow.goodbye(["goodbye"], 6.0) == []
