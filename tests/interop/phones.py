"""pjsua2 softphones for interop tests, each in its own process (see phone_agent.py).

    phone = Phone.start(tmp_path / "alice")
    phone.register("1001", "secret", switch.host, switch.port, transport="tcp")  # waits
    call = phone.call(switch.uri("1002"))
    other.wait_incoming(); other.answer(c); phone.wait_call_state(call, "CONFIRMED")
    phone.play(call, tone_wav); other.record(c, path); ...; other.stop_record(c)

Every wait has a timeout and fails with the phone's recent events and the tail of its pjsua
log (SIP messages included), so a failing test says what the phone saw.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AGENT = Path(__file__).with_name("phone_agent.py")


def wait_wav_complete(path: Path, timeout: float = 3.0) -> None:
    """pjmedia removes a recorder from the conference bridge on its next clock tick, and only
    then writes the last buffer and the final RIFF sizes: wait until the header's data size
    accounts for the whole file."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = b""
        if len(data) >= 44 and data[:4] == b"RIFF":
            riff = int.from_bytes(data[4:8], "little")
            if riff + 8 == len(data):
                return
        if time.monotonic() > deadline:
            raise PhoneError(f"recording {path} was not completed within {timeout}s "
                             f"({len(data)} bytes)")
        time.sleep(0.02)


class PhoneError(AssertionError):
    """A phone did not do what the test expected (an AssertionError, so pytest shows it)."""


@dataclass
class Registration:
    code: int
    reason: str
    expires: int
    active: bool

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300 and self.active


