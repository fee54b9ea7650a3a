"""Sans-IO cores of call park, pickup and transfer targets (softswitch.calls.park,
.pickup, .replaces)."""

from __future__ import annotations

import pytest

from acd.config import Destination, DestinationType
from softswitch.calls.park import (
    ParkAbandoned,
    ParkingConfig,
    ParkingLot,
    ParkTimedOut,
    SlotChanged,
    slot_range,
)
from softswitch.calls.pickup import (
    PickupConfig,
    PickupRequest,
    RingingCall,
    call_to_pick,
    parse_pickup,
)
from softswitch.calls.replaces import (
    Replaces,
    TransferError,
    parse_refer_to,
    parse_replaces,
    sipfrag,
)

VM = Destination(DestinationType.VOICEMAIL, "1001")


def lot() -> ParkingLot:
    return ParkingLot(ParkingConfig(slots=slot_range("6000-6002"), timeout=60, ring_back=20,
                                    timeout_destination=VM))


def test_park_code_takes_the_lowest_free_slot_and_lights_it() -> None:
    p = lot()
    assert p.park("*5", "call-a", "1001", 0.0) == ("6000", [SlotChanged(0.0, "6000",
                                                                         "call-a", "1001")])
    assert p.park("*5", "call-b", "1002", 1.0)[0] == "6001"
    assert p.occupied() == {"6000": "call-a", "6001": "call-b"}


def test_parking_on_a_busy_slot_or_a_full_lot_is_refused() -> None:
    p = lot()
    p.park("6001", "call-a", "1001", 0.0)
    assert p.park("6001", "call-b", "1002", 1.0) == (None, [])
    p.park("*5", "call-c", "1002", 2.0)
    p.park("*5", "call-d", "1002", 3.0)
    assert p.park("*5", "call-e", "1002", 4.0) == (None, [])
    assert p.park("7000", "call-f", "1002", 4.0) == (None, [])


def test_choose_tells_the_slot_a_park_would_take_without_taking_it() -> None:
    p = lot()
    assert (p.choose("*5"), p.choose("6002"), p.choose("7000")) == ("6000", "6002", None)
    assert p.occupied() == {}
    p.park("6000", "call-a", "1001", 0.0)
    assert (p.choose("*5"), p.choose("6000")) == ("6001", None)


def test_retrieve_frees_the_slot() -> None:
    p = lot()
    p.park("*5", "call-a", "1001", 0.0)
    assert p.retrieve("6000", 5.0) == ("call-a", [SlotChanged(5.0, "6000", None)])
    assert p.retrieve("6000", 6.0) == (None, [])
    assert p.next_deadline() is None


def test_timeout_rings_the_parker_then_sends_the_call_to_the_destination() -> None:
    p = lot()
    p.park("*5", "call-a", "1001", 10.0)
    assert p.next_deadline() == 70.0
    assert p.handle_timer(69.0) == []
    assert p.handle_timer(70.0) == [ParkTimedOut(70.0, "6000", "call-a", "1001")]
    assert p.occupant("6000") == "call-a"  # still retrievable while ringing back
    assert p.next_deadline() == 90.0
    assert p.handle_timer(90.0) == [SlotChanged(90.0, "6000", None),
                                    ParkAbandoned(90.0, "6000", "call-a", VM)]


def test_parked_caller_hanging_up_frees_the_slot() -> None:
    p = lot()
    p.park("*5", "call-a", "1001", 0.0)
    assert p.call_gone("call-a", 3.0) == [SlotChanged(3.0, "6000", None)]
    assert p.call_gone("call-a", 4.0) == []


def test_slot_range() -> None:
    assert slot_range("700-702") == ("700", "701", "702")
    with pytest.raises(ValueError):
        slot_range("7-6")


PICKUP = PickupConfig(groups={"sales": ("1001", "1002", "1003"), "ops": ("1004",)})


def test_parse_pickup_codes() -> None:
    assert parse_pickup(PICKUP, "*4") == PickupRequest(None)
    assert parse_pickup(PICKUP, "*041002") == PickupRequest("1002")
    assert parse_pickup(PICKUP, "*04") is None
    assert parse_pickup(PICKUP, "*41") is None


def test_group_pickup_takes_the_longest_ringing_call_of_the_group() -> None:
    ringing = {"1002": [RingingCall("b", 5.0)], "1003": [RingingCall("c", 2.0)],
               "1004": [RingingCall("d", 1.0)], "1001": [RingingCall("a", 0.0)]}
    assert call_to_pick(PICKUP, PickupRequest(None), "1001", ringing) == "c"
    assert call_to_pick(PICKUP, PickupRequest("1004"), "1001", ringing) == "d"
    assert call_to_pick(PICKUP, PickupRequest("1001"), "1001", ringing) is None
    assert call_to_pick(PICKUP, PickupRequest(None), "1004", {"1004": [
        RingingCall("x", 0.0)]}) is None


