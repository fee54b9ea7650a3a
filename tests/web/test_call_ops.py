"""The queue panel's call operations (queue-manager-agent.md §4.2-§4.9) under the §7.4
permission matrix (queue-admin.md), over REST and the websocket, against a switch in the
test's loop with raw SIP phones (tests/sipua.py): for each (role, operation) pair the
allowed ones act on the real call, the refused ones get 403 naming the permission and
change nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from live_support import Live, enter_queue, hang_up, recv, start_live
from sipua import SipUA, sdp

from softswitch.calls.control import Side
from softswitch.web.api import BOARD

# 6400: 1001 manages it (every manager permission); agents 1002 (static) and 1003
# (dynamic) hold P2 and P5 but not P3 nor P6. 6401: 1004 manages it with P3 only; 1003 is
# its agent. 1005 is an admin, 1006 nobody (the customer's phone).
QUEUES = [
    {"number": "6400", "name": "Sales", "managers": ["1001"], "static_agents": ["1002"],
     "dynamic_agents": ["1003"], "ring_timeout": 30, "retry_interval": 1,
     "panel_permissions": {"agents": ["queue_panel", "call_distribution", "parking"]}},
    {"number": "6401", "name": "Support", "managers": ["1004"], "dynamic_agents": ["1003"],
     "panel_permissions": {"managers": ["queue_panel", "pickup_hangup"], "agents": []}},
]


@pytest.fixture
async def ops_live(tmp_path: Path) -> AsyncIterator[Live]:
    async for live in start_live(tmp_path, queues=QUEUES):
        yield live


async def until(check: Any, what: str, timeout: float = 5.0) -> Any:
    for _ in range(int(timeout / 0.05)):
        value = check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def phone(live: Live, ext: str) -> SipUA:
    ua = await SipUA(ext, f"pw-{ext}", live.sip).start()
    assert (await ua.register()).status == 200
    return ua


def queue_calls(live: Live) -> Any:
    return live.switch.router.queues


def b2bua(live: Live) -> Any:
    return live.switch.router.calls


async def answered_queue_call(live: Live, call_id: str) -> tuple[SipUA, SipUA]:
    """1006 calls 6400; agent 1002's phone answers."""
    agent = await phone(live, "1002")
    caller = await enter_queue(live, "1006", "6400", call_id)
    invite = await agent.next_request("INVITE")
    agent.reply(invite, 200, to_tag="agent", body=sdp(41000))
    task = queue_calls(live).tasks[call_id]
    await until(lambda: queue_calls(live).state(task) == "connected", "the agent's answer")
    return caller, agent


def _monitoring(live: Live, call_id: str) -> bool:
    runner = live.switch._http_runner
    assert runner is not None
    board = runner.app[BOARD]
    return board.monitors is not None and bool(board.monitors.active(call_id))


def caller_leg_bridged(live: Live, task: Any) -> bool:
    """The caller's leg is bridged straight to the agent's (no monitoring mix)."""
    return task.leg is not None and task.agent_call is not None and \
        task.leg.peer is task.agent_call.leg


async def extension_call(live: Live, call_id: str) -> tuple[SipUA, SipUA]:
    """1006 calls agent 1002 directly; 1002 answers."""
    callee = await phone(live, "1002")
    caller = await SipUA("1006", "pw-1006", live.sip).start()
    caller.call_id = call_id
    uri = "sip:1002@127.0.0.1"
    pending = asyncio.ensure_future(caller.request("INVITE", uri, to=f"<{uri}>",
                                                   body=sdp(42000)))
    invite = await callee.next_request("INVITE")
    callee.reply(invite, 200, to_tag="callee", body=sdp(42100))
    resp = await pending
    assert resp.status == 200
    caller.send_raw(caller.build("ACK", uri, to=f"<{uri}>", to_tag=resp.to.tag,
                                 cseq=int(resp.get("CSeq").split()[0])))
    await until(lambda: b2bua(live).calls[call_id].control.state.value == "connected",
                "the extension call's answer")
    return caller, callee


# (actor, queue, operation, expected status)
MATRIX = [
    ("1001", "6400", "hangup", 200),    # manager with P3
    ("1004", "6401", "hangup", 200),    # manager of 6401 with P3
    ("1003", "6400", "hangup", 403),    # agent without P3
    ("1004", "6400", "hangup", 403),    # not a manager of 6400
    ("1005", "6400", "hangup", 403),    # admin: no panel operations
    ("1006", "6400", "hangup", 403),    # nobody
    ("1001", "6400", "pickup", 200),
    ("1003", "6400", "pickup", 403),
    ("1004", "6401", "pickup", 200),
    ("1001", "6400", "redirect", 200),  # P2, manager
    ("1003", "6400", "redirect", 200),  # P2, agent
    ("1004", "6401", "redirect", 403),  # manager without P2
    ("1006", "6400", "redirect", 403),
    ("1001", "6400", "transfer", 200),
    ("1003", "6400", "transfer", 200),
    ("1005", "6400", "transfer", 403),
    ("1001", "6400", "park", 200),      # P5, manager
    ("1003", "6400", "park", 200),      # P5, agent
    ("1004", "6401", "park", 403),      # manager without P5 (1002 is not its agent: 404)
    ("1004", "6400", "park", 403),
    ("1001", "6400", "recording", 200),  # P6
    ("1003", "6400", "recording", 403),  # another agent's call without P6
    ("1002", "6400", "recording", 200),  # its own call: pause without P6
    ("1004", "6400", "recording", 403),
    ("1001", "6400", "monitor", 200),    # P4, a manager
    ("1003", "6400", "monitor", 403),    # agents never hold P4
    ("1002", "6400", "monitor", 403),    # the call's own agent
    ("1004", "6400", "monitor", 403),
    ("1005", "6400", "monitor", 403),
]


