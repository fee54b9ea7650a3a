"""Real sockets: third-party SIP clients subscribe over UDP loopback to the presence
service on a real `SipEndpoint`: sipp as a BLF key watching an agent key (dialog package),
pjsua2 (pjsip) as a softphone buddy list watching an extension (presence package, PIDF
parsed by pjsip).

The router here is the test's own (the switch's router wires the same service after digest
auth); the subscriber is taken from the From user because this test has no auth.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from blf_helpers import DI, DOMAIN, EXTENSIONS, directory

from benchmarks.peers.sipp import Sipp
from softswitch.clock import LoopClock
from softswitch.features import FeatureCodePlan, FeatureCodes, SignIn, state_after
from softswitch.presence import CallState, ExtensionCall, Notifier
from softswitch.presence.service import PresenceService
from softswitch.sip import Request, SipUri
from softswitch.sip.endpoint import SipEndpoint
from softswitch.sip.transaction import Peer, ServerTransaction

pytestmark = pytest.mark.interop
SCENARIO = Path(__file__).parent / "sipp" / "blf_subscribe.xml"


async def serve(notifier: Notifier,
                transport: str = "udp") -> tuple[SipEndpoint, PresenceService, int]:
    """A UDP endpoint on a free loopback port whose only job is SUBSCRIBE (no digest auth:
    the From user is taken as the subscriber)."""
    service: PresenceService | None = None

    def on_request(txn: ServerTransaction, request: Request) -> None:
        assert service is not None
        if request.method == "SUBSCRIBE":
            service.handle_subscribe(txn, request, request.from_.uri.user or "")
        else:
            endpoint.send_response(txn, request.create_response(405))

    endpoint = SipEndpoint(on_request)
    local = await endpoint.listen(transport, "127.0.0.1", 0)
    service = PresenceService(endpoint, notifier, LoopClock())
    return endpoint, service, local.port


async def wait_for(cond: object, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():  # type: ignore[operator]
        if loop.time() > end:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_sipp_blf_key_sees_agent_sign_in(tmp_path: Path, transport: str) -> None:
    plan = FeatureCodePlan(FeatureCodes(), directory())
    notifier = Notifier(domain=DOMAIN, extensions=EXTENSIONS, directory=plan.directory,
                        resolve_agent_key=plan.blf_resource)
    endpoint, service, port = await serve(notifier, transport)
    sipp = Sipp(SCENARIO, f"127.0.0.1:{port}", tmp_path, max_calls=1,
                transport={"udp": "u1", "tcp": "t1"}[transport],
                keys={"blf_value": "*76400", "phone_user": "1001"}, recv_timeout_ms=10000,
                timeout_s=30, trace_msg=True)
    sipp.start()
    try:
        # the phone answered the first NOTIFY: its key shows 1001 signed out (red)
        await wait_for(lambda: len(notifier.subscriptions()) == 1
                       and service.pending_notifies() == 0 and sipp.workdir.exists())
        outcome = plan.dial("*76400", "1001", notifier.agents)
        assert outcome is not None and outcome.actions == (SignIn("1001", "6400"),)
        for action in outcome.actions:
            assert isinstance(action, SignIn)
            service.agent_state_changed(action.agent, action.queue, state_after(action))
        result = await asyncio.to_thread(sipp.wait, 30)
        assert result.successful == 1 and result.failed == 0, result.output
        await wait_for(lambda: service.pending_notifies() == 0)
        assert notifier.subscriptions() == []
    finally:
        await service.close()
        await endpoint.close()

    log = sipp.messages()
    notifies = [m for m in re.split(r"-{20,}[^\n]*\n", log)
                if re.search(r"received.*\n\s*NOTIFY sip:", m)]
    assert len(notifies) == 3, log
    states = [re.search(r"Subscription-State: (\S+)", m).group(1)  # type: ignore[union-attr]
              for m in notifies]
    assert states[0] == "active;expires=600" and states[2] == "terminated;reason=timeout"
    assert re.fullmatch(r"active;expires=(59\d|600)", states[1]), states  # seconds went by
    lamps = []
    for m in notifies:
        body = m[m.index("<?xml"):m.index("</dialog-info>") + len("</dialog-info>")]
        root = ET.fromstring(body)
        assert root.get("entity") == f"sip:*76400@{DOMAIN}"
        lamps.append((root.get("version"), root.findtext(f"{DI}dialog/{DI}state")))
    # red (signed out) -> green (signed in) -> final state on unsubscribe
    assert lamps == [("0", "confirmed"), ("1", "terminated"), ("2", "terminated")]


async def test_pjsua2_buddy_sees_extension_presence(tmp_path: Path) -> None:
    plan = FeatureCodePlan(FeatureCodes(), directory())
    notifier = Notifier(domain=DOMAIN, extensions=EXTENSIONS, directory=plan.directory,
                        resolve_agent_key=plan.blf_resource)
    endpoint, service, port = await serve(notifier)
    log_path = tmp_path / "pjsua.log"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).parent / "pjsua_buddy.py"),
        f"sip:1002@127.0.0.1:{port}", str(log_path),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None

    async def next_state(status: str) -> dict[str, str]:
        while True:
            line = await asyncio.wait_for(proc.stdout.readline(), 15)  # type: ignore[union-attr]
            assert line, f"pjsua exited; log:\n{_tail(log_path)}"
            state: dict[str, str] = json.loads(line)
            if state.get("status") == status and state.get("sub") == "ACTIVE":
                return state

    try:
        offline = await next_state("OFFLINE")  # 1002 has not registered
        assert offline["text"] == "Offline"
        service.registration_changed("1002", True)
        online = await next_state("ONLINE")
        assert online["text"] == "Available"
        service.registration_changed("1002", False)
        await next_state("OFFLINE")
        proc.stdin.close()  # the softphone unsubscribes on the way out
        await asyncio.wait_for(proc.wait(), 15)
        await wait_for(lambda: notifier.subscriptions() == [])
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await service.close()
        await endpoint.close()


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.exists() else ""


async def test_notify_answered_481_ends_the_subscription(tmp_path: Path) -> None:
    """RFC 6665 §4.2.2: a phone that answers NOTIFY with 481 has forgotten the
    subscription; the switch stops notifying it."""
    plan = FeatureCodePlan(FeatureCodes(), directory())
    notifier = Notifier(domain=DOMAIN, extensions=EXTENSIONS, directory=plan.directory)
    endpoint, service, port = await serve(notifier)
    received: list[Request] = []

    def phone_request(txn: ServerTransaction, request: Request) -> None:
        received.append(request)
        phone.send_response(txn, request.create_response(481))

    phone = SipEndpoint(phone_request)
    me = await phone.listen("udp", "127.0.0.1", 0)
    try:
        sub = Request("SUBSCRIBE", SipUri.parse(f"sip:1002@127.0.0.1:{port}"), headers=[
            ("From", "<sip:1001@127.0.0.1>;tag=ph1"), ("To", "<sip:1002@127.0.0.1>"),
            ("Call-ID", "blf-481"), ("CSeq", "1 SUBSCRIBE"),
            ("Contact", f"<sip:1001@127.0.0.1:{me.port}>"), ("Event", "dialog"),
            ("Expires", "600")])
        answer = await asyncio.wait_for(
            phone.send_request(sub, Peer("udp", "127.0.0.1", port)).final, 10)
        assert answer.status == 200 and answer.to.tag
        await wait_for(lambda: len(received) == 1 and notifier.subscriptions() == [])
        assert received[0].method == "NOTIFY" and received[0].get("Event") == "dialog"
        service.registration_changed("1002", True)
        service.call_updated("1002", ExtensionCall("c1", "recipient", CallState.EARLY))
        # sending is synchronous: had a NOTIFY gone out it would be pending now
        assert service.pending_notifies() == 0 and len(received) == 1
    finally:
        await phone.close()
        await service.close()
        await endpoint.close()
