"""The internal WebRTC trunk: widget calls enter the switch as SIP calls on loopback.

The manual's Live Chat calls need "a WebRTC trunk + a WebRTC inbound route" (spec/
omnichannel.md §3.12). Here the gateway (softswitch.webrtc.gateway) is the far end of that
trunk: ``TrunkCaller`` is a small SIP UA with its own UDP socket on 127.0.0.1 that sends an
INVITE to the switch's own SIP listener for each widget call, its SDP pointing at the
gateway's loopback RTP socket. The switch (``Switch._on_request``) recognises the trunk
by ``WebRtcTrunk.admits`` and routes the call as it routes any trunk call: its Request-URI
user is the Live Chat channel number (LC#####), the trunk's inbound route is that
channel's ``call_destination``, resolved by the destination router (softswitch.
destinations). Queues, IVRs, ring groups, voicemail, recording, CDRs and reports then
apply unchanged, with the visitor as the caller.

Decisions:

* Why a SIP call and not an in-process hand-off: every owner of a caller (queue
  controller, B2BUA, call shell) takes a SIP server transaction and dialog; a loopback SIP
  call needs no second code path in any of them and makes the widget caller an ordinary
  caller (CDR, queue rows, recording, transfer) by construction.
* Authentication: a secret of 32 random bytes generated when the switch starts (never
  configured, never logged), carried in the ``X-WebRTC-Trunk`` header of the trunk's
  INVITE, compared in constant time; the source must also be a loopback address. Any
  other INVITE with that header, or from outside, is an ordinary request (digest
  challenged as an extension would be), so no outside sender can pretend to be the trunk.
  The header only travels on loopback.
* The trunk's "inbound route": DID = channel number -> that channel's
  ``call_destination``; a channel without calls (or removed) answers 404.
* Caller ID: From user = the channel number, display name = the pre-chat name (as before).
* Media: the UA offers PCMU and PCMA; the gateway sends in the codec the switch answered.
* Ringing (RFC 3261 §13.2.2.1, RFC 3960): a 180/183 is the destination ringing and is
  reported to the gateway's owner (``on_ringing``) with the early media's address and
  payload type when it carries an SDP answer (a provider's ringback or announcement
  relayed by the B2BUA), or None: then no early media flows and the switch plays its own
  ringback toward the browser (softswitch.webrtc.calls), as a phone would play its own.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from softswitch.log import get_logger
from softswitch.sip import Address, Request, Response, SipUri, new_call_id, new_tag
from softswitch.sip.dialog import Dialog
from softswitch.sip.endpoint import OutgoingRequest, SipEndpoint
from softswitch.sip.sdp import SdpParseError, SessionDescription, audio, create_offer
from softswitch.sip.transaction import Peer, ServerTransaction

log = get_logger("webrtc")

HEADER = "X-WebRTC-Trunk"
TRUNK = "webrtc"  # the trunk's name in logs and call info


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class WebRtcTrunk:
    """The switch's side: the per-process secret and the trunk's inbound route
    (``destination(channel number)`` -> an acd.config.Destination or None)."""

    def __init__(self) -> None:
        self.secret = secrets.token_urlsafe(32)
        self.destination: Callable[[str], Any] = lambda number: None

    def admits(self, request: Request, peer: Peer) -> bool:
        """Is this INVITE from the gateway's UA (loopback and the secret)?"""
        value = request.get(HEADER)
        if value is None or not is_loopback(peer.host):
            return False
        return hmac.compare_digest(value.encode(), self.secret.encode())


@dataclass(eq=False)
class TrunkCall:
    """One widget call on the trunk (the UA's client side of its dialog)."""

    caller: TrunkCaller
    on_answered: Callable[[tuple[str, int], int], None]  # (remote RTP address, payload)
    on_ended: Callable[[str], None]  # reason: hung_up, no_answer, unavailable, failed
    # a 180/183: the early media's (address, payload type) when it has an SDP answer
    on_ringing: Callable[[tuple[tuple[str, int], int] | None], None] = lambda early: None
    invite: Request | None = None
    out: OutgoingRequest | None = None
    dialog: Dialog | None = None
    over: bool = False
    answered: bool = False
    sdp: bytes = b""

    def hang_up(self) -> None:
        """CANCEL while ringing, BYE once answered."""
        if self.over:
            return
        self.over = True
        self.caller.forget(self)
        if self.dialog is not None and self.answered:
            bye = self.dialog.create_request("BYE")
            self.caller.endpoint.send_request(bye, self.caller.switch)
        elif self.out is not None:
            self.out.cancel()

    def _end(self, reason: str) -> None:
        if self.over:
            return
        self.over = True
        self.caller.forget(self)
        self.on_ended(reason)


def failure_reason(status: int) -> str:
    if status in (404, 480, 503, 603):
        return "unavailable"
    if status in (408, 486, 487, 600):
        return "no_answer"
    return "failed"