def test_refer_to_blind_and_attended() -> None:
    blind = parse_refer_to("<sip:1003@127.0.0.1>")
    assert (blind.user, blind.replaces) == ("1003", None)
    attended = parse_refer_to(
        "<sip:1003@127.0.0.1?Replaces=abc%40host%3Bto-tag%3D12%3Bfrom-tag%3D34>")
    assert attended.replaces == Replaces("abc@host", "12", "34")
    with pytest.raises(TransferError):
        parse_refer_to("<sip:127.0.0.1>")
    with pytest.raises(TransferError):
        parse_refer_to("not a uri <<")


def test_replaces_header() -> None:
    assert parse_replaces("x@y;from-tag=1;to-tag=2;early-only") == Replaces("x@y", "2", "1",
                                                                           True)
    with pytest.raises(TransferError):
        parse_replaces("x@y;to-tag=2")
    with pytest.raises(TransferError):
        parse_replaces("x" * 5000)
    assert sipfrag(200, "OK") == b"SIP/2.0 200 OK\r\n"


# ---------------------------------------------------------------- config, lamps, slot keys

def config_issues(extra: str) -> list[str]:
    import textwrap
    from pathlib import Path

    from softswitch.config import ConfigError, parse_config

    text = textwrap.dedent("""\
        sip: {listen: [udp:127.0.0.1:0], domain: 127.0.0.1}
        extensions:
          - {number: "1001", name: A, password: pw-a-1001}
          - {number: "6005", name: B, password: pw-b-6005}
        queues:
          - {number: "6100", name: Sales, strategy: ring_all, static_agents: ["1001"]}
        """) + textwrap.dedent(extra)
    try:
        parse_config(text, "c.yaml", Path("/tmp"))
    except ConfigError as exc:
        return [str(i) for i in exc.issues]
    return []


def test_parking_and_pickup_config() -> None:
    from pathlib import Path

    from softswitch.config import parse_config

    cfg = parse_config("""\
sip: {listen: [udp:127.0.0.1:0], domain: 127.0.0.1}
extensions:
  - {number: "1001", name: A, password: pw-a-1001}
  - {number: "1002", name: B, password: pw-b-1002}
parking: {code: "*8", slots: "700-702", timeout: 30, ring_back: 10,
          timeout_destination: {type: extension, target: "1002"}}
pickup: {group_code: "*9", directed_code: "**", groups: {desk: ["1001", "1002"]}}
""", "c.yaml", Path("/tmp"))
    assert cfg.parking == ParkingConfig("*8", ("700", "701", "702"), 30.0, 10.0,
                                        Destination(DestinationType.EXTENSION, "1002"))
    assert cfg.pickup == PickupConfig("*9", "**", {"desk": ("1001", "1002")})


def test_parking_config_errors_name_the_line_and_key() -> None:
    assert config_issues('parking: {slots: "6000-6009"}\n') == [
        "c.yaml:7: parking.slots: park slots 6005 are extension numbers"]
    assert config_issues('parking: {slots: "6100-6101"}\n') == [
        "c.yaml:7: parking.slots: park slots 6100 are queue numbers"]
    assert config_issues('parking: {slots: "60-5"}\n')[0].startswith(
        "c.yaml:7: parking.slots: a parking lot has 1 to 100 slots")
    assert "no extension '1009'" in config_issues(
        'parking: {slots: "700-701", timeout_destination: {type: extension, '
        'target: "1009"}}\n')[0]
    assert "no extension '1234'" in config_issues(
        'parking: {slots: "700-701"}\npickup: {groups: {desk: ["1234"]}}\n')[0]


def test_lamps_follow_a_transferred_call() -> None:
    from softswitch.calls.events import CallAnswered, CallPartyChanged, CallStarted
    from softswitch.presence.call_lamps import CallLamps

    lp = CallLamps(["1001", "1002", "1003"], "pbx.test", [])
    lp.handle(CallStarted(0.0, "c1", "1001", "1002", "extension"))
    lp.handle(CallAnswered(1.0, "c1", "1001", "1002"))
    # 1002 parks 1001: 1002's lamp goes out
    assert [(c.extension, c.call) for c in lp.handle(
        CallPartyChanged(2.0, "c1", "callee", "", "1002"))] == [("1002", None)]
    # 1003 retrieves: 1003 talks to 1001
    changes = lp.handle(CallPartyChanged(3.0, "c1", "callee", "1003", ""))
    assert [(c.extension, c.call.state.value if c.call else None,
             c.call.remote_uri if c.call else None) for c in changes] == [
        ("1003", "confirmed", "sip:1001@pbx.test"), ("1001", "confirmed", "sip:1003@pbx.test")]


def test_park_slot_key_red_while_a_call_waits() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "presence"))
    from blf_helpers import Switch, lamp

    sw = Switch(park_slots=["6000", "6001"])
    key = sw.subscribe("6000", "1001", 0.0)
    assert key.result.response.status == 200 and lamp(key.result.notifies[0]) == "green"
    assert sw.subscribe("6009", "1001", 0.0).result.response.status == 404
    (busy,) = sw.notifier.slot_changed("6000", "sip:1002@pbx.example", 1.0)
    assert lamp(busy) == "red" and b"sip:1002@pbx.example" in busy.body
    (free,) = sw.notifier.slot_changed("6000", None, 2.0)
    assert lamp(free) == "green"
    assert sw.notifier.slot_changed("6001", "", 3.0) == []  # nobody watches 6001
