"""Worst-case parse time of hostile 64 KB SIP messages, next to a typical INVITE.

`python -m benchmarks.sip_hostile` prints a table and, as its last line, one JSON object.
What it shows: no message anyone can send costs the event loop more than a few ms (before
the parser was made linear, a 60 KB header line without a colon took 14 s, and every call
on the switch stalled meanwhile). Each shape is a REGISTER/INVITE with a readable start
line, Via, From, To, Call-ID and CSeq, so the parser goes all the way through it and
answers 400 (naming the limit it hit) instead of dropping it early.

The shapes (also the worst cases of tests/sip/test_hostile.py):
- long line: one 64 KB header line without a colon;
- many headers: 64 KB of short header lines;
- deep nesting: Contact lines of `<<<...` then as many `"` and `>`, each just under the
  line limit;
- many commas: Contact lines of commas only, each just under the line limit;
- many parameters: Contact lines of `;p` parameters, each just under the line limit;
- blank run: a 64 KB run of blanks inside a line, in a message with a folded line (the
  unfolding used to try each blank as the start of a fold);
- many folds: one header folded into 64 KB of short continuation lines.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from softswitch.sip import SipParseError, parse_message
from softswitch.sip.limits import MAX_LINE_LENGTH, MAX_MESSAGE_SIZE

_HEAD = (
    b"INVITE sip:1002@switch.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-hostile;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: <sip:1002@switch.example.com>\r\n"
    b"From: <sip:1001@switch.example.com>;tag=9f8e7d\r\n"
    b"Call-ID: hostile-1@10.0.0.5\r\n"
    b"CSeq: 1 INVITE\r\n"
)
_TAIL = b"Content-Length: 0\r\n\r\n"

SDP = (
    b"v=0\r\no=- 3921482 3921482 IN IP4 10.0.0.5\r\ns=Zoiper\r\nc=IN IP4 10.0.0.5\r\n"
    b"t=0 0\r\nm=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
    b"a=ptime:20\r\na=sendrecv\r\n"
)
TYPICAL_INVITE = (
    _HEAD
    + b"Contact: <sip:1001@10.0.0.5:5062;transport=UDP>\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Supported: replaces, norefersub, extended-refer, timer, X-cisco-serviceuri\r\n"
    b"User-Agent: Zoiper rv2.10.8.2\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n\r\n" + SDP
)


def _lines(prefix: bytes, unit: bytes, size: int) -> bytes:
    """Header lines `prefix + unit * k`, each just under the line limit, filling `size`."""
    per_line = (MAX_LINE_LENGTH - len(prefix) - 8) // len(unit)
    line = prefix + unit * per_line + b"\r\n"
    room = size - len(_HEAD) - len(_TAIL)
    count, left = divmod(room, len(line))
    out = line * count
    k = (left - len(prefix) - 2) // len(unit)
    if k > 0:
        out += prefix + unit * k + b"\r\n"
    return out


def _one_line(prefix: bytes, fill: bytes, suffix: bytes, size: int) -> bytes:
    room = size - len(_HEAD) - len(_TAIL) - len(prefix) - len(suffix) - 2
    return prefix + fill * (room // len(fill)) + suffix + b"\r\n"


def hostile(shape: str, size: int = MAX_MESSAGE_SIZE) -> bytes:
    """A request of `size` bytes at most (headers readable) in the adversarial `shape`."""
    if shape == "long line":
        middle = _one_line(b"", b"X", b"", size)
    elif shape == "many headers":
        middle = b"X-A: b\r\n" * ((size - len(_HEAD) - len(_TAIL)) // 8)
    elif shape == "deep nesting":
        depth = (MAX_LINE_LENGTH - 32) // 3
        line = b"Contact: " + b"<" * depth + b'"' * depth + b">" * depth + b"\r\n"
        middle = line * ((size - len(_HEAD) - len(_TAIL)) // len(line))
    elif shape == "many commas":
        middle = _lines(b"Contact: ", b",", size)
    elif shape == "many parameters":
        middle = _lines(b"Contact: <sip:1001@10.0.0.5>", b";p", size)
    elif shape == "blank run":
        middle = b"X-F: a\r\n b\r\n" + _one_line(b"Subject: a", b" ", b"b", size - 13)
    elif shape == "many folds":
        middle = b"X-F: a" + b"\r\n a" * ((size - len(_HEAD) - len(_TAIL) - 8) // 4) + b"\r\n"
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return _HEAD + middle + _TAIL


#: the largest UDP payload over IPv4 (65535 - 8 UDP - 20 IP header bytes): a hostile
#: datagram is at most this big
MAX_UDP_PAYLOAD = 65507

SHAPES = ("long line", "many headers", "deep nesting", "many commas", "many parameters",
          "blank run", "many folds")


def outcome(data: bytes) -> str:
    """What the switch does with `data`: `parsed`, `answer <status> <phrase>`, or `drop`."""
    try:
        parse_message(data)
    except SipParseError as exc:
        if exc.request is None:
            return "drop"
        return f"answer {exc.status} {exc.phrase or ''}".rstrip()
    return "parsed"


def parse_us(data: bytes, min_time: float = 0.3) -> float:
    """Best per-parse CPU time (us) over batches of at least `min_time` seconds."""

    def once() -> None:
        try:
            parse_message(data)
        except SipParseError:
            pass

    n = 1
    while True:
        t0 = time.process_time()
        for _ in range(n):
            once()
        spent = time.process_time() - t0
        if spent >= min_time / 5:
            break
        n *= 4
    best = spent / n
    for _ in range(4):
        best = min(best, _batch(once, n) / n)
    return best * 1e6


def _batch(fn: Callable[[], None], n: int) -> float:
    t0 = time.process_time()
    for _ in range(n):
        fn()
    return time.process_time() - t0


def main() -> None:
    rows: list[tuple[str, int, float, str]] = [
        ("typical INVITE + SDP", len(TYPICAL_INVITE), parse_us(TYPICAL_INVITE),
         outcome(TYPICAL_INVITE))
    ]
    for shape in SHAPES:
        data = hostile(shape)
        rows.append((shape, len(data), parse_us(data), outcome(data)))
    print(f"{'message':<22} {'bytes':>6} {'parse us':>10}  outcome")
    for name, size, us, what in rows:
        print(f"{name:<22} {size:>6} {us:>10.1f}  {what}")
    worst = max(us for _, _, us, _ in rows[1:])
    print(f"worst hostile 64 KB message: {worst:.0f} us = {worst / rows[0][2]:.0f} typical "
          "INVITEs")
    result: dict[str, object] = {
        f"{name.replace(' ', '_').replace('+', 'plus')}_us": round(us, 1)
        for name, _, us, _ in rows
    }
    result["worst_hostile_us"] = round(worst, 1)
    result["outcomes"] = {name: what for name, _, _, what in rows}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
