"""Transfer, park and pickup of extension calls: the asyncio shell over the sans-IO rules
(softswitch.calls.replaces, .park, .pickup) inside the B2BUA (softswitch.calls.b2bua).

A B2BUA call has two *ends*: the caller's dialog with the switch and the callee's, each with
its media leg (media is anchored, so a phone only ever sees the switch). Every operation
here moves ends between calls; none sends a re-INVITE to the party who stays:

- Blind transfer (RFC 3515 REFER, or `transfer_blind` from the live API): the transferee
  hears ringback while the target is rung through the switch's one fork (an `OutboundCall`,
  softswitch.queue.dialer); on answer the target's end takes the transferor's place in the
  call and the transferor is sent BYE (unless it hung up already). On failure the transferee
  is bridged back to the transferor, or, when the transferor has gone, hears "goodbye" and
  is hung up. The REFER's implicit subscription gets NOTIFY message/sipfrag 100 Trying, then
  the final status (RFC 3515 §2.4.4-§2.4.5).
- Attended transfer (REFER whose Refer-To carries Replaces, RFC 3891 §3 / RFC 5589 §7): the
  Replaces names the transferor's dialog with the switch in its consultation call; the other
  end of that call takes the transferor's place, both of the transferor's dialogs get BYE.
- Park (REFER to the park code or a slot number, or `park`): the other party hears music on
  hold in the slot; dialling the slot retrieves it (INVITE answered, bridged: `retrieve`);
  the timeout rings the parker back (the same fork), then the lot's timeout destination.
  An answered queue call's caller parked from the live API is handed over by the queue
  shell (`park_handed_over`) and becomes such a parked call of this B2BUA.
- Pickup (`*4`, `*04<ext>`, or an INVITE with Replaces naming a ringing dialog, RFC 3891;
  `pickup`): the picker's INVITE is answered, every ringing branch CANCELled, the caller
  answered with the picker as callee.

Decisions:
- A transferred call keeps its Call-ID and its one call record (caller and callee as it
  started); `CallPartyChanged` events tell the lamps and observers who is in it now. A
  pickup or retrieval INVITE joins that call and writes no record of its own. The call's
  recording ends when its first party leaves (the recorder follows the legs it started on).
- Whoever held the party that stays has left: that party gets a re-INVITE taking it off
  hold (sendrecv), so the new parties hear each other both ways.
- Pickup by Replaces is open to every extension (any of them may watch a BLF key); the
  pickup codes follow the pickup groups.
- Transfer targets are what an extension may dial (extensions, outbound routes), queue
  numbers, the park code and slots. A transferee sent to a queue leaves this call (its
  record ends, "transferred to queue N") and becomes a queue call of its own, with its
  own record (softswitch.queue.controller.QueueCalls.adopt_caller).
- Attended transfer needs a connected consultation call; a REFER with Replaces naming a
  call still ringing gets 481 in its NOTIFY (the phone keeps both calls).
- Pickup takes extension calls only; a queue offer ringing an agent belongs to the queue
  controller's dialer and is not picked up (404), which the README states.
- Retrieval and pickup INVITEs must carry an SDP offer (488 otherwise); every phone does.
- The park timeout's destination: `hangup`, or `extension` (rung like a transfer; on
  failure the caller hears goodbye); every other destination type (queue, IVR, voicemail,
  ring group, call flow, prompt, external...) is handed, with the parked party's end
  (dialog, peer, media leg), to the seam `route_destination` (wired by softswitch.app to
  softswitch.apps.handover.parked_to_destination: the queue calls or the call shell adopt
  the answered party); this call then ends for it without a BYE. When the seam refuses
  (destination removed by a reload), the caller hears goodbye.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from acd.config import Destination, DestinationType
from softswitch.apps.music import RINGBACK_STREAM, attach_music
from softswitch.calls.control import CallState, Side
from softswitch.calls.events import (
    CallAnswered,
    CallEnded,
    CallPartyChanged,
    CallRinging,
    CallStarted,
)
from softswitch.calls.fork import Fork
from softswitch.calls.park import (
    ParkAbandoned,
    ParkingConfig,
    ParkingLot,
    ParkTimedOut,
    SlotChanged,
)
from softswitch.calls.pickup import (
    PickupConfig,
    PickupRequest,
    RingingCall,
    call_to_pick,
    parse_pickup,
)
from softswitch.calls.replaces import Replaces, TransferError, parse_refer_to, parse_replaces
from softswitch.calls.replaces import sipfrag as sipfrag_body
from softswitch.clock import TimerHandle, sleep
from softswitch.dialplan import EXTENSION, EXTERNAL
from softswitch.log import get_logger
from softswitch.sip import Request, Response
from softswitch.sip import sdp as sdplib
from softswitch.sip.dialog import Dialog
from softswitch.sip.transaction import Peer

if TYPE_CHECKING:
    from media import MediaLeg
    from softswitch.calls.b2bua import B2BUA, Call, QueueEntrance
    from softswitch.calls.park import ParkEvent
    from softswitch.queue.dialer import OutboundCall
    from softswitch.queue.seams import Target
    from softswitch.sip.transaction import ServerTransaction

log = get_logger("calls")

NOTIFY_EXPIRES = 60


class _RingingView(Mapping[str, Sequence[RingingCall]]):
    def __init__(self, index: dict[str, dict[str, float]]) -> None:
        self._index = index

    def __getitem__(self, ext: str) -> Sequence[RingingCall]:
        return [RingingCall(c, since) for c, since in self._index[ext].items()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


class TransferRefused(Exception):
    """An operation the switch cannot do now: `status` is what the REFER's NOTIFY (or the
    API's error) reports."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


def other(side: Side) -> Side:
    return Side.CALLEE if side is Side.CALLER else Side.CALLER


def side_of(value: Side | str) -> Side:
    side = value if isinstance(value, Side) else Side(value)
    if side is Side.SWITCH:
        raise TransferRefused(400, "side is caller or callee")
    return side


