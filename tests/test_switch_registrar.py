"""The registrar of a running switch process over real UDP/TCP sockets (RFC 3261 §10)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import switchproc
from sipua import SipUA


@pytest.fixture
async def switch(tmp_path: Path) -> AsyncIterator[switchproc.SwitchProcess]:
    cfg = switchproc.base_config(tmp_path, registrar={"min_expires": 60, "max_expires": 3600,
                                                      "default_expires": 600},
                                 brute_force={"max_failures": 5, "window": 60,
                                              "ban_time": 600},
                                 trusted_networks=[])  # loopback can be banned here
    proc = switchproc.start(tmp_path, cfg)
    yield proc
    assert proc.stop() == 0


async def ua(switch: switchproc.SwitchProcess, user: str = "1001",
             password: str | None = None) -> SipUA:
    return await SipUA(user, password or f"pw-{user}", switch.udp).start()


async def test_register_challenge_then_200_with_contact_and_expires(switch) -> None:
    phone = await ua(switch)
    phone.send_raw(phone.build("REGISTER", "sip:127.0.0.1", headers=["Expires: 300"]))
    challenge = await phone.response()
    assert challenge.status == 401
    # MD5 alone by default (softswitch.sip.auth: what every phone can answer)
    assert [v.split("algorithm=")[1].split(",")[0]
            for v in challenge.get_all("WWW-Authenticate")] == ["MD5"]
    resp = await phone.register(expires=300)
    assert resp.status == 200
    (contact,) = resp.get_all("Contact")
    assert phone.contact.strip("<>") in contact and "expires=300" in contact


async def test_wrong_password_never_registers(switch) -> None:
    phone = await ua(switch, password="wrong")
    resp = await phone.register()
    assert resp.status == 401  # challenged again, not registered
    # querying with the right password shows no binding
    good = await ua(switch)
    good.call_id = "query"
    resp = await good.request("REGISTER", "sip:127.0.0.1", with_contact=False)
    assert resp.status == 200 and resp.get_all("Contact") == []


async def test_interval_too_brief_and_max_cap(switch) -> None:
    phone = await ua(switch)
    resp = await phone.register(expires=10)
    assert resp.status == 423 and resp.get("Min-Expires") == "60"
    resp = await phone.register(expires=99999)
    assert resp.status == 200 and "expires=3600" in resp.get_all("Contact")[0]


async def test_multiple_contacts_unregister_and_wildcard(switch) -> None:
    desk, soft = await ua(switch), await ua(switch)
    assert (await desk.register()).status == 200
    resp = await soft.register()
    assert len(resp.get_all("Contact")) == 2
    resp = await soft.register(expires=0)
    assert [c for c in resp.get_all("Contact")] == [f"{desk.contact};expires=600"] or \
        len(resp.get_all("Contact")) == 1
    resp = await desk.request("REGISTER", "sip:127.0.0.1", with_contact=False,
                              headers=["Expires: 0", "Contact: *"])
    assert resp.status == 200 and resp.get_all("Contact") == []


async def test_cannot_register_someone_elses_extension(switch) -> None:
    phone = await ua(switch)
    resp = await phone.request("REGISTER", "sip:127.0.0.1", to="<sip:1002@127.0.0.1>",
                               headers=["Expires: 600"])
    assert resp.status == 403


async def test_options_keepalive_answered(switch) -> None:
    phone = await ua(switch)
    resp = await phone.request("OPTIONS", "sip:127.0.0.1", auth=False)
    assert resp.status == 200 and "INVITE" in (resp.get("Allow") or "")


async def test_nat_source_address_recorded_and_persisted_across_restart(
        tmp_path: Path, switch) -> None:
    phone = await ua(switch)
    # the phone claims a private Contact address; the switch must record where it really is
    phone.contact_uri = "sip:1001@10.9.8.7:5060"
    resp = await phone.register()
    assert resp.status == 200
    assert switch.stop() == 0
    rows = sqlite3.connect(tmp_path / "switch.sqlite3").execute(
        "SELECT aor, contact, received_host, received_port, transport FROM registrations"
    ).fetchall()
    assert rows == [("1001", "sip:1001@10.9.8.7:5060", "127.0.0.1", phone.local[1], "udp")]
    # restart on the same database: the binding is still there
    again = switchproc.start(tmp_path, switchproc.base_config(tmp_path), name="again")
    try:
        assert again.ready["registrations"] == 1
        q = await ua(again)
        q.call_id = "query2"
        resp = await q.request("REGISTER", "sip:127.0.0.1", with_contact=False)
        assert resp.get_all("Contact")[0].startswith("<sip:1001@10.9.8.7:5060>")
    finally:
        assert again.stop() == 0


async def test_register_over_tcp(switch) -> None:
    reader, writer = await asyncio.open_connection(*switch.tcp)
    local = writer.get_extra_info("sockname")
    phone = SipUA("1001", "pw-1001", switch.tcp)
    phone.local = local
    msg = phone.build("REGISTER", "sip:127.0.0.1", headers=["Expires: 600"]).replace(
        b"SIP/2.0/UDP", b"SIP/2.0/TCP")
    writer.write(msg)
    await writer.drain()
    data = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert data.startswith(b"SIP/2.0 401")
    writer.close()


async def test_brute_force_ban(switch) -> None:
    attacker = await ua(switch, password="guess")
    for _ in range(5):
        resp = await attacker.register()
        assert resp.status in (401, 403)
    # banned: even the right password from this address is refused now
    honest = await ua(switch)
    resp = await honest.register()
    assert resp.status == 403
    assert switch.events("address banned")


async def test_credentials_from_before_a_restart_are_stale_not_failures(switch) -> None:
    """Phones that resend their last credentials unasked (linphone does) after the switch
    restarted (new nonce secret) get `stale=true` and are never banned for it."""
    from sipua import digest_authorization

    from softswitch.sip import DigestAuthenticator

    before_restart = DigestAuthenticator("127.0.0.1", {}.get).make_nonce(0.0)
    challenge = {"realm": "127.0.0.1", "nonce": before_restart, "algorithm": "MD5",
                 "qop": "auth"}
    auth = digest_authorization(challenge, "REGISTER", "sip:127.0.0.1", "1001", "pw-1001")
    phone = await ua(switch)
    for _ in range(6):  # more than brute_force.max_failures
        resp = await phone.request("REGISTER", "sip:127.0.0.1", auth=False,
                                   headers=["Expires: 600", f"Authorization: {auth}"])
        assert resp.status == 401
        assert "stale=true" in resp.get_all("WWW-Authenticate")[0]
    assert not switch.events("authentication failed")
    assert (await phone.register()).status == 200


async def test_digest_uri_must_name_the_request_uri_host(switch) -> None:
    """softswitch.sip.auth accepts the Request-URI's scheme and host (sipp sends the
    switch's host:port); credentials computed for another host never register."""
    from sipua import digest_authorization, parse_challenge

    host, port = switch.udp
    for digest_uri, expected in ((f"sip:{host}:{port}", 200), ("sip:other.example.com", 401),
                                 ("sip:127.0.0.2", 401)):
        phone = await ua(switch)
        phone.send_raw(phone.build("REGISTER", "sip:127.0.0.1", headers=["Expires: 600"]))
        challenge = parse_challenge((await phone.response()).get_all("WWW-Authenticate")[-1])
        auth = digest_authorization(challenge, "REGISTER", digest_uri, "1001", "pw-1001")
        resp = await phone.request("REGISTER", "sip:127.0.0.1", auth=False,
                                   headers=["Expires: 600", f"Authorization: {auth}"])
        assert resp.status == expected, digest_uri


async def test_required_extension_we_do_not_support_gets_420(switch) -> None:
    phone = await ua(switch)
    resp = await phone.request("OPTIONS", "sip:127.0.0.1", auth=False,
                               headers=["Require: 100rel, foo"])
    assert resp.status == 420 and resp.get("Unsupported") == "100rel, foo"
