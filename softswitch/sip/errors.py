"""Errors of the SIP stack."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .message import Request

__all__ = ["SipParseError"]


class SipParseError(ValueError):
    """A SIP message (or a header value inside one) is malformed.

    `reason` says what is wrong in words fit for a Warning header / log line. When the
    message was a request whose Via, From, To, Call-ID and CSeq still parsed, `request` holds
    it so the transport shell can answer `status` (400, or 505 for a wrong SIP version,
    RFC 3261 §8.2 / RFC 4475 §3.1.2); otherwise `request` is None and the message is dropped.
    `phrase`, when set, is the reason phrase of that answer (a message over one of the
    limits of `softswitch.sip.limits` names the limit there).
    """

    def __init__(self, reason: str, request: Request | None = None, status: int = 400,
                 phrase: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.request = request
        self.status = status
        self.phrase = phrase
