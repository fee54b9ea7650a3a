"""RTP/RTCP session rules in virtual time (RFC 3550 A.1, A.3, A.8, §6.4; RFC 4961)."""

from __future__ import annotations

import pytest

from media.rtp import (
    OutboundStream,
    ReceiverReport,
    RtpError,
    RtpPacket,
    RtpSession,
    SenderReport,
    SourceStatistics,
    parse_rtcp,
    parse_rtp,
    payload_offset,
)

A = ("10.0.0.1", 4000)
B = ("10.0.0.2", 5000)


def feed(sess: RtpSession, seqs, ssrc=1, addr=A, t0=0.0, ts0=0):
    ok = []
    for i, seq in enumerate(seqs):
        ok.append(sess.accept(ssrc, seq & 0xFFFF, ts0 + i * 160, 160, addr, t0 + i * 0.02))
    return ok


def test_parse_rejects_short_wrong_version_and_bad_padding():
    with pytest.raises(RtpError, match="short"):
        parse_rtp(b"\x80\x00")
    with pytest.raises(RtpError, match="version"):
        parse_rtp(b"\x40" + b"\x00" * 11)
    with pytest.raises(RtpError, match="padding"):
        payload_offset(b"\xa0\x00" + b"\x00" * 10 + b"\x01\x02\x09")


def test_parse_skips_csrc_extension_and_padding():
    body = bytes(RtpPacket(0, 1, 2, 3, b"abc", True, (7, 8)))
    ext = body[:12] + b"\x00\x00\x00\x00" * 2 + b"\xbe\xde\x00\x01" + b"\x11\x22\x33\x44" + b"abc"
    ext = bytes([ext[0] | 0x10 | 0x20]) + ext[1:] + b"\x00\x00\x03"
    p = parse_rtp(ext)
    assert p.payload == b"abc" and p.csrcs == (0, 0) and p.marker and p.ssrc == 3


def test_loss_counted_across_sequence_wrap():
    s = RtpSession("t")
    seqs = [65530 + i for i in range(12)]
    del seqs[7]  # lose 65537 & 0xFFFF = 1
    feed(s, seqs)
    assert s.snapshot().packets_lost == 1
    assert s.source is not None and s.source.cycles == 1 << 16


def test_duplicates_and_reordering_do_not_count_as_loss():
    s = RtpSession("t")
    feed(s, [10, 11, 12, 14, 13, 13, 15])
    assert s.snapshot().packets_lost <= 0 or s.source.lost == -1


def test_large_jump_restarts_after_two_sequential_packets():
    st = SourceStatistics(1, 100)
    for seq in range(100, 110):
        st.update_seq(seq)
    assert st.update_seq(40000) is False  # one wild packet: ignored
    assert st.update_seq(40001) is True  # two in a row: the source restarted (A.1)
    assert st.base_seq == 40001 and st.lost == 0


def test_fraction_lost_per_report_interval():
    st = SourceStatistics(1, 0)
    for seq in range(0, 100):
        if seq % 10 != 5:
            st.update_seq(seq)
    frac = st.fraction_lost_since_last_report()
    assert frac == pytest.approx(256 * 10 / 99, abs=1)
    for seq in range(100, 200):
        st.update_seq(seq)
    assert st.fraction_lost_since_last_report() == 0


def test_jitter_grows_with_arrival_variation_only():
    s = RtpSession("t")
    for i in range(200):
        s.accept(1, i, i * 160, 160, A, i * 0.02)
    assert s.snapshot().jitter_ms < 0.2
    s2 = RtpSession("t")
    for i in range(200):
        s2.accept(1, i, i * 160, 160, A, i * 0.02 + (0.01 if i % 2 else 0.0))
    assert 5.0 < s2.snapshot().jitter_ms < 11.0  # |D| = 10 ms every packet -> J -> 10 ms


def test_latch_to_first_source_then_reject_foreigners():
    s = RtpSession("t")
    s.set_remote(B)
    assert s.send_address == B
    assert s.accept(1, 1, 0, 160, A, 0.0)
    assert s.send_address == A and s.rtcp_address == ("10.0.0.1", 4001)
    assert not s.accept(2, 1, 0, 160, ("6.6.6.6", 1), 0.02)
    assert s.stats.foreign_packets == 1
    s.set_remote(B)  # re-INVITE re-arms latching
    assert s.accept(2, 50, 0, 160, ("6.6.6.6", 1), 0.04)
    assert s.send_address == ("6.6.6.6", 1)