@pytest.mark.parametrize(("who", "queue", "op", "expected"), MATRIX)
async def test_call_operation_matrix(ops_live: Live, who: str, queue: str, op: str,
                                     expected: int) -> None:
    live = ops_live
    phones: list[SipUA] = []
    try:
        await _run_row(live, phones, who, queue, op, expected)
    finally:
        for p in phones:
            p.close()


async def _run_row(live: Live, phones: list[SipUA], who: str, queue: str, op: str,
                   expected: int) -> None:
    base = f"/api/v1/queues/{queue}/calls/"
    if op in ("hangup", "pickup", "redirect"):
        caller = await enter_queue(live, "1006", queue, f"row-{op}")
        phones.append(caller)
        qc = queue_calls(live)
        await until(lambda: qc.state(qc.tasks[f"row-{op}"]) == "waiting",
                    "the caller in the queue")
        target = await phone(live, "1005" if op == "redirect" else who) \
            if expected == 200 and op != "hangup" else None
        if target is not None:
            phones.append(target)
        body = {"target": "1005"} if op == "redirect" else None
        status, reply = await live.call("POST", base + f"row-{op}/{op}", who, body)
        assert status == expected, reply
        task = queue_calls(live).tasks[f"row-{op}"]
        if expected != 200:
            assert reply["error"] == "forbidden" and who in reply["message"], reply
            assert queue_calls(live).state(task) == "waiting" and task.in_engine  # nothing changed
            return
        if op == "hangup":
            bye = await caller.next_request("BYE")
            assert bye.call_id == f"row-{op}"
            assert queue_calls(live).state(task) == "ended"
        else:  # the call leaves the queue and rings the target / rings the picker
            assert target is not None
            invite = await target.next_request("INVITE")
            assert invite.method == "INVITE"
            if op == "pickup":  # it stays in the queue until the picker's phone answers
                assert reply["pickup"]["state"] == "ringing" and task.in_engine, reply
                target.reply(invite, 200, to_tag="picker", body=sdp(48000))
                await until(lambda: queue_calls(live).state(task) == "transferring", "the pickup")
            assert not task.in_engine
            _, state = await live.call("GET", f"/api/v1/queues/{queue}", "1001"
                                       if queue == "6400" else "1004")
            assert state["waiting"] == []
        return
    if op == "park":
        caller, agent = await extension_call(live, "row-park")
        phones += [caller, agent]
        status, reply = await live.call("POST", base + "row-park/park", who,
                                        {"party": "caller"})
        assert status == expected, reply
        call = b2bua(live).calls["row-park"]
        if expected != 200:
            assert reply["error"] == "forbidden", reply
            assert call.moves is None or call.moves.slot is None
            return
        assert reply["slot"] in b2bua(live).transfers.parked()
        await agent.next_request("BYE")  # the parker (the agent) leaves the call
        return
    caller, agent = await answered_queue_call(live, f"row-{op}")
    phones += [caller, agent]
    task = queue_calls(live).tasks[f"row-{op}"]
    if op == "transfer":
        target = await phone(live, "1005")
        phones.append(target)
        status, reply = await live.call("POST", base + f"row-{op}/transfer", who,
                                        {"target": "1005", "party": "caller"})
        assert status == expected, reply
        if expected != 200:
            assert reply["error"] == "forbidden", reply
            assert queue_calls(live).state(task) == "connected" and task.agent == "1002"
            return
        await agent.next_request("BYE")  # the agent leaves
        invite = await target.next_request("INVITE")  # the caller is sent to 1005
        assert "1006" in invite.get("From")
        return
    if op == "monitor":
        supervisor = await phone(live, who)
        phones.append(supervisor)
        status, reply = await live.call("POST", base + f"row-{op}/monitor", who,
                                        {"mode": "listen"})
        assert status == expected, reply
        if expected != 200:
            assert reply["error"] == "forbidden", reply
            assert who in reply["message"]
            assert caller_leg_bridged(live, task)
            return
        assert reply["monitor"] == {"call_id": task.id, "supervisor": who,
                                    "mode": "listen", "state": "ringing"}
        invite = await supervisor.next_request("INVITE")  # the manager's phone rings
        supervisor.reply(invite, 200, to_tag="sup", body=sdp(44000))
        await until(lambda: not caller_leg_bridged(live, task), "the monitor's mix")
        conf = live.switch.media.conferences[f"monitor/{task.id}"]
        assert [str(conf.roles[leg]) for leg in conf.members] == [
            "participant", "participant", "listen"]
        return
    recorder = queue_calls(live).recordings
    assert recorder.state(task.id) == "recording"  # queue calls are recorded (config)
    status, reply = await live.call("POST", base + f"row-{op}/recording", who,
                                    {"action": "pause"})
    assert status == expected, reply
    if expected != 200:
        assert reply["error"] == "forbidden" and "P6" in reply["message"], reply
        assert recorder.state(task.id) == "recording"
        return
    assert reply["recording"] == "paused" and recorder.state(task.id) == "paused"


