"""A campaign on a switch process, driven by the `softswitch campaign` and `softswitch chats`
commands: the process is killed (SIGKILL) in the middle of the sending and started again on
the same database; it finishes the campaign with no contact messaged twice and none
skipped (at most the one whose request was in flight at the kill is reported as unknown,
whether the provider got it or not, and not resent; the admin's Retry sends it)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import switchproc
from aiohttp import web

from benchmarks.peers.net import free_port
from softswitch.messaging.campaigns import IN_DOUBT

RATE = 20


class Provider:
    def __init__(self) -> None:
        self.sent: list[tuple[float, str]] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/sendmessage", self.send)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def send(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        self.sent.append((time.monotonic(), body["to"]))
        return web.json_response({"data": {"id": f"m-{len(self.sent)}"}})


async def cli(cfg: Path, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOFTSWITCH_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "softswitch", *args, "--config", str(cfg), "--user", "1002",
        "--password", "pw-1002", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode(), err.decode()


async def status_of(cfg: Path) -> str:
    code, out, err = await cli(cfg, "campaign", "list")
    assert code == 0, err
    return out.splitlines()[1].split()[1]


async def test_sigkill_in_the_middle_then_restart_finishes_the_campaign(
        tmp_path: Path) -> None:
    provider = Provider()
    await provider.start()
    config: dict[str, Any] = switchproc.base_config(tmp_path)
    config["http"] = {"listen": f"127.0.0.1:{free_port(udp=False)}"}
    config["admins"] = ["1002"]
    config["message_queues"] = [{"name": "Tech Support",
                                 "chat_assignment_mode": "manual_take_over",
                                 "agents": ["1001"]}]
    config["message_channels"] = [{
        "name": "General SMS Channel", "type": "sms", "provider": "general",
        "token": "429ced149ff9437695be795aff38407b", "api_key": "k",
        "send_url": f"http://127.0.0.1:{provider.port}/sendmessage", "send_rate": RATE,
        "numbers": [{"number": "+14102161183",
                     "destination": {"type": "message_queue", "target": "Tech Support"}}]}]
    config["contacts"] = {"entries": [{"number": "+18300002001", "name": "客户 B"}]}
    numbers = [f"+1202600{i:04d}" for i in range(150)]
    csv_file = tmp_path / "VIP_Contacts_Phone.csv"
    csv_file.write_text("Number\n" + "\n".join(numbers) + "\n+1 bad\n", encoding="utf-8")
    switch = switchproc.start(tmp_path, config)
    cfg = switch.config_path
    try:
        code, out, err = await cli(cfg, "campaign", "create", "--name", "短信营销活动",
                                   "--channel", "General SMS Channel", "--sender",
                                   "+14102161183", "--csv", str(csv_file), "--text",
                                   "限时特惠🔥", "--assign", "message_queue:Tech Support")
        assert code == 0, err
        assert "line 152: '+1 bad': not an E.164 number" in err
        assert out.splitlines()[1].split()[:2] == ["1", "in_progress"]
        while len(provider.sent) < 40:
            await asyncio.sleep(0.01)
        assert switch.stop(signal.SIGKILL) == -signal.SIGKILL
        killed_at = len(provider.sent)
        assert killed_at < len(numbers)
        # paced to the channel's rate (on average: the arrival times are this test's loop's,
        # which a busy machine bunches; test_campaigns checks each gap on a virtual clock)
        elapsed = provider.sent[killed_at - 1][0] - provider.sent[0][0]
        assert elapsed >= 0.95 * (killed_at - 1) / RATE

        switch = switchproc.start(tmp_path, config, name="switch2")  # the same database
        for _ in range(600):
            if await status_of(cfg) == "completed":
                break
            await asyncio.sleep(0.05)
        sent = Counter(to for _, to in provider.sent)
        assert max(sent.values()) == 1  # nobody twice
        # the contact whose request was in flight at the kill (if any) is failed as
        # unknown: the provider may have got it (then it is not missing here) or not
        in_doubt = await switch_rows(cfg)
        assert len(in_doubt) <= 1 and set(in_doubt.values()) <= {IN_DOUBT}
        missing = [n for n in numbers if sent[n] == 0]
        assert set(missing) <= set(in_doubt)  # nobody skipped
        code, out, err = await cli(cfg, "campaign", "show", "1", "--page", "1")
        assert code == 0, err
        summary = out.splitlines()[2]
        assert summary.endswith(f"Failed: {len(in_doubt)}, Succeeded: "
                                f"{150 - len(in_doubt)}, Total: 150")
        if in_doubt:  # the admin's Retry sends it (again, if the provider had it)
            code, out, err = await cli(cfg, "campaign", "retry", "1")
            assert code == 0, err
            for _ in range(200):
                if await status_of(cfg) == "completed":
                    break
                await asyncio.sleep(0.05)
            (number,) = in_doubt
            assert Counter(to for _, to in provider.sent)[number] == sent[number] + 1
        assert sorted(set(to for _, to in provider.sent)) == numbers
        assert len(provider.sent) == 150 + len(in_doubt) - len(missing)

        out_zip = tmp_path / "chats.zip"
        code, out, err = await cli(cfg, "chats", "export", "--out", str(out_zip), "--all")
        assert code == 0, err
        with zipfile.ZipFile(out_zip) as z:
            sessions = z.read("Session_Record.csv").decode("utf-8-sig").splitlines()
        assert len(sessions) == 1 + 150  # one session per contact reached
        code, out, err = await cli(cfg, "campaign", "list")
        assert "0/150" in out
        code, out, err = await cli(cfg, "campaign", "create", "--name", "VIP", "--channel",
                                   "General SMS Channel", "--sender", "+14102161183",
                                   "--company-contacts", "--text", "hi", "--draft")
        assert code == 0, err
        assert out.splitlines()[1].split()[:3] == ["2", "draft", "VIP"]
        code, out, err = await cli(cfg, "campaign", "copy", "1")
        assert code == 0 and out.splitlines()[1].split()[:3] == ["3", "draft", "短信营销活动"]
        code, out, err = await cli(cfg, "campaign", "delete", "3")
        assert (code, out.strip()) == (0, "campaign 3 deleted")
        code, out, err = await cli(cfg, "campaign", "retry", "2")
        assert code == 1 and "409 only a completed or stopped campaign" in err
    finally:
        assert switch.stop() == 0
        assert provider.runner is not None
        await provider.runner.cleanup()


async def switch_rows(cfg: Path) -> dict[str, str]:
    """The failed contacts and their reasons, read from the switch's database."""
    import sqlite3

    db = sqlite3.connect(cfg.parent / "switch.sqlite3")
    try:
        return dict(db.execute("SELECT number, reason FROM messaging_campaign_contacts"
                               " WHERE result='failed'").fetchall())
    finally:
        db.close()
