"""WhatsApp campaigns (softswitch.messaging.campaigns, omnichannel.md §7.3, §13 item 52)
against the local fake Graph API (tests/messaging/fake_providers.py): only a synced
approved template, every variable filled before saving (the error names the variable), the
media a template's header needs, the preview; sent as Cloud API template messages paced at
the channel's rate, Graph failures per contact with Meta's reason, retry of the failed only,
a restart that messages nobody twice."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from fake_providers import FakeApis
from switch_harness import Harness
from switch_harness import config as switch_config
from switch_harness import started as started_switch
from test_campaigns import drive, shell

from softswitch.clock import VirtualClock
from softswitch.messaging.campaigns import (
    CampaignError,
    Campaigns,
    Result,
    Status,
    parse_fields,
)
from softswitch.messaging.config import ChannelConfig, ChannelNumber, Destination
from softswitch.messaging.general import Prompt
from softswitch.messaging.providers.whatsapp import WhatsAppAdapter, parse_template
from softswitch.messaging.service import Messaging
from softswitch.messaging.sessions import Origin
from softswitch.store import Store

WA = "WhatsApp channel"
SENDER = "+15559871234"
TEMPLATES: list[dict[str, Any]] = [
    {"name": "order_update", "language": "en_US", "status": "APPROVED", "category": "UTILITY",
     "components": [{"type": "HEADER", "format": "TEXT", "text": "Order"},
                    {"type": "BODY", "text": "Hi {{name}}, order {{order}} shipped."}]},
    {"name": "promo", "language": "zh_CN", "status": "APPROVED", "category": "MARKETING",
     "components": [{"type": "HEADER", "format": "IMAGE",
                     "example": {"header_handle": ["4::aW1hZ2U="]}},
                    {"type": "BODY", "text": "您好 {{1}}，全场低至{{2}}折"}]},
    {"name": "store_map", "language": "en_US", "status": "APPROVED", "category": "UTILITY",
     "components": [{"type": "HEADER", "format": "LOCATION"},
                    {"type": "BODY", "text": "Visit us"}]},
    {"name": "draft_one", "language": "en_US", "status": "PENDING", "category": "UTILITY",
     "components": [{"type": "BODY", "text": "x"}]},
]
IMAGE = "https://cdn.example.com/promo.jpg"


def wa_channel(base: str, rate: int = 80) -> ChannelConfig:
    return ChannelConfig(
        WA, "whatsapp", "whatsapp", "4f9664096f524cc79d7b8fed69ec9b17", "", "",
        (ChannelNumber(SENDER, Destination("message_queue", "Tech Support")),),
        send_rate=rate, base_url=base,
        credentials=(("verify_token", "38owndego8ugcinx"), ("access_token", "EAAG-token"),
                     ("app_secret", "app-secret"), ("number_id", "123"),
                     ("waba_id", "456")))


def synced() -> dict[tuple[str, str], Any]:
    out = {}
    for raw in TEMPLATES:
        t = parse_template(raw)
        if t is not None:
            out[(t.name, t.language)] = t
    return out


def wa_fields(numbers: list[Any], **more: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "WhatsApp 营销", "channel": WA, "sender": SENDER, "contacts": numbers,
        "template": {"name": "promo", "language": "zh_CN",
                     "variables": {"1": "客户", "2": "8"}, "header_media": IMAGE},
        "mode": "direct"}
    base.update(more)
    return base


# --- the fields (§13 item 52) -------------------------------------------------------------


def check(change: dict[str, Any]) -> CampaignError:
    channels = {WA: wa_channel("http://127.0.0.1:9")}
    with pytest.raises(CampaignError) as info:
        parse_fields(wa_fields(["+8613912345678"], **change), channels, 0.0,
                     lambda t, n: True, lambda ch: synced() if ch == WA else {})
    return info.value


def test_only_a_synced_approved_template_with_every_variable_filled_is_saved() -> None:
    channels = {WA: wa_channel("http://127.0.0.1:9")}
    c = parse_fields(wa_fields(["+8613912345678"]), channels, 0.0, lambda t, n: True,
                     lambda ch: synced())
    assert c.text == "您好 客户，全场低至8折"  # the preview: what the customer reads
    row = c.as_json()
    assert row["preview"] == "您好 客户，全场低至8折"
    assert row["template"] == {"name": "promo", "language": "zh_CN",
                               "variables": {"1": "客户", "2": "8"}, "header_media": IMAGE,
                               "header_location": None}
    assert row["media"] == []

    # not synced (pending at Meta, or unknown), or another language
    for name, language in (("draft_one", "en_US"), ("nope", "en_US"), ("promo", "en_US")):
        err = check({"template": {"name": name, "language": language, "variables": {}}})
        assert (err.status, err.code) == (400, "unknown_template")
        assert name in err.message and "refresh" in err.message
    # a variable left empty or missing: the error names it
    err = check({"template": {"name": "order_update", "language": "en_US",
                              "variables": {"name": "Leo", "order": " "}}})
    assert (err.code, err.message) == (
        "missing_variable",
        "template.variables.order: fill in the variable {{order}} of template order_update "
        "before saving")
    err = check({"template": {"name": "promo", "language": "zh_CN",
                              "variables": {"2": "8"}, "header_media": IMAGE}})
    assert err.code == "missing_variable" and err.message.startswith("template.variables.1:")
    err = check({"template": {"name": "order_update", "language": "en_US",
                              "variables": {"name": "a", "order": "b", "city": "c"}}})
    assert "template.variables.city" in err.message
    # the image header needs its file
    err = check({"template": {"name": "promo", "language": "zh_CN",
                              "variables": {"1": "a", "2": "b"}}})
    assert (err.code, err.message.split(":")[0]) == ("missing_media",
                                                      "template.header_media")
    assert "image" in err.message
    err = check({"template": {"name": "order_update", "language": "en_US",
                              "variables": {"name": "a", "order": "b"},
                              "header_media": IMAGE}})
    assert "no media header" in err.message
    err = check({"template": {"name": "store_map", "language": "en_US"}})
    assert (err.code, err.field) == ("missing_location", "template.header_location")
    # no template, or free text on WhatsApp; a template on SMS is refused elsewhere
    assert "template" in check({"template": None}).message
    assert "template only" in check({"text": "hi"}).message


# --- sending through the fake Graph API ---------------------------------------------------


@pytest.fixture
async def apis() -> AsyncIterator[FakeApis]:
    server = await FakeApis(templates=TEMPLATES).start()
    yield server
    await server.stop()


def ok(i: int) -> tuple[int, Any]:
    return 200, {"messaging_product": "whatsapp", "messages": [{"id": f"wamid.s{i}"}]}


async def started(store: Any, clock: VirtualClock,
                  channel: ChannelConfig) -> tuple[Messaging, Campaigns]:
    service, campaigns = shell(store, clock, channel)
    await service.start()
    client = service.clients[WA]
    assert isinstance(client, WhatsAppAdapter)
    await client.sync_templates()
    await campaigns.start()
    return service, campaigns


NUMBERS = [f"+86139{i:08d}" for i in range(100)]


async def test_template_messages_paced_with_per_contact_failures_and_retry(
        tmp_path: Path, apis: FakeApis) -> None:
    clock = VirtualClock()
    apis.clock = clock
    # answers in request order: contact 3 is not an allowed recipient, contact 7 cannot be
    # delivered, contact 10 hits the throughput limit once (retried after 1 s)
    answers = [ok(i) for i in range(101)]
    answers[3] = (400, {"error": {"code": 131030, "message": "Recipient not in allowed list",
                                  "type": "OAuthException", "fbtrace_id": "A1"}})
    answers[7] = (400, {"error": {"code": 131026, "message": "Message undeliverable"}})
    answers[10] = (429, {"error": {"code": 130429, "message": "Rate limit hit"}})
    apis.script["graph"] = answers
    store = await Store.open(str(tmp_path / "switch.sqlite3"))
    service, campaigns = await started(store, clock, wa_channel(apis.base))
    try:
        start = len(apis.times)
        c = campaigns.create(wa_fields(NUMBERS))
        assert c.status is Status.IN_PROGRESS
        await drive(clock, campaigns, lambda: c.status is Status.COMPLETED)
        sends = apis.sent("graph")
        assert len(sends) == 101  # one each, contact 10 twice
        times = apis.times[start:]
        assert min(b - a for a, b in itertools.pairwise(times)) >= 1 / 80 - 1e-9
        assert [s.json["to"] for s in sends].count(NUMBERS[10][1:]) == 2
        assert sends[0].path == "/123/messages"
        assert sends[0].headers["Authorization"] == "Bearer EAAG-token"
        assert sends[0].json == {
            "messaging_product": "whatsapp", "recipient_type": "individual",
            "to": NUMBERS[0][1:], "type": "template", "template": {
                "name": "promo", "language": {"code": "zh_CN"}, "components": [
                    {"type": "header", "parameters": [
                        {"type": "image", "image": {"link": IMAGE}}]},
                    {"type": "body", "parameters": [{"type": "text", "text": "客户"},
                                                    {"type": "text", "text": "8"}]}]}}
        assert c.counts() == (2, 98, 100)
        assert (c.contacts[3].result, c.contacts[3].reason) == (Result.FAILED,
                                                                Prompt.INVALID_NUMBER.value)
        assert c.contacts[7].reason == "Send failed: Message undeliverable"
        assert (c.contacts[10].result, c.contacts[10].attempts) == (Result.SUCCESS, 2)
        assert c.contacts[0].provider_id == "wamid.s0"
        assert service.inbox.sessions == {}  # direct mode

        # retry sends the two failed only, as the same template
        before = len(apis.sent("graph"))
        campaigns.retry(c.id)
        assert c.status is Status.RETRYING
        await drive(clock, campaigns, lambda: c.status is Status.COMPLETED)
        again = apis.sent("graph")[before:]
        assert sorted(s.json["to"] for s in again) == sorted([NUMBERS[3][1:],
                                                              NUMBERS[7][1:]])
        assert all(s.json["type"] == "template" for s in again)
        assert c.counts() == (0, 100, 100)
    finally:
        await campaigns.close()
        await service.close()
        await store.close()


async def test_a_refused_token_stops_the_whatsapp_campaign(tmp_path: Path,
                                                           apis: FakeApis) -> None:
    clock = VirtualClock()
    store = await Store.open(str(tmp_path / "switch.sqlite3"))
    service, campaigns = await started(store, clock, wa_channel(apis.base))
    apis.script["graph"] = [ok(0), (401, {"error": {"code": 190, "message": "expired"}})]
    try:
        c = campaigns.create(wa_fields(NUMBERS[:5]))
        await drive(clock, campaigns, lambda: c.status is Status.STOPPED)
        assert len(apis.sent("graph")) == 2
        assert "Authentication failed" in c.stop_reason
        assert [k.result for k in c.contacts] == [Result.SUCCESS, Result.FAILED] + \
            [Result.WAITING] * 3
    finally:
        await campaigns.close()
        await service.close()
        await store.close()


async def test_a_restart_in_the_middle_messages_nobody_twice(any_store: Any,
                                                             apis: FakeApis) -> None:
    clock = VirtualClock()
    apis.clock = clock
    channel = wa_channel(apis.base, rate=20)
    numbers = NUMBERS[:60]
    service, campaigns = await started(any_store, clock, channel)
    c = campaigns.create(wa_fields(numbers, template={
        "name": "order_update", "language": "en_US",
        "variables": {"name": "Leo", "order": "A-7"}}))
    try:
        await drive(clock, campaigns, lambda: len(apis.sent("graph")) >= 25)
    finally:
        await campaigns.close()
        await service.close()
    first = len(apis.sent("graph"))
    assert first < len(numbers)
    clock.advance(30.0)
    apis.templates = []  # the template left the WABA: what was saved is still sent
    service, campaigns = shell(any_store, clock, channel)
    await service.start()
    await campaigns.start()
    try:
        again = campaigns.get(c.id)
        assert again.status is Status.IN_PROGRESS
        assert again.as_json()["preview"] == "Order\nHi Leo, order A-7 shipped."
        await drive(clock, campaigns, lambda: again.status is Status.COMPLETED)
        sent = [s.json["to"] for s in apis.sent("graph")]
        assert sorted(sent) == sorted(n[1:] for n in numbers)  # each exactly once
        assert again.counts() == (0, 60, 60)
        assert all(s.json["template"]["name"] == "order_update"
                   for s in apis.sent("graph"))
    finally:
        await campaigns.close()
        await service.close()


async def test_session_mode_records_the_rendered_template(tmp_path: Path,
                                                          apis: FakeApis) -> None:
    clock = VirtualClock()
    store = await Store.open(str(tmp_path / "switch.sqlite3"))
    channel = replace(wa_channel(apis.base), send_rate=None)
    service, campaigns = await started(store, clock, channel)
    try:
        c = campaigns.create(wa_fields(NUMBERS[:2], mode="session",
                                       assign={"type": "message_queue",
                                               "target": "Tech Support"}))
        await drive(clock, campaigns, lambda: c.status is Status.COMPLETED)
        sessions = sorted(service.inbox.sessions.values(), key=lambda s: s.id)
        assert [s.customer for s in sessions] == NUMBERS[:2]
        assert all(s.origin is Origin.CAMPAIGN for s in sessions)
        [m] = service.inbox.messages[sessions[0].id]
        assert (m.sender, m.text) == ("群发活动<WhatsApp 营销>", "您好 客户，全场低至8折")
    finally:
        await campaigns.close()
        await service.close()
        await store.close()


async def test_the_api_answers_a_missing_variable_with_the_field(tmp_path: Path,
                                                                 apis: FakeApis) -> None:
    channel = {"name": WA, "type": "whatsapp", "token": "4f9664096f524cc79d7b8fed69ec9b17",
               "verify_token": "38owndego8ugcinx", "access_token": "EAAG-token",
               "app_secret": "app-secret", "number": SENDER, "number_id": "123",
               "waba_id": "456", "destination": {"type": "extension", "target": "1001"},
               "base_url": apis.base}
    switch = await started_switch(switch_config(tmp_path, apis.base,
                                                message_channels=[channel]))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            for _ in range(250):  # the switch syncs the templates at start
                _, data = await h.api("1002", "GET", f"/channels/{quote(WA)}/templates")
                if data.get("templates"):
                    break
                await asyncio.sleep(0.02)
            body = wa_fields(["+8613912345678"], template={
                "name": "order_update", "language": "en_US", "variables": {"name": "Leo"}})
            status, data = await h.api("1002", "POST", "/campaigns", body)
            assert (status, data) == (400, {
                "error": "missing_variable", "field": "template.variables.order",
                "message": "template.variables.order: fill in the variable {{order}} of "
                           "template order_update before saving"})
            body["template"]["variables"]["order"] = "A-7"
            status, data = await h.api("1002", "POST", "/campaigns", body)
            assert status == 201, data
            cid = data["campaign"]["id"]
            data = await h.completed(cid)
            c = data["campaign"]
            assert c["preview"] == "Order\nHi Leo, order A-7 shipped."
            assert c["content_type"] == "template"
            assert c["template"] == {"name": "order_update", "language": "en_US",
                                     "variables": {"name": "Leo", "order": "A-7"},
                                     "header_media": None, "header_location": None}
            assert c["result"] == {"failed": 0, "succeeded": 1, "total": 1}
            [req] = apis.sent("graph")
            assert req.json["type"] == "template"
    finally:
        await switch.stop()