async def test_recording_start_pause_resume_writes_the_file(tmp_path: Path) -> None:
    """§4.6 in a queue without automatic recording: the agent may not start one on its own
    call (no P6), the manager does; pause and resume act on the running file, which is
    complete when the call ends."""
    async for live in start_live(tmp_path, queues=QUEUES, recording={"queues": False}):
        caller, agent = await answered_queue_call(live, "rec")
        path = "/api/v1/queues/6400/calls/rec/recording"
        recorder = queue_calls(live).recordings
        assert recorder.state("rec") is None
        status, reply = await live.call("POST", path, "1002", {"action": "start"})
        assert (status, reply["error"]) == (403, "forbidden")
        assert recorder.state("rec") is None
        status, reply = await live.call("POST", path, "1002", {"action": "pause"})
        assert (status, reply["field"]) == (409, "action")  # nothing to pause
        status, reply = await live.call("POST", path, "1001", {"action": "start"})
        assert (status, reply["recording"]) == (200, "recording"), reply
        task = queue_calls(live).tasks["rec"]
        wav = Path(task.recording)
        assert wav.parent.is_dir()
        status, reply = await live.call("POST", path, "1001", {"action": "start"})
        assert (status, reply["field"]) == (409, "action")
        status, reply = await live.call("POST", path, "1002", {"action": "pause"})
        assert (status, reply["recording"]) == (200, "paused")
        status, reply = await live.call("POST", path, "1002", {"action": "pause"})
        assert status == 409
        status, reply = await live.call("POST", path, "1001", {"action": "resume"})
        assert (status, reply["recording"]) == (200, "recording")
        status, reply = await live.call("POST", "/api/v1/queues/6400/calls/rec/hangup",
                                        "1001")
        assert status == 200
        await caller.next_request("BYE")
        await agent.next_request("BYE")
        await until(lambda r=recorder: r.state("rec") is None, "the recording's end")
        assert wav.is_file() and wav.read_bytes()[:4] == b"RIFF"  # a complete WAV
        caller.close()
        agent.close()


@pytest.mark.parametrize(("path", "body", "status", "field"), [
    ("missing/hangup", None, 404, "call"),
    ("c/redirect", {}, 400, "target"),
    ("c/redirect", {"target": "abc"}, 400, "target"),
    ("c/redirect", {"target": "1005", "colour": "red"}, 400, "colour"),
    ("c/redirect", {"target": "7777"}, 404, "target"),
    ("c/redirect", {"target": "6400"}, 409, "target"),
    ("c/transfer", {"target": "1005"}, 409, "call"),  # still waiting
    ("c/park", {"party": "agent"}, 400, "party"),
    ("c/pickup", None, 409, "call"),  # 1001 has no registered phone to take it
    ("c/recording", {"action": "loud"}, 400, "action"),
])
async def test_bad_input_is_4xx_naming_the_field(ops_live: Live, path: str, body: Any,
                                                 status: int, field: str) -> None:
    caller = await enter_queue(ops_live, "1006", "6400", "c")
    got, reply = await ops_live.call("POST", f"/api/v1/queues/6400/calls/{path}", "1001",
                                     body)
    assert (got, reply.get("field")) == (status, field), reply
    assert queue_calls(ops_live).state(queue_calls(ops_live).tasks["c"]) == "waiting"
    caller.close()


async def test_websocket_commands_share_the_operations(ops_live: Live) -> None:
    """The same operations over the websocket: a refusal is an error naming the
    permission, the hang-up acts and its result follows the call's deltas."""
    live = ops_live
    caller = await enter_queue(live, "1006", "6400", "ws-call")
    url = f"{live.ws_url}?token={await live.token('1003')}"
    async with websockets.connect(url) as sock:
        await recv(sock, "welcome")
        await sock.send(json.dumps({"type": "call.hangup", "id": "h1", "queue": "6400",
                                    "call_id": "ws-call"}))
        err = await recv(sock, "error")
        assert (err["id"], err["error"]) == ("h1", "forbidden")
        assert "P3" in err["message"]
        await sock.send(json.dumps({"type": "call.redirect", "id": "r0", "queue": "6400",
                                    "call_id": "ws-call", "target": 12}))
        err = await recv(sock, "error")
        assert (err["id"], err["field"]) == ("r0", "target")
    assert queue_calls(live).state(queue_calls(live).tasks["ws-call"]) == "waiting"
    url = f"{live.ws_url}?token={await live.token('1001')}"
    async with websockets.connect(url) as sock:
        await recv(sock, "welcome")
        await sock.send(json.dumps({"type": "subscribe", "id": "s", "queues": ["6400"]}))
        await recv(sock, "snapshot")
        await sock.send(json.dumps({"type": "call.hangup", "id": "h2", "queue": "6400",
                                    "call_id": "ws-call"}))
        left = await recv(sock, "call.left_queue")
        assert left["id"] == "ws-call" and left["status"] == "missed"
        result = await recv(sock, "result")
        assert result["id"] == "h2" and result["hung_up"]["call_id"] == "ws-call"
    await caller.next_request("BYE")
    caller.close()


async def ringing_extension_call(live: Live, call_id: str, port: int) -> tuple[
        SipUA, SipUA, asyncio.Future[Any], Any]:
    """1006 calls agent 1002, whose phone gets the INVITE and does not answer: (caller,
    callee, the caller's pending INVITE answer, the callee's INVITE)."""
    callee = await phone(live, "1002")
    caller = await SipUA("1006", "pw-1006", live.sip).start()
    caller.call_id = call_id
    uri = "sip:1002@127.0.0.1"
    pending = asyncio.ensure_future(caller.request("INVITE", uri, to=f"<{uri}>",
                                                   body=sdp(port)))
    return caller, callee, pending, await callee.next_request("INVITE")


