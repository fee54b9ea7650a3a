"""A visitor's WebRTC call, answered with aiortc and bridged to a loopback RTP socket.

The browser's offer (softswitch.webrtc.offer: checked first) is answered by an aiortc
``RTCPeerConnection`` whose audio transceiver offers PCMU and PCMA only. The switch side of
the call is a loopback UDP socket owned by this module, the media address of the SIP call
that the gateway's UA places on the internal WebRTC trunk (softswitch.webrtc.trunk):

    browser --SRTP/ICE (aiortc)--> decoded PCM --G.711 RTP--> switch (the trunk call's leg)
    browser <--SRTP/ICE (aiortc)-- LegTrack <--G.711 RTP----- switch

so from the switch's side the widget call is one more SIP caller, routed, queued, relayed,
recorded or transcoded like any other, with the visitor's pre-chat name as its display
name. RTP is taken only from the address the switch answered with (``connect``).

Pacing: nothing here sleeps. Toward the browser, ``LegTrack.recv`` hands aiortc the frames
as the switch's relay delivers them (the media engine's clock paces them); toward the
switch, each frame aiortc decodes from the browser's SRTP is sent when it arrives (the
browser's clock paces them).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import secrets
import struct
from collections.abc import Callable
from typing import Any

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpsender import RTCRtpSender

from media import g711
from media.g711 import Codec
from softswitch.log import get_logger

log = get_logger("webrtc")

RATE = 8000
FRAME = 160  # 20 ms of G.711
QUEUE_MAX = 25  # frames toward the browser (0.5 s): older ones are dropped
_RTP = struct.Struct("!BBHII")


def g711_capabilities() -> list[Any]:
    caps = RTCRtpSender.getCapabilities("audio")
    return [c for c in caps.codecs if c.mimeType.lower() in ("audio/pcmu", "audio/pcma")]


class LegTrack(MediaStreamTrack):
    """Audio toward the browser: the frames the visitor leg's relay sends to our socket."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._frames: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._pts = 0

    def flush(self) -> None:
        """Drop the frames not yet sent to the browser: they came from a source the call no
        longer takes (the ringback queued before the answer would otherwise still play over
        the first words, up to QUEUE_MAX frames). An end of the stream stays queued."""
        while True:
            try:
                pcm = self._frames.get_nowait()
            except asyncio.QueueEmpty:
                return
            if pcm is None:
                self._frames.put_nowait(None)
                return

    def push(self, pcm: bytes | None) -> None:
        if self._frames.qsize() >= QUEUE_MAX:
            with contextlib.suppress(asyncio.QueueEmpty):
                self._frames.get_nowait()
        self._frames.put_nowait(pcm)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        pcm = await self._frames.get()
        if pcm is None:
            self.stop()
            raise MediaStreamError
        samples = np.frombuffer(pcm, dtype=np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, RATE)
        self._pts += samples.shape[1]
        return frame


class _Loopback(asyncio.DatagramProtocol):
    def __init__(self, on_packet: Callable[[bytes, tuple[str, int]], None]) -> None:
        self.on_packet = on_packet

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.on_packet(data, addr[:2])


