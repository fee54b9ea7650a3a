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
