"""Interop with sipp (a SIP implementation nobody here wrote) over loopback: sipp's embedded
UAC scenario calls a small UAS built on `SipEndpoint` + `Dialog`, and sipp's embedded UAS
scenario answers calls our endpoint places. Proves transactions, ACK for 2xx, BYE and
dialog handling on real sockets, over UDP and TCP."""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path

import pytest

from softswitch.sip import (
    Address,
    Dialog,
    Peer,
    Request,
    ServerInviteTransaction,
    ServerTransaction,
    SessionDescription,
    SipEndpoint,
    SipUri,
    create_answer,
    create_offer,
    new_call_id,
    new_tag,
)

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp is not installed"),
]


def free_port() -> int:
    """A port free for both UDP and TCP right now (sipp needs a number up front)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = int(u.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port


async def run_sipp(args: list[str], cwd: Path, timeout: float = 60.0) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "sipp", *args, "-nostdin", "-trace_err", "-timeout", "30", "-timeout_error",
        "-mp", str(free_port()),
        cwd=cwd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        _out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    errors = "".join(p.read_text(errors="replace") for p in cwd.glob("*_errors.log"))
    return proc.returncode or 0, err.decode(errors="replace") + errors


class TinyUas:
    """Answers INVITE with 180 + 200 (SDP answer), BYE with 200; counts what it sees."""

    def __init__(self) -> None:
        self.ep = SipEndpoint(self.on_request, on_ack=self.on_ack)
        self.invites = 0
        self.acks_matched = 0
        self.byes = 0
        self.dialogs: dict[str, Dialog] = {}

    def on_request(self, txn: ServerTransaction, request: Request) -> None:
        if request.method == "INVITE":
            self.invites += 1
            tag = new_tag()
            self.ep.send_response(txn, request.create_response(180, to_tag=tag))
            local = self.ep.local_peer(txn.peer.transport)
            body = b""
            if request.body:
                answer = create_answer(SessionDescription.parse(request.body), local.host,
                                       40000)
                body = bytes(answer) if answer is not None else b""
            ok = request.create_response(
                200, to_tag=tag,
                headers=[("Contact", f"<sip:uas@{local.host}:{local.port};transport="
                                     f"{local.transport}>"),
                         ("Content-Type", "application/sdp")],
                body=body,
            )
            self.dialogs[request.call_id] = Dialog.create_uas(request, ok)
            self.ep.send_response(txn, ok)
        elif request.method == "BYE":
            dialog = self.dialogs.get(request.call_id)
            if dialog is None:
                self.ep.send_response(txn, request.create_response(481))
                return
            rejected = dialog.receive_request(request)
            self.byes += 1
            self.ep.send_response(txn, rejected or request.create_response(200))
        else:
            self.ep.send_response(txn, request.create_response(405))

    def on_ack(self, request: Request, txn: ServerInviteTransaction | None) -> None:
        if txn is not None:
            self.acks_matched += 1


@pytest.mark.parametrize("transport,flag", [("udp", "u1"), ("tcp", "t1")])
async def test_sipp_uac_calls_our_uas(tmp_path: Path, transport: str, flag: str) -> None:
    uas = TinyUas()
    local = await uas.ep.listen(transport, "127.0.0.1", 0)
    try:
        calls = 10
        code, errors = await run_sipp(
            [f"127.0.0.1:{local.port}", "-sn", "uac", "-i", "127.0.0.1", "-p",
             str(free_port()), "-t", flag, "-m", str(calls), "-r", "20", "-d", "200"],
            tmp_path,
        )
        assert code == 0, errors
        assert uas.invites == calls
        assert uas.acks_matched == calls  # every ACK matched our 2xx transaction
        assert uas.byes == calls
    finally:
        await uas.ep.close()


@pytest.mark.parametrize("transport,flag", [("udp", "u1"), ("tcp", "t1")])
async def test_our_uac_calls_sipp_uas(tmp_path: Path, transport: str, flag: str) -> None:
    port = free_port()
    proc_task = asyncio.create_task(run_sipp(
        ["-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-t", flag, "-m", "3"], tmp_path))
    ep = SipEndpoint(lambda txn, req: ep.send_response(txn, req.create_response(405)))
    local = await ep.listen(transport, "127.0.0.1", 0)
    try:
        dst = Peer(transport, "127.0.0.1", port)
        # sipp may still be starting: over UDP our INVITE retransmissions cover that, over
        # TCP a refused connection (503) is retried.
        for _ in range(3):
            for attempt in range(50):
                invite = Request("INVITE", f"sip:service@127.0.0.1:{port}", [
                    ("From", Address(SipUri.parse("sip:alice@127.0.0.1"), None,
                                     {"tag": new_tag()})),
                    ("To", "<sip:service@127.0.0.1>"),
                    ("Call-ID", new_call_id()),
                    ("CSeq", "1 INVITE"),
                    ("Contact", f"<sip:alice@127.0.0.1:{local.port};transport={transport}>"),
                    ("Content-Type", "application/sdp"),
                ], body=bytes(create_offer("127.0.0.1", 42000)))
                out = ep.send_request(invite, dst)
                ok = await asyncio.wait_for(out.final, 40)
                if ok.status != 503 or transport != "tcp" or attempt == 49:
                    break
                await asyncio.sleep(0.1)  # sipp's TCP socket is not listening yet
            assert ok.status == 200, ok
            dialog = Dialog.create_uac(invite, ok)
            out.send_ack(dialog.create_ack(invite))
            bye = ep.send_request(dialog.create_request("BYE"), dst)
            assert (await asyncio.wait_for(bye.final, 40)).status == 200
        code, errors = await asyncio.wait_for(proc_task, 60)
        assert code == 0, errors
    finally:
        if not proc_task.done():
            proc_task.cancel()
        await ep.close()
