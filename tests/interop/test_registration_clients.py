"""Every softphone the README names registers on the switch as shipped: config.example.yaml
with only its ports and database moved (benchmarks.peers.switch.build_config), its digest
and brute-force settings untouched. sipp stands in for the desk phones that answer the
first challenge whatever its algorithm (softswitch.sip.auth: MD5 alone by default)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import audio
import pytest
from baresip import Baresip, BaresipAccount, BaresipError
from linphone import Linphone
from phones import Phone
from queue_support import poll_rows

from benchmarks.peers.sipp import Sipp, injection_file
from benchmarks.peers.switch import RunningSwitch

pytestmark = pytest.mark.interop


def registered(switch: RunningSwitch, user: str) -> list[str]:
    """The contacts the switch persisted for `user`."""
    return [r[0] for r in poll_rows(switch.db_path, "SELECT contact FROM registrations "
                                                    f"WHERE aor = '{user}'")]


def test_baresip_registers(switch: RunningSwitch, baresip_factory: Callable[..., Baresip],
                           tmp_path: Path) -> None:
    """baresip 1.0 gives up ("Function not implemented") on any SHA-256 challenge."""
    bs = baresip_factory("bs", audio.tone_wav(tmp_path / "bs.wav", 440, seconds=1),
                         [BaresipAccount("1001", switch.password("1001"), switch.host,
                                         switch.port)])
    assert bs.wait_registered() == {"1001": "OK"}
    assert registered(switch, "1001")


def test_linphone_registers(switch: RunningSwitch, tmp_path: Path) -> None:
    lp = Linphone(tmp_path, "lp", "1002", switch.password("1002"), switch.host,
                  switch.port, switch.domain)
    try:
        assert lp.wait_registration() == "LinphoneRegistrationOk", lp.log()
        assert any(c.startswith("sip:1002@") for c in registered(switch, "1002"))
    finally:
        lp.close()  # linphonec un-registers on quit


def test_pjsua2_registers_over_udp_and_tcp(switch: RunningSwitch,
                                           phone_factory: Callable[..., Phone]) -> None:
    phone = phone_factory("pj")
    assert phone.register("1003", switch.password("1003"), switch.host,
                          switch.sip_port("udp"), transport="udp").ok
    assert phone.register("1001", switch.password("1001"), switch.host,
                          switch.sip_port("tcp"), transport="tcp").ok
    assert registered(switch, "1003") and registered(switch, "1001")


def test_sipp_answering_the_first_challenge_registers(
        switch: RunningSwitch, sipp: Callable[..., Sipp], tmp_path: Path) -> None:
    inf = injection_file(tmp_path / "reg.csv", [("1002", switch.password("1002"),
                                                 switch.domain, "127.0.0.1:7002")])
    res = sipp("register_auth.xml", switch.address, inf=inf, max_calls=1).run(30)
    assert (res.successful, res.failed) == (1, 0), res.output
    assert registered(switch, "1002") == ["sip:1002@127.0.0.1:7002"]


@pytest.mark.switch_config(overrides={"sip": {"auth": {"algorithms": ["SHA-256", "MD5"]}}})
def test_pjsua2_and_linphone_answer_sha256_where_it_is_configured(
        switch: RunningSwitch, phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    phone = phone_factory("pj")
    assert phone.register("1003", switch.password("1003"), switch.host, switch.port).ok
    sent = [line for line in phone.log_path.read_text(errors="replace").splitlines()
            if line.startswith("Authorization:")]
    assert sent and all("algorithm=SHA-256" in line for line in sent), sent
    lp = Linphone(tmp_path, "lp", "1002", switch.password("1002"), switch.host,
                  switch.port, switch.domain)
    try:
        assert lp.wait_registration() == "LinphoneRegistrationOk", lp.log()
        assert "algorithm=SHA-256, username=\"1002\"" in lp.log(100_000)
    finally:
        lp.close()


@pytest.mark.switch_config(overrides={"sip": {"brute_force": {"max_failures": 2}}})
def test_a_softphone_retrying_a_wrong_password_does_not_lock_out_the_host(
        switch: RunningSwitch, baresip_factory: Callable[..., Baresip],
        tmp_path: Path) -> None:
    """Loopback is a trusted network by default: however often a local baresip fails,
    the next phone on this host still registers (the ban once lasted 10 minutes)."""
    tone = audio.tone_wav(tmp_path / "tone.wav", 440, seconds=1)
    wrong = baresip_factory("wrong", tone, [BaresipAccount("1001", "not-the-password",
                                                           switch.host, switch.port)])
    with pytest.raises(BaresipError, match="registration failed"):
        wrong.wait_registered()
    wrong.close()
    assert len(switch.events("authentication failed")) >= 2
    right = baresip_factory("right", tone, [BaresipAccount("1001", switch.password("1001"),
                                                           switch.host, switch.port)])
    assert right.wait_registered() == {"1001": "OK"}
    assert not switch.events("address banned")