async def second_call(live: Live, caller_ext: str, callee: SipUA, call_id: str,
                      port: int) -> SipUA:
    """``caller_ext`` (a second phone of it) calls ``callee``'s extension; answered."""
    ua = await SipUA(caller_ext, f"pw-{caller_ext}", live.sip).start()
    ua.call_id = call_id
    uri = f"sip:{callee.user}@127.0.0.1"
    pending = asyncio.ensure_future(ua.request("INVITE", uri, to=f"<{uri}>", body=sdp(port)))
    invite = await callee.next_request("INVITE")
    callee.reply(invite, 200, to_tag=f"t-{call_id}", body=sdp(port + 100))
    resp = await pending
    assert resp.status == 200
    ua.send_raw(ua.build("ACK", uri, to=f"<{uri}>", to_tag=resp.to.tag,
                         cseq=int(resp.get("CSeq").split()[0])))
    await until(lambda: b2bua(live).calls[call_id].control.state.value == "connected",
                f"the answer of {call_id}")
    return ua


async def test_openapi_documents_every_call_operation_and_its_examples_act(
        ops_live: Live) -> None:
    """Each new operation is in /api/v1/openapi.json (which validates), and each example
    of its request body is accepted (200) on a call in the state it is for."""
    from openapi_spec_validator import validate

    live = ops_live
    async with live.session.get(live.base + "/api/v1/openapi.json") as resp:
        doc = await resp.json()
    validate(doc)
    base = "/api/v1/queues/{queue}/calls/{call}/"
    ops = ("pickup", "redirect", "transfer", "park", "recording", "monitor", "hangup")
    for op in ops:
        assert "post" in doc["paths"][base + op], op
    assert "post" in doc["paths"]["/api/v1/queues/{queue}/agents/{agent}/call"]
    schemas = doc["components"]["schemas"]
    assert schemas["TransferRequest"]["properties"]["party"]["enum"] == ["caller", "callee"]

    def examples(op: str) -> list[Any]:
        content = doc["paths"][base + op]["post"]["requestBody"]["content"]
        return [e["value"] for e in content["application/json"]["examples"].values()]

    phones: list[SipUA] = [await phone(live, "1005")]
    try:
        for n, value in enumerate(examples("redirect")):
            phones.append(await enter_queue(live, "1006", "6400", f"ex-redirect-{n}"))
            status, body = await live.call("POST", f"/api/v1/queues/6400/calls/"
                                           f"ex-redirect-{n}/redirect", "1001", value)
            assert status == 200, (value, body)
            assert body["to"]["type"] == ("voicemail" if value.get("voicemail")
                                          else "extension")
        for value in examples("recording"):
            if len(phones) < 5:
                phones += await answered_queue_call(live, "ex-rec")
            status, body = await live.call("POST", "/api/v1/queues/6400/calls/ex-rec/"
                                           "recording", "1001", value)
            assert status == 200, (value, body)
        blind, attended = examples("transfer")
        await live.call("POST", "/api/v1/queues/6400/calls/ex-rec/hangup", "1001")
        phones += await answered_queue_call(live, "ex-blind")
        status, body = await live.call("POST", "/api/v1/queues/6400/calls/ex-blind/transfer",
                                       "1001", blind)
        assert status == 200, body
        # attended: 1006 talks with agent 1002, who consults 1003 (call consult-1)
        caller, agent = await extension_call(live, "ex-attended")
        target = await phone(live, "1003")
        consult = await second_call(live, "1002", target, attended["consult_call_id"], 43000)
        phones += [caller, agent, target, consult]
        status, body = await live.call("POST", "/api/v1/queues/6400/calls/ex-attended/"
                                       "transfer", "1001", attended)
        assert status == 200, body
        call = b2bua(live).calls["ex-attended"]
        await until(lambda: set(call.parties.values()) == {"1006", "1003"},
                    "1006 joined with 1003")
        # monitor: each mode rings manager 1001's phone, which declines (the session ends)
        phones += await answered_queue_call(live, "ex-mon")
        sup = await phone(live, "1001")
        phones.append(sup)
        for value in examples("monitor"):
            status, body = await live.call("POST", "/api/v1/queues/6400/calls/ex-mon/monitor",
                                           "1001", value)
            assert status == 200 and body["monitor"]["mode"] == value["mode"], body
            sup.reply(await sup.next_request("INVITE"), 486)
            await until(lambda: not _monitoring(live, "ex-mon"), "the decline")
        for value in examples("park"):
            phones += await extension_call(live, "ex-park")
            status, body = await live.call("POST", "/api/v1/queues/6400/calls/ex-park/park",
                                           "1001", value)
            assert status == 200 and body["slot"], body
    finally:
        for p in phones:
            p.close()


async def whispering(live: Live, call_id: str,
                     port: int) -> tuple[SipUA, SipUA, Any, SipUA, Any]:
    """An answered queue call ``call_id`` whispered into by manager 1001, whose phone
    answered: (caller, agent, the task, the supervisor's phone, its INVITE)."""
    caller, agent = await answered_queue_call(live, call_id)
    task = queue_calls(live).tasks[call_id]
    sup = await phone(live, "1001")
    status, reply = await live.call("POST", f"/api/v1/queues/6400/calls/{call_id}/monitor",
                                    "1001", {"mode": "whisper"})
    assert status == 200, reply
    invite = await sup.next_request("INVITE")
    sup.reply(invite, 200, to_tag="sup", body=sdp(port))
    await until(lambda: not caller_leg_bridged(live, task), "the mix")
    return caller, agent, task, sup, invite


