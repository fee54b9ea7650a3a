"""Helpers of the call-shell tests: a switch in the test's loop, a phone's INVITE and its
in-dialog requests over UDP on loopback."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import switchproc
import yaml
from sipua import SipUA, digest_authorization, parse_challenge, sdp

from softswitch.app import Switch
from softswitch.config import parse_config
from softswitch.sip import Response


def rtp_socket() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    return s


async def start_switch(tmp_path: Path, **extra: Any) -> Switch:
    raw = switchproc.base_config(tmp_path)
    raw.update(extra)
    switch = Switch(parse_config(yaml.safe_dump(raw), "c.yaml", tmp_path))
    await switch.start()
    return switch


def udp(switch: Switch) -> tuple[str, int]:
    host, port = switch.sip_addresses[0].split(":")[1:]
    return host, int(port)


async def dial(ua: SipUA, number: str, call_id: str, rtp: socket.socket, *,
               authenticate: bool = True, offer: bool = True) -> Response:
    """INVITE `number` (answering the 407 when asked); the final response, ACKed (with
    our answer when `offer` is False: a late offer, RFC 3261 §13.2.1)."""
    uri = f"sip:{number}@127.0.0.1"
    ua.call_id = call_id
    body = sdp(rtp.getsockname()[1]) if offer else b""
    ua.send_raw(ua.build("INVITE", uri, to=f"<{uri}>", body=body))
    resp = await ua.response()
    if authenticate and resp.status == 407:
        ua.send_raw(ua.build("ACK", uri, to=f"<{uri}>;tag={resp.to.tag}", cseq=ua.cseq,
                             branch=resp.via.branch, with_contact=False))
        auth = digest_authorization(parse_challenge(resp.get_all("Proxy-Authenticate")[-1]),
                                    "INVITE", uri, ua.user, ua.password)
        ua.send_raw(ua.build("INVITE", uri, to=f"<{uri}>", body=body,
                             headers=[f"Proxy-Authorization: {auth}"]))
        resp = await ua.response()
    ua.invite_uri = uri  # type: ignore[attr-defined]
    if resp.status == 200:
        ua.send_raw(ua.build("ACK", str(resp.contacts[0].uri), to=f"<{uri}>;tag={resp.to.tag}",
                             cseq=ua.cseq, with_contact=False,
                             body=b"" if offer else sdp(rtp.getsockname()[1], "0 101")))
    return resp


def in_dialog(ua: SipUA, ok: Response, method: str, body: bytes = b"",
              content_type: str = "application/sdp") -> bytes:
    return ua.build(method, str(ok.contacts[0].uri),
                    to=f"<{ua.invite_uri}>;tag={ok.to.tag}",  # type: ignore[attr-defined]
                    body=body, content_type=content_type)
