"""Campaign content on a switch process through `softswitch campaign create` (omnichannel.md
§7.3): an SMS campaign of the content type File (``--file``: uploaded, sent as MMS media the
provider downloads from the switch) and a WhatsApp campaign of a template (``--template``,
``--var``, ``--header-media`` uploaded too; ``--header-location`` from a maps link) against
the local fake Graph API: an unfilled variable or a missing address is refused naming it,
the preview is shown, the Graph request is the Cloud API's template message with the
header's link or location."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from pathlib import Path
from typing import Any

import switchproc
from fake_provider import FakeProvider
from fake_providers import FakeApis
from test_campaign_process import cli

from benchmarks.peers.net import free_port

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
TEMPLATES: list[dict[str, Any]] = [
    {"name": "promo", "language": "zh_CN", "status": "APPROVED", "category": "MARKETING",
     "components": [{"type": "HEADER", "format": "IMAGE"},
                    {"type": "BODY", "text": "您好 {{1}}，全场低至{{2}}折"}]},
    {"name": "store_map", "language": "en_US", "status": "APPROVED", "category": "UTILITY",
     "components": [{"type": "HEADER", "format": "LOCATION"},
                    {"type": "BODY", "text": "Our new store"}]}]


async def until(done: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return bytes(reply.read())


async def test_file_and_template_campaigns_from_the_command_line(tmp_path: Path) -> None:
    sms = await FakeProvider().start()
    apis = await FakeApis(templates=TEMPLATES).start()
    config: dict[str, Any] = switchproc.base_config(tmp_path)
    config["http"] = {"listen": f"127.0.0.1:{free_port(udp=False)}"}
    config["admins"] = ["1002"]
    config["message_channels"] = [
        {"name": "General SMS Channel", "type": "sms", "provider": "general",
         "token": "429ced149ff9437695be795aff38407b", "api_key": "k",
         "send_url": f"{sms.base}/sendmessage",
         "numbers": [{"number": "+14102161183",
                      "destination": {"type": "extension", "target": "1001"}}]},
        {"name": "WhatsApp channel", "type": "whatsapp",
         "token": "4f9664096f524cc79d7b8fed69ec9b17", "verify_token": "38owndego8ugcinx",
         "access_token": "EAAG-token", "app_secret": "app-secret", "number": "+15559871234",
         "number_id": "123", "waba_id": "456",
         "destination": {"type": "extension", "target": "1001"}, "base_url": apis.base}]
    image = tmp_path / "新品.png"
    image.write_bytes(PNG)
    switch = switchproc.start(tmp_path, config)
    cfg = switch.config_path
    try:
        # SMS, content type File
        code, out, err = await cli(cfg, "campaign", "create", "--name", "彩信活动",
                                   "--channel", "General SMS Channel", "--sender",
                                   "+14102161183", "--to", "+18300002001", "--to",
                                   "+18300002002", "--file", str(image), "--text", "新品上市")
        assert code == 0, err
        await until(lambda: len(sms.sent) == 2)
        urls = {tuple(r.body["media_urls"]) for r in sms.sent}
        [(url,)] = urls
        assert "/messaging/files/" in url and url.endswith("/%E6%96%B0%E5%93%81.png")
        assert {r.body["text"] for r in sms.sent} == {"新品上市"}
        assert await asyncio.to_thread(fetch, url) == PNG  # what the provider downloads
        code, out, err = await cli(cfg, "campaign", "show", "1")
        assert code == 0, err
        assert f"File: {url}" in out

        # WhatsApp: an unfilled variable is refused, naming it (once the templates synced)
        args = ["campaign", "create", "--name", "WhatsApp 营销", "--channel",
                "WhatsApp channel", "--sender", "+15559871234", "--to", "+8613912345678",
                "--template", "promo:zh_CN", "--var", "1=客户", "--header-media", str(image)]
        deadline = time.monotonic() + 20
        while True:
            code, out, err = await cli(cfg, *args)
            if "unknown_template" not in err and "no approved template" not in err or \
                    time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert code == 1
        assert "template.variables.2: fill in the variable {{2}} of template promo" in err
        code, out, err = await cli(cfg, *args, "--var", "2=8")
        assert code == 0, err
        await until(lambda: len(apis.sent("graph")) == 1)
        [req] = apis.sent("graph")
        template = req.json["template"]
        header = template["components"][0]["parameters"][0]
        assert header["type"] == "image" and "/messaging/files/" in header["image"]["link"]
        assert await asyncio.to_thread(fetch, header["image"]["link"]) == PNG
        assert template["components"][1] == {"type": "body", "parameters": [
            {"type": "text", "text": "客户"}, {"type": "text", "text": "8"}]}
        assert req.json["to"] == "8613912345678"
        code, out, err = await cli(cfg, "campaign", "show", "2")  # the refused one made none
        assert code == 0, err
        assert "Preview: 您好 客户，全场低至8折" in out
        assert "Template: promo (zh_CN)" in out

        # a location header from a pasted Google Maps link and the typed address
        args = ["campaign", "create", "--name", "New store", "--channel", "WhatsApp channel",
                "--sender", "+15559871234", "--to", "+8613912345678",
                "--template", "store_map:en_US", "--header-location",
                "https://www.google.com/maps/place/Eiffel+Tower/@48.8583701,2.2944813,17z"]
        code, out, err = await cli(cfg, *args)
        assert code == 1 and "template.header_location.address" in err
        code, out, err = await cli(cfg, *args, "--header-address", "Champ de Mars, Paris")
        assert code == 0, err
        await until(lambda: len(apis.sent("graph")) == 2)
        assert apis.sent("graph")[1].json["template"]["components"] == [
            {"type": "header", "parameters": [{"type": "location", "location": {
                "latitude": "48.8583701", "longitude": "2.2944813", "name": "Eiffel Tower",
                "address": "Champ de Mars, Paris"}}]}]
    finally:
        switch.stop()
        await apis.stop()
        await sms.stop()
