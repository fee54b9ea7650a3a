"""Queue groups (queue-manager-agent.md §3.2) and "sign in to last signed-in queues" (§7.1)
over the live API: per user, checked against the roles, and kept across a restart
(softswitch.web.console_state).

Roles of the `live` fixture: 1001 manages 6400 with P1; 1004 manages 6401 without P1;
1003 is a dynamic agent of 6400 and 6401; 1002 a static agent of 6400; 1005 an admin;
1006 nobody."""

from __future__ import annotations

from pathlib import Path

from live_support import Live, start_live

GROUPS = "/api/v1/console/queue-groups"
LAST = "/api/v1/agents/1003/last-queues"


async def state(live: Live, action: str, queue: str) -> None:
    status, body = await live.call("POST", f"/api/v1/queues/{queue}/agents/1003/state",
                                   "1003", {"action": action})
    assert status == 200, body


async def test_last_queues_and_groups_survive_a_restart(tmp_path: Path) -> None:
    async for live in start_live(tmp_path):
        # nothing remembered yet: every dynamic queue, as *78
        status, body = await live.call("GET", LAST, "1003")
        assert (status, body["remembered"], body["queues"]) == (200, [], ["6400", "6401"])
        await state(live, "signin", "6400")
        await state(live, "signout", "6400")  # remembered: {6400}
        await state(live, "signin", "6401")  # a later sign-in alone does not change it
        status, body = await live.call("GET", LAST, "1003")
        assert body["queues"] == ["6400"]
        await state(live, "signout", "6401")  # the first sign-out after it: {6401}
        status, body = await live.call("GET", LAST, "1005")  # an admin may read it
        assert (status, body["queues"]) == (200, ["6401"])
        for who in ("1001", "1002", "1004", "1006"):  # 1001 lacks P1 in 6401
            status, body = await live.call("GET", LAST, who)
            assert (status, body["error"]) == (403, "forbidden"), who
            status, body = await live.call("POST", LAST + "/signin", who)
            assert (status, body["error"]) == (403, "forbidden"), who
        assert not live.acd.is_signed_in("1003", "6401")

        status, body = await live.call("PUT", GROUPS, "1001", {"groups": [
            {"name": "Service", "queues": ["6400"], "sla_alert_threshold": 80, "order": 2}]})
        assert status == 200, body
        status, body = await live.call("PUT", GROUPS, "1001", {"groups": [
            {"name": "Both", "queues": ["6400", "6401"]}]})
        assert (status, body["error"], body["field"]) == (403, "forbidden", "queues")
        status, body = await live.call("PUT", GROUPS, "1001", {"groups": [
            {"name": "A", "queues": ["6400"]}, {"name": "A", "queues": ["6400"]}]})
        assert (status, body["field"]) == (400, "groups")
        status, body = await live.call("PUT", GROUPS, "1001", {"groups": [
            {"name": "A", "queues": []}]})
        assert status == 400
        status, body = await live.call("GET", GROUPS, "1003")
        assert (status, body["groups"]) == (200, [])  # per user

    async for live in start_live(tmp_path):  # the same database: a restart
        status, body = await live.call("GET", LAST, "1003")
        assert (status, body["remembered"]) == (200, ["6401"])
        status, body = await live.call("POST", LAST + "/signin", "1003")
        assert (status, body["signed_in"]) == (200, ["6401"]), body
        assert live.acd.is_signed_in("1003", "6401")
        assert not live.acd.is_signed_in("1003", "6400")
        status, body = await live.call("POST", LAST + "/signin", "1003")
        assert status == 200 and body["signed_in"] == []  # already in: nothing to do
        status, body = await live.call("GET", GROUPS, "1001")
        assert body["groups"] == [{"name": "Service", "queues": ["6400"],
                                   "sla_alert_threshold": 80.0, "order": 2}]


async def test_a_static_agent_has_no_last_queues_to_sign_in_to(live: Live) -> None:
    status, body = await live.call("POST", "/api/v1/agents/1002/last-queues/signin", "1002")
    assert (status, body["error"]) == (409, "invalid_state")
    status, body = await live.call("GET", "/api/v1/agents/1006/last-queues", "1005")
    assert (status, body["field"]) == (404, "agent")


async def test_a_groups_figures_are_the_all_rows_over_its_queues(live: Live) -> None:
    status, body = await live.call("GET", "/api/v1/console/figures?queues=6400", "1001")
    assert status == 200, body
    _, one = await live.call("GET", "/api/v1/queues/6400", "1001")
    for key in ("answered", "missed", "abandoned", "total", "sla", "avg_wait", "waiting_calls"):
        assert body["figures"][key] == one["kpis"][key], key
    status, body = await live.call("GET", "/api/v1/console/figures?queues=6400,6401",
                                   "1001")
    assert (status, body["error"], body["field"]) == (403, "forbidden", "queues")
    status, body = await live.call("GET", "/api/v1/console/figures?queues=", "1001")
    assert (status, body["field"]) == (400, "queues")
    status, body = await live.call("GET", "/api/v1/console/figures?queues=6400,6401",
                                   "1005")  # an admin sees every queue
    assert status == 200 and body["queues"] == ["6400", "6401"]
