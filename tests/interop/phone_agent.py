"""One pjsua2 softphone in its own process, driven by JSON lines (run by phones.Phone).

pjsua2 allows one Endpoint per process (and this wheel 4 calls), so every phone of a test is
one of these processes. stdin carries commands `{"id": n, "cmd": "...", ...}`; stdout carries
replies `{"id": n, "ok": true, "result": ...}` / `{"id": n, "ok": false, "error": "..."}` and
events `{"event": "...", ...}`. Everything pjsua itself prints goes to stderr and to the log
file, never to the protocol stream.

The library runs single-threaded (threadCnt=0, mainThreadOnly) and this loop polls it, so all
callbacks run here, between commands; the audio clock is the null sound device's own thread.
"""

from __future__ import annotations

import json
import os
import random
import select
import sys
import time
import traceback
from typing import Any

import pjsua2 as pj

# The protocol stream is a private copy of fd 1; fd 1 itself then points at stderr so that
# native prints (pjlib's banner at libCreate) cannot corrupt it.
_PROTO = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)


def emit(obj: dict[str, Any]) -> None:
    _PROTO.write(json.dumps(obj) + "\n")
    _PROTO.flush()


STATE_NAMES = {
    pj.PJSIP_INV_STATE_NULL: "NULL",
    pj.PJSIP_INV_STATE_CALLING: "CALLING",
    pj.PJSIP_INV_STATE_INCOMING: "INCOMING",
    pj.PJSIP_INV_STATE_EARLY: "EARLY",
    pj.PJSIP_INV_STATE_CONNECTING: "CONNECTING",
    pj.PJSIP_INV_STATE_CONFIRMED: "CONFIRMED",
    pj.PJSIP_INV_STATE_DISCONNECTED: "DISCONNECTED",
}
MEDIA_STATUS = {
    pj.PJSUA_CALL_MEDIA_NONE: "NONE",
    pj.PJSUA_CALL_MEDIA_ACTIVE: "ACTIVE",
    pj.PJSUA_CALL_MEDIA_LOCAL_HOLD: "LOCAL_HOLD",
    pj.PJSUA_CALL_MEDIA_REMOTE_HOLD: "REMOTE_HOLD",
    pj.PJSUA_CALL_MEDIA_ERROR: "ERROR",
}
DTMF_METHODS = {"rfc2833": pj.PJSUA_DTMF_METHOD_RFC2833, "info": pj.PJSUA_DTMF_METHOD_SIP_INFO}
DTMF_METHOD_NAMES = {v: k for k, v in DTMF_METHODS.items()}
# pjsua's RTP ports start at 4000 in every process (the next even port that binds), so every
# phone of every run on the machine reuses 4000, 4002, ...: a port a phone of another run
# just closed may still receive that call's RTP (its switch stops after its phones). Each
# phone starts at a random even port in 30000-32699, which no other part of the harness
# uses (benchmarks.peers.net: single ports 20000-29999, relay ranges 10000-19999; the
# kernel's ephemeral ports from 32768).
RTP_BASE = random.SystemRandom().randrange(30000, 32500, 2)


