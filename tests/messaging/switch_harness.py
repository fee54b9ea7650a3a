"""The messaging tests' switch harness: a switch (in the test's loop) with a General SMS
channel pointed at a local provider (tests/messaging/fake_provider.py), and a client of its
REST API, webhooks and live feed (used by test_messaging_switch, test_admin_api and the
other switch-level messaging tests)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import switchproc
import yaml
from fake_provider import FakeProvider
from test_general_protocol import EXAMPLE

from softswitch.app import Switch
from softswitch.config import parse_config
from softswitch.messaging.general import sign

TOKEN = "429ced149ff9437695be795aff38407b"
SECRET = "s3cret"
QUEUE_NUMBER = "+14102161183"
EXT_NUMBER = "+865925503309"


def config(tmp_path: Path, base: str, **raw: Any) -> Any:
    cfg = switchproc.base_config(tmp_path)
    cfg["message_queues"] = [{"name": "Tech Support", "chat_assignment_mode": "manual_take_over",
                              "agents": ["1001", "1002"]}]
    cfg["message_channels"] = [{
        "name": "General SMS Channel", "type": "sms", "provider": "general", "token": TOKEN,
        "api_key": "the-api-key", "secret": SECRET, "send_url": f"{base}/sendmessage",
        "numbers": [{"number": QUEUE_NUMBER,
                     "destination": {"type": "message_queue", "target": "Tech Support"},
                     "allowed_extensions": ["1001"]},
                    {"number": EXT_NUMBER,
                     "destination": {"type": "extension", "target": "1003"}}]}]
    cfg["admins"] = ["1002"]
    cfg.update(raw)
    return parse_config(yaml.safe_dump(cfg, allow_unicode=True), "c.yaml", tmp_path)


def webhook(pid: str, to: str = QUEUE_NUMBER, text: str = "Hello from PBX!",
            customer: str = "+8618012121222") -> bytes:
    doc = json.loads(json.dumps(EXAMPLE))
    p = doc["data"]["payload"]
    p.update(id=pid, text=text, to=[{"phone_number": to}])
    p["from"] = {"phone_number": customer}
    return json.dumps(doc).encode()


class Harness:
    def __init__(self, switch: Switch, http: aiohttp.ClientSession) -> None:
        self.switch = switch
        self.http = http
        self.base = f"http://{switch.http_address}"
        self.tokens: dict[str, str] = {}

    async def post_webhook(self, raw: bytes, signature: str | None = "good",
                           content_type: str = "application/json") -> int:
        headers = {"Content-Type": content_type}
        if signature == "good":
            headers["X-Signature-256"] = sign(SECRET, raw)
        elif signature is not None:
            headers["X-Signature-256"] = signature
        async with self.http.post(f"{self.base}/api/v1/webhooks/general/{TOKEN}", data=raw,
                                  headers=headers) as resp:
            return resp.status

    async def login(self, ext: str) -> str:
        if ext not in self.tokens:
            async with self.http.post(f"{self.base}/api/v1/login",
                                      json={"extension": ext, "password": f"pw-{ext}"}) as r:
                self.tokens[ext] = (await r.json())["token"]
        return self.tokens[ext]

    async def api(self, ext: str, method: str, path: str,
                  body: dict[str, Any] | None = None) -> tuple[int, Any]:
        token = await self.login(ext)
        async with self.http.request(method, f"{self.base}/api/v1/messaging{path}", json=body,
                                     headers={"Authorization": f"Bearer {token}"}) as resp:
            return resp.status, await resp.json()

    async def sessions(self, ext: str, which: str = "recent") -> list[int]:
        status, data = await self.api(ext, "GET", f"/sessions?list={which}")
        assert status == 200
        return [s["id"] for s in data["sessions"]]

    async def last_message(self, ext: str, sid: int,
                           done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The session's last message once ``done`` holds for it (delivery is answered by
        the provider after the API's 202), at most 2 s later."""
        for _ in range(100):
            _, data = await self.api(ext, "GET", f"/sessions/{sid}")
            last: dict[str, Any] = data["messages"][-1]
            if done(last):
                break
            await asyncio.sleep(0.02)
        return last

    async def call(self, ext: str, method: str, path: str, body: Any = None,
                   data: bytes | None = None) -> tuple[int, Any]:
        """`api` with a raw ``data`` body too, and a zip answer as its bytes."""
        token = await self.login(ext)
        async with self.http.request(method, f"{self.base}/api/v1/messaging{path}", json=body,
                                     data=data,
                                     headers={"Authorization": f"Bearer {token}"}) as r:
            if r.content_type == "application/zip":
                return r.status, await r.read()
            return r.status, await r.json()

    async def openapi_examples(self, keep: Callable[[str], bool],
                               ) -> list[tuple[str, str, Any]]:
        """(METHOD, path, example body) of every JSON request example of the switch's
        OpenAPI document whose path ``keep`` keeps."""
        async with self.http.get(f"{self.base}/api/v1/openapi.json") as resp:
            doc = await resp.json()
        examples = []
        for path, methods in doc["paths"].items():
            for method, op in methods.items():
                content = op.get("requestBody", {}).get("content", {}).get(
                    "application/json")
                for ex in (content or {}).get("examples", {}).values():
                    if keep(path):
                        examples.append((method.upper(), path, ex["value"]))
        return examples

    async def completed(self, cid: int) -> Any:
        """The campaign's ``GET /campaigns/{cid}`` answer once it is completed (at most
        5 s after; admin 1002 asks)."""
        for _ in range(250):
            _, data = await self.api("1002", "GET", f"/campaigns/{cid}")
            if data["campaign"]["status"] == "completed":
                return data
            await asyncio.sleep(0.02)
        raise AssertionError(f"campaign {cid} did not complete")

    async def stored(self) -> int:
        rows = await self.switch.store.fetch("SELECT COUNT(*) FROM messaging_messages")
        return int(rows[0][0])


@pytest.fixture
async def provider() -> AsyncIterator[FakeProvider]:
    p = await FakeProvider().start()
    yield p
    await p.stop()


async def started(cfg: Any) -> Switch:
    switch = Switch(cfg)
    await switch.start()
    return switch


@contextlib.asynccontextmanager
async def running(cfg: Any) -> AsyncIterator[Harness]:
    """A switch started on ``cfg`` and an HTTP client to it; the switch stopped after."""
    switch = await started(cfg)
    try:
        async with aiohttp.ClientSession() as http:
            yield Harness(switch, http)
    finally:
        await switch.stop()


_PENDING: dict[int, list[Any]] = {}


async def deltas(ws: aiohttp.ClientWebSocketResponse, kind: str, n: int = 1) -> list[Any]:
    """The next ``n`` deltas of ``kind`` (frames carry one delta or an array of them; the
    ones of other kinds read meanwhile are kept for later calls)."""
    pending = _PENDING.setdefault(id(ws), [])
    out: list[Any] = []
    while len(out) < n:
        match = next((d for d in pending if d.get("type") == kind), None)
        if match is not None:
            pending.remove(match)
            out.append(match)
            continue
        msg = await asyncio.wait_for(ws.receive(), 5)
        data = json.loads(msg.data)
        pending.extend(data if isinstance(data, list) else [data])
    return out
