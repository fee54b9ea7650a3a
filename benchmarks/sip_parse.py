"""Per-message cost of the SIP stack on one core: parse, serialise, one transaction round,
digest verification; with `sipmessage` (the library the issue suggested) as the peer.

`python -m benchmarks.sip_parse` prints a table and, as its last line, one JSON object.
What it shows: whether the message layer can carry >= 1,000 REGISTER/s with auth and >= 200
B2BUA calls/s (~14 messages each) inside one core's budget for the whole process.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import structlog

from softswitch.sip import (
    DigestAuthenticator,
    Peer,
    Request,
    RequestReceived,
    SendMessage,
    TransactionLayer,
    parse_message,
)
from softswitch.sip.auth import compute_ha1, compute_response
from softswitch.sip.headers import parse_auth_params

REGISTER = (
    b"REGISTER sip:switch.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-524287-1---a7a6f3c1;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"Contact: <sip:1001@10.0.0.5:5062;rinstance=8a1b>;expires=3600\r\n"
    b"To: <sip:1001@switch.example.com>\r\n"
    b"From: <sip:1001@switch.example.com>;tag=4d1a2f6b\r\n"
    b"Call-ID: OWRiZjQ5YmYyZTJmNzAyN2E4ZTk3NjQ0MjZhNmY2Yzg\r\n"
    b"CSeq: 2 REGISTER\r\n"
    b"Expires: 3600\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n"
    b"User-Agent: Zoiper rv2.10.8.2\r\n"
    b"Allow-Events: presence, kpml, talk\r\n"
    b"Content-Length: 0\r\n\r\n"
)

SDP = (
    b"v=0\r\no=- 3921482 3921482 IN IP4 10.0.0.5\r\ns=Zoiper\r\nc=IN IP4 10.0.0.5\r\n"
    b"t=0 0\r\nm=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
    b"a=ptime:20\r\na=sendrecv\r\n"
)
INVITE = (
    b"INVITE sip:1002@switch.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-524287-1---77aa11;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"Contact: <sip:1001@10.0.0.5:5062;transport=UDP>\r\n"
    b"To: <sip:1002@switch.example.com>\r\n"
    b"From: \"Alice\" <sip:1001@switch.example.com>;tag=9f8e7d\r\n"
    b"Call-ID: YjA1ZTk0YzM0NjA4ZTFiNmE0ZDU3OWM2NTQ0ZTg3OTE\r\n"
    b"CSeq: 2 INVITE\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Supported: replaces, norefersub, extended-refer, timer, X-cisco-serviceuri\r\n"
    b"User-Agent: Zoiper rv2.10.8.2\r\n"
    b"Allow-Events: presence, kpml, talk\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n\r\n" + SDP
)
OK = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK0123456789abcdef;rport=5060\r\n"
    b"From: <sip:1001@switch.example.com>;tag=aa11\r\n"
    b"To: <sip:1002@switch.example.com>;tag=bb22\r\n"
    b"Call-ID: 0123456789abcdef0123\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:1002@10.0.0.6:5070>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n\r\n" + SDP
)


def per_call_us(fn: Callable[[], object], n: int, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, time.process_time() - t0)
    return best / n * 1e6


def ours_parse_read_serialise(data: bytes) -> Callable[[], object]:
    def run() -> object:
        m = parse_message(data)
        _ = (m.via.branch, m.from_.tag, m.to.tag, m.call_id, m.cseq.number, m.contacts)
        return bytes(m)

    return run


def sipmessage_parse_read_serialise(data: bytes) -> Callable[[], object]:
    from sipmessage import Message

    def run() -> object:
        m = Message.parse(data)
        _ = (m.via, m.from_address, m.to_address, m.call_id, m.cseq, m.contact)
        return bytes(m)

    return run


def transaction_round() -> Callable[[], object]:
    """REGISTER in -> server transaction -> 200 out (what the registrar path costs in the
    stack, without the registrar itself): parse, match, stamp Via, respond, serialise."""
    layer = TransactionLayer()
    peer = Peer("udp", "10.0.0.5", 5062)
    counter = iter(range(10**9))

    def run() -> object:
        data = REGISTER.replace(b"a7a6f3c1", str(next(counter)).encode().rjust(8, b"0"))
        layer.receive(parse_message(data), peer, 0.0)
        out = layer.pop_outputs()
        ev = out[0]
        assert isinstance(ev, RequestReceived)
        layer.send_response(ev.transaction, ev.request.create_response(200, to_tag="t1"), 0.0)
        for o in layer.pop_outputs():
            if isinstance(o, SendMessage):
                bytes(o.message)
        return None

    return run


def digest_verify(algorithm: str) -> Callable[[], object]:
    realm = "switch.example.com"
    auth = DigestAuthenticator(realm, {"1001": "s3cret"}.get, algorithms=(algorithm,))
    req = parse_message(REGISTER)
    assert isinstance(req, Request)
    challenge = auth.challenge(req, 0.0)
    nonce = parse_auth_params(challenge.get_all("WWW-Authenticate")[0])[1]["nonce"]
    ha1 = compute_ha1(algorithm, "1001", realm, "s3cret")
    nc = iter(range(1, 10**9))

    def run() -> object:
        n = f"{next(nc):08x}"
        resp = compute_response(algorithm, ha1, nonce, "REGISTER", "sip:switch.example.com",
                                qop="auth", nc=n, cnonce="abc")
        req.set("Authorization",
                f'Digest username="1001", realm="{realm}", nonce="{nonce}", '
                f'uri="sip:switch.example.com", response="{resp}", algorithm={algorithm}, '
                f'qop=auth, nc={n}, cnonce="abc"')
        result = auth.verify(req, 1.0)
        assert result.ok, result
        return result

    return run


def main() -> None:
    # As in the running switch (softswitch/log.py): debug lines are filtered out.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
                        cache_logger_on_first_use=True)
    n = 3000
    rows: list[tuple[str, float]] = []
    results: dict[str, float] = {}
    for name, data in (("REGISTER", REGISTER), ("INVITE+SDP", INVITE), ("200 OK+SDP", OK)):
        ours = per_call_us(ours_parse_read_serialise(data), n)
        theirs = per_call_us(sipmessage_parse_read_serialise(data), n)
        parse_only = per_call_us(lambda d=data: parse_message(d), n)  # type: ignore[misc]
        rows += [(f"{name}: ours parse", parse_only),
                 (f"{name}: ours parse+read core headers+serialise", ours),
                 (f"{name}: sipmessage parse+read+serialise", theirs)]
        key = name.split(":")[0].split("+")[0].split(" ")[0].lower()
        results[f"{key}_parse_serialise_us"] = round(ours, 2)
        results[f"{key}_sipmessage_parse_serialise_us"] = round(theirs, 2)
    txn = per_call_us(transaction_round(), n)
    rows.append(("REGISTER transaction round (parse, match, 200, serialise)", txn))
    results["register_transaction_round_us"] = round(txn, 2)
    for alg in ("SHA-256", "MD5"):
        v = per_call_us(digest_verify(alg), n)
        rows.append((f"digest verify {alg} (incl. header parse)", v))
        results[f"digest_verify_{alg.lower().replace('-', '')}_us"] = round(v, 2)
    # Budget: a REGISTER with auth is two transactions (401 challenge, then 200): two rounds
    # plus one digest verification.
    reg_cost = 2 * txn + results["digest_verify_sha256_us"]
    results["stack_register_with_auth_us"] = round(reg_cost, 1)
    results["stack_register_with_auth_per_s_one_core"] = round(1e6 / reg_cost)
    results["vs_sipmessage_register"] = round(
        results["register_sipmessage_parse_serialise_us"] / results["register_parse_serialise_us"],
        2,
    )
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  us/op")
    for name, us in rows:
        print(f"{name.ljust(width)}  {us:8.2f}")
    print(f"{'stack cost of one REGISTER with auth (2 rounds + verify)'.ljust(width)}  "
          f"{reg_cost:8.2f}  -> {1e6 / reg_cost:,.0f}/s on one core (stack only)")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