async def test_monitor_ends_with_the_supervisor_or_the_call(ops_live: Live) -> None:
    """The supervisor's hang-up restores the caller-agent bridge; the call's end hangs up
    the supervisor's phone; whisper makes the agent the only listener of the manager."""
    live = ops_live
    caller, agent, task, sup, invite = await whispering(live, "mon", 44000)
    path = "/api/v1/queues/6400/calls/mon/monitor"
    conf = live.switch.media.conferences["monitor/mon"]
    sup_leg = conf.members[2]
    assert conf.whisper_to[sup_leg] is task.agent_call.leg
    hearing = conf.matrix()
    assert (hearing[1][2], hearing[0][2]) == (1, 0)  # the agent hears, the caller does not
    status, reply = await live.call("POST", path, "1001", {"mode": "barge"})
    assert (status, reply["field"]) == (409, "call")  # already monitoring
    # the supervisor hangs up: caller and agent are bridged again
    uri = "sip:1001@127.0.0.1"
    sup.tag = "sup"  # its side of the dialog
    sup.send_raw(sup.build("BYE", uri, call_id=invite.call_id, to=invite.get("From"),
                           to_tag=None))
    await until(lambda: caller_leg_bridged(live, task), "the bridge back")
    assert "monitor/mon" not in live.switch.media.conferences
    # barge, then the call ends: the supervisor's phone gets BYE
    status, reply = await live.call("POST", path, "1001", {"mode": "barge"})
    assert status == 200, reply
    invite = await sup.next_request("INVITE")
    sup.reply(invite, 200, to_tag="sup2", body=sdp(44100))
    await until(lambda: not caller_leg_bridged(live, task), "the mix")
    status, reply = await live.call("POST", "/api/v1/queues/6400/calls/mon/hangup", "1001")
    assert status == 200
    bye = await sup.next_request("BYE")
    assert bye.call_id == invite.call_id
    for p in (caller, agent, sup):
        p.close()


@pytest.mark.parametrize(("who", "queue", "expected"), [
    ("1001", "6400", 200),  # a manager of the queue (P8)
    ("1003", "6400", 200),  # an agent of the queue (P8)
    ("1004", "6400", 403),  # a manager of another queue
    ("1005", "6400", 403),  # admin
    ("1006", "6400", 403),  # nobody
])
async def test_call_an_agent(ops_live: Live, who: str, queue: str, expected: int) -> None:
    """§4.10: the requester's phone rings, then the agent's; answered, they are bridged;
    the agent's hang-up ends the requester's call. Refused: no phone rings."""
    live = ops_live
    requester = await phone(live, who)
    agent = await phone(live, "1002")
    try:
        status, reply = await live.call("POST", f"/api/v1/queues/{queue}/agents/1002/call",
                                        who)
        assert status == expected, reply
        if expected != 200:
            assert reply["error"] == "forbidden" and reply["field"] == "agent"
            with pytest.raises(asyncio.TimeoutError):
                await requester.next_request("INVITE", timeout=0.5)
            return
        assert reply["agent_call"]["state"] == "ringing_requester"
        first = await requester.next_request("INVITE")
        assert "1002" in first.get("From")
        requester.reply(first, 200, to_tag="req", body=sdp(45000))
        second = await agent.next_request("INVITE")
        assert who in second.get("From")
        agent.reply(second, 200, to_tag="agt", body=sdp(45100))
        legs = {f"{reply['agent_call']['id']}/requester", f"{reply['agent_call']['id']}/agent"}
        await until(lambda: all(lbl in live.switch.media.legs for lbl in legs) and
                    live.switch.media.legs[min(legs)].peer is not None, "the bridge")
        agent.tag = "agt"
        agent.send_raw(agent.build("BYE", "sip:1002@127.0.0.1", call_id=second.call_id,
                                   to=second.get("From"), to_tag=None))
        bye = await requester.next_request("BYE")
        assert bye.call_id == first.call_id
    finally:
        requester.close()
        agent.close()


