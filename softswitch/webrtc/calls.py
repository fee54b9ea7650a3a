"""Widget calls of the Live Chat channels (consultation mode ``chat_and_call``).

A visitor with an open chat session presses the call button; the widget sends ``{"type":
"call", "sdp": offer}`` over its Live Chat websocket. Here: the channel's slots are taken
(``max_concurrent_calls``), the offer checked (softswitch.webrtc.offer) and answered
(softswitch.webrtc.gateway), and the call placed into the switch on the internal WebRTC
trunk (softswitch.webrtc.trunk): a SIP call on loopback to the channel's number, whose
inbound route is the channel's ``call_destination``. The visitor gets ``call`` frames:
``{"type": "call", "state": "calling", "sdp": answer}``, then ``ringing`` when the
destination rings (the trunk call's 180/183), ``connected`` when the switch answers the
trunk call (a queue or an IVR answers at once, an extension when its phone does), then
``ended`` (with ``reason``: hung_up, no_answer, unavailable, failed).

Decisions:

* Destination: ``call_destination`` on the Live Chat channel, any destination of the
  destination router (softswitch.destinations: extension, queue, IVR, ring group,
  voicemail, group voicemail, call flow, prompt, external number; ``hangup`` is refused),
  checked at its line by ``softswitch check`` through the router's check like every other
  reference. It is the manual's "WebRTC trunk + inbound route" with the channel number as
  the DID (softswitch.webrtc.trunk). An extension without a registered phone ends the call
  at once with ``unavailable`` (the switch answers 480).
* "Call started" is noted when the switch answers the trunk call: for a queue that is
  when the visitor enters the queue (hearing its prompts and music), as for any caller.
* Caller ID: the phone shows the pre-chat form's name (or e-mail, or phone; "Website
  visitor" without a form) as the display name; the user part is the channel number
  (LC#####), so a call back from the phone's list goes nowhere dangerous.
* The call belongs to the visitor's open chat session (one is needed: the call button asks
  for a chat first); the session history gets system messages "call started" when a phone
  answers and "call ended" with the duration (from the answer) when either side hangs up,
  so the agents see the call among the messages.
* One call per visitor at a time. Every open tab of the visitor (each a socket of the
  same visitor token) gets the call's state frames, so each shows the call and may hang it
  up; the SDP answer goes only to the tab that holds the call's audio (the one that sent
  the offer). A tab opened during a call finds its state in ``welcome`` (``call``). The
  call ends when the tab holding its audio closes (its page is gone: nobody hears), or
  the visitor's last socket closes.
* Ringback: while the destination rings, the visitor hears the switch's ringback tone (the
  media engine's shared ``ringback`` stream, the one queue and ring-group callers hear):
  a media-engine leg plays it toward the gateway's loopback socket, and the gateway takes
  its RTP until the answer, when it turns to the trunk call's media. A 180/183 with an SDP
  answer is early media (a provider's own ringback, relayed by the B2BUA): the visitor
  hears that instead. A queue, an IVR or a ring group answer at once and play their own
  (music, prompts, ringback), as to any caller.
* Hang-up: the widget's ``{"type": "hangup"}``, the browser's peer connection failing, or
  the phone's BYE (the visitor gets ``ended`` with reason ``hung_up``).
* Show agent info (softswitch.messaging.agentcard): ``connected`` carries ``agent: {name,
  avatar}`` of the extension talking to the visitor, learnt from the switch's events (an
  extension call's ``CallAnswered``, a queue's answered offer, a transfer's
  ``CallPartyChanged``); when it changes during the call (a queue's agent answers after
  the queue did, a transfer) another ``connected`` tells the new one. Applications that
  connect the caller themselves (ring groups, call flows) publish no such event: the
  visitor sees the default card there.

Agent-started calls (§3.12 "calls started by an agent or by a visitor ... both count";
§6.2 "voice call from session"; ``POST /api/v1/messaging/sessions/{id}/call`` on a Live
Chat session, softswitch.messaging.voice): as for the other channels the agent's own phone
rings first (the queue controller's dialer, the one fork; it shows the visitor's pre-chat
name from the channel number). When the agent answers, they hear the switch's ringback
and every open tab of the visitor rings: ``{"type": "call", "state": "incoming"}``, the
widget shows Accept and Decline. Accept sends ``{"type": "accept", "sdp": offer}`` (the
browser offers, as for its own calls, and the gateway answers: ``connected`` with the SDP
to that tab, ``connected`` to the others); the agent's media leg is then bridged to a
media-engine leg toward the gateway. ``{"type": "decline"}``, no answer within
``RING_TIMEOUT`` or the last tab closing end it (the agent's phone gets a BYE). The
agent's own phone rings at most ``RING_TIMEOUT`` too (the call holds a line meanwhile).

Decisions:

* Refused (409, with a code and a message for the agent, nothing rings): a channel in
  ``chat`` mode (``calls_off``), a closed session (``closed``: the manual's Live Chat is
  inbound only; a new chat is the visitor's to start), a visitor without an open widget
  (``visitor_offline``), one already in a call (``call_active``), the channel's
  ``max_concurrent_calls`` reached (``call_busy``: the agent's call takes its slot from
  the request until it ends, as the visitor's does from the offer).
* History: "call started" when the visitor accepts and "call ended" with the duration, as
  for the visitor's calls; a declined or unanswered one writes "call declined" / "call
  not answered" so that the agent (who only heard the ringback stop) reads why.
* The visitor hears nothing before accepting; the agent's phone not answering (or
  refusing) ends the attempt without the visitor ever seeing it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from acd.events import OfferEnded, OfferResult
from media import MediaLeg
from media.g711 import Codec
from softswitch.apps.music import attach_music
from softswitch.calls.events import CallAnswered, CallPartyChanged
from softswitch.clock import TimerHandle
from softswitch.log import get_logger
from softswitch.webrtc.gateway import WebRtcLeg
from softswitch.webrtc.offer import CallSlots, OfferError, check_offer
from softswitch.webrtc.trunk import TrunkCall, TrunkCaller, switch_peer

log = get_logger("webrtc")

Send = Callable[[dict[str, Any]], Awaitable[None]]
RING_TIMEOUT = 30.0  # an agent's call: seconds their phone, then the widget, may ring


class Tabs(Protocol):
    """The visitors' open widget tabs (softswitch.messaging.livechat.LiveChat)."""

    def push_call(self, channel: Any, visitor: str, frame: dict[str, Any],
                  skip: object) -> None:
        """``frame`` to every open tab of the visitor but ``skip``."""

    def open_tabs(self, channel: Any, visitor: str) -> int: ...

    def agent_card(self, channel: Any, agent: str | None) -> dict[str, str]:
        """What the visitor sees of ``agent`` (softswitch.messaging.agentcard)."""


