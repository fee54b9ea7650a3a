"""The admin API for bans (softswitch.web.security) over a real socket, with the switch's
own ban keeper (softswitch.app.AddressBans) and brute-force guard behind it."""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from softswitch.app import AddressBans
from softswitch.sip.auth import BruteForceGuard
from softswitch.web import security

ADMINS = {"1001": "alice-secret"}
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


@dataclass
class Api:
    url: str
    bans: AddressBans
    session: aiohttp.ClientSession

    async def call(self, method: str, path: str, user: str | None = "1001",
                   password: str = "alice-secret") -> tuple[int, dict[str, Any], Any]:
        headers = {}
        if user is not None:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        async with self.session.request(method, self.url + path, headers=headers) as resp:
            assert resp.content_type == "application/json"
            return resp.status, await resp.json(), resp.headers


async def serve(trusted: tuple[Any, ...], max_failures: int = 3) -> AsyncIterator[Api]:
    import asyncio

    guard = BruteForceGuard(max_failures=max_failures, window=60.0, ban_time=600.0,
                            trusted=trusted)
    bans = AddressBans(guard, asyncio.get_running_loop())
    app = web.Application()
    security.add_routes(app, bans, ADMINS)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession() as session:
        yield Api(f"http://127.0.0.1:{port}/api/v1/security", bans, session)
    bans.close()
    await runner.cleanup()


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    """The switch's host is trusted (the default): its failed log-ins never ban it."""
    async for a in serve((LOOPBACK,)):
        yield a


@pytest.fixture
async def exposed() -> AsyncIterator[Api]:
    """No trusted networks: the client's own address can be banned."""
    async for a in serve(()):
        yield a


async def test_list_shows_each_ban_with_its_failures_and_times(api: Api) -> None:
    status, body, _ = await api.call("GET", "/bans")
    assert (status, body) == (200, {"bans": []})
    for _ in range(3):
        api.bans.record_failure("192.0.2.9", "sip")
    api.bans.record_failure("2001:db8::7", "sip")  # one failure: not banned
    status, body, _ = await api.call("GET", "/bans")
    assert status == 200
    [ban] = body["bans"]
    assert ban["address"] == "192.0.2.9" and ban["failures"] == 3
    assert 599 <= ban["remaining"] <= 600
    assert ban["since"].endswith("+00:00") and ban["until"] > ban["since"]


async def test_lift_ends_a_ban_and_the_address_gets_in_again(api: Api) -> None:
    for _ in range(3):
        api.bans.record_failure("2001:db8::7", "sip")
    assert api.bans.is_banned("2001:db8::7")
    # any spelling of the address names the same ban
    status, body, _ = await api.call("DELETE", "/bans/%5B2001:DB8:0::7%5D")
    assert status == 200 and body["lifted"]["address"] == "2001:db8::7"
    assert not api.bans.is_banned("2001:db8::7")
    assert (await api.call("GET", "/bans"))[1] == {"bans": []}
    status, body, _ = await api.call("DELETE", "/bans/2001:db8::7")
    assert (status, body["error"]) == (404, "not_banned")
    assert "2001:db8::7 is not banned" in body["message"]


@pytest.mark.parametrize("address", ["banana", "300.1.2.3", "192.0.2", "::1::"])
async def test_a_malformed_address_is_400(api: Api, address: str) -> None:
    status, body, _ = await api.call("DELETE", f"/bans/{address}")
    assert (status, body["error"]) == (400, "bad_address") and address in body["message"]


@pytest.mark.parametrize(("user", "password"), [
    ("1001", "wrong"), ("1002", "bob-secret"), ("9999", "alice-secret"), ("", "")])
async def test_wrong_credentials_are_401_with_a_basic_challenge(
        api: Api, user: str, password: str) -> None:
    for method, path in (("GET", "/bans"), ("DELETE", "/bans/192.0.2.9")):
        status, body, headers = await api.call(method, path, user, password)
        assert (status, body["error"]) == (401, "unauthorized")
        assert headers["WWW-Authenticate"].startswith("Basic realm=")


async def test_no_credentials_is_401_and_unknown_paths_are_json(api: Api) -> None:
    status, body, _ = await api.call("GET", "/bans", user=None)
    assert (status, body["error"]) == (401, "unauthorized")
    status, body, _ = await api.call("GET", "/nothing-here")
    assert (status, body["error"]) == (404, "not_found")
    status, body, headers = await api.call("POST", "/bans")
    assert status == 405 and "GET" in headers["Allow"]


async def test_failed_log_ins_count_toward_the_brute_force_ban(exposed: Api) -> None:
    for _ in range(2):
        assert (await exposed.call("GET", "/bans", password="guess"))[0] == 401
    # asking without credentials is how clients learn to log in: not a failure
    for _ in range(5):
        assert (await exposed.call("GET", "/bans", user=None))[0] == 401
    assert (await exposed.call("GET", "/bans"))[0] == 200
    assert (await exposed.call("GET", "/bans", password="guess"))[0] == 401  # the third
    status, body, _ = await exposed.call("GET", "/bans")  # even the right password now
    assert (status, body["error"]) == (403, "banned")
    assert [b.address for b in exposed.bans.bans()] == ["127.0.0.1"]


async def test_the_trusted_admin_host_is_never_banned(api: Api) -> None:
    for _ in range(10):
        assert (await api.call("GET", "/bans", password="guess"))[0] == 401
    status, body, _ = await api.call("GET", "/bans")
    assert (status, body) == (200, {"bans": []})