@dataclass
class End:
    """One party's end of a call: its dialog with the switch, where its requests go, its
    media leg and the SDP origin the switch uses toward it (RFC 3264 §8)."""

    party: str
    dialog: Dialog
    peer: Peer
    leg: MediaLeg  # a party without media cannot be moved (B2BUA._end_of refuses it)
    origin: sdplib.Origin | None  # None: the switch has sent it no SDP yet (a fresh o=)
    request: Request  # the INVITE that made the dialog (ours or the phone's)


Notify = Callable[[int, str], None]  # a REFER's progress: status, reason


@dataclass(eq=False)
class Ring:
    """The switch ringing `number` for a call already in progress (transfer target, park
    ring-back, timeout destination): the one fork through the queue dialer's OutboundCall."""

    number: str
    on_answered: Callable[[End], None]
    on_failed: Callable[[int], None]
    out: OutboundCall | None = None
    leg: MediaLeg | None = None
    timer: TimerHandle | None = None
    over: bool = False


@dataclass(eq=False)
class PendingTransfer:
    transferor: Side
    ring: Ring
    notify: Notify | None


@dataclass
class CallMoves:
    """Per call: what this module has done to it."""

    gone: set[Side] = field(default_factory=set)  # ends that have left (BYE sent or got)
    transfer: PendingTransfer | None = None
    slot: str | None = None  # parked there
    ring_back: Ring | None = None  # the parker (or the timeout destination) being rung


