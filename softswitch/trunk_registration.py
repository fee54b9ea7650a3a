"""The switch registering to its SIP trunk providers (RFC 3261 §10.2, the UAC side).

A trunk with ``register: true`` (softswitch.config.Trunk) gets one `TrunkRegistration`, the
sans-IO core: it is told when responses arrive and what time it is, and says what to send
and when it next wants to run (`next_deadline`). `TrunkRegistrations` is the asyncio shell:
it builds the REGISTER requests, sends them through the SIP endpoint, answers the
provider's digest challenge with the trunk's credentials (softswitch.sip.auth.authorize) and
re-arms one loop timer per trunk.

Decisions:
- Refresh: a granted registration is refreshed at half its lifetime when that is 2 minutes
  or less, else 60 s before it expires (the provider's clock and a lost first attempt both
  fit in that minute).
- Granted time: the ``expires`` parameter of our own Contact in the 200 OK, else its
  Expires header, else what we asked for (RFC 3261 §10.2.4).
- Challenges: a 401/407 is answered with the trunk's username and password. A second
  challenge to the answered request means the credentials were refused, unless it says
  ``stale=true`` (the nonce expired: answered again, RFC 2617 §3.2.1).
- 423 Interval Too Brief: asked again at once with the provider's Min-Expires (§10.2.8).
- Failures (403, 404, 5xx, a 408 timeout, the provider unreachable): logged with the status,
  retried after 30 s, doubling up to 5 minutes, back to 30 s after a success. The trunk's
  calls are not blocked meanwhile: a provider may still take calls from our address.
- Shutdown: a registered trunk is un-registered (Expires: 0), best effort; the switch
  waits for those answers for at most a second.
- The Contact is ``sip:<username>@<our address>`` on the trunk's transport; the provider's
  INVITEs come back to it and are routed by their Request-URI user (inbound_routes: a
  provider that puts our username there, not the DID, needs a route for that number or
  ``did: "*"``).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from softswitch.log import get_logger
from softswitch.sip import Address, Request, SipUri, new_call_id, new_tag
from softswitch.sip.auth import authorize
from softswitch.sip.transaction import Peer

log = get_logger("trunks")

RETRY_MIN = 30.0
RETRY_MAX = 300.0
REFRESH_MARGIN = 60.0


class State(enum.Enum):
    IDLE = "idle"  # not started, or un-registered at shutdown
    REGISTERING = "registering"  # a REGISTER is on its way
    REGISTERED = "registered"
    FAILED = "failed"  # the last attempt failed; a retry is scheduled


class Action(enum.Enum):
    NONE = "none"
    SEND = "send"  # a new REGISTER (first, refresh, retry, or after 423)
    ANSWER_CHALLENGE = "answer_challenge"  # the same REGISTER with credentials


@dataclass(slots=True)
class TrunkRegistration:
    """One trunk's registration state machine (see the module docstring)."""

    trunk: str
    expires: int  # what we ask for
    state: State = State.IDLE
    granted: int = 0
    registered_until: float | None = None
    last_status: int | None = None
    failures: int = 0
    _deadline: float | None = None
    _answered_challenge: bool = False

    def start(self, now: float) -> Action:
        """Register now (first time, refresh or retry)."""
        self.state = State.REGISTERING
        self._answered_challenge = False
        self._deadline = None
        return Action.SEND

    def next_deadline(self) -> float | None:
        return self._deadline

    def handle_timer(self, now: float) -> Action:
        if self._deadline is None or now < self._deadline:
            return Action.NONE
        return self.start(now)

    def handle_response(self, status: int, now: float, *, granted: int | None = None,
                        min_expires: int | None = None, stale: bool = False) -> Action:
        """A final response to our REGISTER (a 408 for a timeout, 503 for a transport
        failure, as the endpoint reports them)."""
        if status < 200 or self.state is not State.REGISTERING:
            return Action.NONE
        self.last_status = status
        if 200 <= status < 300:
            self.granted = granted if granted and granted > 0 else self.expires
            self.state = State.REGISTERED
            self.failures = 0
            self.registered_until = now + self.granted
            wait = self.granted / 2 if self.granted <= 2 * REFRESH_MARGIN \
                else self.granted - REFRESH_MARGIN
            self._deadline = now + wait
            return Action.NONE
        if status in (401, 407) and (not self._answered_challenge or stale):
            self._answered_challenge = True
            return Action.ANSWER_CHALLENGE
        if status == 423 and min_expires and self.expires < min_expires <= 86400:
            self.expires = min_expires
            return self.start(now)
        self.state = State.FAILED
        self.failures += 1
        self.registered_until = None
        self._deadline = now + min(RETRY_MAX, RETRY_MIN * 2 ** (self.failures - 1))
        return Action.NONE

    def stop(self) -> None:
        self.state = State.IDLE
        self._deadline = None
        self.registered_until = None