class Agent:
    def __init__(self) -> None:
        self.ep = pj.Endpoint()
        self.accounts: dict[str, PhoneAccount] = {}
        self.calls: dict[int, PhoneCall] = {}
        self.buddies: list[pj.Buddy] = []  # MESSAGE targets (cmd_message)
        self.transports: dict[str, int] = {}
        self.ports: dict[str, int] = {}
        self.next_call = 1
        self.running = True
        self.graveyard: list[Any] = []

    # --- set-up -------------------------------------------------------------------------
    def start(self, log_path: str, transports: list[str]) -> dict[str, Any]:
        self.ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = 4
        cfg.uaConfig.userAgent = "pjsua2-interop-phone"
        cfg.logConfig.level = 5
        cfg.logConfig.consoleLevel = 0
        cfg.logConfig.msgLogging = 1
        cfg.logConfig.filename = log_path
        cfg.medConfig.clockRate = 8000
        cfg.medConfig.sndClockRate = 8000
        cfg.medConfig.channelCount = 1
        cfg.medConfig.ecTailLen = 0  # no echo canceller: it would eat the test tones
        cfg.medConfig.noVad = True
        cfg.medConfig.threadCnt = 1
        self.ep.libInit(cfg)
        for name in transports:
            kind = {"udp": pj.PJSIP_TRANSPORT_UDP, "tcp": pj.PJSIP_TRANSPORT_TCP}[name]
            tcfg = pj.TransportConfig()
            tcfg.port = 0
            tcfg.boundAddress = "127.0.0.1"
            tid = self.ep.transportCreate(kind, tcfg)
            self.transports[name] = tid
            self.ports[name] = self.ep.transportGetInfo(tid).localName.rsplit(":", 1)[-1]
        self.ep.libStart()
        self.ep.audDevManager().setNullDev()
        # G.711 only, PCMU first: what every PBX offers and what the switch relays.
        for codec in self.ep.codecEnum2():
            cid = codec.codecId
            prio = 0
            if cid.upper().startswith("PCMU/"):
                prio = 255
            elif cid.upper().startswith("PCMA/"):
                prio = 254
            self.ep.codecSetPriority(cid, prio)
        return {"ports": {k: int(v) for k, v in self.ports.items()}}

    # --- commands -------------------------------------------------------------------------
    def cmd_register(self, user: str, password: str, registrar: str, domain: str,
                     transport: str = "udp", expires: int = 300, name: str | None = None,
                     register: bool = True) -> dict[str, Any]:
        acc_name = name or user
        if acc_name in self.accounts:
            raise ValueError(f"account {acc_name} exists")
        acfg = pj.AccountConfig()
        acfg.idUri = f"sip:{user}@{domain}"
        acfg.regConfig.registrarUri = registrar if register else ""
        acfg.regConfig.registerOnAdd = register
        acfg.regConfig.timeoutSec = expires
        acfg.regConfig.retryIntervalSec = 0
        acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", user, 0, password))
        acfg.sipConfig.transportId = self.transports[transport]
        acfg.natConfig.contactRewriteUse = 0
        acfg.natConfig.viaRewriteUse = 0
        acfg.natConfig.sdpNatRewriteUse = 0
        acfg.natConfig.sipOutboundUse = 0
        acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
        acfg.mediaConfig.transportConfig.port = RTP_BASE
        acc = PhoneAccount(self, acc_name)
        acc.create(acfg)
        self.accounts[acc_name] = acc
        return {"account": acc_name}

    def cmd_unregister(self, account: str) -> dict[str, Any]:
        self.accounts[account].setRegistration(False)
        return {}

    def cmd_call(self, account: str, uri: str, headers: dict[str, str] | None = None
                 ) -> dict[str, Any]:
        acc = self.accounts[account]
        call = PhoneCall(self, acc)
        prm = pj.CallOpParam(True)
        for k, v in (headers or {}).items():
            h = pj.SipHeader()
            h.hName, h.hValue = k, v
            prm.txOption.headers.append(h)
        call.makeCall(uri, prm)
        return {"call": call.handle}

    def _call(self, call: int) -> PhoneCall:
        try:
            return self.calls[call]
        except KeyError:
            raise ValueError(f"no call {call}") from None

    def cmd_answer(self, call: int, code: int = 200) -> dict[str, Any]:
        prm = pj.CallOpParam()
        prm.statusCode = code
        self._call(call).answer(prm)
        return {}

    def cmd_hangup(self, call: int, code: int = 0) -> dict[str, Any]:
        prm = pj.CallOpParam()
        prm.statusCode = code
        self._call(call).hangup(prm)
        return {}

    def cmd_hold(self, call: int) -> dict[str, Any]:
        self._call(call).setHold(pj.CallOpParam(True))
        return {}

    def cmd_unhold(self, call: int) -> dict[str, Any]:
        prm = pj.CallOpParam(True)
        prm.opt.flag = pj.PJSUA_CALL_UNHOLD
        self._call(call).reinvite(prm)
        return {}

    def cmd_xfer(self, call: int, uri: str) -> dict[str, Any]:
        """Blind transfer: REFER the remote party to `uri` (RFC 3515)."""
        self._call(call).xfer(uri, pj.CallOpParam(True))
        return {}

    def cmd_xfer_replaces(self, call: int, dest_call: int) -> dict[str, Any]:
        """Attended transfer: REFER the remote party of `call` to the remote party of
        `dest_call`, with Replaces naming `dest_call`'s dialog (RFC 3891)."""
        self._call(call).xferReplaces(self._call(dest_call), pj.CallOpParam(True))
        return {}

    def cmd_dtmf(self, call: int, digits: str, method: str = "rfc2833",
                 duration_ms: int = 160) -> dict[str, Any]:
        prm = pj.CallSendDtmfParam()
        prm.digits = digits
        prm.method = DTMF_METHODS[method]
        prm.duration = duration_ms
        self._call(call).sendDtmf(prm)
        return {}

    def cmd_play(self, call: int, path: str, loop: bool = True) -> dict[str, Any]:
        c = self._call(call)
        c.play_path, c.play_loop = path, loop
        c.connect_media()
        return {}

    def cmd_stop_play(self, call: int) -> dict[str, Any]:
        self._call(call).stop_player()
        return {}

    def cmd_record(self, call: int, path: str) -> dict[str, Any]:
        c = self._call(call)
        c.record_path = path
        c.connect_media()
        return {}

    def cmd_stop_record(self, call: int) -> dict[str, Any]:
        return {"path": self._call(call).stop_recorder()}

    def cmd_message(self, account: str, uri: str, text: str) -> dict[str, Any]:
        """SIP MESSAGE (RFC 3428) to `uri`; its final answer is an `im_status` event."""
        acc = self.accounts[account]
        bcfg = pj.BuddyConfig()
        bcfg.uri = uri
        bcfg.subscribe = False
        buddy = pj.Buddy()
        buddy.create(acc, bcfg)
        self.buddies.append(buddy)  # pjsua2 needs the object alive until the answer
        prm = pj.SendInstantMessageParam()
        prm.content = text
        buddy.sendInstantMessage(prm)
        return {}

    def cmd_calls(self) -> dict[str, Any]:
        return {str(h): c.describe() for h, c in self.calls.items()}

    def cmd_quit(self) -> dict[str, Any]:
        self.running = False
        return {}

    def handle(self, line: str) -> None:
        try:
            msg = json.loads(line)
        except ValueError:
            emit({"event": "protocol_error", "line": line[:200]})
            return
        mid = msg.pop("id", None)
        cmd = msg.pop("cmd", "")
        fn = getattr(self, f"cmd_{cmd}", None)
        if fn is None:
            emit({"id": mid, "ok": False, "error": f"unknown command {cmd!r}"})
            return
        try:
            result = fn(**msg)
        except pj.Error as exc:
            emit({"id": mid, "ok": False, "error": f"pjsua: {exc.info()}"})
        except Exception as exc:  # noqa: BLE001 - every failure is reported to the test
            emit({"id": mid, "ok": False, "error": f"{type(exc).__name__}: {exc}",
                  "trace": traceback.format_exc()})
        else:
            emit({"id": mid, "ok": True, "result": result})

    def loop(self) -> None:
        fd = sys.stdin.fileno()
        buf = b""
        while self.running:
            r, _, _ = select.select([fd], [], [], 0)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:  # test process went away
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        self.handle(line.decode())
            self.ep.libHandleEvents(10)
        for c in list(self.calls.values()):
            c.stop_recorder()
        self.ep.hangupAllCalls()
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            self.ep.libHandleEvents(20)
        for acc in self.accounts.values():
            acc.shutdown()
        self.ep.libDestroy()