async def _nowhere(frame: dict[str, Any]) -> None:
    """The audio tab of an agent's call before the visitor accepted it: none."""


class CallRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(eq=False)
class WidgetCall:
    calls: WidgetCalls
    channel: Any  # messaging.config.ChannelConfig
    visitor: str  # the visitor's address
    session: int
    send: Send  # the tab that holds the call's audio
    tab: object = None  # its socket
    id: int = 0
    rtc: WebRtcLeg | None = None
    out: TrunkCall | None = None  # the SIP call on the internal WebRTC trunk
    answered_at: float | None = None
    # calling | ringing | connected; an agent's: calling (their phone) | incoming (the
    # widget rings) | connecting (accepted, being set up) | connected
    state: str = "calling"
    ringback: MediaLeg | None = None  # the switch's ringback toward the gateway
    early: bool = False  # early media from the trunk call (no ringback of ours)
    over: bool = False
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    # an agent-started call: the agent, their phone's call (softswitch.queue.dialer
    # .OutboundCall), the media-engine leg toward the gateway bridged to it, the timer of
    # the visitor's ringing; ``told``: the visitor's tabs know of the call
    agent: str = ""
    agent_out: Any = None
    visitor_leg: MediaLeg | None = None
    ring_timer: TimerHandle | None = None
    told: bool = True
    handler: str | None = None  # the extension talking to the visitor ("show agent info")

    def api_hung_up(self, out: Any) -> None:
        """The agent's phone hung up (the queue controller's dialer routes its BYE here)."""
        self.calls.end(self, "hung_up")


