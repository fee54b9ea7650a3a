"""G.711 tables against the standard algorithm, derived independently here (scalar code
written from ITU-T G.711 / the Sun ``g711.c`` reference), for all 256 codes."""

from __future__ import annotations

import numpy as np
import pytest

from media import g711
from media.g711 import Codec


def ref_ulaw2linear(u: int) -> int:
    u = ~u & 0xFF
    t = ((u & 0x0F) << 3) + 0x84
    t <<= (u & 0x70) >> 4
    return 0x84 - t if u & 0x80 else t - 0x84


def ref_alaw2linear(a: int) -> int:
    a ^= 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t += 0x108
        t <<= seg - 1
    return t if a & 0x80 else -t


def ref_linear2ulaw(pcm: int) -> int:
    pcm >>= 2
    if pcm < 0:
        pcm, mask = -pcm, 0x7F
    else:
        mask = 0xFF
    pcm = min(pcm, 8159) + 33
    for seg, end in enumerate((0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)):
        if pcm <= end:
            return ((seg << 4) | ((pcm >> (seg + 1)) & 0xF)) ^ mask
    return 0x7F ^ mask


def ref_linear2alaw(pcm: int) -> int:
    pcm >>= 3
    if pcm >= 0:
        mask = 0xD5
    else:
        mask, pcm = 0x55, -pcm - 1
    for seg, end in enumerate((0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)):
        if pcm <= end:
            aval = seg << 4
            aval |= (pcm >> 1 if seg < 2 else pcm >> seg) & 0xF
            return aval ^ mask
    return 0x7F ^ mask


def test_all_256_ulaw_codes_decode_like_the_reference():
    assert [int(x) for x in g711.ULAW_DECODE] == [ref_ulaw2linear(c) for c in range(256)]


def test_all_256_alaw_codes_decode_like_the_reference():
    assert [int(x) for x in g711.ALAW_DECODE] == [ref_alaw2linear(c) for c in range(256)]


def test_known_values_from_the_standard():
    assert g711.ULAW_DECODE[0x00] == -32124 and g711.ULAW_DECODE[0x80] == 32124
    assert g711.ULAW_DECODE[0xFF] == 0 and g711.ALAW_DECODE[0xD5] == 8
    assert g711.ALAW_DECODE[0xAA] == 32256 and g711.ALAW_DECODE[0x55] == -8
    assert g711.SILENCE_BYTE == {Codec.PCMU: 0xFF, Codec.PCMA: 0xD5}


@pytest.mark.parametrize("codec,ref", [(Codec.PCMU, ref_linear2ulaw),
                                       (Codec.PCMA, ref_linear2alaw)])
def test_encoder_matches_reference_on_every_16bit_sample(codec, ref):
    samples = np.arange(-32768, 32768, dtype=np.int16)
    ours = np.frombuffer(g711.encode(samples, codec), dtype=np.uint8)
    theirs = np.array([ref(int(s)) for s in samples], dtype=np.uint8)
    assert np.array_equal(ours, theirs)


@pytest.mark.parametrize("codec", list(Codec))
def test_every_code_round_trips(codec):
    table = g711.ULAW_DECODE if codec is Codec.PCMU else g711.ALAW_DECODE
    back = g711.encode(table, codec)
    # mu-law has two codes for zero (0x7F and 0xFF): both decode to 0, which encodes to 0xFF.
    expected = bytes(0xFF if (codec is Codec.PCMU and c == 0x7F) else c for c in range(256))
    assert back == expected


def test_transcoding_tables_equal_decode_then_encode():
    codes = bytes(range(256))
    u2a = codes.translate(g711.transcode_table(Codec.PCMU, Codec.PCMA))
    assert u2a == bytes(ref_linear2alaw(ref_ulaw2linear(c)) for c in range(256))
    a2u = codes.translate(g711.transcode_table(Codec.PCMA, Codec.PCMU))
    assert a2u == bytes(ref_linear2ulaw(ref_alaw2linear(c)) for c in range(256))
    assert g711.transcode_table(Codec.PCMU, Codec.PCMU) is None


def test_unknown_codec_name_is_a_clear_error():
    assert g711.codec_from_name("pcma") is Codec.PCMA
    with pytest.raises(ValueError, match="G722"):
        g711.codec_from_name("G722")
