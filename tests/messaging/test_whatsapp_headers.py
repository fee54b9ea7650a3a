"""WhatsApp template headers (softswitch.messaging.providers.whatsapp, omnichannel.md
§3.11, §7.3, §9.2) sent exactly in the Cloud API's template format to the local fake
Graph API: a TEXT header's variable in its own ``header`` component, a media header's
file by link (an agent's send without it refused naming the field), a location header
from coordinates or a pasted Google Maps link (the address typed; a link without
coordinates refused)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fake_providers import FakeApis
from switch_harness import running
from test_campaigns_whatsapp import WA, synced, wa_channel, wa_fields
from test_campaigns_whatsapp import check as check_campaign
from test_providers_protocol import whatsapp_channel
from test_providers_switch import WA_NUMBER, config

from softswitch.clock import VirtualClock
from softswitch.messaging.campaigns import parse_fields
from softswitch.messaging.providers import ReplyRefused, make_adapter
from softswitch.messaging.providers.whatsapp import WhatsAppAdapter, maps_location

CUSTOMER = "+8613912345678"
TEMPLATES: list[dict[str, Any]] = [
    {"name": "shipped", "language": "en_US", "status": "APPROVED", "category": "UTILITY",
     "components": [{"type": "HEADER", "format": "TEXT", "text": "Order {{order}}",
                     "example": {"header_text_named_params": [
                         {"param_name": "order", "example": "A-1"}]}},
                    {"type": "BODY", "text": "Hi {{name}}, it shipped."}]},
    {"name": "promo", "language": "zh_CN", "status": "APPROVED", "category": "MARKETING",
     "components": [{"type": "HEADER", "format": "IMAGE",
                     "example": {"header_handle": ["4::aW1hZ2U="]}},
                    {"type": "BODY", "text": "您好 {{1}}，全场低至{{2}}折"}]},
    {"name": "invoice", "language": "en_US", "status": "APPROVED", "category": "UTILITY",
     "components": [{"type": "HEADER", "format": "TEXT", "text": "Invoice {{1}}"},
                    {"type": "BODY", "text": "Total due: {{1}}"}]},
    {"name": "store_map", "language": "en_US", "status": "APPROVED", "category": "UTILITY",
     "components": [{"type": "HEADER", "format": "LOCATION"},
                    {"type": "BODY", "text": "Visit us, {{name}}"}]},
]
EIFFEL = ("https://www.google.com/maps/place/Eiffel+Tower/@48.8583701,2.2922926,17z/"
          "data=!3m1!4b1!4m6!3m5!1s0x47e66e2964e34e2d:0x8ddca9ee380ef7e0!8m2!3d48.8583701"
          "!4d2.2944813!16zL20vMDJqODE")
ADDRESS = "Av. Gustave Eiffel, 75007 Paris"


def test_google_maps_links() -> None:
    # the place's own coordinates (!3d!4d) win over the map's centre (@)
    assert maps_location(EIFFEL) == (48.8583701, 2.2944813, "Eiffel Tower")
    assert maps_location("https://www.google.com/maps/@-33.8567844,151.213108,15z") == (
        -33.8567844, 151.213108, "")
    assert maps_location("https://maps.google.com/?q=22.5431,114.0579") == (
        22.5431, 114.0579, "")
    assert maps_location("https://www.google.com/maps/search/?api=1&query=-1.5,-2.25") == (
        -1.5, -2.25, "")
    assert maps_location("https://www.google.co.uk/maps/place/Big+Ben/@51.5007,-0.1246,17z"
                         ) == (51.5007, -0.1246, "Big Ben")
    for link, reason in (
            ("https://maps.app.goo.gl/abcDEF123", "a short link has no coordinates"),
            ("https://www.google.com/maps/place/Eiffel+Tower", "the link has no coordinates"),
            ("https://www.google.com/maps?q=Eiffel+Tower", "the link has no coordinates"),
            ("https://evil.example/maps/@1,2,3z", "not a Google Maps link"),
            ("https://www.google.com/search?q=1,2", "not a Google Maps link"),
            ("ftp://maps.google.com/?q=1,2", "not a Google Maps link")):
        with pytest.raises(ValueError) as err:
            maps_location(link)
        assert str(err.value).startswith(reason), link


@pytest.fixture
async def apis() -> AsyncIterator[FakeApis]:
    server = await FakeApis(templates=list(TEMPLATES)).start()
    yield server
    await server.stop()


def refused(adapter: WhatsAppAdapter, template: dict[str, Any]) -> ReplyRefused:
    with pytest.raises(ReplyRefused) as err:
        adapter.prepare(WA_NUMBER, CUSTOMER, "", (), template)
    return err.value


async def test_headers_are_sent_in_the_cloud_api_format(apis: FakeApis) -> None:
    adapter = make_adapter(whatsapp_channel(apis.base), VirtualClock(), lambda n, c: None)
    assert isinstance(adapter, WhatsAppAdapter)
    try:
        assert await adapter.sync_templates() == 4

        async def sent(template: dict[str, Any]) -> tuple[str, Any]:
            text, media = adapter.prepare(WA_NUMBER, CUSTOMER, "", (), template)
            result = await adapter.send(WA_NUMBER, CUSTOMER, text, media)
            assert result.provider_id is not None
            return text, apis.sent("graph")[-1].json

        def body(template: dict[str, Any]) -> dict[str, Any]:
            return {"messaging_product": "whatsapp", "recipient_type": "individual",
                    "to": "8613912345678", "type": "template", "template": template}

        # a TEXT header's named variable: in the header component, not the body's
        text, req = await sent({"name": "shipped", "language": "en_US",
                                "variables": {"name": "Leo", "order": "A-7"}})
        assert text == "Order A-7\nHi Leo, it shipped."
        assert req == body({"name": "shipped", "language": {"code": "en_US"}, "components": [
            {"type": "header", "parameters": [
                {"type": "text", "parameter_name": "order", "text": "A-7"}]},
            {"type": "body", "parameters": [
                {"type": "text", "parameter_name": "name", "text": "Leo"}]}]})
        # positional: header and body each count from {{1}} (one value for both: see
        # the module's decision)
        _, req = await sent({"name": "invoice", "language": "en_US",
                             "variables": {"1": "42"}})
        assert req["template"]["components"] == [
            {"type": "header", "parameters": [{"type": "text", "text": "42"}]},
            {"type": "body", "parameters": [{"type": "text", "text": "42"}]}]
        # an image header carries its file by link
        _, req = await sent({"name": "promo", "language": "zh_CN",
                             "variables": {"1": "客户", "2": "8"},
                             "header_media": "https://cdn.example.com/promo.jpg"})
        assert req == body({"name": "promo", "language": {"code": "zh_CN"}, "components": [
            {"type": "header", "parameters": [
                {"type": "image", "image": {"link": "https://cdn.example.com/promo.jpg"}}]},
            {"type": "body", "parameters": [{"type": "text", "text": "客户"},
                                            {"type": "text", "text": "8"}]}]})
        # a location header from a pasted Google Maps link: name and coordinates read
        # from it, the address typed
        _, req = await sent({"name": "store_map", "language": "en_US",
                             "variables": {"name": "Leo"},
                             "header_location": {"maps_link": EIFFEL, "address": ADDRESS}})
        assert req["template"]["components"] == [
            {"type": "header", "parameters": [{"type": "location", "location": {
                "latitude": "48.8583701", "longitude": "2.2944813", "name": "Eiffel Tower",
                "address": ADDRESS}}]},
            {"type": "body", "parameters": [
                {"type": "text", "parameter_name": "name", "text": "Leo"}]}]
        _, req = await sent({"name": "store_map", "language": "en_US",
                             "variables": {"name": "Leo"},
                             "header_location": {"latitude": -33.85, "longitude": 151.2,
                                                 "address": "Bennelong Point"}})
        assert req["template"]["components"][0]["parameters"] == [
            {"type": "location", "location": {"latitude": "-33.85", "longitude": "151.2",
                                              "address": "Bennelong Point"}}]
        sends = len(apis.sent("graph"))
        # what a header needs, refused naming the field
        promo = {"name": "promo", "language": "zh_CN", "variables": {"1": "a", "2": "b"}}
        for template, field, code in (
                (promo, "template.header_media", "missing_media"),
                ({**promo, "header_media": "file:///etc/passwd"}, "template.header_media",
                 "missing_media"),
                ({"name": "shipped", "language": "en_US",
                  "variables": {"name": "a", "order": "b"}, "header_media": "https://x/y.jpg"},
                 "template.header_media", "invalid_field"),
                ({"name": "store_map", "language": "en_US", "variables": {"name": "a"}},
                 "template.header_location", "missing_location"),
                ({"name": "store_map", "language": "en_US", "variables": {"name": "a"},
                  "header_location": {"maps_link": EIFFEL}},
                 "template.header_location.address", "missing_location"),
                ({"name": "store_map", "language": "en_US", "variables": {"name": "a"},
                  "header_location": {"maps_link": "https://maps.app.goo.gl/x1",
                                      "address": ADDRESS}},
                 "template.header_location.maps_link", "invalid_location"),
                ({"name": "store_map", "language": "en_US", "variables": {"name": "a"},
                  "header_location": {"latitude": 91, "longitude": 0, "address": ADDRESS}},
                 "template.header_location.latitude", "invalid_location")):
            err = refused(adapter, template)
            assert (err.status, err.code, err.field) == (400, code, field), template
            assert err.message.startswith(field + ":")
        assert len(apis.sent("graph")) == sends
    finally:
        await adapter.close()


async def test_an_agent_sends_a_media_header_template_through_the_api(
        tmp_path: Path, apis: FakeApis) -> None:
    async with running(config(tmp_path, apis.base)) as h:
        status, data = await h.api("1001", "POST", "/sessions", {
            "channel": "WhatsApp", "number": WA_NUMBER, "customer": CUSTOMER})
        assert status == 200, data
        sid = data["session"]["id"]
        promo = {"name": "promo", "language": "zh_CN", "variables": {"1": "客户", "2": "8"}}
        status, data = await h.api("1001", "POST", f"/sessions/{sid}/messages",
                                   {"template": promo})
        assert status == 400
        assert data["error"] == "missing_media"
        assert data["field"] == "template.header_media"
        assert data["message"].startswith("template.header_media: template promo shows "
                                          "an image header")
        assert apis.sent("graph") == []
        status, data = await h.api("1001", "POST", f"/sessions/{sid}/messages", {
            "template": {**promo, "header_media": "https://cdn.example.com/promo.jpg"}})
        assert status == 202, data
        last = await h.last_message("1001", sid, lambda m: m["status"] != "pending")
        assert last["status"] == "sent"
        [req] = apis.sent("graph")
        assert req.json["template"] == {
            "name": "promo", "language": {"code": "zh_CN"}, "components": [
                {"type": "header", "parameters": [{"type": "image", "image": {
                    "link": "https://cdn.example.com/promo.jpg"}}]},
                {"type": "body", "parameters": [{"type": "text", "text": "客户"},
                                                {"type": "text", "text": "8"}]}]}
        # a location header from a maps link through the API too
        status, data = await h.api("1001", "POST", f"/sessions/{sid}/messages", {
            "template": {"name": "store_map", "language": "en_US",
                         "variables": {"name": "Leo"},
                         "header_location": {"maps_link": "https://maps.app.goo.gl/x1",
                                             "address": ADDRESS}}})
        assert (status, data["field"]) == (400, "template.header_location.maps_link")
        assert "short link has no coordinates" in data["message"]


def test_campaign_location_header() -> None:
    ok = {"name": "store_map", "language": "en_US",
          "header_location": {"maps_link": EIFFEL, "address": ADDRESS}}
    c = parse_fields(wa_fields(["+8613912345678"], template=ok),
                     {WA: wa_channel("http://127.0.0.1:9")}, 0.0, lambda t, n: True,
                     lambda ch: synced())
    assert c.as_json()["template"] == {
        "name": "store_map", "language": "en_US", "variables": {}, "header_media": None,
        "header_location": {"latitude": "48.8583701", "longitude": "2.2944813",
                            "name": "Eiffel Tower", "address": ADDRESS}}
    # the name typed wins over the link's
    c = parse_fields(wa_fields(["+8613912345678"], template={
        **ok, "header_location": {"maps_link": EIFFEL, "address": ADDRESS, "name": "Shop"}}),
        {WA: wa_channel("http://127.0.0.1:9")}, 0.0, lambda t, n: True, lambda ch: synced())
    assert c.as_json()["template"]["header_location"]["name"] == "Shop"
    err = check_campaign({"template": {**ok, "header_location": {"maps_link": EIFFEL}}})
    assert (err.status, err.code, err.field) == (
        400, "missing_location", "template.header_location.address")
    err = check_campaign({"template": {
        **ok, "header_location": {"maps_link": "https://www.google.com/maps/place/Louvre",
                                  "address": ADDRESS}}})
    assert (err.code, err.field) == ("invalid_location", "template.header_location.maps_link")
    assert "the link has no coordinates" in err.message
    err = check_campaign({"template": {"name": "store_map", "language": "en_US"}})
    assert (err.code, err.field) == ("missing_location", "template.header_location")
