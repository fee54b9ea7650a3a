"""IVR flow in virtual time: keys, direct dial, invalid and timeout prompts, repeat count,
fallback (softswitch.apps.ivr)."""

from __future__ import annotations

from acd.config import Destination, DestinationType
from softswitch.apps.flow import Action, Answer, CallInfo, Play, RouteTo, StopPlayback
from softswitch.apps.ivr import ExtensionDirectory, IvrConfig, IvrFlow

SALES = Destination(DestinationType.QUEUE, "6400")
SUPPORT = Destination(DestinationType.QUEUE, "6401")
OPERATOR = Destination(DestinationType.EXTENSION, "1003")
VOICEMAIL = Destination(DestinationType.VOICEMAIL, "1001")
CALL = CallInfo("c1", "1002", "Bob", "7000", "en")


def make(**kw: object) -> IvrFlow:
    cfg = IvrConfig(number="7000", name="Main", prompt="main-menu",
                    keys={"1": SALES, "2": SUPPORT, "0": OPERATOR, "*": VOICEMAIL},
                    **kw)  # type: ignore[arg-type]
    return IvrFlow(cfg, ExtensionDirectory(["1001", "1002", "1003", "2000"]))


def plays(actions: list[Action]) -> list[list[object]]:
    return [list(a.parts) for a in actions if isinstance(a, Play)]


def finish_playback(flow: IvrFlow, actions: list[Action], now: float) -> list[Action]:
    play = next(a for a in actions if isinstance(a, Play))
    return flow.handle_playback_done(play.play_id, False, now)


def test_answers_and_plays_the_menu_that_any_digit_interrupts() -> None:
    flow = make()
    out = flow.start(CALL, 0.0)
    assert isinstance(out[0], Answer)
    assert plays(out) == [["main-menu"]]
    play = out[1]
    assert isinstance(play, Play) and "1" in play.interrupt_digits and "#" in play.interrupt_digits


def test_key_during_the_menu_stops_it_and_routes() -> None:
    flow = make()
    out = flow.start(CALL, 0.0)
    play = out[1]
    assert isinstance(play, Play)
    assert flow.handle_digit("2", 1.0) == [StopPlayback(play.play_id), RouteTo(SUPPORT)]


def test_key_after_the_menu_routes() -> None:
    flow = make()
    finish_playback(flow, flow.start(CALL, 0.0), 4.0)
    assert flow.next_deadline() == 9.0  # timeout 5 s after the prompt ended
    assert flow.handle_digit("*", 6.0) == [RouteTo(VOICEMAIL)]
    assert flow.next_deadline() is None


def test_timeout_replays_with_the_timeout_prompt_then_falls_back() -> None:
    fallback = Destination(DestinationType.EXTENSION, "1001")
    flow = make(repeat=2, fallback=fallback)
    out = flow.start(CALL, 0.0)
    now = 4.0
    finish_playback(flow, out, now)
    out = flow.handle_timer(now + 5.0)
    assert plays(out) == [["no-entry"]]
    out = finish_playback(flow, out, now + 7.0)
    assert plays(out) == [["main-menu"]]  # second play of the menu
    finish_playback(flow, out, now + 11.0)
    assert flow.handle_timer(now + 15.9) == []  # not yet
    assert flow.handle_timer(now + 16.0) == [RouteTo(fallback)]


def test_invalid_key_plays_invalid_prompt_and_counts_toward_repeat() -> None:
    flow = make(repeat=2, invalid_destination=OPERATOR)
    finish_playback(flow, flow.start(CALL, 0.0), 3.0)
    out = flow.handle_digit("7", 4.0)
    assert plays(out) == [["invalid-entry"]]
    out = finish_playback(flow, out, 5.0)
    assert plays(out) == [["main-menu"]]
    out2 = flow.handle_digit("8", 6.0)  # during the second menu: invalid again -> out
    assert out2[-1] == RouteTo(OPERATOR)


def test_direct_dial_collects_an_extension() -> None:
    flow = make(direct_dial=True)
    finish_playback(flow, flow.start(CALL, 0.0), 3.0)
    assert flow.handle_digit("1", 4.0) == []  # "1" is a key but also starts 1001..1003
    assert flow.next_deadline() == 7.0  # digit_timeout 3 s
    assert flow.handle_digit("0", 4.5) == []
    assert flow.handle_digit("0", 5.0) == []
    assert flow.handle_digit("2", 5.5) == [RouteTo(Destination(DestinationType.EXTENSION,
                                                               "1002"))]


def test_direct_dial_single_mapped_key_wins_after_the_digit_timeout() -> None:
    flow = make(direct_dial=True)
    finish_playback(flow, flow.start(CALL, 0.0), 3.0)
    flow.handle_digit("1", 4.0)
    assert flow.handle_timer(6.9) == []
    assert flow.handle_timer(7.0) == [RouteTo(SALES)]


def test_direct_dial_pound_ends_entry_and_unknown_number_is_invalid() -> None:
    flow = make(direct_dial=True)
    finish_playback(flow, flow.start(CALL, 0.0), 3.0)
    flow.handle_digit("1", 4.0)
    flow.handle_digit("0", 4.2)
    out = flow.handle_digit("#", 4.4)  # "10" is no extension and no key
    assert plays(out) == [["invalid-entry"]]


def test_without_direct_dial_extension_digits_are_just_keys() -> None:
    flow = make()
    finish_playback(flow, flow.start(CALL, 0.0), 3.0)
    assert flow.handle_digit("1", 4.0) == [RouteTo(SALES)]


def test_digit_during_retry_prompt_starts_a_new_entry() -> None:
    flow = make()
    finish_playback(flow, flow.start(CALL, 0.0), 3.0)
    out = flow.handle_digit("9", 4.0)
    retry = next(a for a in out if isinstance(a, Play))
    assert flow.handle_digit("0", 4.5) == [StopPlayback(retry.play_id), RouteTo(OPERATOR)]


def test_hangup_ends_everything() -> None:
    flow = make()
    finish_playback(flow, flow.start(CALL, 0.0), 3.0)
    assert flow.handle_hangup(4.0) == []
    assert flow.next_deadline() is None
    assert flow.handle_digit("1", 5.0) == []
