"""Callback-number and survey key dialogues (softswitch.queue.entry) and what the caller
hears (softswitch.queue.announce)."""

from __future__ import annotations

from pathlib import Path

from media.player import PromptLibrary
from softswitch.queue.announce import (
    agent_id_parts,
    callback_confirm_parts,
    position_parts,
    resolve_prompt,
)
from softswitch.queue.entry import (
    AskForNumber,
    CallbackNumberEntry,
    EntryState,
    NumberEntered,
    SurveyEntry,
)

LIB = PromptLibrary()


def feed(entry: CallbackNumberEntry, keys: str) -> list[object]:
    return [r for r in (entry.handle_digit(k) for k in keys) if r is not None]


def test_confirm_own_number_with_1_or_pound() -> None:
    assert feed(CallbackNumberEntry("300012"), "1") == [NumberEntered("")]
    assert feed(CallbackNumberEntry("300012"), "#") == [NumberEntered("")]


def test_press_2_then_type_another_number() -> None:
    e = CallbackNumberEntry("3000")
    assert feed(e, "2") == [AskForNumber()]
    assert feed(e, "5551234#") == [NumberEntered("5551234")]
    assert e.state is EntryState.DONE
    assert feed(e, "1") == []  # nothing after the entry is complete


def test_typing_straight_away_and_star_clears() -> None:
    e = CallbackNumberEntry("3000")
    assert feed(e, "98*76543#") == [NumberEntered("76543")]


def test_short_number_is_reported_for_the_acd_to_refuse() -> None:
    assert feed(CallbackNumberEntry("3000"), "2123#") == [AskForNumber(), NumberEntered("123")]


def test_anonymous_caller_goes_straight_to_typing() -> None:
    e = CallbackNumberEntry("anonymous")
    assert e.state is EntryState.ENTERING
    assert feed(e, "12345#") == [NumberEntered("12345")]


def test_survey_counts_only_the_first_configured_key() -> None:
    s = SurveyEntry({"1": 5, "2": -3})
    assert s.handle_digit("7") is None
    assert s.handle_digit("2") == -3
    assert s.handle_digit("1") is None
    assert s.answered == "2"


def test_position_parts_in_order_and_wait_only_when_known() -> None:
    # position 3: two callers ahead of you
    assert position_parts(3, 170.0, True, "en") == [
        ["there-are", "num-2", "callers-ahead-of-you"],
        ["estimated-wait-time", "num-3", "minutes"], "thank-you-for-patience"]
    assert position_parts(1, None, False, "en") == [["no-callers-ahead"]]
    assert position_parts(None, None, True, "zh") == ["thank-you-for-patience"]
    LIB.sequence("zh", *position_parts(2, 60.0, True, "zh"))  # every id exists in zh


def test_callback_confirmation_reads_the_number_back() -> None:
    assert callback_confirm_parts("30010", "en") == [
        "callback-number-confirm-prefix", ["num-3", "num-0", "num-0", "num-1", "num-0"],
        "press-1-to-confirm-or-2-to-change"]
    assert callback_confirm_parts("", "en") == ["enter-callback-number"]


def test_agent_id_parts() -> None:
    assert agent_id_parts("0101", "en") == [["agent-id-prefix", "num-0", "num-1", "num-0",
                                             "num-1"]]
    assert agent_id_parts("Bob", "en") == []


def test_resolve_prompt_language_first_then_id_then_wav_path(tmp_path: Path) -> None:
    assert resolve_prompt(LIB, "goodbye", "zh").name == "zh/goodbye"
    assert resolve_prompt(LIB, "en/goodbye", "zh").name == "en/goodbye"
    wav = Path(LIB.directory) / "en" / "goodbye.wav"
    assert resolve_prompt(LIB, str(wav), "en") is not None
    assert resolve_prompt(LIB, "no-such-prompt", "en") is None
    assert resolve_prompt(LIB, "", "en") is None
