"""G.711 PCMU (mu-law) and PCMA (A-law) codecs with numpy lookup tables (ITU-T G.711).

The tables are computed once at import from the segment/quantisation rules of G.711 as they
appear in the classic Sun Microsystems ``g711.c`` reference (16-bit linear input, 14-bit
magnitude for mu-law, 13-bit for A-law). Encoding indexes a 65,536-entry table with the int16
sample viewed as uint16; decoding indexes a 256-entry table. Transcoding between the laws is a
256-byte ``bytes.translate`` table (decode then encode), so a relayed packet is converted
without ever leaving C.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

import numpy as np
import numpy.typing as npt

Int16Array = npt.NDArray[np.int16]


class Codec(StrEnum):
    """RTP/AVP static payload formats of RFC 3551 §4.5.14 that this engine speaks."""

    PCMU = "PCMU"
    PCMA = "PCMA"

    @property
    def static_payload_type(self) -> int:
        return 0 if self is Codec.PCMU else 8


SAMPLE_RATE: Final = 8000


def _ulaw_decode_table() -> Int16Array:
    code = np.arange(256, dtype=np.int32)
    u = ~code & 0xFF
    t = ((u & 0x0F) << 3) + 0x84
    t = t << ((u & 0x70) >> 4)
    linear = np.where(u & 0x80, 0x84 - t, t - 0x84)
    return linear.astype(np.int16)


def _alaw_decode_table() -> Int16Array:
    code = np.arange(256, dtype=np.int32)
    a = code ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    linear = np.where(a & 0x80, t, -t)
    return linear.astype(np.int16)


def _segment(magnitude: npt.NDArray[np.int32], ends: list[int]) -> npt.NDArray[np.int32]:
    """Index of the first segment end >= magnitude (8 when beyond the last)."""
    return np.searchsorted(np.asarray(ends, dtype=np.int32), magnitude, side="left").astype(
        np.int32
    )


def _ulaw_encode_table() -> npt.NDArray[np.uint8]:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(pcm), 8159) + (0x84 >> 2)
    seg = _segment(mag, [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
    uval = (seg << 4) | ((mag >> (np.minimum(seg, 7) + 1)) & 0x0F)
    code = np.where(seg >= 8, 0x7F ^ mask, uval ^ mask)
    return _by_uint16_index(code)


def _alaw_encode_table() -> npt.NDArray[np.uint8]:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 3
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    mag = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = _segment(mag, [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
    shift = np.where(seg < 2, 1, np.minimum(seg, 7))
    aval = (np.minimum(seg, 7) << 4) | ((mag >> shift) & 0x0F)
    code = np.where(seg >= 8, 0x7F ^ mask, aval ^ mask)
    return _by_uint16_index(code)


def _by_uint16_index(code_for_minus32768_up: npt.NDArray[np.int32]) -> npt.NDArray[np.uint8]:
    """Reorder a table built for -32768..32767 so that it is indexed by the uint16 view."""
    return np.roll(code_for_minus32768_up.astype(np.uint8), -32768)


ULAW_DECODE: Final[Int16Array] = _ulaw_decode_table()
ALAW_DECODE: Final[Int16Array] = _alaw_decode_table()
ULAW_ENCODE: Final[npt.NDArray[np.uint8]] = _ulaw_encode_table()
ALAW_ENCODE: Final[npt.NDArray[np.uint8]] = _alaw_encode_table()

ULAW_TO_ALAW: Final[bytes] = bytes(ALAW_ENCODE[ULAW_DECODE.view(np.uint16)].tolist())
ALAW_TO_ULAW: Final[bytes] = bytes(ULAW_ENCODE[ALAW_DECODE.view(np.uint16)].tolist())

#: The encoding of silence (linear 0) in each law, for comfort frames and padding.
SILENCE_BYTE: Final = {Codec.PCMU: int(ULAW_ENCODE[0]), Codec.PCMA: int(ALAW_ENCODE[0])}

_DECODE = {Codec.PCMU: ULAW_DECODE, Codec.PCMA: ALAW_DECODE}
_ENCODE = {Codec.PCMU: ULAW_ENCODE, Codec.PCMA: ALAW_ENCODE}


def encode(samples: Int16Array, codec: Codec) -> bytes:
    """Encode int16 linear samples to G.711 bytes."""
    return _ENCODE[codec][np.ascontiguousarray(samples, dtype=np.int16).view(np.uint16)].tobytes()


def decode(payload: bytes, codec: Codec) -> Int16Array:
    """Decode G.711 bytes to int16 linear samples."""
    return _DECODE[codec][np.frombuffer(payload, dtype=np.uint8)]


def transcode_table(source: Codec, target: Codec) -> bytes | None:
    """The ``bytes.translate`` table from one law to the other, or None when they match."""
    if source is target:
        return None
    return ULAW_TO_ALAW if source is Codec.PCMU else ALAW_TO_ULAW


def codec_from_name(name: str) -> Codec:
    """Parse an SDP rtpmap encoding name (case-insensitive, RFC 4566 §6)."""
    try:
        return Codec(name.upper())
    except ValueError:
        raise ValueError(f"unsupported codec {name!r}: this engine speaks PCMU and PCMA") from None
