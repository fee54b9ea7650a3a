"""Media engine (issue 3): RTP relay, G.711, DTMF, prompts, music on hold, mixing, recording.

Layout: sans-IO cores (``media.rtp`` RTP/RTCP sessions, ``media.g711`` codecs,
``media.dtmf`` RFC 4733 / INFO / Goertzel, ``media.player`` prompts/sequences/loops/tones and
number composition, ``media.mixer`` minus-one mixing, ``media.recorder`` WAV channels) and one
asyncio shell (``media.engine``) that runs them all on ONE 20 ms clock.

Quick use from the call layer (softswitch/calls)::

    from media import MediaEngine, MediaError

    engine = MediaEngine("127.0.0.1", (20000, 29999))  # prompts_dir=... (default: prompts/)
    await engine.start()                        # starts the 20 ms media clock

    a = await engine.open_leg("call-17/a")      # even RTP port from the range, RTCP = port+1
    b = await engine.open_leg("call-17/b")      # raises PortRangeExhausted when the range is full
    sdp_port = a.local_port                     # put a.local_host / a.local_port in your SDP

    # From the negotiated SDP (RFC 3264): address (None if unknown / 0.0.0.0), PT, codec,
    # telephone-event PT (None when the phone did not offer RFC 4733).
    a.set_remote(("192.0.2.10", 4000), 0, "PCMU", 101)
    b.set_remote(("192.0.2.20", 5000), 8, "PCMA", None)
    # red_pt=N when the phone sends telephone-events in RFC 2198 "red" (RFC 4733 §2.6)

    engine.bridge(a, b)     # relay; same law -> payload untouched, else PCMU<->PCMA table
    engine.unbridge(a, b)

    a.set_echo(True)        # *43 echo test: the phone hears itself (audio + RFC 4733)
    a.set_hold(True)        # the phone sent a=sendonly: we stop sending to it (recvonly)
    a.set_direction("inactive")   # full control: sendrecv / sendonly / recvonly / inactive

    a.on_dtmf(lambda d: print(d.digit, d.source))   # callback per key press, or:
    async for d in a.dtmf_events(): ...             # async iterator (ends at close), or:
    d = await a.next_digit(timeout=5.0)             # one digit or None
    a.flush_digits()                                # drop stale presses before asking
    entry = await a.collect_digits(max_digits=20, terminator="#", first_timeout=10,
                                   inter_digit_timeout=5)   # DigitEntry(digits, ended_by)
    a.receive_info_dtmf("application/dtmf-relay", "Signal=5\\r\\nDuration=160")  # SIP INFO
    a.send_dtmf("123#")     # RFC 4733 if negotiated, else in-band tones

    a.stats                 # dict for the call record: packets/octets sent+received, lost,
                            # jitter_ms, max_jitter_ms, ssrc_changes, remote_loss_fraction, ...
    await a.close()         # unbridges, stops its playback/music/recording, frees the ports
    await engine.stop()     # closes all legs

Players, music, conferences, recordings (all on the engine's one 20 ms clock)::

    from media.player import (PromptSequence, Loop, ringback_tone, announce_position,
                              announce_callers_ahead, announce_wait, announce_agent_id,
                              say_number, say_ordinal, say_duration, say_digits)

    lib = engine.prompts                        # prompts/manifest.json (en, zh), cached
    seq = lib.sequence("zh", "thank-you-for-patience", announce_callers_ahead(3, "zh"),
                       announce_wait(170, "zh"))  # ids and id lists; 50 ms between parts
    pb = engine.play(leg, seq, interruptible=True)   # -> Playback
    outcome = await pb      # PlaybackOutcome.FINISHED (on the tick after its last frame went
                            # out) / INTERRUPTED (pb.digit) / STOPPED
    pb.stop()               # or cancel the task awaiting it
    engine.play(leg, Loop(ringback_tone("cn")))      # per-leg loop (any FrameSource)
    engine.play(leg, PromptSequence([lib.get("en/welcome-to-queue")]))
    lib.file("/var/prompts/custom.wav")   # any-rate WAV -> 8 kHz Prompt, resampled once, cached

    engine.attach_moh(leg, "default")   # shared stream; "default" = prompts/moh/default.wav
    engine.add_music("ringback-us", Loop(ringback_tone("us")))  # your own shared stream
    engine.attach_moh(leg, "ringback-us")
    engine.detach_moh(leg)
    leg.hearing             # 'playback' | 'music' | 'conference' | 'bridge' | 'nothing'

    conf = engine.conference("call-17")  # N-party minus-one mix; adding unbridges the leg
    conf.add(caller); conf.add(agent)
    conf.add(supervisor, Role.LISTEN)               # hears both, nobody hears them
    conf.set_role(supervisor, Role.WHISPER, whisper_to=agent)   # only the agent hears them
    conf.set_role(supervisor, Role.BARGE)           # all hear all
    await conf.close()      # members hear nothing until you bridge them again

    rec = engine.record([caller, agent], "/var/rec/call-17.wav")   # ch1 caller, ch2 agent
    rec.pause(); rec.resume()   # "pause recording" (silence meanwhile), rec.paused
    path = await rec.stop() # (also stops by itself when one of the legs closes)

Precedence of what a leg hears: a playback, else its music, else its conference, else the
bridged party. A playback ending returns the leg to the music / conference / bridge it had.
For many legs hearing the same thing (music, ringback) use a shared stream: it is encoded
once per tick per law and sent to each leg with that leg's own RTP header.

Behaviour the call layer can rely on:

* Symmetric RTP (RFC 4961, NAT): a leg sends to the source address of the first RTP packet it
  receives after each ``set_remote`` (the SDP address is used until then). Packets from any
  other address are dropped (``stats["foreign_packets"]``) unless they carry the latched
  SSRC (a moved NAT binding re-latches).
* Each leg sends ONE SSRC to its phone for the whole call; sequence numbers continue and
  timestamps follow the wall clock across changes of what it hears (other party's SSRC
  change after a re-INVITE, prompt, music...), with the marker bit on each change.
* A key relayed toward a phone that did not negotiate telephone-event is played to it as
  in-band tones (after the press ends).
* DTMF digits (:class:`media.events.DtmfDigit`: ``digit``, ``source`` rfc4733/inband/info,
  ``duration_ms``, ``at``, ``leg``) are reported once per press, when it ends. RFC 4733 events
  are also relayed to the bridged phone when it negotiated telephone-event (never as audio).
  In-band detection runs only on legs whose phone did not negotiate telephone-event.
* RTCP SR/RR (RFC 3550 §6.4) is sent every 5 s per leg once media flows (checked once a
  second per leg by the clock), to the phone's RTCP source address once it sent one (RFC
  4961), else to the latched RTP address + 1; the phone's reports about our stream feed
  ``remote_loss_fraction`` / ``remote_jitter_ms``.

Decisions taken here (also in the module docstrings):

* Latching: first packet after each ``set_remote`` wins (a re-INVITE with the same SDP
  address keeps media flowing to the latched address meanwhile); other sources are dropped unless
  they carry the latched SSRC (``media.rtp``).
* Jitter tolerance: the relay forwards each packet at once (no buffering: the phones have
  jitter buffers) and keeps a reordered packet's place in the outgoing numbering; the mixer
  and the recorder absorb up to 100 ms of arrival jitter per leg (5 frames).
* A full socket send buffer drops the RTP packet (counted in ``send_errors``): late audio is
  worthless. Comfort noise (PT 13) and payload types not negotiated are not relayed.
* DTMF is reported once per press, at its end; in-band needs 40 ms (ITU-T Q.24 minimum).
* Hold: ``set_hold(True)`` = our side recvonly. Music while the agent holds the caller is
  the call layer's ``attach_moh(caller_leg)`` ("hold music", manual queue-admin §2.5).
* Recording: each channel is what that party said (received RTP), not what the switch
  played to them.
* Supervisors: listeners/whisperers do not hear each other (``media.mixer``).
"""

from media.engine import (
    Conference,
    LegClosed,
    MediaEngine,
    MediaError,
    MediaLeg,
    MusicStream,
    Playback,
    PortRangeExhausted,
    Recording,
)
from media.events import DigitEntry, DtmfDigit, DtmfSource, PlaybackOutcome
from media.g711 import Codec
from media.mixer import Role
from media.player import Loop, Prompt, PromptError, PromptLibrary, PromptSequence

__all__ = [
    "Codec",
    "Conference",
    "DigitEntry",
    "DtmfDigit",
    "DtmfSource",
    "LegClosed",
    "Loop",
    "MediaEngine",
    "MediaError",
    "MediaLeg",
    "MusicStream",
    "Playback",
    "PlaybackOutcome",
    "PortRangeExhausted",
    "Prompt",
    "PromptError",
    "PromptLibrary",
    "PromptSequence",
    "Recording",
    "Role",
]