def granted_expires(response: Any, contact_uri: str, asked: int) -> int:
    """The registration time the provider granted (see the module docstring)."""
    try:
        for c in response.contacts:
            if str(c.uri) == contact_uri and c.expires is not None:
                return int(c.expires)
        if response.expires is not None:
            return int(response.expires)
    except Exception:  # noqa: BLE001 - an odd 200 still registered us
        pass
    return asked


@dataclass(eq=False)
class _Trunk:
    config: Any  # softswitch.config.Trunk
    core: TrunkRegistration
    call_id: str
    from_tag: str
    cseq: int = 0
    timer: asyncio.TimerHandle | None = None
    contact: str = ""


class TrunkRegistrations:
    """Every ``register: true`` trunk's registration, kept alive on the event loop."""

    def __init__(self, endpoint: Any, trunks: Iterable[Any],
                 clock: Callable[[], float] | None = None) -> None:
        self.endpoint = endpoint
        self.loop = asyncio.get_running_loop()
        self.clock = clock or self.loop.time
        self.trunks: dict[str, _Trunk] = {
            t.name: _Trunk(t, TrunkRegistration(t.name, t.register_expires), new_call_id(),
                           new_tag())
            for t in trunks if t.register}
        self._stopping = False

    def start(self) -> None:
        for t in self.trunks.values():
            self._act(t, t.core.start(self.clock()))

    def states(self) -> dict[str, dict[str, Any]]:
        """For GET /api/v1/health: each registering trunk's state, last status and granted time."""
        return {name: {"state": t.core.state.value, "status": t.core.last_status,
                       "expires": t.core.granted if t.core.state is State.REGISTERED else 0}
                for name, t in self.trunks.items()}

    async def stop(self, timeout: float = 1.0) -> None:
        """Un-register the registered trunks (Expires: 0) and wait briefly for the answers."""
        self._stopping = True
        waits = [w for w in map(self._unregister, self.trunks.values()) if w is not None]
        if waits:
            await asyncio.wait(waits, timeout=timeout)

    def reconfigure(self, trunks: Iterable[Any]) -> None:
        """A reload (softswitch.reload): a trunk no longer registering (removed, or
        ``register: false``) is un-registered (its answer is not waited for); a changed one
        (host, credentials, expires, ...) is un-registered and registered anew; a new one
        registers now."""
        wanted = {t.name: t for t in trunks if t.register}
        for name, t in list(self.trunks.items()):
            if wanted.get(name) != t.config:
                self._unregister(t)
                del self.trunks[name]
                log.info("trunk registration stopped", trunk=name, reason="configuration")
        for name, c in wanted.items():
            if name not in self.trunks:
                t = self.trunks[name] = _Trunk(c, TrunkRegistration(name, c.register_expires),
                                               new_call_id(), new_tag())
                self._act(t, t.core.start(self.clock()))

    def _unregister(self, t: _Trunk) -> Any:
        """Stop the trunk's timer and state machine; Expires: 0 if it was registered (the
        client transaction's `final` future, or None)."""
        if t.timer is not None:
            t.timer.cancel()
            t.timer = None
        registered = t.core.state is State.REGISTERED
        t.core.stop()
        if not registered:
            return None
        out = self._send(t, self._request(t, expires=0))
        return out.final if out is not None else None

    # -- internals

    def _peer(self, t: _Trunk) -> Peer:
        c = t.config
        return Peer(c.transport, c.host, c.port)

    def _request(self, t: _Trunk, expires: int) -> Request:
        c = t.config
        local = self.endpoint.local_peer(c.transport)
        host = f"[{local.host}]" if ":" in local.host else local.host
        tp = ";transport=tcp" if c.transport == "tcp" else ""
        t.contact = f"sip:{c.username}@{host}:{local.port}{tp}"
        t.cseq += 1
        aor = SipUri.parse(f"sip:{c.username}@{c.host}")
        return Request("REGISTER", SipUri.parse(f"sip:{c.host}:{c.port}{tp}"), headers=[
            ("From", Address(aor, None, {"tag": t.from_tag})),
            ("To", Address(aor)),
            ("Call-ID", t.call_id),
            ("CSeq", f"{t.cseq} REGISTER"),
            ("Contact", f"<{t.contact}>"),
            ("Expires", str(expires)),
        ])

    def _send(self, t: _Trunk, request: Request) -> Any:
        try:
            out = self.endpoint.send_request(
                request, self._peer(t), on_response=lambda resp: self._on_response(
                    t, request, resp))
        except Exception as exc:  # noqa: BLE001 - no listener for the transport, ...
            log.error("trunk register not sent", trunk=t.config.name, error=str(exc))
            self._act(t, t.core.handle_response(503, self.clock()))
            return None
        return out

    def _on_response(self, t: _Trunk, request: Request, resp: Any) -> None:
        if resp.status < 200 or self._stopping or self.trunks.get(t.config.name) is not t:
            return  # not a trunk that registers any more (stopped, or dropped by a reload)
        now = self.clock()
        name = t.config.name
        stale = False
        if resp.status in (401, 407):
            header = "WWW-Authenticate" if resp.status == 401 else "Proxy-Authenticate"
            stale = any("stale=true" in v.lower().replace(" ", "")
                        for v in resp.get_all(header))
        min_expires = None
        if resp.status == 423:
            value = (resp.get("Min-Expires") or "").strip()
            min_expires = int(value) if value.isdigit() else None
        granted = granted_expires(resp, t.contact, t.core.expires) \
            if 200 <= resp.status < 300 else None
        action = t.core.handle_response(resp.status, now, granted=granted,
                                        min_expires=min_expires, stale=stale)
        if 200 <= resp.status < 300:
            log.info("trunk registered", trunk=name, expires=t.core.granted)
        elif action is Action.NONE and t.core.state is State.FAILED:
            log.warning("trunk registration failed", trunk=name, status=resp.status,
                        reason=resp.reason, retry_in=round((t.core.next_deadline() or now)
                                                           - now))
        if action is Action.ANSWER_CHALLENGE:
            try:
                again = authorize(resp, request, t.config.username, t.config.password)
            except ValueError as exc:
                log.warning("trunk challenge not answerable", trunk=name, error=str(exc))
                self._act(t, t.core.handle_response(403, now))
                return
            t.cseq = again.cseq.number
            self._send(t, again)
            return
        self._act(t, action)

    def _act(self, t: _Trunk, action: Action) -> None:
        if action is Action.SEND:
            self._send(t, self._request(t, t.core.expires))
        self._arm(t)

    def _arm(self, t: _Trunk) -> None:
        if t.timer is not None:
            t.timer.cancel()
            t.timer = None
        deadline = t.core.next_deadline()
        if deadline is not None and not self._stopping:
            t.timer = self.loop.call_at(deadline, self._timer, t)

    def _timer(self, t: _Trunk) -> None:
        t.timer = None
        self._act(t, t.core.handle_timer(self.clock()))