class PhoneAccount(pj.Account):
    def __init__(self, agent: Agent, name: str) -> None:
        super().__init__()
        self.agent = agent
        self.name = name

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        info = self.getInfo()
        emit({"event": "reg_state", "account": self.name, "code": prm.code,
              "reason": prm.reason, "expires": prm.expiration, "active": info.regIsActive})

    def onInstantMessage(self, prm: pj.OnInstantMessageParam) -> None:
        emit({"event": "im", "account": self.name, "from": prm.fromUri, "to": prm.toUri,
              "content_type": prm.contentType, "body": prm.msgBody})

    def onInstantMessageStatus(self, prm: pj.OnInstantMessageStatusParam) -> None:
        emit({"event": "im_status", "account": self.name, "to": prm.toUri,
              "code": prm.code, "reason": prm.reason, "body": prm.msgBody})

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        call = PhoneCall(self.agent, self, prm.callId)
        info = call.getInfo()
        emit({"event": "incoming_call", "account": self.name, "call": call.handle,
              "from": info.remoteUri, "to": info.localUri, "call_id": info.callIdString})
        ring = pj.CallOpParam()
        ring.statusCode = 180
        call.answer(ring)


class PhoneCall(pj.Call):
    def __init__(self, agent: Agent, acc: PhoneAccount, call_id: int = pj.PJSUA_INVALID_ID
                 ) -> None:
        super().__init__(acc, call_id)
        self.agent = agent
        self.account = acc
        self.handle = agent.next_call
        agent.next_call += 1
        agent.calls[self.handle] = self
        self.play_path: str | None = None
        self.play_loop = True
        self.record_path: str | None = None
        self.player: pj.AudioMediaPlayer | None = None
        self.recorder: pj.AudioMediaRecorder | None = None
        self.audio: pj.AudioMedia | None = None
        self.media_status = "NONE"

    def describe(self) -> dict[str, Any]:
        info = self.getInfo()
        return {"state": STATE_NAMES.get(info.state, str(info.state)),
                "remote": info.remoteUri, "media": self.media_status,
                "call_id": info.callIdString}

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        info = self.getInfo()
        state = STATE_NAMES.get(info.state, str(info.state))
        emit({"event": "call_state", "call": self.handle, "state": state,
              "code": info.lastStatusCode, "reason": info.lastReason,
              "call_id": info.callIdString, "remote": info.remoteUri})
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.stop_recorder()
            self.stop_player()
            self.audio = None
            # pjsua2 must not see the object freed inside its own callback
            self.agent.graveyard.append(self.agent.calls.pop(self.handle, None))

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        info = self.getInfo()
        for mi in info.media:
            if mi.type != pj.PJMEDIA_TYPE_AUDIO:
                continue
            self.media_status = MEDIA_STATUS.get(mi.status, str(mi.status))
            emit({"event": "media_state", "call": self.handle, "status": self.media_status,
                  "dir": mi.dir})
            if mi.status in (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD):
                self.audio = self.getAudioMedia(mi.index)
                self.connect_media()
            break

    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:
        # the REFER's NOTIFYs (message/sipfrag); keep the call up: the test decides
        emit({"event": "xfer_status", "call": self.handle, "code": prm.statusCode,
              "reason": prm.reason, "final": bool(prm.finalNotify)})
        prm.cont = True

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        emit({"event": "dtmf", "call": self.handle, "digit": prm.digit,
              "method": DTMF_METHOD_NAMES.get(prm.method, str(prm.method))})

    def connect_media(self) -> None:
        if self.audio is None:
            return
        if self.play_path and self.player is None:
            self.player = pj.AudioMediaPlayer()
            self.player.createPlayer(self.play_path,
                                     0 if self.play_loop else pj.PJMEDIA_FILE_NO_LOOP)
        if self.player is not None:
            self.player.startTransmit(self.audio)
        if self.record_path and self.recorder is None:
            self.recorder = pj.AudioMediaRecorder()
            self.recorder.createRecorder(self.record_path)
        if self.recorder is not None:
            self.audio.startTransmit(self.recorder)

    def stop_player(self) -> None:
        if self.player is not None:
            if self.audio is not None:
                try:
                    self.player.stopTransmit(self.audio)
                except pj.Error:
                    pass
            self.agent.graveyard.append(self.player)
            self.player = None
        self.play_path = None

    def stop_recorder(self) -> str | None:
        """Close the WAV (writes its header) and return its path."""
        path = self.record_path
        if self.recorder is not None:
            if self.audio is not None:
                try:
                    self.audio.stopTransmit(self.recorder)
                except pj.Error:
                    pass
            rec = self.recorder
            self.recorder = None
            destroy_now(rec)  # the C++ destructor closes the file and fixes the WAV header
        self.record_path = None
        return path


def destroy_now(obj: Any) -> None:
    """Run a pjsua2 object's C++ destructor now (a Python `del` leaves it to the garbage
    collector, and a recorder only completes its WAV file when destroyed)."""
    if getattr(obj, "thisown", False):
        obj.thisown = False
        type(obj).__swig_destroy__(obj)


def main() -> int:
    log_path = sys.argv[1]
    transports = sys.argv[2].split(",") if len(sys.argv) > 2 else ["udp", "tcp"]
    agent = Agent()
    try:
        info = agent.start(log_path, transports)
    except Exception as exc:  # noqa: BLE001
        emit({"event": "fatal", "error": f"{type(exc).__name__}: {exc}",
              "trace": traceback.format_exc()})
        return 1
    emit({"event": "ready", **info})
    agent.loop()
    emit({"event": "bye"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
