"""Widget calls of the Live Chat channels (consultation mode ``chat_and_call``).

A visitor with an open chat session presses the call button; the widget sends ``{"type":
"call", "sdp": offer}`` over its Live Chat websocket. Here: the channel's slots are taken
(``max_concurrent_calls``), the offer checked (softswitch.webrtc.offer) and answered
(softswitch.webrtc.gateway), and the extension of ``call_destination`` rung through the
queue controller's ``api_originate`` with the visitor's media-engine leg as the caller's
side; when a phone answers, the two legs are bridged. The visitor gets ``call`` frames:
``{"type": "call", "state": "ringing", "sdp": answer}``, then ``connected``, then ``ended``
(with ``reason``: hung_up, no_answer, unavailable, failed).

Decisions:

* Destination: ``call_destination`` on the Live Chat channel, an extension (its registered
  phones ring; an extension without a registered phone ends the call at once with
  ``unavailable``). The manual's WebRTC trunk plus inbound route is not modelled: a widget
  call carries no dialled number for an inbound route to match, and a key on the channel is
  checked at its line by ``softswitch check`` like the channel's chat destination.
* Caller ID: the phone shows the pre-chat form's name (or e-mail, or phone; "Website
  visitor" without a form) as the display name; the user part is the channel number
  (LC#####), so a call back from the phone's list goes nowhere dangerous.
* The call belongs to the visitor's open chat session (one is needed: the call button asks
  for a chat first); the session history gets system messages "call started" when a phone
  answers and "call ended" with the duration (from the answer) when either side hangs up,
  so the agents see the call among the messages.
* One call per visitor at a time; the call ends when the visitor's last socket closes.
* Hang-up: the widget's ``{"type": "hangup"}``, the browser's peer connection failing, or
  the phone's BYE (the visitor gets ``ended`` with reason ``hung_up``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from softswitch.log import get_logger
from softswitch.webrtc.gateway import WebRtcLeg
from softswitch.webrtc.offer import CallSlots, OfferError, check_offer

log = get_logger("webrtc")

Send = Callable[[dict[str, Any]], Awaitable[None]]


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
    send: Send
    id: int = 0
    rtc: WebRtcLeg | None = None
    out: Any = None  # the queue controller's OutboundCall toward the phone
    answered_at: float | None = None
    over: bool = False
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def api_hung_up(self, out: Any) -> None:  # the phone's BYE (queue controller)
        self.calls.end(self, "hung_up")


def caller_name(form: dict[str, str] | None) -> str:
    form = form or {}
    for key in ("name", "email", "phone"):
        if form.get(key):
            return form[key][:64]
    return "Website visitor"


class WidgetCalls:
    """The widget calls of the switch: ``queues`` the queue controller (its dialer, media
    engine, registrar, clock), ``service`` the messaging service (session notes)."""

    def __init__(self, queues: Any, service: Any) -> None:
        self.queues = queues
        self.service = service
        self.slots = CallSlots()
        self.by_visitor: dict[tuple[str, str], WidgetCall] = {}
        self._n = 0

    async def start(self, channel: Any, visitor: str, form: dict[str, str] | None,
                    session: int | None, sdp: object, send: Send) -> WidgetCall:
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
        call = WidgetCall(self, channel, visitor, session, send, id=self._n)
        if not self.slots.take(channel.name, options.max_concurrent_calls, call):
            raise CallRefused("call_busy", "all our lines are busy; please try again later "
                                           "or keep chatting")
        self.by_visitor[(channel.name, visitor)] = call
        media = self.queues.media
        ext = options.call_destination.target
        try:
            leg = await media.open_leg(f"webrtc-{channel.numbers[0].number}-{call.id}")
        except Exception as exc:  # noqa: BLE001 - port range exhausted
            self._forget(call)
            log.error("widget call: no media port", error=str(exc))
            raise CallRefused("call_failed", "the call could not be set up") from None
        call.rtc = WebRtcLeg(leg)
        call.rtc.on_ended = lambda: self.end(call, "hung_up")
        try:
            answer = await call.rtc.answer(offer)
        except ValueError as exc:
            call.over = True  # never started: no "ended" frame follows the refusal
            self._forget(call)
            await call.rtc.close()
            await leg.close()
            raise CallRefused("bad_offer", str(exc)) from None
        await send({"type": "call", "state": "ringing", "sdp": answer})
        targets = self.queues.registrar.targets(ext, self.queues.clock())
        if not targets:
            self.end(call, "unavailable")
            return call
        call.out = self.queues.api_originate(
            ext, f"{leg.label}/phone", targets, channel.numbers[0].number,
            caller_name(form), on_answered=lambda out: self._answered(call),
            on_failed=lambda out, status: self.end(
                call, "no_answer" if status in (408, 480, 486, 487, 603) else "failed"),
            owner=call)
        log.info("widget call ringing", channel=channel.name, extension=ext)
        return call

    def _answered(self, call: WidgetCall) -> None:
        if call.over or call.rtc is None or call.out is None or call.out.leg is None:
            self.end(call, "failed")
            return
        self.queues.media.bridge(call.rtc.leg, call.out.leg)
        call.answered_at = self.queues.clock()
        self._note(call, "Call started / 通话开始")
        self._spawn(call, call.send({"type": "call", "state": "connected"}))
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
        if call.out is not None:
            self.queues.api_drop(call.out, bye=call.out.state in ("calling", "answered"))
        if call.answered_at is not None:
            seconds = max(0, round(self.queues.clock() - call.answered_at))
            self._note(call, f"Call ended / 通话结束, duration {seconds // 60}:"
                             f"{seconds % 60:02d}")
        self._spawn(call, call.send({"type": "call", "state": "ended", "reason": reason}))
        if call.rtc is not None:
            rtc = call.rtc
            self._spawn(call, self._close(rtc))
        log.info("widget call ended", channel=call.channel.name, reason=reason)

    async def _close(self, rtc: WebRtcLeg) -> None:
        await rtc.close()
        with contextlib.suppress(Exception):
            await rtc.leg.close()

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

    def _spawn(self, call: WidgetCall, coro: Awaitable[Any]) -> None:
        async def run() -> None:
            with contextlib.suppress(ConnectionError):
                await coro

        task = asyncio.get_running_loop().create_task(run())
        call.tasks.add(task)
        task.add_done_callback(call.tasks.discard)