def test_outbound_stream_continuity_across_sources():
    out = OutboundStream(ssrc=5, seq=65534, timestamp=1000)
    seq, ts, m = out.header_for_relay(("a", 1), 300, 90000, False, now=0.0)
    assert (seq, m) == (65535, True)
    seq2, ts2, m2 = out.header_for_relay(("a", 1), 301, 90160, False, now=0.02)
    assert (seq2, ts2 - ts, m2) == (0, 160, False)
    # A prompt takes over 100 ms later: seq continues, timestamp follows the wall clock.
    seq3, ts3, m3 = out.header_for_local("prompt", now=0.12)
    assert seq3 == 1 and ts3 - ts2 == 800 and m3
    seq4, ts4, m4 = out.header_for_local("prompt", now=0.14)
    assert (seq4, ts4 - ts3, m4) == (2, 160, False)


def test_reordered_relay_packet_keeps_its_place():
    out = OutboundStream(ssrc=5, seq=0, timestamp=0)
    out.header_for_relay("x", 10, 0, False, 0.0)
    out.header_for_relay("x", 12, 320, False, 0.04)
    s, _, _ = out.header_for_relay("x", 11, 160, False, 0.05)
    assert s == 2 and out.seq == 3


def test_rtcp_rr_then_sr_round_trip_and_remote_view():
    s = RtpSession("leg@host")
    assert s.next_deadline() is None
    feed(s, [1, 2, 4, 5])
    due = s.next_deadline()
    assert due == pytest.approx(5.0)
    assert s.rtcp_report(due - 1, 0.0) is None
    rr = parse_rtcp(s.rtcp_report(due, 1700000000.0) or b"")
    assert isinstance(rr[0], ReceiverReport) and rr[0].reports[0].cumulative_lost == 1
    s.outbound.count(160)
    sr = parse_rtcp(s.rtcp_report(due + 5, 1700000005.0) or b"")
    assert isinstance(sr[0], SenderReport) and sr[0].packet_count == 1
    # The phone's RR about our stream lands in the statistics.
    from media.rtp import ReportBlock, build_rtcp

    theirs = build_rtcp(ReceiverReport(1, (ReportBlock(s.outbound.ssrc, 64, 3, 10, 80),)), "p")
    s.handle_rtcp(theirs, 11.0)
    st = s.snapshot()
    assert st.remote_loss_fraction == 0.25 and st.remote_jitter_ms == 10.0


def test_rtcp_garbage_is_an_error_not_a_crash():
    with pytest.raises(RtpError):
        parse_rtcp(b"\x00\x01")
    with pytest.raises(RtpError):
        parse_rtcp(b"\x81\xc9\x00\x09" + b"\x00" * 8)


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@given(st.binary(max_size=200))
def test_any_bytes_parse_or_raise_rtp_error(data):
    for parse in (parse_rtp, parse_rtcp):
        try:
            parse(data)
        except RtpError:
            pass


@given(st.lists(st.integers(0, 0xFFFF), max_size=300))
def test_statistics_never_crash_and_lost_is_bounded(seqs):
    s = RtpSession("t")
    for i, seq in enumerate(seqs):
        s.accept(7, seq, i * 160, 160, A, i * 0.02)
    snap = s.snapshot()
    assert snap.packets_received == len(seqs)
    assert -0x800000 <= snap.packets_lost <= 0x7FFFFF


def test_same_sdp_address_again_keeps_the_latch_new_one_rearms():
    s = RtpSession("t")
    s.set_remote(B)
    s.accept(1, 1, 0, 160, A, 0.0)
    s.set_remote(B)  # hold/unhold re-INVITE with the same SDP
    assert s.send_address == A and not s.latched  # keeps sending there, re-arms the latch
    assert s.accept(3, 9, 0, 160, ("10.0.0.1", 4002), 0.02)  # the phone's new NAT port
    assert s.send_address == ("10.0.0.1", 4002)
    s.set_remote(("10.0.0.9", 7000))
    assert s.send_address == ("10.0.0.9", 7000) and not s.latched
