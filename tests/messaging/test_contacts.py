"""Company contacts added from a chat session (omnichannel.md §6.2 "Add customer as contact",
softswitch.web.contacts): a new contact or the number into an existing one, through a
running switch; the session's customer then shows as ``name<number>`` (the API, the live
feed, the chat logs), the queue panel names the number, the campaigns' company contacts
include it; the configuration's contacts are listed but refused (409) for any change; the
added contacts are still there after a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fake_provider import FakeProvider
from switch_harness import QUEUE_NUMBER, Harness, config, deltas, provider, running, webhook

from softswitch.web.server import PANELS

__all__ = ["provider"]  # the fixture, used by name

CUSTOMER = "+8618012121222"
OTHER = "+8613900000001"
CONTACTS = {"match_last_digits": 7,
            "entries": [{"name": "Kristin Hale", "number": "+12025550100"}]}


def cfg(tmp_path: Path, provider: FakeProvider) -> Any:
    return config(tmp_path, provider.base, contacts=CONTACTS)


async def session_of(h: Harness, customer: str, pid: str) -> int:
    assert await h.post_webhook(webhook(pid, customer=customer)) == 204
    _, data = await h.api("1001", "GET", "/sessions")
    [sid] = [s["id"] for s in data["sessions"] if s["customer"] == customer]
    return int(sid)


async def contacts(h: Harness, ext: str, query: str = "") -> tuple[int, Any]:
    token = await h.login(ext)
    async with h.http.get(f"{h.base}/api/v1/contacts{query}",
                          headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status, await r.json()


async def change(h: Harness, ext: str, method: str, path: str,
                 body: Any = None) -> tuple[int, Any]:
    token = await h.login(ext)
    async with h.http.request(method, f"{h.base}/api/v1{path}", json=body,
                              headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status, await r.json()


async def test_add_customer_as_contact_new_and_existing_across_a_restart(
        tmp_path: Path, provider: FakeProvider) -> None:
    async with running(cfg(tmp_path, provider)) as h:
        sid = await session_of(h, CUSTOMER, "c-1")
        _, data = await h.api("1001", "GET", f"/sessions/{sid}")
        assert (data["session"]["customer_name"], data["session"]["customer_display"]) == (
            None, CUSTOMER)
        # the session details' facts: the channel's type, no contact yet, no Page
        assert (data["session"]["channel_type"], data["session"]["customer_contact"],
                data["session"]["channel_page"]) == ("sms", None, None)
        status, _ = await h.api("1003", "POST", f"/sessions/{sid}/contact",
                                {"new": {"name": "Wang Fang"}})
        assert status == 404  # 1003 does not see the session
        status, data = await h.api("1001", "POST", f"/sessions/{sid}/contact",
                                   {"new": {"name": "x"}, "existing": "config-1"})
        assert (status, data["error"]) == (400, "invalid_field")
        token = await h.login("1002")
        async with h.http.ws_connect(f"{h.base}/api/v1/ws?token={token}") as ws:
            status, data = await h.api("1001", "POST", f"/sessions/{sid}/contact", {
                "new": {"name": "Wang Fang", "company": "Acme Trading",
                        "email": "wang.fang@acme.example"}, "type": "mobile"})
            assert status == 200, data
            contact = data["contact"]
            assert (contact["name"], contact["company"], contact["email"]) == (
                "Wang Fang", "Acme Trading", "wang.fang@acme.example")
            assert contact["numbers"] == [{"type": "mobile", "number": CUSTOMER}]
            assert contact["source"] == "api" and contact["editable"] is True
            assert data["session"]["customer_display"] == f"Wang Fang<{CUSTOMER}>"
            assert data["session"]["customer_contact"] == contact["id"]
            # the other queue agent's list shows the name at once (a live delta)
            [delta] = [d for d in await deltas(ws, "messaging.session.changed")
                       if d["session"]["id"] == sid]
            assert delta["session"]["customer_display"] == f"Wang Fang<{CUSTOMER}>"
        cid = contact["id"]
        # the same number again as a new contact: it belongs to Wang Fang already
        status, data = await h.api("1002", "POST", f"/sessions/{sid}/contact",
                                   {"new": {"name": "Someone"}})
        assert (status, data["error"]) == (409, "number_exists")
        # another customer into the existing contact (add this number)
        other = await session_of(h, OTHER, "c-2")
        status, data = await h.api("1002", "POST", f"/sessions/{other}/contact",
                                   {"existing": cid, "type": "business"})
        assert status == 200, data
        assert data["contact"]["numbers"] == [{"type": "mobile", "number": CUSTOMER},
                                              {"type": "business", "number": OTHER}]
        assert data["session"]["customer_display"] == f"Wang Fang<{OTHER}>"
        assert data["session"]["customer_contact"] == cid
        # a customer the configuration's contact names (its last 7 digits): that contact
        kristin = await session_of(h, "+12025550100", "c-3")
        _, data = await h.api("1001", "GET", f"/sessions/{kristin}")
        assert (data["session"]["customer_display"], data["session"]["customer_contact"]) \
            == ("Kristin Hale<+12025550100>", "config-1")
        # the configuration's contacts: listed, never changed through the API
        status, data = await h.api("1001", "POST", f"/sessions/{other}/contact",
                                   {"existing": "config-1"})
        assert (status, data["error"]) == (409, "read_only")
        assert "configuration" in data["message"]
        status, data = await change(h, "1001", "PUT", "/contacts/config-1",
                                    {"name": "Renamed"})
        assert (status, data["error"]) == (409, "read_only")
        status, data = await change(h, "1002", "DELETE", "/contacts/config-1")
        assert (status, data["error"]) == (409, "read_only")
        status, data = await change(h, "1001", "DELETE", f"/contacts/{cid}")
        assert (status, data["error"]) == (403, "forbidden")  # admins only
        status, data = await change(h, "1001", "POST", "/contacts", {
            "name": "Kristin's twin", "numbers": [{"number": "+12025550100"}]})
        assert (status, data["error"]) == (409, "number_exists")
        # wherever contacts are shown: the queue panel's caller names, the campaigns'
        # company contacts, the chat logs (admin 1002)
        panels = h.switch._http_runner.app[PANELS]  # type: ignore[attr-defined]
        assert panels.contact(OTHER) == "Wang Fang"
        assert panels.contact("+12025550100") == "Kristin Hale"
        status, data = await h.call("1002", "POST", "/campaigns", {
            "name": "VIP", "channel": "General SMS Channel", "sender": QUEUE_NUMBER,
            "company_contacts": True, "text": "hi", "send_time": "draft"})
        assert status == 201, data
        _, data = await h.call("1002", "GET", f"/campaigns/{data['campaign']['id']}")
        assert [(k["number"], k["name"]) for k in data["details"]["contacts"]] == [
            ("+12025550100", "Kristin Hale"), (CUSTOMER, "Wang Fang"), (OTHER, "Wang Fang")]
        _, data = await h.call("1002", "GET", "/chat-logs?sender=Wang%20Fang")
        assert sorted(r["id"] for r in data["sessions"]) == [sid, other]
        assert {r["sender"] for r in data["sessions"]} == {f"Wang Fang<{CUSTOMER}>",
                                                          f"Wang Fang<{OTHER}>"}
        _, data = await h.call("1002", "GET", f"/chat-logs/{sid}/messages")
        received = [m for m in data["messages"] if m["type"] == "Received"]
        assert received and {m["sender"] for m in received} == {f"Wang Fang<{CUSTOMER}>"}
    async with running(cfg(tmp_path, provider)) as h:  # a restart keeps them
        status, data = await contacts(h, "1003")  # every logged-in user reads them
        assert status == 200
        assert [(c["id"], c["name"], c["source"], c["editable"]) for c in data["contacts"]] \
            == [("config-1", "Kristin Hale", "config", False), (cid, "Wang Fang", "api", True)]
        assert data["contacts"][1]["numbers"] == [{"type": "mobile", "number": CUSTOMER},
                                                  {"type": "business", "number": OTHER}]
        _, data = await h.api("1001", "GET", f"/sessions/{sid}")
        assert data["session"]["customer_display"] == f"Wang Fang<{CUSTOMER}>"
        # edit it (the "edit it" of Add to existing contact), then an admin deletes it
        status, data = await change(h, "1003", "PUT", f"/contacts/{cid}", {
            "name": "Fang Wang", "numbers": [{"type": "mobile", "number": CUSTOMER}]})
        assert status == 200 and data["contact"]["name"] == "Fang Wang"
        _, data = await h.api("1001", "GET", f"/sessions/{other}")
        assert data["session"]["customer_display"] == OTHER  # no longer a number of it
    async with running(cfg(tmp_path, provider)) as h:
        _, data = await contacts(h, "1001", "?search=fang")
        assert [c["name"] for c in data["contacts"]] == ["Fang Wang"]
        status, _ = await change(h, "1002", "DELETE", f"/contacts/{cid}")
        assert status == 200
        _, data = await h.api("1001", "GET", f"/sessions/{sid}")
        assert data["session"]["customer_display"] == CUSTOMER
        assert data["session"]["customer_contact"] is None
    async with running(cfg(tmp_path, provider)) as h:
        _, data = await contacts(h, "1001")
        assert [c["id"] for c in data["contacts"]] == ["config-1"]


async def test_contact_list_pages_and_refuses_bad_fields(
        tmp_path: Path, provider: FakeProvider) -> None:
    async with running(cfg(tmp_path, provider)) as h:
        for i in range(3):
            status, data = await change(h, "1001", "POST", "/contacts", {
                "name": f"C{i}", "numbers": [{"type": "home", "number": f"+1303555000{i}"}]})
            assert status == 200, data
        ids: list[str] = []
        cursor = ""
        while True:
            status, data = await contacts(h, "1001", f"?limit=2{cursor}")
            assert status == 200 and len(data["contacts"]) <= 2
            ids += [c["id"] for c in data["contacts"]]
            if data["next_cursor"] is None:
                break
            cursor = f"&cursor={data['next_cursor']}"
        assert ids == ["config-1", "1", "2", "3"]
        for bad in ({"name": ""}, {"name": "x", "numbers": [{"number": "13035550000"}]},
                    {"name": "x", "email": "not an address"},
                    {"name": "x", "numbers": [{"type": "fax", "number": "+13035550009"}]},
                    {"name": "x", "numbers": [{"number": "+13035550008"}] * 2}):
            status, data = await change(h, "1001", "POST", "/contacts", bad)
            assert (status, data["error"]) == (400, "invalid_field"), bad
        status, data = await contacts(h, "1001", "?cursor=nobody")
        assert (status, data["error"]) == (400, "invalid_field")
        status, data = await change(h, "1001", "GET", "/contacts/99")
        assert (status, data["error"]) == (404, "not_found")


async def test_a_live_chat_visitor_is_no_phone_number(tmp_path: Path) -> None:
    """A Live Chat visitor's address has digits but is no phone number: 409, nothing added,
    and no contact's name is ever shown for it."""
    import aiohttp
    from test_livechat_switch import ORIGIN, Visitor, started, ws_url

    switch = await started(tmp_path, pre_chat_form=[])
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            async with http.ws_connect(ws_url(switch), headers={"Origin": ORIGIN}) as ws:
                v = Visitor(ws)
                await v.hello()
                await v.send(type="message", text="Hello?", id="c1")
                await v.next("ack")
                _, data = await h.api("1001", "GET", "/sessions")
                [s] = data["sessions"]
                assert s["customer"].startswith("visitor-") and s["customer_name"] is None
                assert (s["channel_type"], s["number"], s["customer_contact"]) == (
                    "livechat", "LC00000", None)
                status, data = await h.api("1001", "POST", f"/sessions/{s['id']}/contact",
                                           {"new": {"name": "Ann"}})
                assert (status, data["error"]) == (409, "not_a_number")
                status, data = await contacts(h, "1001")
                assert data["contacts"] == []
    finally:
        await switch.stop()
