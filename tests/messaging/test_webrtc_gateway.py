"""The WebRTC gateway's audio toward the browser (softswitch.webrtc.gateway): the RTP the
switch's legs send to the gateway's loopback socket is queued for aiortc's sender; when the
call turns to another source (the answer after the switch's ringback), what the old source
left queued is dropped, so the visitor does not hear ringback over the first words."""

from __future__ import annotations

import struct

import numpy as np

from media import Codec, g711
from softswitch.webrtc.gateway import WebRtcLeg

RINGBACK_LEG = ("127.0.0.1", 40000)
ANSWER_LEG = ("127.0.0.1", 40002)


def rtp(seq: int, hz: float) -> bytes:
    t = np.arange(160) / 8000
    pcm = (8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x1234) + g711.encode(pcm,
                                                                                Codec.PCMU)


def peak_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64).ravel()))
    return float(np.fft.rfftfreq(samples.size, 1 / 8000)[int(np.argmax(spectrum))])


async def test_the_answer_drops_the_ringback_still_queued_for_the_browser() -> None:
    leg = WebRtcLeg()
    try:
        leg.connect(RINGBACK_LEG, 0)  # the switch's ringback while the destination rings
        for seq in range(10):  # 200 ms the browser's sender has not taken yet
            leg._from_leg(rtp(seq, 440.0), RINGBACK_LEG)
        assert leg.track._frames.qsize() == 10
        leg.connect(RINGBACK_LEG, 0)  # the same source again: nothing is dropped
        assert leg.track._frames.qsize() == 10
        leg.connect(ANSWER_LEG, 0)  # the answer: the call's own media from now on
        assert leg.track._frames.qsize() == 0
        leg._from_leg(rtp(10, 440.0), RINGBACK_LEG)  # a late ringback packet: not taken
        leg._from_leg(rtp(0, 600.0), ANSWER_LEG)
        assert leg.track._frames.qsize() == 1
        frame = await leg.track.recv()
        assert abs(peak_hz(frame.to_ndarray()) - 600.0) < 60
    finally:
        await leg.pc.close()


async def test_the_end_of_the_stream_survives_a_flush() -> None:
    leg = WebRtcLeg()
    try:
        leg.connect(RINGBACK_LEG, 0)
        leg._from_leg(rtp(0, 440.0), RINGBACK_LEG)
        leg.track.push(None)  # the call ended: the sender stops after what is queued
        leg.connect(ANSWER_LEG, 0)
        assert leg.track._frames.qsize() == 1 and leg.track._frames.get_nowait() is None
    finally:
        await leg.pc.close()
