"""Queue calls over trunks (issue 5: queue numbers reachable from inbound trunk numbers;
callbacks reach the customer over the outbound prefix/trunk), sipp as the provider and
pjsua2 phones as caller and agent."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable
from hashlib import md5
from pathlib import Path
from typing import Any

import pytest
from phones import Phone
from queue_support import call_and_press, phone, queue_config
from test_trunks import provider_scenario

from benchmarks.peers.net import free_port
from benchmarks.peers.sipp import Sipp, injection_file
from benchmarks.peers.switch import Extension, RunningSwitch

pytestmark = pytest.mark.interop

CALLER = ("3000", "caller-pw")
AGENT = ("2000", "agent-pw")
EXTENSIONS = [Extension(*x) for x in (CALLER, AGENT)]
TRUNK_PORT = free_port()
QUEUES = [queue_config("6462", "Support", static_agents=[AGENT[0]],
                       callback={"method": "press_key", "key": "1", "outbound_prefix": "9"})]


def overrides() -> dict[str, Any]:
    return {"trunks": [{"name": "provider", "host": "127.0.0.1", "port": TRUNK_PORT}],
            "inbound_routes": [{"name": "support", "trunk": "provider", "did": "15550106462",
                                "destination": {"type": "queue", "target": "6462"}}],
            "outbound_routes": [{"name": "out", "prefix": "9", "strip": 1,
                                 "trunk": "provider"}]}


@pytest.mark.switch_config(extensions=EXTENSIONS, queues=QUEUES, overrides=overrides())
def test_trunk_did_reaches_the_queue_and_the_agent_answers(
        switch: RunningSwitch, phone_factory: Callable[..., Phone],
        sipp: Callable[..., Sipp], tmp_path: Path) -> None:
    agent = phone(phone_factory, AGENT, switch)
    calls = injection_file(tmp_path / "in.csv",
                           [("15551230000", "-", switch.domain, "15550106462")])
    provider = sipp("uac.xml", switch.address, local_port=TRUNK_PORT, inf=calls,
                    max_calls=1, duration_ms=4000).start()
    ring = agent.wait_incoming(timeout=10)
    assert "15551230000" in agent.incoming(ring)["from"]  # the trunk caller, no auth asked
    agent.answer(ring)
    agent.wait_call_state(ring, "CONFIRMED")
    agent.wait_media(ring)
    res = provider.wait(30)
    assert (res.successful, res.failed) == (1, 0), res.output
    assert agent.wait_call_state(ring, "DISCONNECTED")["code"] == 200  # provider's BYE


def callback_through_the_provider(switch: RunningSwitch, phone_factory: Callable[..., Phone],
                                  provider: Sipp) -> None:
    """The caller asks for a callback to 5551234, an agent answers the callback offer, the
    provider (already started) is called and answers; the callbacks row says succeeded."""
    caller = phone(phone_factory, CALLER, switch)
    call = call_and_press(caller, switch, "6462", "1")
    time.sleep(4.5)  # "your callback number is 3 0 0 0; press 1 to confirm or 2 to change"
    caller.send_dtmf(call, "2")
    time.sleep(1.0)
    caller.send_dtmf(call, "5551234#")
    assert caller.wait_call_state(call, "DISCONNECTED", timeout=15)["code"] == 200

    agent = phone(phone_factory, AGENT, switch)  # an agent becomes available
    ring = agent.wait_incoming(timeout=10)
    agent.answer(ring)
    agent.wait_call_state(ring, "CONFIRMED")
    # the provider receives INVITE sip:5551234@... (9 stripped) and answers
    deadline = time.monotonic() + 15
    rows: list[tuple[Any, ...]] = []
    while time.monotonic() < deadline:
        con = sqlite3.connect(switch.db_path)
        try:
            rows = con.execute("SELECT number, agent, outcome FROM callbacks").fetchall()
        finally:
            con.close()
        if rows and rows[0][2] is not None:
            break
        time.sleep(0.2)
    assert rows == [("5551234", AGENT[0], "succeeded")]
    agent.hangup(ring)
    got = provider.stop()
    assert (got.successful, got.failed) == (1, 0), got.output


@pytest.mark.switch_config(extensions=EXTENSIONS, queues=QUEUES, overrides=overrides())
def test_callback_reaches_the_external_customer_over_the_trunk(
        switch: RunningSwitch, phone_factory: Callable[..., Phone],
        sipp: Callable[..., Sipp], tmp_path: Path) -> None:
    provider = sipp(provider_scenario(tmp_path, "trunk_uas.xml", number="5551234"), None,
                    local_port=TRUNK_PORT).start()
    callback_through_the_provider(switch, phone_factory, provider)


def challenging_provider() -> dict[str, Any]:
    config = overrides()
    config["trunks"][0].update(username="acct77", password="trunk-secret",
                               from_user="15550106462")
    return config


@pytest.mark.switch_config(extensions=EXTENSIONS, queues=QUEUES,
                           overrides=challenging_provider())
def test_callback_answers_the_providers_challenge_with_the_trunk_identity(
        switch: RunningSwitch, phone_factory: Callable[..., Phone],
        sipp: Callable[..., Sipp], tmp_path: Path) -> None:
    scenario = provider_scenario(tmp_path, "trunk_uas_auth.xml", number="5551234",
                                 user="acct77", password="trunk-secret")
    provider = sipp(scenario, None, local_port=TRUNK_PORT, trace_msg=True).start()
    callback_through_the_provider(switch, phone_factory, provider)
    trace = (provider.workdir / "messages.log").read_text()
    header = re.search(r"Proxy-Authorization: Digest (.*)", trace)
    assert header is not None, trace
    p = dict(re.findall(r'(\w+)="?([^",]*)"?', header[1]))
    ha1 = md5(b"acct77:provider:trunk-secret").hexdigest()
    ha2 = md5(f"INVITE:{p['uri']}".encode()).hexdigest()
    assert p["response"] == md5(f"{ha1}:{p['nonce']}:{ha2}".encode()).hexdigest()
    # the provider sees the trunk's from_user, not the queue number
    assert re.search(r"^From: .*<sip:15550106462@", trace, re.M), trace


@pytest.mark.parametrize("status, reason", [(404, "invalid_callback_number"),
                                            (486, "customer_no_answer")])
@pytest.mark.switch_config(extensions=EXTENSIONS, queues=QUEUES, overrides=overrides())
def test_callback_refused_by_the_provider_is_recorded_with_its_reason(
        switch: RunningSwitch, phone_factory: Callable[..., Phone],
        sipp: Callable[..., Sipp], tmp_path: Path, status: int, reason: str) -> None:
    provider = sipp(provider_scenario(tmp_path, "trunk_uas_refuse.xml", number="5551234",
                                      status=str(status)), None, local_port=TRUNK_PORT).start()
    caller = phone(phone_factory, CALLER, switch)
    call = call_and_press(caller, switch, "6462", "1")
    time.sleep(4.5)
    caller.send_dtmf(call, "2")
    time.sleep(1.0)
    caller.send_dtmf(call, "5551234#")
    assert caller.wait_call_state(call, "DISCONNECTED", timeout=15)["code"] == 200
    agent = phone(phone_factory, AGENT, switch)
    ring = agent.wait_incoming(timeout=10)
    agent.answer(ring)
    agent.wait_call_state(ring, "CONFIRMED")
    deadline = time.monotonic() + 15
    rows: list[tuple[Any, ...]] = []
    while time.monotonic() < deadline:
        con = sqlite3.connect(switch.db_path)
        try:
            rows = con.execute("SELECT number, outcome, failure_reason FROM callbacks"
                               " WHERE outcome IS NOT NULL").fetchall()
        finally:
            con.close()
        if rows:
            break
        time.sleep(0.2)
    assert rows[:1] == [("5551234", "failed", reason)]
    # the agent is released (not left talking to nobody)
    assert agent.wait_call_state(ring, "DISCONNECTED", timeout=10)
    got = provider.stop()
    assert got.successful >= 1, got.output  # it saw INVITE sip:5551234@
