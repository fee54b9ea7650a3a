"""The switch's registrar driven by clients nobody here wrote: sipp and pjsua2 (RFC 3261 §10,
digest auth, brute-force guard)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from phones import Phone

from benchmarks.peers.net import free_port
from benchmarks.peers.sipp import Sipp, injection_file
from benchmarks.peers.switch import Extension, RunningSwitch

pytestmark = pytest.mark.interop

USERS = [(f"30{i:02d}", f"user-{i}-secret") for i in range(20)]
EXTENSIONS = [Extension(u, p) for u, p in USERS]
# sipp only computes MD5 digests and answers the first challenge it sees, so the tests that
# drive sipp have the switch offer MD5 alone (the default too; SHA-256 offered first is
# tested with pjsua2 and linphone in test_registration_clients.py).
MD5_ONLY = {"sip": {"auth": {"algorithms": ["MD5"]}}}


def registrations(switch: RunningSwitch, timeout: float = 5.0, want: int | None = None
                  ) -> list[tuple[str, str]]:
    """The registrations table as the switch persisted it (WAL: readable while it runs)."""
    deadline = time.monotonic() + timeout
    while True:
        con = sqlite3.connect(switch.db_path)
        try:
            rows = con.execute("SELECT aor, contact FROM registrations ORDER BY aor").fetchall()
        finally:
            con.close()
        if want is None or len(rows) == want or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)  # the writer task commits in batches; poll the file


@pytest.mark.switch_config(extensions=EXTENSIONS, overrides=MD5_ONLY)
def test_sipp_registers_twenty_extensions_with_digest_auth(
        switch: RunningSwitch, sipp: Callable[..., Sipp], tmp_path: Path) -> None:
    inf = injection_file(tmp_path / "reg.csv",
                         [(u, p, switch.domain, f"127.0.0.1:{7000 + i}")
                          for i, (u, p) in enumerate(USERS)])
    res = sipp("register_auth.xml", switch.address, inf=inf, rate=100,
               max_calls=len(USERS)).run(30)
    assert (res.successful, res.failed) == (len(USERS), 0), res.output
    rows = registrations(switch, want=len(USERS))
    assert rows == [(u, f"sip:{u}@127.0.0.1:{7000 + i}") for i, (u, _) in enumerate(USERS)]


@pytest.mark.switch_config(extensions=EXTENSIONS, overrides=MD5_ONLY)
def test_sipp_wrong_passwords_never_register(
        switch: RunningSwitch, sipp: Callable[..., Sipp], tmp_path: Path) -> None:
    inf = injection_file(tmp_path / "bad.csv",
                         [(u, "wrong-" + p, switch.domain, "127.0.0.1:7000") for u, p in USERS])
    res = sipp("register_auth.xml", switch.address, inf=inf, rate=50, max_calls=5,
               recv_timeout_ms=2000).run(30)
    assert (res.successful, res.failed) == (0, 5), res.output
    assert registrations(switch) == []
    assert len(switch.events("authentication failed")) >= 5


@pytest.mark.switch_config(extensions=EXTENSIONS, overrides={"sip": {
    "auth": {"algorithms": ["MD5"]}, "trusted_networks": [],  # loopback is not trusted here
    "brute_force": {"max_failures": 20, "window": 60, "ban_time": 300}}})
def test_twenty_failures_in_a_minute_ban_the_address(
        switch: RunningSwitch, sipp: Callable[..., Sipp], phone_factory: Callable[..., Phone],
        tmp_path: Path) -> None:
    inf = injection_file(tmp_path / "bad.csv",
                         [(u, "guess-" + p, switch.domain, "127.0.0.1:7000") for u, p in USERS])
    res = sipp("register_auth.xml", switch.address, inf=inf, rate=50, max_calls=20,
               recv_timeout_ms=2000).run(60)
    assert res.successful == 0, res.output
    assert switch.events("address banned"), switch.output()[-3000:]
    # the ban holds for everyone at that address, right password or not
    phone = phone_factory("honest")
    reg = phone.register(USERS[0][0], USERS[0][1], switch.host, switch.port)
    assert not reg.ok and reg.code == 403
    assert registrations(switch) == []


@pytest.mark.switch_config(extensions=EXTENSIONS)
def test_pjsua2_registers_over_udp_and_tcp_then_unregisters(
        switch: RunningSwitch, phone_factory: Callable[..., Phone]) -> None:
    phone = phone_factory("alice")
    (u1, p1), (u2, p2) = USERS[0], USERS[1]
    assert phone.register(u1, p1, switch.host, switch.sip_port("udp"), transport="udp").ok
    assert phone.register(u2, p2, switch.host, switch.sip_port("tcp"), transport="tcp").ok
    rows = registrations(switch, want=2)
    assert [r[0] for r in rows] == [u1, u2]
    bad = phone.register(USERS[2][0], "not-the-password", switch.host, switch.port)
    assert bad.code in (401, 403) and not bad.ok
    assert phone.unregister(u1).code == 200
    assert [r[0] for r in registrations(switch, want=1)] == [u2]


@pytest.mark.switch_config(extensions=EXTENSIONS, overrides=MD5_ONLY)
def test_tcp_phone_whose_connection_closed_is_called_at_its_contact(
        switch: RunningSwitch, sipp: Callable[..., Sipp], phone_factory: Callable[..., Phone],
        tmp_path: Path) -> None:
    """A phone registered over TCP, then that connection closed (here: sipp's REGISTER run
    ended; in life a network blip or an idle timeout). A call to it does not fail with 503
    on the dead source port: the switch opens a new TCP connection to the Contact, where
    the phone (a sipp UAS over TCP) listens, and the call is answered and ended normally."""
    listen = free_port()
    phone = sipp("uas.xml", None, local_port=listen, transport="t1", trace_msg=True).start()
    user, password = USERS[0]
    inf = injection_file(tmp_path / "reg-tcp.csv",
                         [(user, password, switch.domain, f"127.0.0.1:{listen}")])
    res = sipp("register_auth.xml", switch.address, inf=inf, rate=10, max_calls=1,
               transport="t1").run(30)
    assert (res.successful, res.failed) == (1, 0), res.output
    caller = phone_factory("caller")
    assert caller.register(*USERS[1], switch.host, switch.sip_port()).code == 200
    call = caller.call(f"sip:{user}@{switch.host}:{switch.sip_port()}")
    assert caller.wait_call_state(call, "CONFIRMED", timeout=10)
    caller.hangup(call)
    caller.wait_call_state(call, "DISCONNECTED")
    deadline = time.monotonic() + 5
    while "BYE sip:" not in phone.messages() and time.monotonic() < deadline:
        time.sleep(0.05)  # the caller's BYE is answered before the callee's is sent
    seen = phone.messages()
    assert "TCP message received" in seen and f"INVITE sip:{user}@127.0.0.1:{listen}" in seen
    assert "BYE sip:" in seen