class Transfers:
    """Transfer, park and pickup for the B2BUA's calls (module docstring)."""

    def __init__(self, b2bua: B2BUA, *, parking: ParkingConfig | None = None,
                 pickup: PickupConfig | None = None, language: str = "en",
                 route_destination: Callable[[End, Destination], bool] | None = None,
                 queues: QueueEntrance | None = None) -> None:
        from softswitch.queue.dialer import Dialer

        self.b2bua = b2bua
        self.clock = b2bua.clock
        self.media = b2bua.media
        self.lot = ParkingLot(parking) if parking is not None else None
        self.pickup_config = pickup or PickupConfig()
        self.language = language
        self.route_destination = route_destination
        self.queues = queues  # softswitch.calls.b2bua.QueueEntrance
        self._dialer_index: dict[str, OutboundCall] = {}
        self.dialer = Dialer(b2bua.endpoint, b2bua.domain, b2bua.user_agent,
                             self._dialer_index, b2bua.clock)
        self._lot_timer: TimerHandle | None = None
        # extension -> Call-ID -> since: extension calls ringing there (pickup's index)
        self._ringing: dict[str, dict[str, float]] = {}
        self._ringing_at: dict[str, str] = {}  # Call-ID -> the extension it rings
        # Call-ID -> the live API's pickups ringing for it: (the picker's ring, its report)
        self._api_pickups: dict[str, list[tuple[Ring, Callable[[bool, str, int | None],
                                                                None]]]] = {}
        b2bua.events.subscribe(self._call_event, CallRinging, CallAnswered, CallEnded)

    # ------------------------------------------------------------------ bookkeeping

    def moves(self, call: Call) -> CallMoves:
        if call.moves is None:
            call.moves = CallMoves()
        moves: CallMoves = call.moves
        return moves

    def gone(self, call: Call, side: Side) -> bool:
        return call.moves is not None and side in call.moves.gone

    def _call_event(self, event: object) -> None:
        if isinstance(event, CallRinging):
            if event.destination == EXTENSION:
                self._ringing.setdefault(event.callee, {})[event.call_id] = event.at
                self._ringing_at[event.call_id] = event.callee
        else:
            call_id = getattr(event, "call_id", "")
            if call_id in self._api_pickups:
                self._pickups_stop(call_id, isinstance(event, CallAnswered))
            ext = self._ringing_at.pop(call_id, None)
            if ext is not None:
                calls = self._ringing.get(ext, {})
                calls.pop(call_id, None)
                if not calls:
                    self._ringing.pop(ext, None)

    def _connected(self, call_id: str) -> Call:
        call = self.b2bua.calls.get(call_id)
        if call is None or call.control.state is not CallState.CONNECTED:
            raise TransferRefused(481, "Call Does Not Exist")
        return call

    def _publish_party(self, call: Call, side: Side, party: str, previous: str) -> None:
        self.b2bua.events.publish(CallPartyChanged(self.clock.monotonic(), call.call_id,
                                                   side.value, party, previous))

    # ------------------------------------------------------------------ ends

    def _leave(self, call: Call, side: Side, *, bye: bool) -> None:
        """The party at `side` leaves the call (BYE sent when `bye`), the call goes on."""
        moves = self.moves(call)
        if side in moves.gone:
            return
        if bye:
            self.b2bua._send_bye(call, side)
        moves.gone.add(side)
        party = call.parties.get(side, "")
        self.b2bua._unobserve(call, party)
        self._publish_party(call, side, "", party)

    def _isolate(self, call: Call) -> None:
        if call.leg_a is not None and call.leg_b is not None:
            self.media.unbridge(call.leg_a, call.leg_b)

    def _leg(self, call: Call, side: Side) -> MediaLeg | None:
        return call.leg_a if side is Side.CALLER else call.leg_b

    def _hear(self, leg: MediaLeg | None, stream: str) -> None:
        if leg is None or leg.closed:
            return
        try:
            attach_music(self.media, leg, stream)
        except Exception as exc:  # noqa: BLE001 - silence rather than a dropped call
            log.warning("no music for a waiting party", stream=stream, error=str(exc))

    def _join(self, call: Call, side: Side, end: End) -> None:
        """`end` takes the place of whoever was at `side`; both parties hear each other."""
        b2bua = self.b2bua
        moves = self.moves(call)
        previous = "" if side in moves.gone else call.parties.get(side, "")
        if previous:
            b2bua._unobserve(call, previous)
        old_leg = self._leg(call, side)
        self._isolate(call)
        b2bua._put_end(call, side, end)
        moves.gone.discard(side)
        for leg in (call.leg_a, call.leg_b):
            if leg is not None and not leg.closed:
                self.media.detach_moh(leg)
        if call.leg_a is not None and call.leg_b is not None:
            try:
                self.media.bridge(call.leg_a, call.leg_b)
            except Exception as exc:  # noqa: BLE001
                call.log.error("cannot bridge the moved call", error=repr(exc))
        if old_leg is not None and old_leg is not end.leg:
            b2bua._loop.create_task(_close(old_leg))
        b2bua._observe(call, end.party)
        call.log.info("party changed", side=side.value, party=end.party, previous=previous)
        self._publish_party(call, side, end.party, previous)
        if ("caller" if side is Side.CALLER else "callee") in call.held_by:
            # whoever held the staying party has gone: take it off hold (RFC 3264 §8.4)
            b2bua.hold_changed(call, side, False)
            self._resume(call, other(side))

    def _resume(self, call: Call, side: Side) -> None:
        """re-INVITE the party at `side` with a sendrecv offer of its own leg's codec."""
        b2bua = self.b2bua
        from softswitch.calls.b2bua import apply_media, media_params

        try:
            end = b2bua._end_of(call, side)
        except TransferRefused:
            return
        leg = end.leg
        if leg is None or leg.closed:
            return
        offer = sdplib.create_offer(leg.local_host, leg.local_port,
                                    codecs=(leg.codec if leg.codec in ("PCMU", "PCMA")
                                            else "PCMU",))
        body = bytes(b2bua._as_ours(call, side, offer))
        local = b2bua.endpoint.local_peer(end.peer.transport)
        host = f"[{local.host}]" if ":" in local.host else local.host
        request = end.dialog.create_request("INVITE", body=body, content_type="application/sdp",
                                            headers=(("Contact", f"<sip:switch@{host}:"
                                                      f"{local.port};transport="
                                                      f"{end.peer.transport}>"),))

        def on_response(resp: Response) -> None:
            if not 200 <= resp.status < 300:
                return
            with contextlib.suppress(Exception):
                end.dialog.receive_response(resp)
                outgoing.send_ack(end.dialog.create_ack(request))
            with contextlib.suppress(Exception):
                params = media_params(sdplib.SessionDescription.parse(resp.body))
                if params is not None:
                    apply_media(leg, params)

        call.log.info("taking the remaining party off hold", side=side.value)
        outgoing = b2bua.endpoint.send_request(request, end.peer, on_response=on_response)

    def _take_end(self, call: Call, side: Side) -> End:
        """Detach `side`'s end from `call` (its leg and dialog move elsewhere; the call ends
        or goes on without it, and never sends that party a BYE)."""
        end: End = self.b2bua._end_of(call, side)
        self._isolate(call)
        if side is Side.CALLER:
            call.leg_a = None
        else:
            call.leg_b = None
        moves = self.moves(call)
        moves.gone.add(side)
        self.b2bua._unobserve(call, end.party)
        return end

    def _end_call(self, call: Call, cause: str) -> None:
        b2bua = self.b2bua
        b2bua._execute(call, call.control.handle_shutdown(self.clock.monotonic(), cause))

    async def _goodbye(self, call: Call, side: Side, cause: str) -> None:
        """The party left alone hears "goodbye", then the call ends."""
        leg = self._leg(call, side)
        if leg is not None and not leg.closed:
            self.media.detach_moh(leg)
            try:
                pb = self.media.play(leg, self.media.prompts.sequence(self.language,
                                                                      "goodbye"))
                await pb
                await sleep(self.clock, 0.3)  # the phone's jitter buffer still plays it
            except Exception as exc:  # noqa: BLE001 - a missing prompt: hang up anyway
                call.log.warning("goodbye not played", error=str(exc))
        self._end_call(call, cause)

    def call_finished(self, call: Call) -> None:
        """The B2BUA ended `call`: stop whatever still rings for it, free its slot."""
        moves = call.moves
        if moves is None:
            return
        if moves.transfer is not None:
            self._stop_ring(moves.transfer.ring)
            if moves.transfer.notify is not None:
                moves.transfer.notify(487, "Request Terminated")
            moves.transfer = None
        if moves.ring_back is not None:
            self._stop_ring(moves.ring_back)
            moves.ring_back = None
        if moves.slot is not None and self.lot is not None:
            self._lot_events(self.lot.call_gone(call.call_id, self.clock.monotonic()))
            moves.slot = None

    def party_left(self, call: Call, side: Side) -> bool:
        """A BYE from `side` (already answered 200). True: handled here, the call goes on
        (a transferor hanging up during its transfer); False: the call ends as usual."""
        moves = call.moves
        if moves is None:
            return False
        if side in moves.gone:
            return True
        if moves.transfer is not None and moves.transfer.transferor is side:
            moves.transfer.notify = None  # nobody left to tell
            self._leave(call, side, bye=False)
            return True
        return False

    # ------------------------------------------------------------------ ringing a party

    def _targets(self, number: str, caller: str) -> tuple[str, list[Target]]:
        b2bua = self.b2bua
        now = self.clock.monotonic()
        dest = b2bua.dialplan.route(number, caller)
        if dest.kind == EXTENSION:
            targets = b2bua.lookup(dest.target, now)
            if not targets:
                raise TransferRefused(480, "Temporarily Unavailable")
            return dest.target, list(targets)
        if dest.kind == EXTERNAL and b2bua.trunks is not None \
                and dest.target in b2bua.trunks.trunks and dest.args:
            from softswitch.trunks import trunk_target

            target = trunk_target(b2bua.trunks.trunks[dest.target], dest.args[0])
            return target.number, [target]
        raise TransferRefused(404, "Not Found")

    def _ring(self, call: Call, number: str, targets: list[Target], from_user: str,
              on_answered: Callable[[End], None], on_failed: Callable[[int], None]) -> Ring:
        ring = Ring(number, on_answered, on_failed)
        self.b2bua._spawn(call, self._start_ring(call, ring, targets, from_user))
        return ring

    async def _start_ring(self, call: Call, ring: Ring, targets: list[Target],
                          from_user: str) -> None:
        from softswitch.queue.dialer import OutboundCall

        try:
            ring.leg = await self.media.open_leg(f"{call.call_id}/{ring.number}/{id(ring)}")
        except Exception as exc:  # noqa: BLE001 - no media port
            call.log.error("no media port to ring", number=ring.number, error=str(exc))
            self._ring_over(ring, None, 503)
            return
        if ring.over:
            await _close(ring.leg)
            return
        ring.out = OutboundCall(ring.number, ring.leg,
                                on_answered=lambda out: self._ring_answered(ring, out),
                                on_failed=lambda out, status: self._ring_over(ring, None,
                                                                              status),
                                fork=Fork(self.b2bua.no_answer_timeout))
        call.log.info("ringing", number=ring.number, for_party=from_user)
        self.dialer.start(ring.out, targets, from_user=from_user, display="")
        self._arm_ring(ring)

    def _arm_ring(self, ring: Ring) -> None:
        if ring.timer is not None:
            ring.timer.cancel()
            ring.timer = None
        deadline = ring.out.fork.next_deadline() if ring.out is not None else None
        if deadline is not None and not ring.over:
            ring.timer = self.clock.call_at(deadline, self._ring_timer, ring)

    def _ring_timer(self, ring: Ring) -> None:
        ring.timer = None
        if ring.out is not None and not ring.over:
            self.dialer.handle_timer(ring.out)
            self._arm_ring(ring)

    def _ring_answered(self, ring: Ring, out: OutboundCall) -> None:
        if ring.over:
            self.dialer.hang_up(out)
            return
        winner, leg = out.winner, ring.leg
        if winner is None or winner.dialog is None or leg is None:
            # the dialer reports an answer only with its winning branch's dialog, and the
            # leg was opened before the fork started: neither happens, but never bridge
            # half a party
            self.dialer.hang_up(out)
            self._ring_over(ring, None, 500)
            return
        origin: sdplib.Origin | None = None
        with contextlib.suppress(Exception):  # our own offer: it parses
            origin = sdplib.SessionDescription.parse(winner.request.body).origin
        end = End(ring.number, winner.dialog, winner.peer, leg, origin, winner.request)
        self._ring_over(ring, end, 200)

    @staticmethod
    def _close_ring(ring: Ring) -> bool:
        """Mark `ring` over (False when it already was) and stop its timer."""
        if ring.over:
            return False
        ring.over = True
        if ring.timer is not None:
            ring.timer.cancel()
            ring.timer = None
        return True

    def _ring_over(self, ring: Ring, end: End | None, status: int) -> None:
        if not self._close_ring(ring):
            return
        if end is not None:
            ring.on_answered(end)
        else:
            if ring.leg is not None:
                self.b2bua._loop.create_task(_close(ring.leg))
            ring.on_failed(status)

    def _stop_ring(self, ring: Ring) -> None:
        if not self._close_ring(ring):
            return
        if ring.out is not None:
            self.dialer.cancel(ring.out)
        if ring.leg is not None:
            self.b2bua._loop.create_task(_close(ring.leg))

    # ------------------------------------------------------------------ operations

    def transfer_blind(self, call_id: str, side: Side | str, target: str,
                       notify: Notify | None = None) -> None:
        """The party at `side` transfers the other party to `target` (module docstring).
        Raises TransferRefused when it cannot start; `notify` hears the final status."""
        side = side_of(side)
        call = self._connected(call_id)
        moves = self.moves(call)
        if moves.transfer is not None or moves.slot is not None or moves.gone:
            raise TransferRefused(491, "Request Pending")
        if self.lot is not None and (target == self.lot.config.code
                                     or self.lot.is_slot(target)):
            self.park(call_id, side, target, notify)
            return
        transferee = other(side)
        if self.queues is not None and target in self.queues.queues:
            self._into_queue(call, side, target, notify)
            return
        number, targets = self._targets(target, call.parties.get(side, ""))
        call.log.info("blind transfer", transferor=call.parties.get(side),
                      transferee=call.parties.get(transferee), target=number)
        self._isolate(call)
        self._hear(self._leg(call, transferee), RINGBACK_STREAM)
        ring = self._ring(call, number, targets, call.parties.get(transferee, ""),
                          lambda end: self._transfer_answered(call, end),
                          lambda status: self._transfer_failed(call, status))
        moves.transfer = PendingTransfer(side, ring, notify)

    def _into_queue(self, call: Call, side: Side, queue: str, notify: Notify | None) -> None:
        """The transferee becomes a caller waiting in `queue` (the queue-call shell takes
        its dialog and leg); this call ends for the transferor."""
        assert self.queues is not None
        transferee = other(side)
        end: End = self.b2bua._end_of(call, transferee)
        self._isolate(call)
        if not self.queues.adopt_caller(end.dialog.call_id, queue, end.party, end.dialog,
                                        end.peer, end.leg, end.request):
            # the queues refused (the switch is stopping): both parties talk on
            if call.leg_a is not None and call.leg_b is not None:
                with contextlib.suppress(Exception):
                    self.media.bridge(call.leg_a, call.leg_b)
            raise TransferRefused(503, "Queue Not Available")
        call.log.info("transferred into a queue", queue=queue, transferee=end.party,
                      transferor=call.parties.get(side))
        self._take_end(call, transferee)
        if notify is not None:
            notify(200, "OK")
        self._publish_party(call, transferee, "", end.party)
        self._end_call(call, f"transferred to queue {queue}")

    def _transfer_answered(self, call: Call, end: End) -> None:
        moves = self.moves(call)
        pending = moves.transfer
        moves.transfer = None
        if pending is None:
            return
        if pending.notify is not None:
            pending.notify(200, "OK")
        self._leave(call, pending.transferor, bye=True)
        self._join(call, pending.transferor, end)

    def _transfer_failed(self, call: Call, status: int) -> None:
        moves = self.moves(call)
        pending = moves.transfer
        moves.transfer = None
        if pending is None:
            return
        call.log.info("transfer failed", status=status)
        if pending.notify is not None:
            pending.notify(status, _REASONS.get(status, "Failed"))
        transferee = other(pending.transferor)
        if pending.transferor not in moves.gone:
            for leg in (call.leg_a, call.leg_b):
                if leg is not None and not leg.closed:
                    self.media.detach_moh(leg)
            if call.leg_a is not None and call.leg_b is not None:
                with contextlib.suppress(Exception):
                    self.media.bridge(call.leg_a, call.leg_b)
            return
        self.b2bua._spawn(call, self._goodbye(call, transferee, "transfer failed"))

    def transfer_attended(self, call_id: str, side: Side | str, consult_call_id: str,
                          consult_side: Side | str, notify: Notify | None = None) -> None:
        """The party at `side` of `call_id`, who is also at `consult_side` of
        `consult_call_id`, connects the other parties of both calls and leaves both."""
        side, consult_side = side_of(side), side_of(consult_side)
        call = self._connected(call_id)
        consult = self._connected(consult_call_id)
        if consult is call:
            raise TransferRefused(400, "a call cannot replace itself")
        for c in (call, consult):
            m = self.moves(c)
            if m.transfer is not None or m.slot is not None or m.gone:
                raise TransferRefused(491, "Request Pending")
        target_side = other(consult_side)
        call.log.info("attended transfer", transferor=call.parties.get(side),
                      transferee=call.parties.get(other(side)),
                      target=consult.parties.get(target_side), consult=consult.call_id)
        # the transferor may have held the target too (a phone holds the consultation call
        # before it transfers): the target then comes off hold as well
        target_held = ("caller" if consult_side is Side.CALLER else "callee") \
            in consult.held_by
        end = self._take_end(consult, target_side)
        if notify is not None:
            notify(200, "OK")
        self._leave(call, side, bye=True)
        self._join(call, side, end)
        if target_held:
            self._resume(call, side)
        self._end_call(consult, "transferred")

    def park(self, call_id: str, side: Side | str, target: str | None = None,
             notify: Notify | None = None) -> str:
        """The party at `side` parks the other party at `target` (the park code, default:
        the lowest free slot, or a slot number) and leaves; returns the slot."""
        side = side_of(side)
        if self.lot is None:
            raise TransferRefused(404, "Parking Not Configured")
        call = self._connected(call_id)
        moves = self.moves(call)
        if moves.transfer is not None or moves.slot is not None or moves.gone:
            raise TransferRefused(491, "Request Pending")
        now = self.clock.monotonic()
        target = target or self.lot.config.code
        slot, events = self.lot.park(target, call_id, call.parties.get(side, ""), now,
                                     call.parties.get(other(side), ""))
        if slot is None:
            if self.lot.is_slot(target):
                raise TransferRefused(486, "Busy Here")
            raise TransferRefused(404 if target != self.lot.config.code else 486,
                                  "Not Found" if target != self.lot.config.code
                                  else "Busy Here")
        moves.slot = slot
        call.log.info("parked", slot=slot, parker=call.parties.get(side),
                      parked=call.parties.get(other(side)))
        self._isolate(call)
        self._hear(self._leg(call, other(side)), "default")
        if notify is not None:
            notify(200, "OK")
        self._leave(call, side, bye=True)
        self._lot_events(events)
        return slot

    def park_handed_over(self, call_id: str, parker: str, target: str | None,
                         release: Callable[[str], End | None]) -> str:
        """Park a party another shell holds (the live API's park of an answered queue call,
        softswitch.web.callops) and return its slot. The slot is chosen first, so a
        refusal (486 lot full or slot busy, 404 not a slot) changes nothing; then
        `release(slot)` hands over the party's end (dialog, peer, media leg, INVITE; None:
        it is gone, 481) and a new call of this B2BUA holds it exactly as a parked
        extension call holds its party: music in the slot, retrieval by dialling the slot,
        the timeout ringing `parker` back, then the lot's timeout destination. The call
        keeps `call_id`; its record (the party -> the slot) starts at the park, answered
        then, and ends with the call."""
        from softswitch.calls.b2bua import Call
        from softswitch.calls.control import CallControl

        if self.lot is None:
            raise TransferRefused(404, "Parking Not Configured")
        target = target or self.lot.config.code
        slot = self.lot.choose(target)
        if slot is None:
            if self.lot.is_slot(target) or target == self.lot.config.code:
                raise TransferRefused(486, "Busy Here")
            raise TransferRefused(404, "Not Found")
        b2bua = self.b2bua
        existing = b2bua.calls.get(call_id)
        if existing is not None and existing.control.state is not CallState.ENDED:
            raise TransferRefused(482, "Loop Detected")
        end = release(slot)
        if end is None:
            raise TransferRefused(481, "Call Does Not Exist")
        if existing is not None:
            b2bua._forget(existing)  # an ended call of the same Call-ID (transferred in)
        now = self.clock.monotonic()
        control = CallControl(call_id, end.party, slot, now, b2bua.no_answer_timeout)
        control.handle_adopted(now)
        call = Call(control, end.request, None, end.peer, end.dialog.local_tag, None,
                    self.clock.wall(), now)
        call.log = log.bind(call_id=call_id, caller=end.party, callee=slot)
        call.a_dialog, call.leg_a, call.a_acked = end.dialog, end.leg, True
        if end.origin is not None:
            call.origins[Side.CALLER] = end.origin
        call.parties = {Side.CALLER: end.party, Side.CALLEE: parker}
        b2bua.calls[call_id] = call
        b2bua._by_leg_call_id[end.dialog.call_id] = (call, Side.CALLER, None)
        call.leg_call_ids.append(end.dialog.call_id)
        call.record_uid = b2bua.records.open(call_id, end.party, slot, call.wall_start)
        b2bua.records.answered(call.record_uid, call.wall_start,
                               [("caller", end.dialog, end.peer)])
        b2bua._publish(CallStarted(now, call_id, end.party, slot, EXTENSION))
        b2bua._publish(CallAnswered(now, call_id, end.party, slot))
        b2bua._observe(call, end.party)
        moves = self.moves(call)
        moves.gone.add(Side.CALLEE)
        parked_at, events = self.lot.park(slot, call_id, parker, now, end.party)
        assert parked_at == slot  # chosen above, nothing ran in between
        moves.slot = slot
        call.log.info("parked", slot=slot, parker=parker, parked=end.party, handed_over=True)
        self._hear(end.leg, "default")
        self._lot_events(events)
        return slot

    def retrieve(self, slot: str, by: str) -> None:
        """Ring extension `by`; when it answers it has the call parked at `slot` (the live
        API's retrieve; a phone dialling the slot goes through `handle_invite`)."""
        call = self._parked_at(slot)
        number, targets = self._targets(by, by)
        side = self._empty_side(call)

        def answered(end: End) -> None:
            if self.lot is not None and self.lot.occupant(slot) == call.call_id:
                self._retrieved(call, slot, end)
            else:
                self._reject_end(end)

        self._ring(call, number, targets, call.parties.get(other(side), ""), answered,
                   lambda status: None)

    def _parked_at(self, slot: str) -> Call:
        if self.lot is None or not self.lot.is_slot(slot):
            raise TransferRefused(404, "Not Found")
        call_id = self.lot.occupant(slot)
        call = self.b2bua.calls.get(call_id) if call_id is not None else None
        if call is None:
            raise TransferRefused(404, "Nothing Parked Here")
        return call

    def _empty_side(self, call: Call) -> Side:
        moves = self.moves(call)
        return Side.CALLER if Side.CALLER in moves.gone else Side.CALLEE

    def _retrieved(self, call: Call, slot: str, end: End) -> None:
        assert self.lot is not None
        moves = self.moves(call)
        now = self.clock.monotonic()
        _, events = self.lot.retrieve(slot, now)
        moves.slot = None
        if moves.ring_back is not None:
            self._stop_ring(moves.ring_back)
            moves.ring_back = None
        call.log.info("retrieved", slot=slot, by=end.party)
        self._join(call, self._empty_side(call), end)
        self._lot_events(events)

    def _reject_end(self, end: End) -> None:
        """An answered phone with nothing to connect to (someone else was faster)."""
        self.b2bua.endpoint.send_request(end.dialog.create_request("BYE"), end.peer)
        self.b2bua._loop.create_task(_close(end.leg))

    def pickup(self, call_id: str, by: str,
               on_result: Callable[[bool, str, int | None], None] | None = None) -> None:
        """Ring extension `by`; when it answers it has the ringing call `call_id` (the live
        API's pickup; a phone's pickup code or Replaces goes through `handle_invite`).
        `on_result(ok, reason, status)` hears the outcome once: ``answered``; or the
        picker's phone failed (softswitch.calls.queuepickup.failure_reason of its status);
        or the call stopped ringing first (``answered_elsewhere``, ``call_ended``): then
        the picker's phone stops ringing, or gets BYE if it answered in that instant, and
        the call is left as it is."""
        from softswitch.calls.queuepickup import failure_reason

        call = self._ringing_call(call_id)
        number, targets = self._targets(by, by)
        done = False

        def report(ok: bool, reason: str, status: int | None) -> None:
            nonlocal done
            if done:
                return
            done = True
            pending = self._api_pickups.get(call_id, [])
            self._api_pickups[call_id] = [p for p in pending if p[1] is not report]
            if not self._api_pickups[call_id]:
                del self._api_pickups[call_id]
            if on_result is not None:
                on_result(ok, reason, status)

        def answered(end: End) -> None:
            if call.control.state in (CallState.CALLING, CallState.RINGING):
                self._picked_up(call, end)
                report(True, "answered", 200)
            else:
                self._reject_end(end)
                report(False, "answered_elsewhere" if call.control.state
                       is CallState.CONNECTED else "call_ended", None)

        ring = self._ring(call, number, targets, call.control.caller, answered,
                          lambda status: report(False, failure_reason(status), status))
        self._api_pickups.setdefault(call_id, []).append((ring, report))

    def _pickups_stop(self, call_id: str, answered: bool) -> None:
        """`call_id` stopped ringing: the live API's pickups still ringing for it fail."""
        for ring, report in self._api_pickups.pop(call_id, []):
            if not ring.over:
                self._stop_ring(ring)
                report(False, "answered_elsewhere" if answered else "call_ended", None)

    def _ringing_call(self, call_id: str) -> Call:
        call = self.b2bua.calls.get(call_id)
        if call is None or call.kind != EXTENSION or call.control.state not in (
                CallState.CALLING, CallState.RINGING):
            raise TransferRefused(481, "Call Does Not Exist")
        return call

    def _picked_up(self, call: Call, end: End) -> None:
        """The caller's offer is answered for the picker's leg; the picker becomes callee."""
        b2bua = self.b2bua
        if call.leg_a is None:
            self._reject_end(end)
            return
        if call.answer_sdp is None:
            codec = end.leg.codec if end.leg.codec in ("PCMU", "PCMA") else "PCMU"
            answer: sdplib.SessionDescription | None
            if call.offer is None:
                answer = sdplib.create_offer(call.leg_a.local_host, call.leg_a.local_port,
                                             codecs=(codec,))
            else:
                from softswitch.calls.b2bua import offered_codecs

                offered, _ = offered_codecs(call.offer)
                chosen = codec if codec in offered else offered[0]
                answer = sdplib.create_answer(call.offer, call.leg_a.local_host,
                                              call.leg_a.local_port, codecs=(chosen,))
            if answer is None:
                self._reject_end(end)
                return
            from softswitch.calls.b2bua import media_params

            params = media_params(answer)
            offer = media_params(call.offer) if call.offer is not None else None
            if params is not None:
                call.leg_a.set_remote(offer.address if offer else None, params.payload_type,
                                      params.codec, params.telephone_event_pt)
            call.origins[Side.CALLER] = answer.origin
            call.answer_sdp = bytes(answer)
        rung = call.control.callee
        call.log.info("picked up", rung=rung, by=end.party)
        self._isolate(call)
        old_leg = call.leg_b
        b2bua._put_end(call, Side.CALLEE, end)
        if old_leg is not None and old_leg is not end.leg:
            b2bua._loop.create_task(_close(old_leg))
        if call.leg_a is not None and call.leg_b is not None:
            with contextlib.suppress(Exception):
                self.media.bridge(call.leg_a, call.leg_b)
        b2bua._execute(call, call.control.handle_picked_up(self.clock.monotonic()))
        self._publish_party(call, Side.CALLEE, end.party, rung)

    # ------------------------------------------------------------------ the parking lot

    def _lot_events(self, events: Sequence[ParkEvent]) -> None:
        for event in events:
            self.b2bua.events.publish(event)
            if isinstance(event, ParkTimedOut):
                self._ring_back(event)
            elif isinstance(event, ParkAbandoned):
                self._abandoned(event)
        self._arm_lot()

    def _arm_lot(self) -> None:
        if self._lot_timer is not None:
            self._lot_timer.cancel()
            self._lot_timer = None
        deadline = self.lot.next_deadline() if self.lot is not None else None
        if deadline is not None:
            self._lot_timer = self.clock.call_at(deadline, self._on_lot_timer)

    def _on_lot_timer(self) -> None:
        self._lot_timer = None
        if self.lot is not None:
            self._lot_events(self.lot.handle_timer(self.clock.monotonic()))

    def _ring_back(self, event: ParkTimedOut) -> None:
        call = self.b2bua.calls.get(event.call_id)
        if call is None:
            return
        side = self._empty_side(call)
        try:
            number, targets = self._targets(event.parker, event.parker)
        except TransferRefused as exc:
            call.log.info("parker cannot be rung back", parker=event.parker, status=exc.status)
            return  # the lot's ring_back time runs out, then the timeout destination
        call.log.info("park timed out: ringing the parker back", slot=event.slot,
                      parker=event.parker)

        def answered(end: End) -> None:
            moves = self.moves(call)
            moves.ring_back = None
            if self.lot is not None and self.lot.occupant(event.slot) == call.call_id:
                self._retrieved(call, event.slot, end)
            else:
                self._reject_end(end)

        def failed(status: int) -> None:
            self.moves(call).ring_back = None

        self.moves(call).ring_back = self._ring(call, number, targets,
                                                call.parties.get(other(side), ""),
                                                answered, failed)

    def _abandoned(self, event: ParkAbandoned) -> None:
        call = self.b2bua.calls.get(event.call_id)
        if call is None:
            return
        moves = self.moves(call)
        moves.slot = None
        if moves.ring_back is not None:
            self._stop_ring(moves.ring_back)
            moves.ring_back = None
        dest = event.destination
        side = self._empty_side(call)
        call.log.info("park timeout destination", slot=event.slot, type=dest.type.value,
                      target=dest.target)
        if dest.type is DestinationType.HANGUP:
            self._end_call(call, "park timeout")
            return
        if dest.type is DestinationType.EXTENSION and dest.target:
            try:
                number, targets = self._targets(dest.target, dest.target)
            except TransferRefused:
                self.b2bua._spawn(call, self._goodbye(call, other(side), "park timeout"))
                return
            self._hear(self._leg(call, other(side)), RINGBACK_STREAM)

            def answered(end: End) -> None:
                self.moves(call).ring_back = None
                self._join(call, side, end)

            def failed(status: int) -> None:
                self.moves(call).ring_back = None
                self.b2bua._spawn(call, self._goodbye(call, other(side), "park timeout"))

            moves.ring_back = self._ring(call, number, targets,
                                         call.parties.get(other(side), ""), answered, failed)
            return
        parked = other(side)
        if self.route_destination is not None:
            end: End | None
            try:
                end = self.b2bua._end_of(call, parked)
            except TransferRefused:
                end = None
            leg = self._leg(call, parked)
            if end is not None and leg is not None and not leg.closed:
                self.media.detach_moh(leg)
                if self.route_destination(end, dest):
                    # the parked party's dialog and leg belong to the destination's owner
                    # now (queue calls or the call shell); this call ends without a BYE to it
                    self._take_end(call, parked)
                    self._publish_party(call, parked, "", end.party)
                    self._end_call(call, f"park timeout: to {dest.type.value} {dest.target}")
                    return
        call.log.warning("destination not available", type=dest.type.value)
        self.b2bua._spawn(call, self._goodbye(call, parked, "park timeout"))

    def parked(self) -> dict[str, str]:
        """Slot -> Call-ID of every parked call (the live API's view)."""
        return self.lot.occupied() if self.lot is not None else {}

    def ringing(self) -> Mapping[str, Sequence[RingingCall]]:
        """Extension -> its ringing extension calls (the pickup's view of the index)."""
        return _RingingView(self._ringing)

    def close(self) -> None:
        """The switch stops: no park timer fires after the calls are gone."""
        if self._lot_timer is not None:
            self._lot_timer.cancel()
            self._lot_timer = None

    # ------------------------------------------------------------------ SIP: REFER

    def handle_refer(self, txn: ServerTransaction, request: Request, call: Call,
                     side: Side) -> None:
        """RFC 3515: 202, NOTIFY 100 Trying, then the outcome's NOTIFY."""
        b2bua = self.b2bua
        refer_to = request.get("Refer-To") or request.get("r")
        if not refer_to:
            b2bua._respond(txn, request, 400, "Missing Refer-To")
            return
        try:
            target = parse_refer_to(refer_to)
        except TransferError as exc:
            b2bua._respond(txn, request, 400, str(exc))
            return
        if call.control.state is not CallState.CONNECTED or (
                call.moves is not None and (call.moves.transfer is not None
                                            or call.moves.gone)):
            b2bua._respond(txn, request, 491 if call.moves is not None else 403,
                           "Request Pending" if call.moves is not None else "Not Connected")
            return
        end = b2bua._end_of(call, side)
        b2bua._respond(txn, request, 202, "Accepted",
                       headers=[("Contact", b2bua._contact(call))])
        notify = self._notifier(call, end, request)
        notify(100, "Trying")
        try:
            if target.replaces is not None:
                consult, consult_side = self._replaced(target.replaces)
                self.transfer_attended(call.call_id, side, consult.call_id, consult_side,
                                       notify)
            else:
                self.transfer_blind(call.call_id, side, target.user, notify)
        except TransferRefused as exc:
            call.log.info("transfer refused", target=target.user, status=exc.status,
                          reason=exc.reason)
            notify(exc.status, exc.reason)

    def _replaced(self, replaces: Replaces) -> tuple[Call, Side]:
        """The call and side of the dialog a Replaces names (the sender's own dialog with
        the switch, or the dialog-info id `<call-id>/a|b` of a BLF NOTIFY)."""
        entry = self.b2bua._by_leg_call_id.get(replaces.call_id)
        if entry is not None:
            return entry[0], entry[1]
        base, _, suffix = replaces.call_id.rpartition("/")
        call = self.b2bua.calls.get(base) if suffix in ("a", "b") else None
        if call is None:
            raise TransferRefused(481, "Call Does Not Exist")
        return call, Side.CALLER if suffix == "a" else Side.CALLEE

    def _notifier(self, call: Call, end: End, refer: Request) -> Notify:
        """NOTIFYs of the REFER's implicit subscription (RFC 3515 §2.4.4), in the
        transferor's dialog; the last one terminates it."""
        b2bua = self.b2bua
        cseq = refer.get("CSeq") or ""
        event = "refer"
        number = cseq.split()[0] if cseq else ""
        if number.isdigit():
            event = f"refer;id={number}"
        done = False

        def notify(status: int, reason: str) -> None:
            nonlocal done
            if done or end.dialog is None:
                return
            final = status >= 200
            done = final
            state = "terminated;reason=noresource" if final else \
                f"active;expires={NOTIFY_EXPIRES}"
            with contextlib.suppress(Exception):
                b2bua._send_in_dialog(call, end.dialog, end.peer, "NOTIFY",
                                      body=sipfrag_body(status, reason),
                                      content_type="message/sipfrag;version=2.0",
                                      headers=(("Event", event),
                                               ("Subscription-State", state),
                                               ("Contact", b2bua._contact(call))))

        return notify

    # ------------------------------------------------------------------ SIP: INVITE

    def handle_invite(self, txn: ServerTransaction, request: Request, caller: str) -> bool:
        """An INVITE for a slot, a pickup code, or with Replaces; True when handled here."""
        dialled = request.uri.user or ""
        replaces_value = request.get("Replaces")
        try:
            if replaces_value:
                call, side = self._replaced(_replaces_of_invite(replaces_value))
                if call.control.state in (CallState.CALLING, CallState.RINGING) \
                        and side is Side.CALLEE and call.kind == EXTENSION:
                    self._answer_then(txn, request, caller,
                                      lambda end: self._pick_if_ringing(call, end))
                    return True
                raise TransferRefused(481, "Call Does Not Exist")
            if self.lot is not None and self.lot.is_slot(dialled):
                call = self._parked_at(dialled)
                self._answer_then(txn, request, caller,
                                  lambda end: self._retrieve_if_parked(call, dialled, end))
                return True
            wanted = parse_pickup(self.pickup_config, dialled)
            if wanted is None:
                return False
            call_id = self._to_pick(wanted, caller)
            call = self._ringing_call(call_id)
            self._answer_then(txn, request, caller, lambda end: self._pick_if_ringing(call,
                                                                                      end))
            return True
        except TransferError as exc:
            self.b2bua._respond(txn, request, 400, str(exc))
        except TransferRefused as exc:
            log.info("pickup or retrieve refused", dialled=dialled, caller=caller,
                     status=exc.status, reason=exc.reason)
            self.b2bua._respond(txn, request, exc.status, exc.reason)
        return True

    def _to_pick(self, wanted: PickupRequest, picker: str) -> str:
        call_id = call_to_pick(self.pickup_config, wanted, picker, self.ringing())
        if call_id is None:
            raise TransferRefused(404, "Nothing To Pick Up")
        return call_id

    def _pick_if_ringing(self, call: Call, end: End) -> bool:
        if call.control.state not in (CallState.CALLING, CallState.RINGING):
            return False
        self._picked_up(call, end)
        return True

    def _retrieve_if_parked(self, call: Call, slot: str, end: End) -> bool:
        if self.lot is None or self.lot.occupant(slot) != call.call_id:
            return False
        self._retrieved(call, slot, end)
        return True

    def _answer_then(self, txn: ServerTransaction, request: Request, caller: str,
                     then: Callable[[End], bool]) -> None:
        b2bua = self.b2bua
        try:
            offer = sdplib.SessionDescription.parse(request.body) if request.body else None
        except Exception:  # noqa: BLE001
            offer = None
        if offer is None:
            b2bua._respond(txn, request, 488, "Not Acceptable Here")
            return
        b2bua._loop.create_task(self._answer(txn, request, caller, offer, then))

    async def _answer(self, txn: ServerTransaction, request: Request, caller: str,
                      offer: sdplib.SessionDescription, then: Callable[[End], bool]) -> None:
        from softswitch.calls.b2bua import ALLOW, answer_one_codec, apply_media
        from softswitch.sip import new_tag

        b2bua = self.b2bua
        try:
            leg = await self.media.open_leg(f"{request.call_id}/a")
        except Exception:  # noqa: BLE001
            b2bua._respond(txn, request, 503, "No Media Port")
            return
        answered = answer_one_codec(offer, leg)
        if answered is None:
            await _close(leg)
            b2bua._respond(txn, request, 488, "Not Acceptable Here")
            return
        params, answer = answered
        apply_media(leg, params)
        local = b2bua.endpoint.local_peer(txn.peer.transport)
        host = f"[{local.host}]" if ":" in local.host else local.host
        response: Response = request.create_response(200, to_tag=new_tag(), headers=[
            ("Contact", f"<sip:switch@{host}:{local.port};transport={txn.peer.transport}>"),
            ("Allow", ALLOW), ("Server", b2bua.user_agent),
            ("Content-Type", "application/sdp")], body=bytes(answer))
        dialog = Dialog.create_uas(request, response)
        end = End(caller, dialog, txn.peer, leg, answer.origin, request)
        if not then(end):
            await _close(leg)
            b2bua._respond(txn, request, 481, "Call Does Not Exist")
            return
        b2bua.endpoint.send_response(txn, response)


def _replaces_of_invite(value: str) -> Replaces:
    """RFC 3891 Replaces of a pickup INVITE. A phone picking up from a BLF key copies the
    dialog id of our dialog-info (`<call-id>/b`, which carries no tags): its empty or
    missing tags are accepted for that form only."""
    try:
        return parse_replaces(value)
    except TransferError:
        call_id = value.split(";", 1)[0].strip()
        if call_id.endswith("/b") and len(value) <= 2048:
            return Replaces(call_id, "", "")
        raise


_REASONS = {404: "Not Found", 408: "Request Timeout", 480: "Temporarily Unavailable",
            486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here",
            500: "Server Internal Error", 503: "Service Unavailable", 603: "Decline"}


async def _close(leg: MediaLeg) -> None:
    with contextlib.suppress(Exception):
        await leg.close()


__all__ = ["End", "Transfers", "TransferRefused", "SlotChanged"]