def caller_name(form: dict[str, str] | None) -> str:
    form = form or {}
    for key in ("name", "email", "phone"):
        if form.get(key):
            return form[key][:64]
    return "Website visitor"


class WidgetCalls:
    """The widget calls of the switch: ``switch`` the running softswitch.app.Switch (its
    SIP endpoint, WebRTC trunk and clock), ``service`` the messaging service (session
    notes), ``channels`` the Live Chat channels by number (the trunk's inbound route)."""

    def __init__(self, switch: Any, service: Any, channels: dict[str, Any],
                 tabs: Tabs) -> None:
        self.switch = switch
        self.service = service
        self.channels = channels
        self.tabs = tabs
        self.slots = CallSlots()
        self.by_visitor: dict[tuple[str, str], WidgetCall] = {}
        self.by_call_id: dict[str, WidgetCall] = {}  # the trunk calls' Call-IDs
        self._events = switch.events.subscribe(self._on_event, CallAnswered, OfferEnded,
                                               CallPartyChanged)
        self._n = 0
        self._caller: TrunkCaller | None = None
        switch.webrtc_trunk.destination = self.destination

    def destination(self, number: str) -> Any:
        """The trunk's inbound route: channel number -> its ``call_destination``."""
        channel = self.channels.get(number)
        if channel is None or not channel.options.calls:
            return None
        return channel.options.call_destination

    async def caller(self) -> TrunkCaller:
        if self._caller is None:
            self._caller = TrunkCaller(switch_peer(self.switch.endpoint),
                                       self.switch.webrtc_trunk.secret,
                                       self.switch.config.sip.domain)
            await self._caller.start()
        return self._caller

    def _on_event(self, event: Any) -> None:
        """Who answered a visitor's trunk call: an extension call's callee, a queue's agent,
        the new party of a transfer (the events of the switch's one bus)."""
        if isinstance(event, CallAnswered):
            call, agent = self.by_call_id.get(event.call_id), event.callee
        elif isinstance(event, OfferEnded) and event.result is OfferResult.ANSWERED:
            call, agent = self.by_call_id.get(str(event.task)), str(event.agent)
        elif isinstance(event, CallPartyChanged) and event.side == "callee":
            call, agent = self.by_call_id.get(event.call_id), event.party
        else:
            return
        if call is None or call.over or call.handler == agent:
            return
        before = self.tabs.agent_card(call.channel, call.handler)
        call.handler = agent
        if call.state == "connected" and self.tabs.agent_card(call.channel, agent) != before:
            self._tell(call, self._connected(call))

    def _connected(self, call: WidgetCall) -> dict[str, Any]:
        return {"type": "call", "state": "connected",
                "agent": self.tabs.agent_card(call.channel, call.handler)}

    async def close(self) -> None:
        self._events.cancel()
        for call in list(self.by_visitor.values()):
            self.end(call, "hung_up")
        if self._caller is not None:
            await self._caller.close()
            self._caller = None

    def status(self, channel: Any, visitor: str) -> dict[str, Any] | None:
        """The visitor's call as a newly opened tab shows it (None: no call)."""
        call = self.by_visitor.get((channel.name, visitor))
        if call is None or not call.told:
            return None
        if call.state not in ("connected", "incoming"):
            return {"state": call.state}
        return {"state": call.state, "agent": self.tabs.agent_card(channel, call.handler)}

    def tab_closed(self, channel: Any, visitor: str, tab: object, last: bool) -> None:
        """A socket of the visitor closed (``last``: it had no other)."""
        call = self.by_visitor.get((channel.name, visitor))
        if call is not None and (last or call.tab is tab):
            self.end(call, "hung_up")

    def _tell(self, call: WidgetCall, frame: dict[str, Any]) -> None:
        """A call state frame to every open tab of the visitor."""
        if not call.told:
            return
        self._spawn(call, call.send(frame))
        self.tabs.push_call(call.channel, call.visitor, frame, call.tab)

    async def start(self, channel: Any, visitor: str, form: dict[str, str] | None,
                    session: int | None, sdp: object, send: Send,
                    tab: object = None) -> WidgetCall:
        options = channel.options
        if not options.calls:
            raise CallRefused("calls_off", "this chat takes no calls")
        if session is None:
            raise CallRefused("no_session", "send us a message first, then call")
        if (channel.name, visitor) in self.by_visitor:
            raise CallRefused("call_active", "a call is already in progress")
        try:
            offer = check_offer(sdp)
        except OfferError as exc:
            raise CallRefused("bad_offer", str(exc)) from None
        self._n += 1
        call = WidgetCall(self, channel, visitor, session, send, tab, id=self._n)
        if not self.slots.take(channel.name, options.max_concurrent_calls, call):
            raise CallRefused("call_busy", "all our lines are busy; please try again later "
                                           "or keep chatting")
        self.by_visitor[(channel.name, visitor)] = call
        number = channel.numbers[0].number
        call.rtc = WebRtcLeg()
        call.rtc.on_ended = lambda: self.end(call, "hung_up")
        try:
            answer = await call.rtc.answer(offer)
        except ValueError as exc:
            call.over = True  # never started: no "ended" frame follows the refusal
            self._forget(call)
            await call.rtc.close()
            raise CallRefused("bad_offer", str(exc)) from None
        try:
            caller = await self.caller()
        except OSError as exc:
            call.over = True
            self._forget(call)
            await call.rtc.close()
            log.error("widget call: no trunk socket", error=str(exc))
            raise CallRefused("call_failed", "the call could not be set up") from None
        self.tabs.push_call(channel, visitor, {"type": "call", "state": "calling"}, tab)
        await send({"type": "call", "state": "calling", "sdp": answer})
        if call.over:  # the visitor hung up while the answer was sent
            return call
        rtc = call.rtc
        call.out = caller.call(
            number, number, caller_name(form), rtc.rtp_address,
            on_answered=lambda remote, pt: self._answered(call, remote, pt),
            on_ended=lambda reason: self.end(call, reason),
            on_ringing=lambda early: self._ringing(call, early))
        if call.out.invite is not None:
            self.by_call_id[call.out.invite.call_id] = call
        log.info("widget call placed", channel=channel.name,
                 destination=options.call_destination.type.value,
                 target=options.call_destination.target)
        return call

    def _ringing(self, call: WidgetCall,
                 early: tuple[tuple[str, int], int] | None) -> None:
        """The destination rings: early media when the 180/183 has it, else our ringback."""
        if call.over or call.rtc is None or call.answered_at is not None:
            return
        if early is not None:
            call.early = True
            self._stop_ringback(call)
            call.rtc.connect(*early)
        elif not call.early and call.ringback is None and call.state == "calling":
            self._spawn(call, self._play_ringback(call))
        if call.state == "calling":
            call.state = "ringing"
            self._tell(call, {"type": "call", "state": "ringing"})

    async def _play_ringback(self, call: WidgetCall) -> None:
        leg = await self._engine_leg(call, "ringback")
        if leg is None:
            return
        if call.over or call.early or call.answered_at is not None or call.rtc is None:
            await leg.close()
            return
        call.ringback = leg
        attach_music(self.switch.queues.media, leg, "ringback")
        call.rtc.connect((leg.local_host, leg.local_port), 0)

    async def _engine_leg(self, call: WidgetCall, role: str) -> MediaLeg | None:
        """A media-engine leg that sends to the gateway's socket (the caller points the
        gateway at it with ``rtc.connect``)."""
        rtc = call.rtc
        if rtc is None:
            return None
        try:
            leg: MediaLeg = await self.switch.queues.media.open_leg(
                f"widget-{call.channel.numbers[0].number}-{call.id}/{role}")
        except Exception as exc:  # noqa: BLE001 - the port range exhausted
            log.warning("widget call: no media port", role=role, error=str(exc))
            return None
        leg.set_remote(rtc.rtp_address, 0, Codec.PCMU)
        return leg

    def _stop_ringback(self, call: WidgetCall) -> None:
        leg, call.ringback = call.ringback, None
        if leg is not None:
            self._spawn(call, leg.close())

    def _answered(self, call: WidgetCall, remote: tuple[str, int], pt: int) -> None:
        if call.over or call.rtc is None:
            self.end(call, "failed")
            return
        self._stop_ringback(call)
        call.state = "connected"
        call.rtc.connect(remote, pt)
        call.answered_at = self.switch.clock.monotonic()
        self._note(call, "Call started / 通话开始")
        self._tell(call, self._connected(call))
        log.info("widget call connected", channel=call.channel.name)

    def hang_up(self, channel: Any, visitor: str) -> bool:
        call = self.by_visitor.get((channel.name, visitor))
        if call is None:
            return False
        self.end(call, "hung_up")
        return True

    def end(self, call: WidgetCall, reason: str) -> None:
        if call.over:
            return
        call.over = True
        self._forget(call)
        self._stop_ringback(call)
        if call.ring_timer is not None:
            call.ring_timer.cancel()
        if call.out is not None:
            call.out.hang_up()
        out = call.agent_out
        if out is not None:
            self.switch.queues.api_drop(out, bye=out.state in ("calling", "answered"))
        if call.visitor_leg is not None:
            self._spawn(call, call.visitor_leg.close())
        if call.agent and call.told and call.answered_at is None and reason in (
                "declined", "no_answer"):
            self._note(call, "Call declined / 访客拒绝通话" if reason == "declined" else
                       "Call not answered / 访客未接听")
        if call.answered_at is not None:
            seconds = max(0, round(self.switch.clock.monotonic() - call.answered_at))
            self._note(call, f"Call ended / 通话结束, duration {seconds // 60}:"
                             f"{seconds % 60:02d}")
        self._tell(call, {"type": "call", "state": "ended", "reason": reason})
        if call.rtc is not None:
            rtc = call.rtc
            self._spawn(call, self._close(rtc))
        log.info("widget call ended", channel=call.channel.name, reason=reason)

    # --- agent-started calls --------------------------------------------------------------

    def call_visitor(self, channel: Any, visitor: str, session: Any, agent: str,
                     targets: list[Any], form: dict[str, str] | None) -> WidgetCall:
        """An agent calls the visitor of ``session`` (an open Live Chat session): the
        agent's phone (``targets``, its registrations) rings first."""
        options = channel.options
        if not options.calls:
            raise CallRefused("calls_off", f"{channel.name} takes no calls (consultation "
                                           "mode chat)")
        if not session.open:
            raise CallRefused("closed", "the chat has ended; the visitor starts a new one")
        if self.tabs.open_tabs(channel, visitor) == 0:
            raise CallRefused("visitor_offline", "the visitor has no chat window open")
        if (channel.name, visitor) in self.by_visitor:
            raise CallRefused("call_active", "the visitor is in a call already")
        self._n += 1
        call = WidgetCall(self, channel, visitor, session.id, _nowhere, id=self._n,
                          agent=agent, told=False, handler=agent)
        if not self.slots.take(channel.name, options.max_concurrent_calls, call):
            raise CallRefused("call_busy", f"all {options.max_concurrent_calls} call lines "
                                           f"of {channel.name} are busy")
        self.by_visitor[(channel.name, visitor)] = call
        number = channel.numbers[0].number
        call.agent_out = self.switch.queues.api_originate(
            agent, f"widget-{number}-{call.id}/agent", targets, number, caller_name(form),
            on_answered=lambda out: self._agent_answered(call),
            on_failed=lambda out, status: self.end(call, "failed"), owner=call)
        self._arm(call)
        log.info("widget call to a visitor: ringing the agent", channel=channel.name,
                 agent=agent)
        return call

    def _arm(self, call: WidgetCall) -> None:
        """The ring timer of the agent's phone, then of the visitor's widget."""
        if call.ring_timer is not None:
            call.ring_timer.cancel()
        clock = self.switch.clock
        call.ring_timer = clock.call_at(clock.monotonic() + RING_TIMEOUT, self._ring_timeout,
                                        call)

    def _ring_timeout(self, call: WidgetCall) -> None:
        if call.state in ("calling", "incoming"):
            self.end(call, "no_answer")

    def _agent_answered(self, call: WidgetCall) -> None:
        """The agent's phone answered: ringback for them, the visitor's tabs ring."""
        out = call.agent_out
        if call.over or out is None or out.leg is None:
            self.end(call, "failed")
            return
        attach_music(self.switch.queues.media, out.leg, "ringback")
        call.state = "incoming"
        call.told = True
        self.tabs.push_call(call.channel, call.visitor, {
            "type": "call", "state": "incoming",
            "agent": self.tabs.agent_card(call.channel, call.agent)}, None)
        self._arm(call)
        log.info("widget call to a visitor: ringing the widget", channel=call.channel.name)

    def incoming(self, channel: Any, visitor: str) -> WidgetCall | None:
        """The agent's call ringing the visitor's widget, if any."""
        call = self.by_visitor.get((channel.name, visitor))
        return call if call is not None and call.state == "incoming" else None

    def decline(self, channel: Any, visitor: str) -> bool:
        call = self.incoming(channel, visitor)
        if call is None:
            return False
        self.end(call, "declined")
        return True

    async def accept(self, channel: Any, visitor: str, sdp: object, send: Send,
                     tab: object) -> WidgetCall:
        """The visitor accepts the agent's call from tab ``tab`` with its offer."""
        call = self.incoming(channel, visitor)
        if call is None:
            raise CallRefused("no_call", "there is no call to accept")
        try:
            offer = check_offer(sdp)
        except OfferError as exc:
            raise CallRefused("bad_offer", str(exc)) from None
        call.state = "connecting"
        call.send, call.tab = send, tab
        if call.ring_timer is not None:
            call.ring_timer.cancel()
        call.rtc = rtc = WebRtcLeg()
        rtc.on_ended = lambda: self.end(call, "hung_up")
        try:
            answer = await rtc.answer(offer)
        except ValueError as exc:
            self.end(call, "failed")
            raise CallRefused("bad_offer", str(exc)) from None
        leg = await self._engine_leg(call, "visitor")
        out = call.agent_out
        if leg is None or call.over or out is None or out.leg is None or out.leg.closed:
            if leg is not None:
                await leg.close()
            self.end(call, "failed")
            raise CallRefused("call_failed", "the call could not be set up")
        call.visitor_leg = leg
        media = self.switch.queues.media
        media.detach_moh(out.leg)
        media.bridge(out.leg, leg)
        rtc.connect((leg.local_host, leg.local_port), 0)
        call.state = "connected"
        call.answered_at = self.switch.clock.monotonic()
        self._note(call, "Call started / 通话开始")
        self.tabs.push_call(channel, visitor, self._connected(call), tab)
        await send({**self._connected(call), "sdp": answer})
        log.info("widget call to a visitor connected", channel=channel.name, agent=call.agent)
        return call

    async def _close(self, rtc: WebRtcLeg) -> None:
        await rtc.close()

    def _note(self, call: WidgetCall, text: str) -> None:
        s = self.service.inbox.sessions.get(call.session)
        if s is None:
            return
        self.service.run(lambda inbox, now: inbox.note(call.session, text, now))
        self._spawn(call, self.service.store.flush())

    def _forget(self, call: WidgetCall) -> None:
        self.slots.release(call.channel.name, call)
        if self.by_visitor.get((call.channel.name, call.visitor)) is call:
            del self.by_visitor[(call.channel.name, call.visitor)]
        if call.out is not None and call.out.invite is not None:
            self.by_call_id.pop(call.out.invite.call_id, None)

    def _spawn(self, call: WidgetCall, coro: Awaitable[Any]) -> None:
        async def run() -> None:
            with contextlib.suppress(ConnectionError):
                await coro

        task = asyncio.get_running_loop().create_task(run())
        call.tasks.add(task)
        task.add_done_callback(call.tasks.discard)
