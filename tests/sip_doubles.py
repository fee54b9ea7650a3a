"""Recording doubles for the call shells' tests (the B2BUA, the queue controller, the
dialer): an endpoint that keeps what was sent and answered, and media legs that only have
addresses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from softswitch.sip import Request, Response, new_tag
from softswitch.sip.transaction import Peer


@dataclass
class Txn:
    peer: Peer
    call_id: str = ""


@dataclass
class Outgoing:
    """A request the shell sent; ``reply`` plays the phone's answer."""

    request: Request
    peer: Peer
    on_response: Any
    cancelled: bool = False
    acks: list[Request] = field(default_factory=list)

    def cancel(self) -> None:
        self.cancelled = True

    def send_ack(self, ack: Request, destination: Peer | None = None) -> None:
        self.acks.append(ack)

    def reply(self, status: int, **kw: Any) -> None:
        self.on_response(self.request.create_response(status, to_tag=new_tag(), **kw))


class Endpoint:
    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.responses: list[Response] = []

    def local_peer(self, transport: str = "udp") -> Peer:
        return Peer(transport, "127.0.0.1", 5060)

    def has_connection(self, host: str, port: int) -> bool:
        return True

    def send_request(self, request: Request, peer: Peer, *, on_response: Any = None) -> Outgoing:
        out = Outgoing(request, peer, on_response)
        self.sent.append(out)
        return out

    def send_response(self, txn: Any, response: Response) -> None:
        self.responses.append(response)

    def invites(self) -> list[Outgoing]:
        return [o for o in self.sent if o.request.method == "INVITE"]

    def invites_to(self, user: str) -> list[Outgoing]:
        return [o for o in self.invites() if o.request.to.uri.user == user]

    def finals(self) -> list[int]:
        return [r.status for r in self.responses if r.status >= 200]


class Leg:
    local_host = "127.0.0.1"

    def __init__(self, port: int = 30000) -> None:
        self.local_port = port
        self.stats: dict[str, int] = {}

    def set_remote(self, *args: Any) -> None:
        pass

    def set_direction(self, direction: str) -> None:
        pass

    async def close(self) -> None:
        pass


class Media:
    def __init__(self) -> None:
        self.port = 30000

    async def open_leg(self, label: str) -> Leg:
        self.port += 2
        return Leg(self.port)

    def bridge(self, a: Leg, b: Leg) -> None:
        pass
