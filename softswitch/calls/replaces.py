"""What a transfer or a pickup names: the Refer-To of a REFER (RFC 3515 §2.1) and the
Replaces header (RFC 3891), in Refer-To's URI headers or on an INVITE.

`parse_refer_to(value)` gives the target (the user part the switch routes, e.g. "1003" or a
park slot) and, for an attended transfer, the `Replaces` it carries (the dialog the
transferor holds with the transfer target, as the transferor sees it). `parse_replaces`
reads RFC 3891 §6.1: `call-id;to-tag=...;from-tag=...[;early-only]`.

Decisions:
- A Refer-To with any URI header other than Replaces keeps the target and ignores the rest
  (RFC 3515 lets us; phones send none).
- Malformed values raise `TransferError`, which the shell answers with 400 and a reason.
- Parsing is linear in the value: one `partition` per parameter, no backtracking.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from softswitch.sip import Address, SipParseError

MAX_VALUE = 2048


class TransferError(ValueError):
    """A Refer-To or Replaces value the switch cannot act on (answered 400)."""


@dataclass(frozen=True, slots=True)
class Replaces:
    """RFC 3891: the dialog to replace, named from the side of the request's sender's peer:
    `to_tag` is the tag of the side that receives the INVITE/REFER target, `from_tag` the
    other one."""

    call_id: str
    to_tag: str
    from_tag: str
    early_only: bool = False


@dataclass(frozen=True, slots=True)
class ReferTarget:
    user: str
    host: str
    replaces: Replaces | None = None


def parse_replaces(value: str) -> Replaces:
    if len(value) > MAX_VALUE:
        raise TransferError("Replaces too long")
    call_id, *params = (p.strip() for p in value.split(";"))
    if not call_id:
        raise TransferError("Replaces without a Call-ID")
    to_tag = from_tag = None
    early = False
    for param in params:
        name, _, val = param.partition("=")
        name = name.strip().lower()
        if name == "to-tag":
            to_tag = val.strip()
        elif name == "from-tag":
            from_tag = val.strip()
        elif name == "early-only":
            early = True
    if not to_tag or not from_tag:
        raise TransferError("Replaces needs to-tag and from-tag")
    return Replaces(call_id, to_tag, from_tag, early)


def parse_refer_to(value: str) -> ReferTarget:
    if len(value) > MAX_VALUE:
        raise TransferError("Refer-To too long")
    try:
        address = Address.parse(value)
    except SipParseError as exc:
        raise TransferError(f"bad Refer-To: {exc}") from exc
    uri = address.uri
    user = getattr(uri, "user", None)
    host = getattr(uri, "host", None)
    if not user or not host:
        raise TransferError("Refer-To names no user")
    replaces = None
    headers = getattr(uri, "headers", None)
    if headers:
        for header in headers.split("&"):
            name, _, val = header.partition("=")
            if name.strip().lower() == "replaces":
                replaces = parse_replaces(unquote(val))
    return ReferTarget(unquote(str(user)), str(host), replaces)


def sipfrag(status: int, reason: str) -> bytes:
    """The message/sipfrag body of a REFER's NOTIFY (RFC 3515 §2.4.5)."""
    return f"SIP/2.0 {status} {reason}\r\n".encode()
