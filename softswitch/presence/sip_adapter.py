"""Conversions between SIP messages of `softswitch.sip` and the notifier's plain data.

Pure functions (no I/O): the switch's SUBSCRIBE handler calls `subscribe_request()`, feeds
the notifier, answers with `subscribe_response()`, creates the UAS `Dialog` from that 2xx,
and sends each `Notify` as `notify_request(dialog, notify)`.
"""

from __future__ import annotations

from softswitch.sip import Address, Request, Response, SipParseError
from softswitch.sip.dialog import Dialog
from softswitch.sip.uri import unquote

from .subscriptions import Notify, SubscribeRequest, SubscribeResponse


def subscribe_request(request: Request, subscriber: str) -> SubscribeRequest:
    """The notifier's view of a SUBSCRIBE authenticated as `subscriber`. Raises
    SipParseError (answer 400) for a missing Event header (RFC 6665 §8.2.1 makes it
    mandatory) or a malformed Expires."""
    event = request.get("Event")
    if event is None or not event.strip():
        raise SipParseError("SUBSCRIBE without Event header")
    accept = tuple(request.get_all("Accept")) if request.has("Accept") else None
    user = request.uri.user or ""
    return SubscribeRequest(
        call_id=request.call_id,
        from_tag=request.from_.tag or "",
        to_tag=request.to.tag,
        event=event.strip(),
        resource=unquote(user) if "%" in user else user,
        subscriber=subscriber,
        accept=accept,
        expires=request.expires,
    )


def subscribe_response(request: Request, answer: SubscribeResponse,
                       contact: Address | str) -> Response:
    """The SIP response to `request`; a 2xx carries our Contact (it creates the dialog,
    RFC 6665 §4.2.1.1) and the To-tag the notifier chose."""
    headers: list[tuple[str, str]] = list(answer.headers.items())
    if 200 <= answer.status < 300:
        headers.append(("Contact", str(contact)))
    return request.create_response(answer.status, answer.reason, to_tag=answer.to_tag,
                                   headers=headers)


def notify_request(dialog: Dialog, notify: Notify) -> Request:
    """The NOTIFY inside the subscription's dialog (RFC 6665 §4.2.2, §8.2.3)."""
    headers = [(name, value) for name, value in notify.headers.items()
               if name != "Content-Type"]
    return dialog.create_request("NOTIFY", body=notify.body,
                                 content_type=notify.headers.get("Content-Type"),
                                 headers=headers)
