"""Self-tests of the interop harness against peers nobody here wrote (Kamailio as registrar
and proxy, Sippy B2BUA, sipp, pjsua2, baresip). They prove that the tools the switch's interop
tests rely on really register, call, cancel, hang up and carry audio, so a failure in a
switch test points at the switch and not at the harness."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks.peers.kamailio import Kamailio
from benchmarks.peers.net import free_port
from benchmarks.peers.sipp import Sipp, injection_file

pytestmark = pytest.mark.interop

CALLERS = [(f"10{i:02d}", f"caller-{i}-pw") for i in range(10)]
CALLEES = [(f"20{i:02d}", f"callee-{i}-pw") for i in range(10)]


def _register_callees(sipp: Callable[..., Sipp], kam: Kamailio, tmp_path: Path,
                      contact_port: int) -> None:
    inf = injection_file(tmp_path / "callees.csv",
                         [(u, p, "127.0.0.1", f"127.0.0.1:{contact_port}") for u, p in CALLEES])
    res = sipp("register_auth.xml", kam.address, inf=inf, rate=50,
               max_calls=len(CALLEES)).run(30)
    assert (res.successful, res.failed) == (len(CALLEES), 0), res.output


def test_sipp_register_with_digest_auth_counts_successes(
        sipp: Callable[..., Sipp], kamailio_factory: Callable[..., Kamailio],
        tmp_path: Path) -> None:
    kam = kamailio_factory(CALLERS)
    inf = injection_file(tmp_path / "reg.csv",
                         [(u, p, "127.0.0.1", "127.0.0.1:5999") for u, p in CALLERS])
    res = sipp("register_auth.xml", kam.address, inf=inf, rate=100, max_calls=50).run(30)
    assert res.successful == 50 and res.failed == 0, res.output
    assert res.returncode == 0
    assert len(res.rtt_ms) == 50  # one response-time sample per REGISTER
    assert res.percentile(99) < 1000


def test_sipp_register_with_wrong_password_is_counted_as_failed(
        sipp: Callable[..., Sipp], kamailio_factory: Callable[..., Kamailio],
        tmp_path: Path) -> None:
    kam = kamailio_factory(CALLERS)
    inf = injection_file(tmp_path / "bad.csv",
                         [(u, "wrong-" + p, "127.0.0.1", "127.0.0.1:5999") for u, p in CALLERS])
    res = sipp("register_auth.xml", kam.address, inf=inf, rate=50, max_calls=5,
               recv_timeout_ms=2000).run(30)
    assert res.successful == 0 and res.failed == 5, res.output
    assert res.returncode != 0


def test_sipp_call_with_407_through_kamailio_to_sipp_uas(
        sipp: Callable[..., Sipp], kamailio_factory: Callable[..., Kamailio],
        tmp_path: Path) -> None:
    kam = kamailio_factory(CALLERS + CALLEES)
    uas_port = free_port()
    uas = sipp("uas.xml", None, local_port=uas_port).start()
    _register_callees(sipp, kam, tmp_path, uas_port)
    inf = injection_file(tmp_path / "calls.csv",
                         [(u, p, "127.0.0.1", CALLEES[i][0]) for i, (u, p) in enumerate(CALLERS)])
    calls = sipp("uac_auth.xml", kam.address, inf=inf, rate=20, max_calls=20).run(60)
    answered = uas.stop()
    assert (calls.successful, calls.failed) == (20, 0), calls.output
    assert (answered.successful, answered.failed) == (20, 0), answered.output


def test_sipp_cancel_during_ringing_through_kamailio(
        sipp: Callable[..., Sipp], kamailio_factory: Callable[..., Kamailio],
        tmp_path: Path) -> None:
    kam = kamailio_factory(CALLERS + CALLEES)
    uas_port = free_port()
    uas = sipp("uas_ring_cancel.xml", None, local_port=uas_port).start()
    _register_callees(sipp, kam, tmp_path, uas_port)
    inf = injection_file(tmp_path / "calls.csv",
                         [(u, p, "127.0.0.1", CALLEES[i][0]) for i, (u, p) in enumerate(CALLERS)])
    calls = sipp("uac_auth_cancel.xml", kam.address, inf=inf, rate=5, max_calls=3).run(60)
    callee = uas.stop()
    assert (calls.successful, calls.failed) == (3, 0), calls.output
    assert (callee.successful, callee.failed) == (3, 0), callee.output


def test_sipp_bye_from_callee_through_kamailio(
        sipp: Callable[..., Sipp], kamailio_factory: Callable[..., Kamailio],
        tmp_path: Path) -> None:
    kam = kamailio_factory(CALLERS + CALLEES)
    uas_port = free_port()
    uas = sipp("uas_bye.xml", None, local_port=uas_port).start()
    _register_callees(sipp, kam, tmp_path, uas_port)
    inf = injection_file(tmp_path / "calls.csv",
                         [(u, p, "127.0.0.1", CALLEES[i][0]) for i, (u, p) in enumerate(CALLERS)])
    calls = sipp("uac_auth_wait_bye.xml", kam.address, inf=inf, rate=5, max_calls=3).run(60)
    callee = uas.stop()
    assert (calls.successful, calls.failed) == (3, 0), calls.output
    assert (callee.successful, callee.failed) == (3, 0), callee.output
