"""Shared pieces of the live API tests (tests/web/): a switch started in the test's event
loop with queues, managers, agents and an admin, and clients for its live API (REST with
aiohttp, the websocket with `websockets`). The `live` fixture is in conftest.py."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import switchproc  # noqa: E402
from sipua import SipUA, sdp  # noqa: E402

from softswitch.app import Switch  # noqa: E402
from softswitch.config import parse_config  # noqa: E402

# 1001 manages 6400 (every manager permission); 1002 is a static agent of 6400; 1003 a
# dynamic agent of 6400 and 6401; 1004 manages 6401 with the queue panel only (no P1);
# 1005 is an admin; 1006 has no role.
EXTENSIONS = ("1001", "1002", "1003", "1004", "1005", "1006")


def live_config(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    raw = switchproc.base_config(tmp_path)
    raw["extensions"] = [{"number": n, "name": f"Ext {n}", "password": f"pw-{n}"}
                         for n in EXTENSIONS]
    raw["admins"] = ["1005"]
    raw["queues"] = [
        {"number": "6400", "name": "Sales", "strategy": "ring_all", "managers": ["1001"],
         "static_agents": ["1002"], "dynamic_agents": ["1003"], "ring_timeout": 15,
         "retry_interval": 1,
         "panel_permissions": {"agents": ["queue_panel", "call_logs"],
                               "call_logs": {"members": ["1003"], "scope": ["missed"]}}},
        {"number": "6401", "name": "Support", "managers": ["1004"],
         "dynamic_agents": ["1003"],
         "panel_permissions": {"managers": ["queue_panel"], "agents": []}},
    ]
    raw["contacts"] = {"match_last_digits": 7,
                       "entries": [{"name": "Kristin Hale", "number": "5550100"}]}
    raw.update(extra)
    return raw


@dataclass
class Live:
    switch: Switch
    session: aiohttp.ClientSession
    base: str
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def ws_url(self) -> str:
        return self.base.replace("http://", "ws://") + "/api/v1/ws"

    @property
    def sip(self) -> tuple[str, int]:
        host, port = self.switch.sip_addresses[0].split(":")[1:]
        return host, int(port)

    @property
    def acd(self) -> Any:
        return self.switch.router.queues.acd

    async def login(self, ext: str, password: str | None = None) -> tuple[int, Any]:
        async with self.session.post(self.base + "/api/v1/login", json={
                "extension": ext, "password": password or f"pw-{ext}"}) as resp:
            body = await resp.json()
            if resp.status == 200:
                self.tokens[ext] = body["token"]
            return resp.status, body

    async def token(self, ext: str) -> str:
        if ext not in self.tokens:
            status, body = await self.login(ext)
            assert status == 200, body
        return self.tokens[ext]

    async def call(self, method: str, path: str, as_: str | None = None,
                   body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
        headers = {}
        if as_ is not None:
            headers["Authorization"] = f"Bearer {await self.token(as_)}"
        kw: dict[str, Any] = {"headers": headers}
        if raw is not None:
            kw["data"] = raw
        elif body is not None:
            kw["json"] = body
        async with self.session.request(method, self.base + path, **kw) as resp:
            assert resp.content_type == "application/json", await resp.text()
            return resp.status, await resp.json()


async def start_live(tmp_path: Path, **extra: Any) -> AsyncIterator[Live]:
    cfg = parse_config(yaml.safe_dump(live_config(tmp_path, **extra)), "c.yaml", tmp_path)
    switch = Switch(cfg)
    await switch.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield Live(switch, session, f"http://{switch.http_address}")
    finally:
        await switch.stop()


async def enter_queue(live: Live, caller: str, queue: str, call_id: str) -> SipUA:
    """Extension ``caller`` calls ``queue``; the switch answers and the caller waits."""
    ua = await SipUA(caller, f"pw-{caller}", live.sip).start()
    ua.call_id = call_id
    uri = f"sip:{queue}@127.0.0.1"
    resp = await ua.request("INVITE", uri, to=f"<{uri}>", body=sdp(40000 + len(call_id)))
    assert resp.status == 200, resp.status
    ua.send_raw(ua.build("ACK", uri, to=f"<{uri}>", to_tag=resp.to.tag,
                         cseq=int(resp.get("CSeq").split()[0])))
    ua.peer_tag = resp.to.tag  # type: ignore[attr-defined]
    return ua


async def hang_up(ua: SipUA, queue: str) -> None:
    uri = f"sip:{queue}@127.0.0.1"
    ua.send_raw(ua.build("BYE", uri, to=f"<{uri}>", to_tag=ua.peer_tag))  # type: ignore[attr-defined]
    await ua.response()


_UNREAD: dict[int, list[dict[str, Any]]] = {}


async def recv(ws: Any, kind: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
    """The next message (of type ``kind``), skipping heartbeats and other types; a frame
    holding a batch (a JSON array) yields its messages one by one."""
    unread = _UNREAD.setdefault(id(ws), [])
    while True:
        if not unread:
            data = json.loads(await asyncio.wait_for(ws.recv(), timeout))
            unread.extend(data if isinstance(data, list) else [data])
        msg = unread.pop(0)
        if msg["type"] == "heartbeat":
            continue
        if kind is None or msg["type"] == kind:
            return msg
