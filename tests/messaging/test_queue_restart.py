"""A chat session waiting in a message queue across a restart (in-process stop and start on
the same database): it is shown to the queue's agents again and its report row
(``queue_calls``) goes on: one row per pass through the queue, completed when an agent
takes it over after the restart."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fake_provider import FakeProvider
from switch_harness import Harness, config, provider, running, webhook

__all__ = ["provider"]  # the fixture, used by name


async def queue_rows(h: Harness) -> list[Any]:
    for _ in range(100):  # the report writer batches its rows
        await h.switch.store.flush()
        rows = await h.switch.store.fetch(
            "SELECT task, queue, caller, joined_at, left_at, status, agent, wait"
            " FROM queue_calls WHERE task LIKE 'msg-%' ORDER BY joined_at")
        if rows:
            return [tuple(r) for r in rows]
        await asyncio.sleep(0.02)
    return []


async def test_waiting_session_resumes_its_report_row_after_a_restart(
        tmp_path: Path, provider: FakeProvider) -> None:
    cfg = config(tmp_path, provider.base)
    async with running(cfg) as h:
        assert await h.post_webhook(webhook("q-1")) == 204
        [sid] = await h.sessions("1002")
        [before] = await queue_rows(h)
        assert (before[1], before[2], before[4]) == ("Tech Support", "+8618012121222", None)
    async with running(config(tmp_path, provider.base)) as h:
        assert await h.sessions("1001") == [sid]  # shown to the queue's agents again
        assert await h.sessions("1002") == [sid]
        assert await queue_rows(h) == [before]  # no second entry
        status, _ = await h.api("1001", "POST", f"/sessions/{sid}/take_over")
        assert status == 200
        for _ in range(100):
            [row] = await queue_rows(h)
            if row[4] is not None:
                break
            await asyncio.sleep(0.02)
        assert row[:4] == before[:4]
        assert (row[5], row[6]) == ("answered", "1001")
        assert row[7] >= 0 and abs(row[7] - (row[4] - row[3])) < 1.0
        assert await h.sessions("1002") == []  # taken over: the others no longer see it
    async with running(config(tmp_path, provider.base)) as h:  # taken: not in the queue
        assert await h.sessions("1002") == []
        assert len(await queue_rows(h)) == 1


async def closed_row(h: Harness, n: int) -> Any:
    """The ``n``-th report row of the chat sessions once it is completed."""
    for _ in range(100):
        rows = await queue_rows(h)
        if len(rows) > n and rows[n][4] is not None:
            return rows[n]
        await asyncio.sleep(0.02)
    raise AssertionError(f"row {n} not completed: {await queue_rows(h)}")


async def test_replies_without_take_over_survive_a_restart(
        tmp_path: Path, provider: FakeProvider) -> None:
    """Manual take-over mode: 1002 replies without taking over, then 1001 (two repliers);
    after a restart the session is still waiting, and closing it counts it Answered by the
    first replier (1002), not Abandoned. A reply before the session was transferred into
    the queue again is not one of the new pass: that pass closes Abandoned."""
    cfg = config(tmp_path, provider.base)
    async with running(cfg) as h:
        assert await h.post_webhook(webhook("r-1")) == 204
        assert await h.post_webhook(webhook("r-2", customer="+8618012121333")) == 204
        first, second = sorted(await h.sessions("1002"))
        for agent in ("1002", "1001"):
            status, _ = await h.api(agent, "POST", f"/sessions/{first}/messages",
                                    {"text": f"hello from {agent}"})
            assert status == 202
        status, _ = await h.api("1002", "POST", f"/sessions/{second}/messages",
                                {"text": "before the transfer"})
        assert status == 202
        status, _ = await h.api("1001", "POST", f"/sessions/{second}/transfer",
                                {"queue": "Tech Support"})
        assert status == 200
        await h.last_message("1002", first, lambda m: m["status"] == "sent")
    async with running(config(tmp_path, provider.base)) as h:
        assert sorted(await h.sessions("1001")) == [first, second]  # still in the queue
        status, _ = await h.api("1001", "POST", f"/sessions/{first}/close")
        assert status == 200
        status, _ = await h.api("1001", "POST", f"/sessions/{second}/close")
        assert status == 200
        answered = await closed_row(h, 0)
        assert answered[2] == "+8618012121222"
        assert (answered[5], answered[6]) == ("answered", "1002")
        # the second customer's rows: the first pass left at the transfer (answered by
        # 1002's reply), the second pass (after the transfer, no reply) is abandoned
        rows = [r for r in await queue_rows(h) if r[2] == "+8618012121333"]
        for _ in range(100):
            if len(rows) == 2 and rows[1][4] is not None:
                break
            await asyncio.sleep(0.02)
            rows = [r for r in await queue_rows(h) if r[2] == "+8618012121333"]
        assert [(r[5], r[6]) for r in rows] == [("answered", "1002"), ("abandoned", None)]
