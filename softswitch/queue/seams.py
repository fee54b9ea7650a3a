"""What the queue's shell (softswitch.queue.controller, .dialer) needs from the rest of the
switch, as typed seams: the SIP endpoint, the media engine, the registrar, the call shell of
the applications. The call shell (softswitch.apps.shell) and the B2BUA
(softswitch.calls.b2bua) take the same endpoint seam; the queue, the call shell and the
B2BUA take `CallMedia` (the media seam plus the shared music streams of
softswitch.apps.music). The real parts (softswitch.sip.endpoint.SipEndpoint,
media.MediaEngine, softswitch.registrar.RegistrarService, softswitch.apps.shell.CallShell)
satisfy them; the tests' recording doubles stand in for them at run time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from media import MediaLeg
from media.engine import MusicStream, Playback, Recording
from media.player import FrameSource, PromptLibrary
from softswitch.registrar import Binding
from softswitch.sip import Request, Response
from softswitch.sip.endpoint import OutgoingRequest, ResponseCallback
from softswitch.sip.transaction import Peer, ServerTransaction
from softswitch.trunks import TrunkTarget

# where an INVITE of the switch goes: a registered contact, or a trunk
Target = Binding | TrunkTarget


class Endpoint(Protocol):
    def send_response(self, txn: ServerTransaction, response: Response) -> bool: ...

    def send_request(self, request: Request, destination: Peer, *,
                     on_response: ResponseCallback | None = None) -> OutgoingRequest: ...

    def local_peer(self, transport: str = "udp") -> Peer: ...

    def has_connection(self, host: str, port: int) -> bool: ...


class Media(Protocol):
    @property
    def prompts(self) -> PromptLibrary: ...

    async def open_leg(self, label: str) -> MediaLeg: ...

    def play(self, leg: MediaLeg, source: FrameSource, *,
             interruptible: bool = False) -> Playback: ...

    def bridge(self, a: MediaLeg, b: MediaLeg) -> None: ...

    def unbridge(self, a: MediaLeg, b: MediaLeg) -> None: ...

    def detach_moh(self, leg: MediaLeg) -> None: ...

    def record(self, legs: Sequence[MediaLeg], path: str | Path) -> Recording: ...


class CallMedia(Media, Protocol):
    """The media engine as the extension calls use it (softswitch.calls.b2bua): the seam
    above plus the shared music streams a transferred or parked party hears
    (softswitch.calls.transfer)."""

    @property
    def music_streams(self) -> Mapping[str, MusicStream]: ...

    def add_music(self, name: str, source: FrameSource) -> MusicStream: ...

    def set_music(self, name: str, source: FrameSource) -> MusicStream: ...

    def attach_moh(self, leg: MediaLeg, stream_name: str = "default") -> MusicStream: ...


class Registrar(Protocol):
    def targets(self, aor: str, now: float) -> list[Binding]: ...

