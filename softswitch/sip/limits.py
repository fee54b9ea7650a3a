"""How much one SIP message may contain: every limit of the parsers, in one place.

RFC 3261 sets no limits; a server that parses what anyone on the network sends must, or
one crafted datagram costs it unbounded time or memory (and every call on the event loop
waits meanwhile). The values follow Kamailio's defaults where it has one:

- `MAX_MESSAGE_SIZE`: Kamailio's `BUF_SIZE` (65535), the largest UDP payload; over TCP a
  bigger message is refused with 513 Message Too Large (RFC 3261 §21.5.7).
- `MAX_URI_LENGTH`: Kamailio's `MAX_URI_SIZE` (1024); a longer Request-URI gets 414
  Request-URI Too Long (RFC 3261 §21.4.12).
- `MAX_CONTENT_LENGTH_DIGITS`: Kamailio reads Content-Length into a 32-bit unsigned integer,
  so at most 10 digits; we keep every other number (Max-Forwards, Expires, ports in SDP) to
  the same bound (`MAX_NUMBER_DIGITS`), which also keeps Python's int() away from its
  4300-digit ValueError.
- `MAX_LINE_LENGTH`, `MAX_HEADERS`, `MAX_LIST_ELEMENTS`, `MAX_PARAMS`: Kamailio has no single
  switch for these (its parser is incremental C); ours are sized so that no message a real
  phone, proxy or trunk sends comes near them (a long Record-Route set is ~2 KB and ~10
  elements; phones send ~15 headers of ~6 parameters at most) while one message's work
  stays bounded.

Every parser is also linear in its input (no nested regex quantifiers, no search restarted
from the beginning in a loop, no repeated concatenation), so the limits bound the constant,
not the shape, of the cost. A message over a limit is answered with 400 (or 414 / 513) whose
reason phrase names the limit when its start line, Via, From, To, Call-ID and CSeq can be
read, and dropped otherwise (`SipEndpoint` counts and logs it).
"""

from __future__ import annotations

__all__ = [
    "MAX_MESSAGE_SIZE",
    "MAX_LINE_LENGTH",
    "MAX_HEADERS",
    "MAX_URI_LENGTH",
    "MAX_CONTENT_LENGTH_DIGITS",
    "MAX_NUMBER_DIGITS",
    "MAX_LIST_ELEMENTS",
    "MAX_PARAMS",
    "limit_phrase",
    "small_int",
]

#: bytes in one message, headers and body (Kamailio BUF_SIZE)
MAX_MESSAGE_SIZE = 65535
#: characters in the start line or in one header line after unfolding
MAX_LINE_LENGTH = 8192
#: header lines in one message
MAX_HEADERS = 256
#: characters in a Request-URI (Kamailio MAX_URI_SIZE)
MAX_URI_LENGTH = 1024
#: digits in Content-Length (a 32-bit unsigned value)
MAX_CONTENT_LENGTH_DIGITS = 10
#: digits in any other number the stack converts (Max-Forwards, Expires, SDP ports ...)
MAX_NUMBER_DIGITS = 10
#: comma-separated elements in one header line (Via, Contact, Route, Allow ...)
MAX_LIST_ELEMENTS = 128
#: `;parameters` of one URI or one header value
MAX_PARAMS = 64


def limit_phrase(what: str, limit: int, base: str = "Bad Request") -> str:
    """The reason phrase of an answer to a message over a limit, e.g.
    `Bad Request (over 256 header lines)`: the phone's log then says which limit it hit."""
    return f"{base} (over {limit} {what})"


def small_int(text: str, max_digits: int = MAX_NUMBER_DIGITS) -> int | None:
    """`text` as a non-negative integer when it is 1 to `max_digits` ASCII digits, else
    None. (`str.isdigit()` alone accepts digits such as '²' that int() refuses, and int()
    refuses more than 4300 digits with a ValueError.)"""
    if not text or len(text) > max_digits or not text.isascii() or not text.isdigit():
        return None
    return int(text)
