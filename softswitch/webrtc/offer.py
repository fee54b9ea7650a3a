"""The sans-IO rules of a widget call: the visitor's SDP offer, the per-channel slots.

Decisions:

* The offer arrives whole (non-trickle: the browser has gathered its candidates) in one
  ``call`` frame of the visitor's websocket, at most ``OFFER_MAX`` characters (the frame
  limit of the Live Chat socket is raised to that size for ``call`` frames only). It must be
  an SDP session (``v=0``) with an audio section that offers PCMU or PCMA (static payload
  types 0/8, or an rtpmap naming them), ICE credentials and a DTLS fingerprint: anything
  else is refused with ``bad_offer`` before aiortc sees it, so a hostile offer never reaches
  the WebRTC stack's parser with more than a line-level shape check done.
* The answer offers PCMU and PCMA only (the media engine's laws: no transcoding beyond
  G.711); an offer without them is refused rather than answered with no audio.
* ``max_concurrent_calls`` counts the calls of one channel from the visitor's ``call`` frame
  until the call ends (ringing ones included): a call beyond it is refused (``call_busy``)
  with a message for the visitor.
"""

from __future__ import annotations

import re

OFFER_MAX = 32 * 1024
LINE_MAX = 4096
G711 = re.compile(r"^a=rtpmap:(\d+) (PCMU|PCMA)/8000", re.IGNORECASE)


class OfferError(ValueError):
    """A refused offer; ``str(exc)`` is the message for the visitor."""


def check_offer(sdp: object) -> str:
    """The offer's text, normalised to CRLF lines; OfferError when it is not one we take."""
    if not isinstance(sdp, str) or not sdp.strip():
        raise OfferError("the call needs an SDP offer")
    if len(sdp) > OFFER_MAX:
        raise OfferError(f"the offer is larger than {OFFER_MAX} characters")
    lines = [line.rstrip("\r") for line in sdp.strip().split("\n")]
    if lines[0] != "v=0":
        raise OfferError("not an SDP offer (v=0 first)")
    audio = False
    g711 = False
    ufrag = pwd = fingerprint = False
    for line in lines:
        if len(line) > LINE_MAX or len(line) < 2 or line[1] != "=" or \
                any(ord(c) < 32 for c in line):
            raise OfferError("the offer has a malformed line")
        if line.startswith("m=audio "):
            parts = line.split()
            if len(parts) < 4:
                raise OfferError("the offer has a malformed audio line")
            audio = True
            if "0" in parts[3:] or "8" in parts[3:]:
                g711 = True
        elif G711.match(line):
            g711 = True
        elif line.startswith("a=ice-ufrag:"):
            ufrag = True
        elif line.startswith("a=ice-pwd:"):
            pwd = True
        elif line.startswith("a=fingerprint:"):
            fingerprint = True
    if not audio:
        raise OfferError("the offer has no audio")
    if not g711:
        raise OfferError("the offer has neither PCMU nor PCMA")
    if not (ufrag and pwd and fingerprint):
        raise OfferError("the offer lacks ICE credentials or a DTLS fingerprint")
    return "\r\n".join(lines) + "\r\n"


class CallSlots:
    """The calls in progress per channel, at most ``limit`` each."""

    def __init__(self) -> None:
        self._active: dict[str, set[object]] = {}

    def take(self, channel: str, limit: int, call: object) -> bool:
        calls = self._active.setdefault(channel, set())
        if len(calls) >= limit:
            return False
        calls.add(call)
        return True

    def release(self, channel: str, call: object) -> None:
        self._active.get(channel, set()).discard(call)

    def count(self, channel: str) -> int:
        return len(self._active.get(channel, ()))