class WebRtcLeg:
    """One browser's audio on aiortc, relayed to and from the switch over loopback RTP
    (``rtp_address`` is ours; ``connect`` names the switch's)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.remote: tuple[str, int] | None = None
        self.codec = Codec.PCMU
        self.pt = 0
        self.pc = RTCPeerConnection()
        self.track = LegTrack()
        self._transport: asyncio.DatagramTransport | None = None
        self._seq = secrets.randbelow(65536)
        self._ts = secrets.randbelow(2**32)
        self._ssrc = secrets.randbelow(2**32)
        self._reader: asyncio.Task[None] | None = None
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        self._pending = b""
        self.closed = False
        self.on_ended: Callable[[], None] | None = None

    @property
    def rtp_address(self) -> tuple[str, int]:
        """Our loopback RTP socket (after ``answer``)."""
        assert self._transport is not None
        host, port = self._transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    def connect(self, remote: tuple[str, int], pt: int) -> None:
        """The switch's RTP address and payload type (0 PCMU, 8 PCMA) from its answer. A
        new address (the answer after our ringback or early media) drops what the old one
        left queued toward the browser."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(remote[0], remote[0])
        if self.remote is not None and self.remote != (host, remote[1]):
            self.track.flush()
        self.remote = (host, remote[1])
        self.pt = pt
        self.codec = Codec.PCMA if pt == 8 else Codec.PCMU

    async def answer(self, offer: str) -> str:
        """Open the loopback to the leg, answer ``offer``; the answer's SDP (candidates
        gathered). Raises ValueError for an offer aiortc does not take."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Loopback(self._from_leg), local_addr=(self.host, 0))
        self._transport = transport

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio" and self._reader is None:
                self._reader = loop.create_task(self._to_leg(track))

        @self.pc.on("connectionstatechange")
        async def on_state() -> None:
            if self.pc.connectionState in ("failed", "closed") and self.on_ended is not None:
                self.on_ended()

        # The audio transceiver exists before the offer is applied, so that the offer's
        # audio section takes it and its codecs are negotiated within PCMU/PCMA.
        transceiver = self.pc.addTransceiver(self.track, direction="sendrecv")
        transceiver.setCodecPreferences(g711_capabilities())
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        except Exception as exc:  # noqa: BLE001 - aiortc raises many types for bad SDP
            raise ValueError(f"the offer was not accepted: {str(exc)[:120]}") from None
        if transceiver.mid is None:
            raise ValueError("the offer has no audio")
        try:
            answer = await self.pc.createAnswer()
            await self.pc.setLocalDescription(answer)
        except Exception as exc:  # noqa: BLE001
            raise ValueError(f"no answer to the offer: {str(exc)[:120]}") from None
        return str(self.pc.localDescription.sdp)

    def _from_leg(self, data: bytes, addr: tuple[str, int]) -> None:
        """An RTP packet the switch relays toward the browser (only from its address)."""
        if self.remote is None or addr[1] != self.remote[1] or len(data) < 12 or data[0] >> 6 != 2:
            return
        cc = data[0] & 0x0F
        offset = 12 + 4 * cc
        if data[0] & 0x10 and len(data) >= offset + 4:
            offset += 4 + 4 * int.from_bytes(data[offset + 2:offset + 4], "big")
        pt = data[1] & 0x7F
        if pt not in (0, 8) or len(data) <= offset:
            return
        pcm = g711.decode(data[offset:], Codec.PCMU if pt == 0 else Codec.PCMA)
        self.track.push(pcm.astype(np.int16).tobytes())

    async def _to_leg(self, track: MediaStreamTrack) -> None:
        """The browser's decoded audio, as 20 ms G.711 packets to the switch."""
        while not self.closed:
            try:
                frame = await track.recv()
            except MediaStreamError:
                break
            if not isinstance(frame, av.AudioFrame):
                continue
            for out in self._resampler.resample(frame):
                self._pending += out.to_ndarray().astype(np.int16).tobytes()
            while len(self._pending) >= 2 * FRAME:
                chunk, self._pending = self._pending[:2 * FRAME], self._pending[2 * FRAME:]
                self._send(g711.encode(np.frombuffer(chunk, dtype=np.int16), self.codec))

    def _send(self, payload: bytes) -> None:
        if self._transport is None or self.closed or self.remote is None:
            return
        header = _RTP.pack(0x80, self.pt, self._seq, self._ts, self._ssrc)
        self._seq = (self._seq + 1) & 0xFFFF
        self._ts = (self._ts + FRAME) & 0xFFFFFFFF
        self._transport.sendto(header + payload, self.remote)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.track.push(None)
        if self._reader is not None:
            self._reader.cancel()
        if self._transport is not None:
            self._transport.close()
        with contextlib.suppress(Exception):
            await self.pc.close()
