"""Media engine: RTP relay, G.711, DTMF (issue 3). Everything a caller or agent hears.

Layout: sans-IO cores (``media.rtp`` RTP/RTCP sessions, ``media.g711`` codecs,
``media.dtmf`` RFC 4733 / INFO / Goertzel) and one asyncio shell (``media.engine``).

Quick use from the call layer (softswitch/calls)::

    from media import MediaEngine, MediaError

    engine = MediaEngine("127.0.0.1", (20000, 29999))
    await engine.start()                        # starts the 20 ms media clock

    a = await engine.open_leg("call-17/a")      # even RTP port from the range, RTCP = port+1
    b = await engine.open_leg("call-17/b")      # raises PortRangeExhausted when the range is full
    sdp_port = a.local_port                     # put a.local_host / a.local_port in your SDP

    # From the negotiated SDP (RFC 3264): address (None if unknown / 0.0.0.0), PT, codec,
    # telephone-event PT (None when the phone did not offer RFC 4733).
    a.set_remote(("192.0.2.10", 4000), 0, "PCMU", 101)
    b.set_remote(("192.0.2.20", 5000), 8, "PCMA", None)

    engine.bridge(a, b)     # relay; same law -> payload untouched, else PCMU<->PCMA table
    engine.unbridge(a, b)

    a.set_hold(True)        # the phone sent a=sendonly: we stop sending to it (recvonly)
    a.set_direction("inactive")   # full control: sendrecv / sendonly / recvonly / inactive

    a.on_dtmf(lambda d: print(d.digit, d.source))   # callback per key press, or:
    async for d in a.dtmf_events(): ...             # async iterator (ends at close), or:
    d = await a.next_digit(timeout=5.0)             # one digit or None
    a.receive_info_dtmf("application/dtmf-relay", "Signal=5\\r\\nDuration=160")  # SIP INFO
    a.send_dtmf("123#")     # RFC 4733 if negotiated, else in-band tones

    a.stats                 # dict for the call record: packets/octets sent+received, lost,
                            # jitter_ms, max_jitter_ms, ssrc_changes, remote_loss_fraction, ...
    await a.close()         # unbridges, releases both ports; idempotent
    await engine.stop()     # closes all legs

Behaviour the call layer can rely on:

* Symmetric RTP (RFC 4961, NAT): a leg sends to the source address of the first RTP packet it
  receives after each ``set_remote`` (the SDP address is used until then). Packets from any
  other address are dropped (``stats["foreign_packets"]``) unless they carry the latched
  SSRC (a moved NAT binding re-latches).
* Each leg sends ONE SSRC to its phone for the whole call; sequence numbers continue and
  timestamps follow the wall clock across changes of what it hears (other party's SSRC
  change after a re-INVITE, prompt, music...), with the marker bit on each change.
* DTMF digits (:class:`media.events.DtmfDigit`: ``digit``, ``source`` rfc4733/inband/info,
  ``duration_ms``, ``at``, ``leg``) are reported once per press, when it ends. RFC 4733 events
  are also relayed to the bridged phone when it negotiated telephone-event (never as audio).
  In-band detection runs only on legs whose phone did not negotiate telephone-event.
* RTCP SR/RR (RFC 3550 §6.4) is sent every 5 s per leg once media flows; the phone's reports
  about our stream feed ``remote_loss_fraction`` / ``remote_jitter_ms``.
"""

from media.engine import LegClosed, MediaEngine, MediaError, MediaLeg, PortRangeExhausted
from media.events import DtmfDigit, DtmfSource, PlaybackOutcome
from media.g711 import Codec

__all__ = [
    "Codec",
    "DtmfDigit",
    "DtmfSource",
    "LegClosed",
    "MediaEngine",
    "MediaError",
    "MediaLeg",
    "PlaybackOutcome",
    "PortRangeExhausted",
]
