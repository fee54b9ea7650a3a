"""Relaying between two plain-socket phones over real UDP on loopback (issue 3, calls API)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from media_phones import Phone, free_port_range, te_payload

from media import DtmfSource, MediaEngine, PortRangeExhausted
from media.g711 import Codec, decode, encode


def voice(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(n) * 3000).astype(np.int16)


async def call(engine: MediaEngine, phones: list[Phone], codec_a: str = "PCMU",
               codec_b: str = "PCMU", te_a: int | None = 101, te_b: int | None = 101):
    pa, pb = Phone(), Phone()
    phones += [pa, pb]
    a = await engine.open_leg("a")
    b = await engine.open_leg("b")
    a.set_remote(pa.addr, 0 if codec_a == "PCMU" else 8, codec_a, te_a)
    b.set_remote(pb.addr, 0 if codec_b == "PCMU" else 8, codec_b, te_b)
    engine.bridge(a, b)
    return pa, pb, a, b


async def test_same_codec_relays_payload_untouched_with_continuous_numbering(engine, phones):
    pa, pb, a, b = await call(engine, phones)
    payloads = [encode(voice(160, i), Codec.PCMU) for i in range(30)]
    for p in payloads:
        pa.send((a.local_host, a.local_port), p)
        await asyncio.sleep(0.002)
    got = await pb.recv_all()
    assert [p.payload for p in got] == payloads
    assert len({p.ssrc for p in got}) == 1 and got[0].ssrc != pa.ssrc
    seqs = [p.sequence_number for p in got]
    assert all((y - x) & 0xFFFF == 1 for x, y in zip(seqs, seqs[1:], strict=False))
    assert all(p.payload_type == 0 for p in got)
    assert got[0].marker  # first packet of a new source (RFC 3551 §4.1)
    stats = a.stats
    assert stats["packets_received"] == 30 and stats["packets_lost"] == 0
    assert b.stats["packets_sent"] == 30


async def test_pcmu_to_pcma_is_transcoded_both_ways(engine, phones):
    pa, pb, a, b = await call(engine, phones, "PCMU", "PCMA")
    sig = voice(160, 7)
    pa.send((a.local_host, a.local_port), encode(sig, Codec.PCMU))
    got = await pb.recv()
    assert got is not None and got.payload_type == 8
    # What B decodes is what A meant, within G.711 quantisation.
    err = np.abs(decode(got.payload, Codec.PCMA).astype(int) - sig.astype(int))
    assert np.percentile(err, 99) < 0.07 * 3000 * 4
    pb.send((b.local_host, b.local_port), encode(sig, Codec.PCMA), pt=8)
    back = await pa.recv()
    assert back is not None and back.payload_type == 0
    corr = np.corrcoef(decode(back.payload, Codec.PCMU).astype(float), sig.astype(float))[0, 1]
    assert corr > 0.999


async def test_symmetric_rtp_latches_to_actual_source_not_sdp(engine, phones):
    pa, pb, a, b = await call(engine, phones)
    decoy = Phone()  # where B's SDP says to send; B really sends from pb (NAT)
    phones.append(decoy)
    b.set_remote(decoy.addr, 0, "PCMU", 101)
    pb.send((b.local_host, b.local_port), b"\xff" * 160)  # B speaks first -> latch
    assert await pa.recv() is not None
    pa.send((a.local_host, a.local_port), b"\x55" * 160)
    assert (await pb.recv()) is not None
    assert await decoy.recv(0.2) is None
    assert b.remote_address == pb.addr


async def test_foreign_source_is_dropped_but_same_ssrc_relatches(engine, phones):
    pa, pb, a, b = await call(engine, phones)
    pa.send((a.local_host, a.local_port), b"\x01" * 160)
    assert await pb.recv() is not None
    intruder = Phone()
    phones.append(intruder)
    intruder.send((a.local_host, a.local_port), b"\x02" * 160)
    assert await pb.recv(0.2) is None
    assert a.stats["foreign_packets"] == 1
    # The same stream from a new NAT port (same SSRC) is accepted and re-latched.
    moved = Phone()
    phones.append(moved)
    moved.ssrc, moved.seq, moved.ts = pa.ssrc, pa.seq, pa.ts
    moved.send((a.local_host, a.local_port), b"\x03" * 160)
    got = await pb.recv()
    assert got is not None and got.payload == b"\x03" * 160
    assert a.remote_address == moved.addr


async def test_ssrc_change_keeps_outgoing_stream_continuous(engine, phones):
    pa, pb, a, b = await call(engine, phones)
    for _ in range(5):
        pa.send((a.local_host, a.local_port), b"\x10" * 160)
    pa.ssrc ^= 0xDEADBEEF  # re-INVITE: the phone restarted its stream
    pa.seq = 7
    pa.ts = 12345
    await asyncio.sleep(0.02)
    for _ in range(5):
        pa.send((a.local_host, a.local_port), b"\x20" * 160)
    got = await pb.recv_all()
    assert len(got) == 10 and len({p.ssrc for p in got}) == 1
    seqs = [p.sequence_number for p in got]
    assert all((y - x) & 0xFFFF == 1 for x, y in zip(seqs, seqs[1:], strict=False))
    assert got[5].marker
    assert (got[5].timestamp - got[4].timestamp) & 0xFFFFFFFF >= 160
    assert a.stats["ssrc_changes"] == 1


async def test_hold_stops_media_towards_the_held_phone(engine, phones):
    pa, pb, a, b = await call(engine, phones)
    b.set_hold(True)
    pa.send((a.local_host, a.local_port), b"\x11" * 160)
    assert await pb.recv(0.2) is None
    pb.send((b.local_host, b.local_port), b"\x12" * 160)  # B's own music still reaches A
    assert await pa.recv() is not None
    b.set_hold(False)
    pa.send((a.local_host, a.local_port), b"\x13" * 160)
    assert await pb.recv() is not None


async def test_rfc4733_digit_reported_once_and_relayed(engine, phones):
    pa, pb, a, b = await call(engine, phones, te_a=101, te_b=96)
    seen = []
    a.on_dtmf(seen.append)
    ts = pa.ts
    for i, dur in enumerate((160, 320, 480)):
        pa.send((a.local_host, a.local_port), te_payload(5, False, dur), pt=101, ts=ts,
                marker=i == 0)
    for _ in range(3):  # end packet three times (RFC 4733 §2.5.1.4)
        pa.send((a.local_host, a.local_port), te_payload(5, True, 640), pt=101, ts=ts)
    digit = await a.next_digit(1.0)
    assert digit is not None and digit.digit == "5" and digit.source is DtmfSource.RFC4733
    assert digit.duration_ms == 80 and digit.leg == "a"
    got = await pb.recv_all()
    assert len(got) == 6 and {p.payload_type for p in got} == {96}
    assert len(seen) == 1


async def test_lost_end_packets_still_give_the_digit_via_timeout(engine, phones):
    pa, pb, a, b = await call(engine, phones)
    pa.send((a.local_host, a.local_port), te_payload(11, False, 160), pt=101, marker=True)
    digit = await a.next_digit(2.0)  # EVENT_TIMEOUT after the last packet
    assert digit is not None and digit.digit == "#"


async def test_inband_digits_detected_when_no_telephone_event(engine, phones):
    from media.dtmf import dtmf_tone

    pa, pb, a, b = await call(engine, phones, te_a=None, te_b=None)
    tone = np.concatenate([np.zeros(320, np.int16), dtmf_tone("7", 100),
                           np.zeros(480, np.int16)])
    for i in range(0, len(tone) - 159, 160):
        pa.send((a.local_host, a.local_port), encode(tone[i:i + 160], Codec.PCMU))
    digit = await a.next_digit(1.0)
    assert digit is not None and digit.digit == "7" and digit.source is DtmfSource.INBAND


async def test_info_dtmf_reaches_the_same_stream(engine, phones):
    pa, pb, a, b = await call(engine, phones)
    a.receive_info_dtmf("application/dtmf-relay", "Signal=*\r\nDuration=250\r\n")
    digit = await a.next_digit(0.5)
    assert digit is not None and digit.digit == "*" and digit.source is DtmfSource.INFO
    from media.dtmf import DtmfError

    with pytest.raises(DtmfError):
        a.receive_info_dtmf("application/dtmf-relay", "Signal=X")


async def test_send_dtmf_goes_out_as_rfc4733_events(engine, phones):
    pa, pb, a, b = await call(engine, phones)
    pa.send((a.local_host, a.local_port), b"\xff" * 160)  # latch
    await asyncio.sleep(0.05)
    a.send_dtmf("9")
    got = [p for p in await pa.recv_all(0.3) if p.payload_type == 101]
    assert got and got[0].marker
    assert len({p.timestamp for p in got}) == 1
    ends = [p for p in got if p.payload[1] & 0x80]
    assert len(ends) == 3 and got[0].payload[0] == 9


async def test_port_allocation_even_ports_exhaustion_and_release():
    lo, _ = free_port_range(10)
    eng = MediaEngine("127.0.0.1", (lo, lo + 3))  # two even/odd pairs
    await eng.start()
    try:
        a = await eng.open_leg("x")
        b = await eng.open_leg("y")
        assert a.local_port % 2 == 0 and b.local_port % 2 == 0
        with pytest.raises(PortRangeExhausted, match=f"{lo}-{lo + 3}"):
            await eng.open_leg("z")
        await a.close()
        c = await eng.open_leg("z")
        assert c.local_port == a.local_port
    finally:
        await eng.stop()


async def test_rtcp_receiver_report_reaches_the_phone(engine, phones):
    pa, pb, a, b = await call(engine, phones)
    rtcp = Phone()
    phones.append(rtcp)
    # RTCP goes to the latched RTP address + 1; here we drive the session directly instead
    # of waiting 5 s: the report bytes must parse and carry our loss figures.
    for i in range(10):
        if i != 4:
            pa.send((a.local_host, a.local_port), b"\xff" * 160, seq=100 + i, ts=i * 160)
    await asyncio.sleep(0.1)
    from media.rtp import ReceiverReport, SenderReport, parse_rtcp

    now = a.session.next_deadline()
    assert now is not None
    report = parse_rtcp(a.session.rtcp_report(now, 0.0) or b"")
    assert isinstance(report[0], ReceiverReport | SenderReport)
    block = report[0].reports[0]
    assert block.ssrc == pa.ssrc and block.cumulative_lost == 1
    assert a.stats["packets_lost"] == 1


async def test_bad_input_is_rejected_clearly(engine):
    leg = await engine.open_leg("bad")
    with pytest.raises(ValueError, match="unsupported codec"):
        leg.set_remote(("127.0.0.1", 9), 18, "G729", None)
    with pytest.raises(ValueError, match="dynamic"):
        leg.set_remote(("127.0.0.1", 9), 0, "PCMU", 13)
    with pytest.raises(ValueError, match="port range"):
        MediaEngine("127.0.0.1", (30001, 30001))
    other = await engine.open_leg("bad2")
    with pytest.raises(Exception, match="itself"):
        engine.bridge(leg, leg)
    await leg.close()
    from media import LegClosed

    with pytest.raises(LegClosed):
        engine.bridge(leg, other)


async def test_echo_sends_the_phones_audio_back(engine, phones):
    pa = Phone()
    phones.append(pa)
    leg = await engine.open_leg("echo")
    leg.set_remote(pa.addr, 0, "PCMU", 101)
    leg.set_echo(True)
    pa.send((leg.local_host, leg.local_port), bytes(range(160)))
    got = await pa.recv()
    assert got is not None and got.payload == bytes(range(160)) and got.ssrc != pa.ssrc


async def test_collect_digits_terminator_max_and_timeout(engine, phones):
    pa, pb, a, b = await call(engine, phones)
    for d in "99":
        a.receive_info_dtmf("application/dtmf", d)
    assert a.flush_digits() == 2
    for d in "13800#7":
        a.receive_info_dtmf("application/dtmf", d)
    entry = await a.collect_digits(20, terminator="#")
    assert (entry.digits, entry.ended_by, entry.complete) == ("13800", "terminator", True)
    for d in "123":
        a.receive_info_dtmf("application/dtmf", d)
    entry = await a.collect_digits(2)
    assert (entry.digits, entry.ended_by) == ("71", "max_digits")
    entry = await a.collect_digits(5, first_timeout=0, inter_digit_timeout=0)
    assert (entry.digits, entry.ended_by, entry.complete) == ("23", "timeout", False)
    with pytest.raises(ValueError):
        await a.collect_digits(0)


async def test_rfc4733_key_reaches_a_phone_without_telephone_event_as_tones(engine, phones):
    from media.dtmf import GoertzelDetector

    pa, pb, a, b = await call(engine, phones, te_a=101, te_b=None)
    pb.send((b.local_host, b.local_port), b"\xff" * 160)  # B latches
    await asyncio.sleep(0.05)
    for _ in range(3):
        pa.send((a.local_host, a.local_port), te_payload(4, True, 1200), pt=101, ts=777)
    got = await pb.recv_all(0.4)
    assert got and all(p.payload_type == 0 for p in got)
    det = GoertzelDetector()
    digits = []
    for p in got + [None, None]:
        frame = decode(p.payload, Codec.PCMU) if p else np.zeros(160, np.int16)
        digits += [d.digit for d in det.process(frame, 0.0)]
    assert digits == ["4"]


async def test_rtcp_reports_go_back_to_where_the_phones_rtcp_comes_from(engine, phones):
    from media.rtp import ReceiverReport, SenderReport, build_rtcp, parse_rtcp

    pa, pb, a, b = await call(engine, phones)
    rtcp_phone = Phone()
    phones.append(rtcp_phone)
    for _ in range(20):
        pa.send((a.local_host, a.local_port), b"\xff" * 160)
    pb.send((b.local_host, b.local_port), b"\xff" * 160)
    rtcp_phone.sock.sendto(build_rtcp(ReceiverReport(pa.ssrc), "phone"),
                           (a.local_host, a.local_port + 1))
    await asyncio.sleep(0.1)
    assert a.stats["packets_received"] == 20
    due = a.session.next_deadline()
    assert due is not None
    for _ in engine.legs:  # the RTCP timer, driven by hand instead of waiting 5 s: the clock
        engine.tick(due)  # visits a slice of the legs per tick
    loop = asyncio.get_running_loop()
    data = await asyncio.wait_for(loop.sock_recv(rtcp_phone.sock, 2048), 1.0)
    reports = parse_rtcp(data)
    assert isinstance(reports[0], ReceiverReport | SenderReport)
    block = reports[0].reports[0]
    assert block.ssrc == pa.ssrc and block.cumulative_lost == 0


async def test_relay_without_epoll_uses_one_protocol_per_leg(phones):
    eng = MediaEngine("127.0.0.1", free_port_range())
    eng._epoll = None  # what a platform without epoll gets
    await eng.start()
    try:
        pa, pb, a, b = await call(eng, phones)
        pa.send((a.local_host, a.local_port), b"\x77" * 160)
        got = await pb.recv()
        assert got is not None and got.payload == b"\x77" * 160
    finally:
        await eng.stop()


async def test_garbage_datagrams_are_counted_and_the_call_goes_on(engine, phones):
    pa, pb, a, b = await call(engine, phones)
    target = (a.local_host, a.local_port)
    pa.send(target, b"\x01" * 160)
    assert await pb.recv() is not None
    for junk in (b"", b"\x80", b"\x40" + b"\x00" * 20, b"\xa0\x00" + b"\x00" * 10 + b"\xff",
                 b"\x9f" + b"\x00" * 13, b"\x90\x00" + b"\x00" * 10 + b"\x00\x00\xff\xff"):
        pa.sock.sendto(junk, target)
    pa.send(target, b"\x01\x02", pt=101)  # telephone-event payload too short
    await asyncio.sleep(0.1)
    assert a.stats["malformed_packets"] == 7
    pa.send(target, b"\x02" * 160)
    got = await pb.recv()
    assert got is not None and got.payload == b"\x02" * 160


async def test_a_failing_dtmf_callback_does_not_stop_media(engine, phones):
    pa, pb, a, b = await call(engine, phones)

    def broken(digit):
        raise RuntimeError("call layer bug")

    a.on_dtmf(broken)
    a.receive_info_dtmf("application/dtmf", "3")
    assert (await a.next_digit(0.5)).digit == "3"
    pa.send((a.local_host, a.local_port), b"\x05" * 160)
    assert await pb.recv() is not None


async def test_send_dtmf_rejects_bad_digits_without_sending_any(engine, phones):
    from media.dtmf import DtmfError

    pa, pb, a, b = await call(engine, phones)
    with pytest.raises(DtmfError, match="x"):
        a.send_dtmf("12x")
    assert not a._dtmf_out


async def test_engine_can_open_legs_again_after_stop(phones):
    eng = MediaEngine("127.0.0.1", free_port_range())
    await eng.start()
    await eng.open_leg("x")
    await eng.stop()
    await eng.start()
    try:
        pa, pb, a, b = await call(eng, phones)
        pa.send((a.local_host, a.local_port), b"\x33" * 160)
        got = await pb.recv()
        assert got is not None and got.payload == b"\x33" * 160
    finally:
        await eng.stop()


async def test_red_telephone_events_detected_and_relayed_as_plain_events(engine, phones):
    pa, pb, a, b = await call(engine, phones, te_a=101, te_b=101)
    a.set_remote(pa.addr, 0, "PCMU", 101, red_pt=100)
    block = te_payload(9, True, 800)
    head = ((0x80 | 101) << 24 | 0 << 10 | len(block)).to_bytes(4, "big")
    for _ in range(2):
        pa.send((a.local_host, a.local_port), head + bytes([101]) + block + block, pt=100,
                ts=5000)
    d = await a.next_digit(1.0)
    assert d is not None and d.digit == "9"
    got = await pb.recv_all(0.3)
    assert got and all(p.payload_type == 101 and p.payload == block for p in got)
    assert await a.next_digit(0.2) is None  # the repeat is not a second press


async def test_digit_readers_after_close_and_unread_digits_are_bounded(engine, phones):
    pa, pb, a, b = await call(engine, phones)
    for _ in range(100):
        a.receive_info_dtmf("application/dtmf", "1")
    a.receive_info_dtmf("application/dtmf", "2")
    assert a._dtmf_queue.qsize() == 64
    assert a.flush_digits() == 64
    await a.close()
    assert await a.next_digit(5) is None
    assert await a.next_digit(5) is None  # still immediate: the close is not consumed
    assert [d async for d in a.dtmf_events()] == []
    assert (await a.collect_digits(3)).ended_by == "closed"