class Phone:
    """A pjsua2 softphone process; `name` only labels its files and messages."""

    def __init__(self, workdir: Path, name: str = "phone",
                 transports: tuple[str, ...] = ("udp", "tcp"),
                 python: str = sys.executable) -> None:
        self.name = name
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"{name}.pjsua.log"
        self.stderr_path = self.workdir / f"{name}.stderr"
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [python, str(AGENT), str(self.log_path), ",".join(transports)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            start_new_session=True)
        self._next_id = 1
        self._lock = threading.Lock()
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.accounts: dict[str, str] = {}
        self.default_account: str | None = None
        ready = self.wait_event(lambda e: e["event"] in ("ready", "fatal"), timeout=20,
                                what="agent start")
        if ready["event"] == "fatal":
            raise PhoneError(f"{name}: pjsua2 failed to start: {ready['error']}\n"
                             f"{ready.get('trace', '')}")
        self.ports: dict[str, int] = ready["ports"]

    @classmethod
    def start(cls, workdir: Path, name: str = "phone", **kw: Any) -> Phone:
        return cls(workdir, name, **kw)

    # --- plumbing ---------------------------------------------------------------------------
    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            if "id" in msg and "event" not in msg:
                q = self._replies.get(msg["id"])
                if q is not None:
                    q.put(msg)
                continue
            msg["t"] = time.monotonic()
            with self._cond:
                self.events.append(msg)
                self._cond.notify_all()
        with self._cond:
            self.events.append({"event": "exited", "t": time.monotonic()})
            self._cond.notify_all()

    def command(self, cmd: str, timeout: float = 10.0, **args: Any) -> dict[str, Any]:
        """Send one command to the agent and return its result (PhoneError if it failed)."""
        with self._lock:
            mid = self._next_id
            self._next_id += 1
            q: queue.Queue[dict[str, Any]] = queue.Queue()
            self._replies[mid] = q
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.write((json.dumps({"id": mid, "cmd": cmd, **args}) + "\n").encode())
                self.proc.stdin.flush()
            except BrokenPipeError:
                raise PhoneError(f"{self.name}: agent is gone\n{self.diagnostics()}") from None
        try:
            reply = q.get(timeout=timeout)
        except queue.Empty:
            raise PhoneError(f"{self.name}: no reply to {cmd} in {timeout}s\n"
                             f"{self.diagnostics()}") from None
        finally:
            self._replies.pop(mid, None)
        if not reply.get("ok"):
            raise PhoneError(f"{self.name}: {cmd}({args}) failed: {reply.get('error')}\n"
                             f"{reply.get('trace', '')}")
        return reply.get("result") or {}

    def wait_event(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 10.0,
                   what: str = "event", since: int = 0) -> dict[str, Any]:
        """The first event (from index `since`) matching `pred`, waiting up to `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for e in self.events[since:]:
                    if pred(e):
                        return e
                    if e["event"] == "exited":
                        raise PhoneError(f"{self.name}: agent exited while waiting for {what}\n"
                                         f"{self.diagnostics()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PhoneError(f"{self.name}: no {what} within {timeout}s\n"
                                     f"{self.diagnostics()}")
                self._cond.wait(left)

    def mark(self) -> int:
        """An index into `events`; pass it as `since` to wait only for what happens next."""
        with self._cond:
            return len(self.events)

    def diagnostics(self, log_chars: int = 5000) -> str:
        recent = "\n".join(json.dumps({k: v for k, v in e.items() if k != "t"})
                           for e in self.events[-25:])
        try:
            log = self.log_path.read_text(errors="replace")[-log_chars:]
        except FileNotFoundError:
            log = "(no pjsua log)"
        try:
            err = self.stderr_path.read_text(errors="replace")[-1500:]
        except FileNotFoundError:
            err = ""
        return (f"--- {self.name} recent events ---\n{recent}\n--- {self.name} pjsua log tail "
                f"---\n{log}\n--- {self.name} stderr ---\n{err}")

    # --- registration -----------------------------------------------------------------------
    def register(self, user: str, password: str, host: str, port: int, *,
                 transport: str = "udp", domain: str | None = None, expires: int = 300,
                 account: str | None = None, timeout: float = 10.0) -> Registration:
        """REGISTER `user` at host:port and wait for the final result (any code)."""
        name = account or user
        since = self.mark()
        suffix = "" if transport == "udp" else f";transport={transport}"
        self.command("register", user=user, password=password,
                     registrar=f"sip:{host}:{port}{suffix}", domain=domain or host,
                     transport=transport, expires=expires, name=name)
        self.accounts[name] = user
        self.default_account = self.default_account or name
        e = self.wait_event(lambda e: e["event"] == "reg_state" and e["account"] == name
                            and e["code"] >= 200, timeout=timeout,
                            what=f"registration result of {user}", since=since)
        return Registration(e["code"], e["reason"], e["expires"], e["active"])

    def add_account(self, user: str, password: str, domain: str, *, transport: str = "udp",
                    account: str | None = None) -> str:
        """An account that does not register (it can still call and authenticate)."""
        name = account or user
        self.command("register", user=user, password=password, registrar="",
                     domain=domain, transport=transport, name=name, register=False)
        self.accounts[name] = user
        self.default_account = self.default_account or name
        return name

    def unregister(self, account: str | None = None, timeout: float = 10.0) -> Registration:
        name = account or self.default_account
        since = self.mark()
        self.command("unregister", account=name)
        e = self.wait_event(lambda e: e["event"] == "reg_state" and e["account"] == name
                            and e["code"] >= 200, timeout=timeout, what="un-registration",
                            since=since)
        return Registration(e["code"], e["reason"], e["expires"], e["active"])

    # --- instant messages (RFC 3428) --------------------------------------------------------
    def send_message(self, uri: str, text: str, account: str | None = None,
                     timeout: float = 10.0) -> int:
        """Send a SIP MESSAGE and wait for its final answer; returns its status code."""
        name = account or self.default_account
        since = self.mark()
        self.command("message", account=name, uri=uri, text=text)
        e = self.wait_event(lambda e: e["event"] == "im_status" and e["account"] == name
                            and e["code"] >= 200, timeout=timeout,
                            what=f"answer to a MESSAGE to {uri}", since=since)
        return int(e["code"])

    def wait_message(self, timeout: float = 10.0, since: int = 0) -> dict[str, Any]:
        """The first MESSAGE received after `since` (from, to, content_type, body)."""
        return self.wait_event(lambda e: e["event"] == "im", timeout=timeout,
                               what="an incoming MESSAGE", since=since)

    # --- calls ----------------------------------------------------------------------------
    def call(self, uri: str, account: str | None = None,
             headers: dict[str, str] | None = None) -> int:
        """Start a call; returns the call handle (use it with the other methods)."""
        name = account or self.default_account
        if name is None:
            raise PhoneError(f"{self.name}: register or add_account before calling")
        return int(self.command("call", account=name, uri=uri, headers=headers or {})["call"])

    def wait_incoming(self, timeout: float = 10.0, since: int = 0) -> int:
        """Handle of the first incoming call not yet taken by an earlier wait_incoming."""
        taken = {e["call"] for e in self.events if e.get("_taken")}
        e = self.wait_event(lambda e: e["event"] == "incoming_call" and e["call"] not in taken,
                            timeout=timeout, what="incoming call", since=since)
        e["_taken"] = True
        return int(e["call"])

    def incoming(self, call: int) -> dict[str, Any]:
        for e in self.events:
            if e["event"] == "incoming_call" and e["call"] == call:
                return e
        raise PhoneError(f"{self.name}: call {call} was not incoming")

    def answer(self, call: int, code: int = 200) -> None:
        self.command("answer", call=call, code=code)

    def hangup(self, call: int, code: int = 0) -> None:
        self.command("hangup", call=call, code=code)

    def hold(self, call: int) -> None:
        self.command("hold", call=call)

    def unhold(self, call: int) -> None:
        self.command("unhold", call=call)

    def xfer(self, call: int, uri: str) -> None:
        """Blind transfer of the remote party of `call` to `uri` (REFER)."""
        self.command("xfer", call=call, uri=uri)

    def xfer_replaces(self, call: int, dest_call: int) -> None:
        """Attended transfer: the remote party of `call` to the one of `dest_call`."""
        self.command("xfer_replaces", call=call, dest_call=dest_call)

    def wait_xfer_final(self, call: int, timeout: float = 15.0) -> int:
        """The final status the REFER's last NOTIFY reported for `call`'s transfer."""
        return int(self.wait_event(lambda e: e["event"] == "xfer_status" and e["call"] == call
                                   and e["final"], timeout=timeout,
                                   what=f"final transfer status of call {call}")["code"])

    def send_dtmf(self, call: int, digits: str, method: str = "rfc2833") -> None:
        if method not in ("rfc2833", "info"):
            raise ValueError("method must be 'rfc2833' or 'info'")
        self.command("dtmf", call=call, digits=digits, method=method)

    def wait_call_state(self, call: int, state: str, timeout: float = 10.0,
                        since: int = 0) -> dict[str, Any]:
        """Wait until `call` reaches `state` (CALLING, EARLY, CONFIRMED, DISCONNECTED, ...)."""
        return self.wait_event(lambda e: e["event"] == "call_state" and e["call"] == call
                               and e["state"] == state, timeout=timeout,
                               what=f"call {call} state {state}", since=since)

    def call_states(self, call: int) -> list[str]:
        return [e["state"] for e in self.events
                if e["event"] == "call_state" and e["call"] == call]

    def wait_media(self, call: int, status: str = "ACTIVE", timeout: float = 10.0,
                   since: int = 0) -> dict[str, Any]:
        """Wait for a media state of `call`: ACTIVE, LOCAL_HOLD, REMOTE_HOLD, NONE."""
        return self.wait_event(lambda e: e["event"] == "media_state" and e["call"] == call
                               and e["status"] == status, timeout=timeout,
                               what=f"media {status} on call {call}", since=since)

    def dtmf_received(self, call: int | None = None) -> str:
        return "".join(e["digit"] for e in self.events if e["event"] == "dtmf"
                       and (call is None or e["call"] == call))

    def wait_dtmf(self, digits: str, call: int | None = None, timeout: float = 10.0) -> str:
        """Wait until the digits received on `call` (by any method) end with `digits`."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.dtmf_received(call)
            if got.endswith(digits):
                return got
            left = deadline - time.monotonic()
            if left <= 0:
                raise PhoneError(f"{self.name}: DTMF {digits!r} not received, got {got!r}\n"
                                 f"{self.diagnostics()}")
            n = self.mark()
            try:
                self.wait_event(lambda e: e["event"] == "dtmf", timeout=min(left, 1.0),
                                since=n)
            except PhoneError:
                pass

    def dtmf_methods(self, call: int | None = None) -> list[str]:
        return [e["method"] for e in self.events if e["event"] == "dtmf"
                and (call is None or e["call"] == call)]

    # --- audio -----------------------------------------------------------------------------
    def play(self, call: int, wav: Path | str, loop: bool = True) -> None:
        """Send a WAV (8 kHz mono 16-bit is best) into the call, from now or once media is up."""
        self.command("play", call=call, path=str(wav), loop=loop)

    def stop_play(self, call: int) -> None:
        self.command("stop_play", call=call)

    def record(self, call: int, wav: Path | str) -> None:
        """Record what the phone receives on `call` into a WAV (8 kHz mono)."""
        self.command("record", call=call, path=str(wav))

    def stop_record(self, call: int) -> Path:
        """Close the recording so the WAV is complete; returns its path."""
        path = self.command("stop_record", call=call).get("path")
        if not path:
            raise PhoneError(f"{self.name}: call {call} was not being recorded")
        wait_wav_complete(Path(path))
        return Path(path)

    def calls(self) -> dict[str, Any]:
        return self.command("calls")

    # --- end ---------------------------------------------------------------------------------
    def close(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            try:
                self.command("quit", timeout=5)
            except PhoneError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._stderr.close()

    def __enter__(self) -> Phone:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