@pytest.mark.parametrize("who", ["requester", "agent"])
async def test_call_an_agent_rings_each_phone_at_most_the_ring_timeout(
        ops_live: Live, who: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """§4.10: a requester who does not answer is CANCELled and the agent never rung; an
    agent who does not answer is CANCELled and the requester's answered call ends (BYE).
    Before, neither phone's ring time was bounded."""
    from softswitch.calls import agentcall

    monkeypatch.setattr(agentcall, "RING_TIMEOUT", 0.5)
    live = ops_live
    requester = await phone(live, "1001")
    agent = await phone(live, "1002")
    try:
        status, reply = await live.call("POST", "/api/v1/queues/6400/agents/1002/call",
                                        "1001")
        assert status == 200, reply
        first = await requester.next_request("INVITE")
        if who == "requester":
            requester.reply(first, 180, to_tag="req")  # ringing (a CANCEL needs a 1xx)
            cancel = await requester.next_request("CANCEL", timeout=10)
            assert cancel.call_id == first.call_id
            with pytest.raises(asyncio.TimeoutError):
                await agent.next_request("INVITE", timeout=1.0)
            return
        requester.reply(first, 200, to_tag="req", body=sdp(45000))
        second = await agent.next_request("INVITE")
        agent.reply(second, 180, to_tag="agt")
        cancel = await agent.next_request("CANCEL", timeout=10)
        assert cancel.call_id == second.call_id
        bye = await requester.next_request("BYE", timeout=10)
        assert bye.call_id == first.call_id
    finally:
        requester.close()
        agent.close()


async def test_call_an_agent_bad_input(ops_live: Live) -> None:
    live = ops_live
    status, reply = await live.call("POST", "/api/v1/queues/6400/agents/1004/call", "1001")
    assert (status, reply["field"]) == (404, "agent")
    status, reply = await live.call("POST", "/api/v1/queues/6400/agents/1002/call", "1001")
    assert (status, reply["field"]) == (409, "agent")  # 1001 has no registered phone


async def test_transfer_to_voicemail_hands_the_caller_to_the_voicemail_app(
        ops_live: Live) -> None:
    """§4.4's voicemail target: the agent's call ends, the caller stays connected and is
    now the voicemail application's call (softswitch.apps), not the queue's."""
    live = ops_live
    caller, agent = await answered_queue_call(live, "to-vm")
    status, reply = await live.call("POST", "/api/v1/queues/6400/calls/to-vm/transfer",
                                    "1001", {"target": "1005", "voicemail": True})
    assert status == 200, reply
    await agent.next_request("BYE")
    apps = live.switch.router.apps
    await until(lambda: apps.owns("to-vm"), "the voicemail application's call")
    assert queue_calls(live).api_task("to-vm") is None
    caller.close()
    agent.close()


async def test_extension_calls_hang_up_and_pick_up(ops_live: Live) -> None:
    """An agent's extension call: the manager hangs it up (BYE to both phones); a ringing
    one is picked up to the manager's phone (B2BUA pickup, §4.2)."""
    live = ops_live
    caller, callee = await extension_call(live, "ext-hangup")
    status, reply = await live.call("POST", "/api/v1/queues/6400/calls/ext-hangup/hangup",
                                    "1001")
    assert status == 200 and reply["hung_up"]["kind"] == "extension", reply
    await caller.next_request("BYE")
    await callee.next_request("BYE")
    caller.close()
    callee.close()
    # a ringing extension call of agent 1002, picked up by manager 1001
    caller, callee, pending, _ = await ringing_extension_call(live, "ext-ringing", 46000)
    picker = await phone(live, "1001")  # 1002 rings and does not answer
    status, reply = await live.call("POST", "/api/v1/queues/6400/calls/ext-ringing/pickup",
                                    "1003")
    assert (status, reply["error"]) == (403, "forbidden")  # agents lack P3 here
    status, reply = await live.call("POST", "/api/v1/queues/6400/calls/ext-ringing/pickup",
                                    "1001")
    assert status == 200, reply
    invite = await picker.next_request("INVITE")
    picker.reply(invite, 200, to_tag="picker", body=sdp(46100))
    resp = await pending
    assert resp.status == 200
    await until(lambda: b2bua(live).calls["ext-ringing"].parties.get(Side.CALLEE) == "1001",
                "the picker as the callee")
    for p in (caller, callee, picker):
        p.close()


@pytest.mark.parametrize(("kind", "fields", "permission"), [
    ("call.pickup", {}, "P3"),
    ("call.redirect", {"target": "1005"}, "P2"),
    ("call.transfer", {"target": "1005"}, "P2"),
    ("call.park", {}, "P5"),
    ("call.recording", {"action": "pause"}, "P6"),
    ("call.monitor", {"mode": "listen"}, "P4"),
    ("call.hangup", {}, "P3"),
])
async def test_websocket_refusals_name_the_permission(ops_live: Live, kind: str,
                                                      fields: dict[str, Any],
                                                      permission: str) -> None:
    """Every call command over the websocket goes through the same §7.4 check: 1004 (a
    manager of 6401 only) is refused in 6400 and the waiting call is untouched."""
    live = ops_live
    caller = await enter_queue(live, "1006", "6400", "ws-refused")
    async with websockets.connect(f"{live.ws_url}?token={await live.token('1004')}") as sock:
        await recv(sock, "welcome")
        await sock.send(json.dumps({"type": kind, "id": "x", "queue": "6400",
                                    "call_id": "ws-refused", **fields}))
        err = await recv(sock, "error")
        assert (err["id"], err["error"]) == ("x", "forbidden"), err
        assert f"({permission})" in err["message"] and "1004" in err["message"]
    task = queue_calls(live).tasks["ws-refused"]
    assert queue_calls(live).state(task) == "waiting" and task.in_engine
    caller.close()


async def test_park_a_queue_call_frees_the_agent_and_the_slot_gives_the_caller_back(
        ops_live: Live) -> None:
    """§4.5 on an answered queue call: ``party: callee`` and a busy or unknown slot are
    refused and change nothing; parked, the caller keeps its dialog (no BYE) and waits in
    the slot as a B2BUA call, the agent gets BYE and the ACD ends its call (talk, then
    wrap-up); the queue's CDR row ends "parked", the parked call has its own row; a phone
    dialling the slot is joined with the caller; the caller's hang-up ends it there."""
    live = ops_live
    # an extension call of agent 1002 parked first: its slot is busy for the queue call
    ext_caller, ext_callee = await extension_call(live, "ext-parked")
    status, reply = await live.call("POST", "/api/v1/queues/6400/calls/ext-parked/park",
                                    "1001", {})
    assert status == 200, reply
    busy = reply["slot"]
    await ext_callee.next_request("BYE")
    caller, agent = await answered_queue_call(live, "qpark")
    path = "/api/v1/queues/6400/calls/qpark/park"
    status, reply = await live.call("POST", path, "1001", {"slot": busy})
    assert (status, reply["field"]) == (409, "slot"), reply
    status, reply = await live.call("POST", path, "1001", {"party": "callee"})
    assert (status, reply["field"]) == (409, "party"), reply
    status, reply = await live.call("POST", path, "1001", {"slot": "777"})
    assert (status, reply["field"]) == (404, "slot"), reply
    task = queue_calls(live).tasks["qpark"]
    assert queue_calls(live).state(task) == "connected" and caller_leg_bridged(live, task)
    status, reply = await live.call("POST", path, "1003", {})  # an agent with P5
    assert status == 200, reply
    slot = reply["slot"]
    assert reply["parked"]["kind"] == "queue" and reply["parked"]["agent"] == "1002"
    bye = await agent.next_request("BYE")
    assert bye.method == "BYE"
    with pytest.raises(asyncio.TimeoutError):
        await caller.next_request("BYE", timeout=0.3)
    transfers = b2bua(live).transfers
    assert transfers.parked() == {busy: "ext-parked", slot: "qpark"}
    assert "qpark" not in queue_calls(live).tasks  # the caller's requests reach the B2BUA
    _, state = await live.call("GET", "/api/v1/queues/6400", "1001")
    assert state["active"] == [] and state["waiting"] == []
    member = next(m for m in state["agents"] if m["agent"] == "1002")
    assert member["current_calls"] == 0, member
    call = b2bua(live).calls["qpark"]
    assert call.control.state.value == "connected" and call.parties[Side.CALLER] == "1006"
    # a phone dials the slot: answered, joined with the caller
    retriever = await SipUA("1004", "pw-1004", live.sip).start()
    retriever.call_id = "retrieve-1"
    uri = f"sip:{slot}@127.0.0.1"
    resp = await retriever.request("INVITE", uri, to=f"<{uri}>", body=sdp(47000))
    assert resp.status == 200, resp.status
    retriever.send_raw(retriever.build("ACK", uri, to=f"<{uri}>", to_tag=resp.to.tag,
                                       cseq=int(resp.get("CSeq").split()[0])))
    await until(lambda: call.parties.get(Side.CALLEE) == "1004", "the retriever joined")
    assert transfers.parked() == {busy: "ext-parked"}
    assert call.leg_a.peer is call.leg_b  # caller and retriever bridged
    # the caller hangs up: the retriever gets BYE, the call's record completes
    await hang_up(caller, "6400")
    await retriever.next_request("BYE")
    store = live.switch.store
    rows = await until_rows(store, "qpark", 2)
    queue_row, parked_row = sorted(rows, key=lambda r: r.start_time)
    assert (queue_row.callee, queue_row.disposition, queue_row.hangup_side) == \
        ("6400", "ANSWERED", "callee")
    assert queue_row.hangup_cause == f"parked in slot {slot} by 1003 (live API)"
    assert (parked_row.caller, parked_row.callee, parked_row.disposition,
            parked_row.hangup_side) == ("1006", slot, "ANSWERED", "caller")
    for p in (ext_caller, ext_callee, caller, agent, retriever):
        p.close()


async def until_rows(store: Any, call_id: str, n: int) -> list[Any]:
    for _ in range(100):
        rows = [r for r in await store.call_records(call_id) if r.end_time is not None]
        if len(rows) >= n:
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(f"{n} complete records of {call_id} not written")


async def pickup_outcome(sock: Any) -> dict[str, Any]:
    return await recv(sock, "call.pickup")


@pytest.mark.parametrize("how", ["declined", "no_answer", "call_ended",
                                 "answered_elsewhere"])
async def test_a_failed_pickup_leaves_the_queue_call_as_it_was(
        ops_live: Live, how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """§4.2: the picker's phone declines or does not answer (the ring timeout), or the call
    stops waiting first (the caller hangs up, an agent answers): the requester's websocket
    gets the ``call.pickup`` outcome, the picker's phone stops ringing (CANCEL), and the
    call is left as it was (still waiting in the queue, or the agent's)."""
    from softswitch.calls import queuepickup

    monkeypatch.setattr(queuepickup, "RING_TIMEOUT", 0.5)
    live = ops_live
    agent = await phone(live, "1002") if how == "answered_elsewhere" else None
    caller = await enter_queue(live, "1006", "6400", f"pk-{how}")
    picker = await phone(live, "1001")
    task = queue_calls(live).tasks[f"pk-{how}"]
    async with websockets.connect(f"{live.ws_url}?token={await live.token('1001')}") as sock:
        await recv(sock, "welcome")  # no subscription: the outcome is the picker's own
        status, reply = await live.call("POST", f"/api/v1/queues/6400/calls/pk-{how}/pickup",
                                        "1001")
        assert status == 200 and reply["pickup"]["state"] == "ringing", reply
        invite = await picker.next_request("INVITE")
        picker.reply(invite, 180, to_tag="picker")  # ringing (a CANCEL needs a 1xx first)
        if how == "declined":
            status, again = await live.call(
                "POST", f"/api/v1/queues/6400/calls/pk-{how}/pickup", "1001")
            assert (status, again["field"]) == (409, "call"), again  # already ringing
            picker.reply(invite, 603)
        elif how == "call_ended":
            await hang_up(caller, "6400")
        elif how == "answered_elsewhere":
            assert agent is not None
            offer = await agent.next_request("INVITE")
            agent.reply(offer, 200, to_tag="agent", body=sdp(41000))
        outcome = await pickup_outcome(sock)
        assert outcome["pickup"] == reply["pickup"]["pickup"], outcome
        assert (outcome["id"], outcome["by"], outcome["state"], outcome["reason"]) == \
            (f"pk-{how}", "1001", "failed", how), outcome
        assert outcome["status"] == {"declined": 603, "no_answer": 408}.get(how), outcome
    if how != "declined":
        await picker.next_request("CANCEL")  # its phone stops ringing
    if how in ("declined", "no_answer"):
        assert queue_calls(live).state(task) == "waiting" and task.in_engine
        _, state = await live.call("GET", "/api/v1/queues/6400", "1001")
        assert [w["id"] for w in state["waiting"]] == [f"pk-{how}"]
        with pytest.raises(asyncio.TimeoutError):
            await caller.next_request("BYE", timeout=0.3)
    elif how == "answered_elsewhere":
        assert queue_calls(live).state(task) == "connected" and task.agent == "1002"
    for p in (caller, picker, *([agent] if agent else [])):
        p.close()


async def test_a_pickup_answered_takes_the_call_and_reports_it(ops_live: Live) -> None:
    """The picker's phone answers while the call waits: it leaves the queue (Missed), the
    caller and the picker are bridged, and the outcome delta says answered."""
    live = ops_live
    caller = await enter_queue(live, "1006", "6400", "pk-ok")
    picker = await phone(live, "1001")
    task = queue_calls(live).tasks["pk-ok"]
    async with websockets.connect(f"{live.ws_url}?token={await live.token('1001')}") as sock:
        await recv(sock, "welcome")
        await sock.send(json.dumps({"type": "call.pickup", "id": "p", "queue": "6400",
                                    "call_id": "pk-ok"}))
        result = await recv(sock, "result")
        assert result["pickup"]["state"] == "ringing", result
        invite = await picker.next_request("INVITE")
        picker.reply(invite, 200, to_tag="picker", body=sdp(48100))
        outcome = await pickup_outcome(sock)
        assert (outcome["state"], outcome["reason"], outcome["status"]) == \
            ("answered", None, 200), outcome
    assert queue_calls(live).state(task) == "transferring" and not task.in_engine
    assert task.leg is not None and task.other_call is not None
    assert task.leg.peer is task.other_call.leg  # caller and picker bridged
    caller.close()
    picker.close()


async def test_a_failed_pickup_of_an_extension_call_leaves_it_ringing(
        ops_live: Live) -> None:
    """An agent's ringing extension call: the picker's phone declines, the outcome delta
    says so, and the call still rings the agent's phone (its caller unanswered)."""
    live = ops_live
    caller, callee, pending, ringing = await ringing_extension_call(live, "ext-pk", 46200)
    callee.reply(ringing, 180, to_tag="callee")
    picker = await phone(live, "1001")
    async with websockets.connect(f"{live.ws_url}?token={await live.token('1001')}") as sock:
        await recv(sock, "welcome")
        status, reply = await live.call("POST", "/api/v1/queues/6400/calls/ext-pk/pickup",
                                        "1001")
        assert status == 200 and reply["pickup"]["state"] == "ringing", reply
        picker.reply(await picker.next_request("INVITE"), 486)
        outcome = await pickup_outcome(sock)
        assert (outcome["id"], outcome["state"], outcome["reason"], outcome["status"]) == \
            ("ext-pk", "failed", "busy", 486), outcome
    call = b2bua(live).calls["ext-pk"]
    assert call.control.state.value == "ringing" and not pending.done()
    callee.reply(ringing, 200, to_tag="callee", body=sdp(46300))  # the agent still can
    resp = await pending
    assert resp.status == 200
    for p in (caller, callee, picker):
        p.close()


async def test_monitor_hold_makes_the_supervisor_a_listener_until_it_resumes(
        ops_live: Live) -> None:
    """§4.7: the supervisor's phone holds the whisper call (a sendonly re-INVITE, answered
    200): the mix stays, the supervisor only listens (whatever its held phone sends
    reaches nobody); resumed (sendrecv), it whispers to the agent again; the caller and the
    agent stay in the mix throughout."""
    live = ops_live
    caller, agent, task, sup, invite = await whispering(live, "mon-hold", 44200)
    conf = live.switch.media.conferences["monitor/mon-hold"]
    sup_leg = conf.members[2]
    uri = "sip:1001@127.0.0.1"
    sup.tag = "sup"

    async def reinvite(direction: str) -> None:
        sup.send_raw(sup.build("INVITE", uri, call_id=invite.call_id, to=invite.get("From"),
                               body=sdp(44200, direction=direction)))
        resp = await sup.response()
        assert resp.status == 200, resp.status
        sup.send_raw(sup.build("ACK", uri, call_id=invite.call_id, to=invite.get("From"),
                               cseq=int(resp.get("CSeq").split()[0])))

    await reinvite("sendonly")
    await until(lambda: str(conf.roles[sup_leg]) == "listen", "the supervisor listening")
    hearing = conf.matrix()
    assert (hearing[0][2], hearing[1][2]) == (0, 0)  # nobody hears the held supervisor
    assert (hearing[2][0], hearing[2][1]) == (1, 1)  # it still hears both
    assert conf.members[:2] == [task.leg, task.agent_call.leg]
    await reinvite("sendrecv")
    await until(lambda: str(conf.roles[sup_leg]) == "whisper", "the whisper back")
    assert conf.whisper_to[sup_leg] is task.agent_call.leg
    hearing = conf.matrix()
    assert (hearing[1][2], hearing[0][2]) == (1, 0)
    assert queue_calls(live).state(task) == "connected"
    for p in (caller, agent, sup):
        p.close()