class TrunkCaller:
    """The gateway's SIP UA: one UDP socket on loopback, toward the switch's listener
    ``switch`` (a Peer), authenticated by ``secret``."""

    def __init__(self, switch: Peer, secret: str, domain: str) -> None:
        self.switch = switch
        self.secret = secret
        self.domain = domain
        self.endpoint = SipEndpoint(self._on_request, user_agent="softswitch-webrtc")
        self.calls: dict[str, TrunkCall] = {}
        self._local: Peer | None = None

    async def start(self) -> None:
        if self._local is None:
            self._local = await self.endpoint.listen("udp", "127.0.0.1", 0)

    async def close(self) -> None:
        for call in list(self.calls.values()):
            call.hang_up()
        await self.endpoint.close()

    def forget(self, call: TrunkCall) -> None:
        if call.invite is not None and self.calls.get(call.invite.call_id) is call:
            del self.calls[call.invite.call_id]

    def call(self, number: str, from_user: str, display: str, rtp: tuple[str, int], *,
             on_answered: Callable[[tuple[str, int], int], None],
             on_ended: Callable[[str], None],
             on_ringing: Callable[[tuple[tuple[str, int], int] | None], None] =
             lambda early: None) -> TrunkCall:
        """INVITE the switch's ``number`` (a channel number) from ``from_user`` with the
        media at ``rtp`` (the gateway's loopback socket)."""
        assert self._local is not None, "start() first"
        local = self._local
        sdp = bytes(create_offer(rtp[0], rtp[1], codecs=("PCMU", "PCMA"),
                                 telephone_event=False))
        invite = Request("INVITE", SipUri.parse(
            f"sip:{number}@{self.switch.host}:{self.switch.port}"), headers=[
            ("From", Address(SipUri.parse(f"sip:{from_user}@{self.domain}"), display or None,
                             {"tag": new_tag()})),
            ("To", Address(SipUri.parse(f"sip:{number}@{self.domain}"))),
            ("Call-ID", new_call_id()),
            ("CSeq", "1 INVITE"),
            ("Contact", f"<sip:{from_user}@{local.host}:{local.port}>"),
            (HEADER, self.secret),
            ("Content-Type", "application/sdp"),
        ], body=sdp)
        call = TrunkCall(self, on_answered, on_ended, on_ringing, invite=invite, sdp=sdp)
        self.calls[invite.call_id] = call
        call.out = self.endpoint.send_request(
            invite, self.switch, on_response=lambda resp: self._on_response(call, resp))
        return call

    def _on_response(self, call: TrunkCall, resp: Response) -> None:
        if resp.status < 200:
            if resp.status in (180, 183) and not call.over and not call.answered:
                call.on_ringing(answer_media(resp.body) if resp.body else None)
            return
        assert call.invite is not None and call.out is not None
        if resp.status >= 300:
            call._end(failure_reason(resp.status))
            return
        if call.dialog is None:
            call.dialog = Dialog.create_uac(call.invite, resp)
        call.out.send_ack(call.dialog.create_ack(call.invite))
        if call.over:  # hung up while the 200 was on its way: end the new dialog
            bye = call.dialog.create_request("BYE")
            self.endpoint.send_request(bye, self.switch)
            return
        if call.answered:
            return  # a retransmitted 200
        media = answer_media(resp.body)
        if media is None:
            log.warning("webrtc trunk: unusable answer", call_id=call.invite.call_id)
            call.answered = True
            call.hang_up()
            call.on_ended("failed")
            return
        call.answered = True
        call.on_answered(*media)

    def _on_request(self, txn: ServerTransaction, request: Request) -> None:
        call = self.calls.get(request.call_id)
        if call is None or call.dialog is None:
            self.endpoint.send_response(txn, request.create_response(481))
            return
        if request.method == "BYE":
            self.endpoint.send_response(txn, request.create_response(200))
            call._end("hung_up")
        elif request.method == "INVITE" and call.invite is not None:
            # a re-INVITE (hold, a transfer's new leg): the same media address
            self.endpoint.send_response(txn, request.create_response(
                200, headers=[("Contact", str(call.invite.contacts[0])),
                              ("Content-Type", "application/sdp")], body=call.sdp))
        else:
            self.endpoint.send_response(txn, request.create_response(200))


def answer_media(body: bytes) -> tuple[tuple[str, int], int] | None:
    """The switch's SDP answer: (its RTP address, the first of PCMU/PCMA it chose), or
    None when it is no usable answer."""
    try:
        answer = SessionDescription.parse(body)
    except SdpParseError:
        return None
    m = audio(answer)
    host = (m.connection or answer.connection) if m is not None else None
    pts = [int(f) for f in m.formats if f in ("0", "8")] if m is not None else []
    if m is None or host is None or not pts or not m.port:
        return None
    return (host, m.port), pts[0]


def switch_peer(endpoint: SipEndpoint) -> Peer:
    """The switch's first UDP listener as reached from this process."""
    peer = endpoint.bound_peer("udp")
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(peer.host, peer.host)
    return Peer("udp", host, peer.port)
