"""Broadcast campaigns (softswitch.messaging.campaigns, omnichannel.md §7, §13 "Campaigns"):
the CSV rules each broken and the manual's fixture file; 1,000 contacts through the
messaging shell against a local provider that enforces a rate limit on the virtual clock
and fails some numbers; retry of the failed only; a restart in the middle; the send
modes and replies; schedule in the admin's time zone, one campaign at a time, copy, edit and
delete rules."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from test_sessions import NAMES

from acd.config import AcdConfig, MessageQueueConfig, TakeOverMode
from acd.engine import Acd, Output
from softswitch.clock import VirtualClock
from softswitch.messaging.campaigns import (
    IN_DOUBT,
    MAX_FILE_BYTES,
    CampaignError,
    Campaigns,
    Result,
    Status,
    for_messaging,
    import_csv,
    parse_fields,
)
from softswitch.messaging.config import ChannelConfig, ChannelNumber, Destination
from softswitch.messaging.general import Inbound, SendResult
from softswitch.messaging.queues import AcdQueues
from softswitch.messaging.service import Messaging
from softswitch.messaging.sessions import Direction
from softswitch.store import Store

SENDER = "+14102161183"
FIXTURE = Path(__file__).parent / "data" / "campaign_contacts.csv"


# --- CSV import (§7.3) -----------------------------------------------------------------


def test_the_manuals_fixture_file_imports_its_ten_numbers() -> None:
    data = FIXTURE.read_bytes()
    assert data.startswith(b"Number,,,\r\n")  # nothing in columns B-D
    imported = import_csv(FIXTURE.name, data)
    assert [n for n, _ in imported.contacts] == [f"+120255501{i:02d}" for i in range(1, 11)]
    assert imported.rejected == ()


@pytest.mark.parametrize(("name", "data", "code"), [
    ("x" * 124 + ".csv", b"Number\n+12025550101\n", "file_name"),  # 128 characters
    ("contacts.txt", b"Number\n+12025550101\n", "file_type"),
    ("contacts.csv", "Number\n+12025550101,Zoë\n".encode("latin-1"), "encoding"),
    ("contacts.csv", b"Phone\n+12025550101\n", "no_number_column"),
    ("contacts.csv", b"", "no_number_column"),
    ("contacts.csv", b'Number\n"+1202555\n', "csv"),
])
def test_a_file_breaking_a_file_rule_is_refused_whole(name: str, data: bytes,
                                                      code: str) -> None:
    with pytest.raises(CampaignError) as info:
        import_csv(name, data)
    assert info.value.code == code


def test_the_file_name_limit_is_127_characters_and_size_50_mb() -> None:
    assert len(import_csv("x" * 123 + ".csv", b"Number\n+12025550101\n").contacts) == 1
    at_limit = b"Number\n+12025550101\n"
    pad = MAX_FILE_BYTES - len(at_limit)  # 50 MB exactly, in blank rows: accepted
    at_limit += (b" " * 1023 + b"\n") * (pad // 1024) + b" " * (pad % 1024)
    assert len(at_limit) == MAX_FILE_BYTES
    assert len(import_csv("big.csv", at_limit).contacts) == 1
    with pytest.raises(CampaignError) as info:
        import_csv("big.csv", at_limit + b" ")
    assert (info.value.status, info.value.code) == (413, "file_size")


def test_each_rejected_row_is_reported_with_its_line_and_reason() -> None:
    data = ("\ufeffName,Number\n"  # a BOM and a Name column: accepted
            "客户 A,+18300002001\n"
            "客户 B,18300002002\n"  # no +
            "客户 C,+18300002001\n"  # duplicate
            ",,\n"  # empty: ignored
            "客户 D,\n"  # empty Number
            "客户 E,+1 830 000 2005\n"  # spaces
            "客户 F,+18300002006\n").encode()
    imported = import_csv("vip.csv", data)
    assert imported.contacts == (("+18300002001", "客户 A"), ("+18300002006", "客户 F"))
    assert [(r.line, r.value, r.reason.split(" (")[0]) for r in imported.rejected] == [
        (3, "18300002002", "not an E.164 number"),
        (4, "+18300002001", "duplicate of line 2"),
        (6, "", "the Number cell is empty"),
        (7, "+1 830 000 2005", "not an E.164 number")]


def test_rows_beyond_1000_contacts_are_rejected_by_line() -> None:
    rows = "".join(f"+1202600{i:04d}\n" for i in range(1002))
    imported = import_csv("many.csv", ("Number\n" + rows).encode())
    assert len(imported.contacts) == 1000
    assert [(r.line, r.value) for r in imported.rejected] == [
        (1002, "+12026001000"), (1003, "+12026001001")]
    assert all("1000 contacts" in r.reason for r in imported.rejected)


# --- fields ---------------------------------------------------------------------------------


def config(base: str, rate: int | None = 10) -> ChannelConfig:
    return ChannelConfig(
        "General SMS Channel", "sms", "general", "429ced149ff9437695be795aff38407b", "key",
        f"{base}/sendmessage",
        (ChannelNumber(SENDER, Destination("message_queue", "Tech Support")),
         ChannelNumber("+865925503309", Destination("extension", "3000"))),
        send_rate=rate)


def fields(numbers: list[str], **more: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "短信营销活动", "channel": "General SMS Channel",
                            "sender": SENDER, "contacts": numbers,
                            "text": "亲爱的客户您好😊， 本限时特惠来袭！", "mode": "direct"}
    base.update(more)
    return base


def test_schedule_is_read_in_the_admins_time_zone_and_must_be_in_the_future() -> None:
    channels = {"General SMS Channel": config("http://127.0.0.1:9")}
    now = datetime(2025, 8, 1, tzinfo=UTC).timestamp()
    c = parse_fields(fields(["+12025550101"], send_time="schedule",
                            send_at="2025/08/31 09:00:00", time_zone="Asia/Shanghai"),
                     channels, now, lambda t, n: True)
    assert c.send_at == datetime(2025, 8, 31, 1, 0, 0, tzinfo=UTC).timestamp()
    assert c.as_json()["send_at"] == "2025/08/31 09:00:00"
    for bad in ({"send_at": "2025/07/31 09:00:00"}, {"send_at": "2025-08-31 09:00"},
                {"time_zone": "Mars/Olympus"}):
        with pytest.raises(CampaignError):
            parse_fields(fields(["+12025550101"], send_time="schedule",
                                **{"send_at": "2025/08/31 09:00:00", **bad}),
                         channels, now, lambda t, n: True)


@pytest.mark.parametrize(("change", "words"), [
    ({"channel": "nope"}, "channel"),
    ({"sender": "+19999999999"}, "sender"),
    ({"contacts": []}, "contacts"),
    ({"contacts": ["12025550101"]}, "E.164"),
    ({"contacts": ["+12025550101", "+12025550101"]}, "twice"),
    ({"contacts": [f"+1202600{i:04d}" for i in range(1001)]}, "at most 1000"),
    ({"text": ""}, "text"),
    ({"mode": "session"}, "assign"),
    ({"mode": "session", "assign": {"type": "message_queue", "target": "Nope"}}, "Nope"),
    ({"send_time": "later"}, "send_time"),
    ({"colour": "red"}, "unknown"),
])
def test_every_field_is_checked(change: dict[str, Any], words: str) -> None:
    channels = {"General SMS Channel": config("http://127.0.0.1:9")}
    with pytest.raises(CampaignError) as info:
        parse_fields(fields(["+12025550101"], **change), channels, 0.0,
                     lambda t, n: n == "Tech Support")
    assert words in info.value.message


# --- a provider with a rate limit on the virtual clock ------------------------------------


@dataclass
class LimitedProvider:
    """The General SMS send endpoint: at most ``rate`` requests per second of the test's
    virtual clock (a faster one gets 429 with code 10006); numbers in ``invalid`` get 400
    with 10001; numbers in ``busy`` get a 429 the first time."""

    clock: VirtualClock
    rate: float
    invalid: set[str] = field(default_factory=set)
    busy: set[str] = field(default_factory=set)
    requests: list[tuple[float, str, str]] = field(default_factory=list)  # (time, to, text)
    accepted: list[tuple[float, str]] = field(default_factory=list)
    limited: int = 0
    override: tuple[int, dict[str, Any]] | None = None  # the answer to every request
    port: int = 0
    _runner: web.AppRunner | None = None
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _last: float = float("-inf")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> LimitedProvider:
        app = web.Application()
        app.router.add_post("/sendmessage", self._send)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def sent_to(self, number: str) -> int:
        return sum(1 for _, to, _ in self.requests if to == number)

    async def _send(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        now = self.clock.monotonic()
        self.requests.append((now, body["to"], body.get("text", "")))
        if now - self._last < 1.0 / self.rate - 1e-9:
            self.limited += 1
            return web.json_response({"errors": [{"code": "10006", "title": "Too many"}]},
                                     status=429)
        self._last = now
        if self.override is not None:
            return web.json_response(self.override[1], status=self.override[0])
        if body["to"] in self.busy:
            self.busy.discard(body["to"])
            return web.json_response({"errors": [{"code": "10006", "title": "Too many"}]},
                                     status=429)
        if body["to"] in self.invalid:
            return web.json_response({"errors": [{"code": "10001", "title": "Invalid"}]},
                                     status=400)
        self.accepted.append((now, body["to"]))
        return web.json_response({"data": {"id": f"msg-{next(self._ids)}"}})


def shell(store: Any, clock: VirtualClock, channel: ChannelConfig) -> tuple[Messaging,
                                                                              Campaigns]:
    acd = Acd(AcdConfig(message_queues=(MessageQueueConfig(
        "Tech Support", TakeOverMode.MANUAL, ("2000", "2001")),)), now=clock.monotonic())

    def execute(out: Output) -> None:
        pass

    service = Messaging((channel,), AcdQueues(lambda: acd, execute, clock.monotonic), store,
                        clock, lambda kind, body, agent: None, lambda e: NAMES.get(e, e))
    service.extension_exists = lambda ext: ext in NAMES
    return service, for_messaging(service)


async def drive(clock: VirtualClock, campaigns: Campaigns, done: Callable[[], bool],
                limit: float = 120.0) -> None:
    """Let the sender run, moving the virtual clock whenever it waits for a timer."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not done():
        assert loop.time() < deadline, "the campaign did not get there in time"
        if campaigns.waiting_until is not None:
            clock.advance_to(max(clock.monotonic(), campaigns.waiting_until))
            await asyncio.sleep(0)
        else:
            await asyncio.sleep(0.0005)


@dataclass
class Scenario:
    """What `scenario` started; a test that restarts the shell sets the new ``service``
    and ``campaigns`` here so that they are the ones closed."""

    clock: VirtualClock
    provider: LimitedProvider
    store: Any
    channel: ChannelConfig
    service: Messaging
    campaigns: Campaigns

    def __iter__(self) -> Iterator[Any]:
        return iter((self.clock, self.provider, self.store, self.channel, self.service,
                     self.campaigns))


@contextlib.asynccontextmanager
async def scenario(tmp_path: Path, rate: float, send_rate: int | None,
                   clock: VirtualClock | None = None,
                   **limits: Any) -> AsyncIterator[Scenario]:
    """A started messaging shell and its campaigns on an SQLite store, sending through a
    `LimitedProvider` of ``rate`` requests/s (``limits``: its ``invalid``, ``busy``) on
    the virtual clock, with the channel's ``send_rate``; all closed after."""
    clock = VirtualClock() if clock is None else clock
    provider = await LimitedProvider(clock, rate=rate, **limits).start()
    store = await Store.open(str(tmp_path / "switch.sqlite3"))
    channel = config(provider.base, rate=send_rate)
    service, campaigns = shell(store, clock, channel)
    await service.start()
    await campaigns.start()
    world = Scenario(clock, provider, store, channel, service, campaigns)
    try:
        yield world
    finally:
        await world.campaigns.close()
        await world.service.close()
        await store.close()
        await provider.stop()


NUMBERS = [f"+1202600{i:04d}" for i in range(1000)]
INVALID = {n for i, n in enumerate(NUMBERS) if i % 37 == 5}  # 27 numbers
BUSY = {n for i, n in enumerate(NUMBERS) if i % 101 == 7}  # 10 numbers, 429 once


async def test_1000_contacts_paced_with_exact_results_and_retry_of_the_failed_only(
        tmp_path: Path) -> None:
    async with scenario(tmp_path, 50.0, 50, invalid=set(INVALID), busy=set(BUSY)) as s:
        clock, provider, store, channel, service, campaigns = s
        start = clock.monotonic()
        c = campaigns.create(fields(NUMBERS))
        assert c.status is Status.IN_PROGRESS
        await drive(clock, campaigns, lambda: c.status is Status.COMPLETED)
        # pacing held: the provider never had to refuse one for its rate
        assert provider.limited == 0
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(provider.requests)]
        assert min(gaps) >= 1 / 50 - 1e-9
        assert clock.monotonic() - start >= (len(provider.requests) - 1) / 50 - 1e-6
        # each number once, the busy ones twice (one 429, then the back-off)
        assert len(provider.requests) == 1000 + len(BUSY)
        assert all(provider.sent_to(n) == (2 if n in BUSY else 1) for n in NUMBERS)
        failed, ok, total = c.counts()
        assert (failed, ok, total) == (len(INVALID), 1000 - len(INVALID), 1000)
        for k in c.contacts:
            if k.number in INVALID:
                assert (k.result, k.reason, k.attempts) == (Result.FAILED, "Invalid number",
                                                            1)
            else:
                assert k.result is Result.SUCCESS and k.provider_id is not None
                assert k.attempts == (2 if k.number in BUSY else 1)
        row = (await campaigns.rows())[0]
        assert row["status"] == "completed"
        assert row["result"] == {"failed": 27, "succeeded": 973, "total": 1000}
        assert row["reply_rate"] == 0
        # what was committed is what the list shows
        stored = await store.fetch("SELECT result, COUNT(*) FROM messaging_campaign_contacts"
                                   " GROUP BY result ORDER BY result")
        assert stored == [("failed", 27), ("success", 973)]
        # direct mode: nothing in the sessions (the chat logs)
        assert service.inbox.sessions == {}

        # retry: the failed ones only, now accepted
        provider.invalid.clear()
        before = len(provider.requests)
        campaigns.retry(c.id)
        assert c.status is Status.RETRYING
        await drive(clock, campaigns, lambda: c.status is Status.COMPLETED)
        again = [to for _, to, _ in provider.requests[before:]]
        assert sorted(again) == sorted(INVALID)
        assert c.counts() == (0, 1000, 1000)
        with pytest.raises(CampaignError):
            campaigns.retry(c.id)  # nothing failed any more


async def test_a_restart_in_the_middle_messages_nobody_twice_and_skips_nobody(
        any_store: Any) -> None:
    clock = VirtualClock()
    numbers = NUMBERS[:120]
    provider = await LimitedProvider(clock, rate=20.0, invalid={numbers[3]}).start()
    channel = config(provider.base, rate=20)
    service, campaigns = shell(any_store, clock, channel)
    await service.start()
    await campaigns.start()
    c = campaigns.create(fields(numbers))
    try:
        await drive(clock, campaigns, lambda: len(provider.requests) >= 50)
    finally:
        await campaigns.close()  # the request in flight is finished and committed
        await service.close()
    first_run = len(provider.requests)
    assert first_run < len(numbers)
    done_before = sum(k.result is not Result.WAITING for k in c.contacts)
    assert done_before == first_run
    # the switch died right after committing "sending" for the next contact
    any_store.write("UPDATE messaging_campaign_contacts SET result='sending', attempts=1"
                    " WHERE campaign=? AND idx=?", (c.id, first_run))
    await any_store.flush()

    clock.advance(30.0)
    service, campaigns = shell(any_store, clock, channel)
    await service.start()
    await campaigns.start()
    try:
        again = campaigns.get(c.id)
        assert again.status is Status.IN_PROGRESS
        await drive(clock, campaigns, lambda: again.status is Status.COMPLETED)
        in_doubt = numbers[first_run]
        assert provider.sent_to(in_doubt) == 0
        assert all(provider.sent_to(n) == 1 for n in numbers if n != in_doubt)
        assert again.counts() == (2, 118, 120)
        assert again.contacts[first_run].reason == IN_DOUBT
        assert again.contacts[3].reason == "Invalid number"
        provider.invalid.clear()
        before = len(provider.requests)
        campaigns.retry(c.id)
        await drive(clock, campaigns, lambda: again.status is Status.COMPLETED)
        assert sorted(to for _, to, _ in provider.requests[before:]) == sorted(
            [numbers[3], in_doubt])
        assert again.counts() == (0, 120, 120)
    finally:
        await campaigns.close()
        await service.close()
        await provider.stop()


def inbound(pid: str, customer: str, text: str) -> Inbound:
    return Inbound(pid, customer, SENDER, text, (), "2025-08-03T21:17:45+00:00")


async def test_session_mode_creates_or_joins_sessions_and_replies_count(
        tmp_path: Path) -> None:
    async with scenario(tmp_path, 100.0, None, invalid={"+18300002004"}) as s:
        clock, provider, store, channel, service, campaigns = s
        # customer B already talks to us: the campaign message joins that session
        await service.receive(channel, inbound("p1", "+18300002001", "hello"))
        assert len(service.inbox.sessions) == 1
        clock.advance(1)  # "hello" is not a reply to the campaign
        customers = [f"+1830000200{i}" for i in range(1, 6)]
        c = campaigns.create(fields(
            [{"number": n, "name": f"客户 {chr(64 + i)}"} for i, n in
             enumerate(customers, 1)], mode="session",
            assign={"type": "extension", "target": "3000"}))
        await drive(clock, campaigns, lambda: c.status is Status.COMPLETED)
        by_customer = {s.customer: s for s in service.inbox.sessions.values()}
        assert sorted(by_customer) == sorted(n for n in customers if n != "+18300002004")
        joined = by_customer["+18300002001"]
        assert (joined.route, joined.target) == ("message_queue", "Tech Support")
        for n in ("+18300002002", "+18300002003", "+18300002005"):
            s = by_customer[n]
            assert (s.route, s.target, s.owner) == ("extension", "3000", "3000")
            msgs = service.inbox.messages[s.id]
            assert [(m.direction, m.sender, m.status.value) for m in msgs] == [
                (Direction.SENT, "群发活动<短信营销活动>", "sent")]
        assert service.inbox.messages[joined.id][-1].sender == "群发活动<短信营销活动>"
        # two customers reply: their messages join the campaign's sessions
        clock.advance(60)
        await service.receive(channel, inbound("p2", "+18300002002", "yes please"))
        await service.receive(channel, inbound("p3", "+18300002001", "me too"))
        assert len(service.inbox.sessions) == 4
        assert service.inbox.messages[by_customer["+18300002002"].id][-1].text == \
            "yes please"
        row = (await campaigns.rows())[0]
        assert row["result"] == {"failed": 1, "succeeded": 4, "total": 5}
        assert row["reply_rate"] == 50  # 2 of the 4 reached
        timeline = await store.fetch("SELECT kind, actor FROM messaging_events"
                                     " WHERE session=?", (by_customer["+18300002002"].id,))
        assert timeline == [("create", "群发活动<短信营销活动>")]


async def test_direct_mode_reply_opens_a_session_by_the_numbers_destination(
        tmp_path: Path) -> None:
    async with scenario(tmp_path, 100.0, None) as s:
        clock, provider, store, channel, service, campaigns = s
        c = campaigns.create(fields(["+18300002001", "+18300002002"]))
        await drive(clock, campaigns, lambda: c.status is Status.COMPLETED)
        assert service.inbox.sessions == {}
        clock.advance(5)
        await service.receive(channel, inbound("r1", "+18300002002", "stop"))
        (s,) = service.inbox.sessions.values()
        assert (s.customer, s.route, s.target) == ("+18300002002", "message_queue",
                                                   "Tech Support")
        assert (await campaigns.rows())[0]["reply_rate"] == 50


async def test_schedule_draft_pending_one_at_a_time_copy_edit_delete(tmp_path: Path) -> None:
    start = datetime(2025, 8, 27, 13, 0, tzinfo=UTC).timestamp()
    async with scenario(tmp_path, 1.0, 1, clock=VirtualClock(wall_start=start)) as s:
        clock, provider, store, channel, service, campaigns = s
        # 21:15:10 in Shanghai is 13:15:10 UTC: 910 s from now
        later = campaigns.create(fields(["+18300002001"], name="later",
                                        send_time="schedule", send_at="2025/08/27 21:15:10",
                                        time_zone="Asia/Shanghai"))
        draft = campaigns.create(fields(["+18300002002"], name="draft", send_time="draft"))
        assert (later.status, draft.status) == (Status.SCHEDULED, Status.DRAFT)
        numbers = [f"+1830000{i:04d}" for i in range(3000, 4000)]
        long = campaigns.create(fields(numbers, name="long"))  # 1000 s at 1/s
        assert long.status is Status.IN_PROGRESS
        campaigns.send_now(draft.id)
        assert draft.status is Status.PENDING  # another campaign is running
        with pytest.raises(CampaignError):
            campaigns.delete(long.id)  # not while sending
        with pytest.raises(CampaignError):
            campaigns.update(long.id, fields(["+18300002009"]))
        later = campaigns.update(later.id, fields(
            ["+18300002001", "+18300002003"], name="later", send_time="schedule",
            send_at="2025/08/27 21:15:10", time_zone="Asia/Shanghai"))
        assert later.status is Status.SCHEDULED and len(later.contacts) == 2
        due = later.send_at
        assert due is not None
        await drive(clock, campaigns, lambda: clock.wall() >= due + 1)
        assert later.status is Status.PENDING  # due while "long" runs, after "draft"
        await drive(clock, campaigns, lambda: later.status is Status.COMPLETED, limit=240)
        order = [to for _, to, _ in provider.requests]
        assert order.index("+18300002002") > order.index(numbers[-1])  # strictly after
        assert order.index("+18300002001") > order.index("+18300002002")
        assert [campaigns.get(i).status for i in (long.id, draft.id, later.id)] == [
            Status.COMPLETED] * 3
        assert long.as_json()["sent_at"] == "2025/08/27 13:00:00"
        copy = campaigns.copy(long.id)
        assert (copy.status, copy.name, len(copy.contacts)) == (Status.DRAFT, "long (copy)",
                                                                1000)
        assert all(k.result is Result.WAITING for k in copy.contacts)
        campaigns.delete(long.id)
        assert [r[0] for r in await store.fetch(
            "SELECT DISTINCT campaign FROM messaging_campaign_contacts ORDER BY campaign")
        ] == sorted([draft.id, later.id, copy.id])


async def test_refused_credentials_or_a_missing_channel_stop_the_campaign(
        tmp_path: Path) -> None:
    async with scenario(tmp_path, 100.0, None) as s:
        clock, provider, store, channel, service, campaigns = s
        numbers = ["+18300002001", "+18300002002", "+18300002003"]
        provider.override = (400, {"errors": [{"code": "10004", "title": "Auth"}]})
        c = campaigns.create(fields(numbers))
        await drive(clock, campaigns, lambda: c.status is Status.STOPPED)
        assert c.stop_reason.startswith("the provider refused the credentials")
        assert [k.result for k in c.contacts] == [Result.FAILED, Result.WAITING,
                                                  Result.WAITING]
        provider.override = None
        campaigns.retry(c.id)  # the failed one again, and the two not reached
        await drive(clock, campaigns, lambda: c.status is Status.COMPLETED)
        assert c.counts() == (0, 3, 3)
        await campaigns.close()
        await service.close()
        # the channel left the configuration: at the next start the campaign stops
        gone = campaigns.create(fields(numbers, send_time="draft"))
        gone.status = Status.IN_PROGRESS
        campaigns._save(gone)
        await store.flush()
        other = replace(channel, name="Other SMS Channel")
        s.service, s.campaigns = service, campaigns = shell(store, clock, other)
        await service.start()
        await campaigns.start()
        again = campaigns.get(gone.id)
        await drive(clock, campaigns, lambda: again.status is Status.STOPPED)
        assert again.stop_reason == "the channel or its sender number is no longer configured"


async def test_an_agents_reply_and_the_campaign_share_the_channels_rate(
        tmp_path: Path) -> None:
    async with scenario(tmp_path, 1.0, 1) as s:
        clock, provider, store, channel, service, campaigns = s
        sid = await service.receive(channel, Inbound(
            "x", "+8613899990000", "+865925503309", "hi", (), "2025-08-03T21:17:45+00:00"))
        numbers = [f"+1830000300{i}" for i in range(4)]
        c = campaigns.create(fields(numbers))
        await asyncio.sleep(0.05)  # the first campaign message goes
        service.run(lambda inbox, now: inbox.reply(sid.session, "3000", "hello", (), now))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while c.status is not Status.COMPLETED or len(provider.requests) < 5:
            assert loop.time() < deadline
            nxt = clock.next_timer()
            if service.outbox.sending is not None:
                pass  # the reply's request is on the wire: the provider stamps its arrival
                # with the virtual clock, so the clock waits until it has arrived (under
                # load it arrived after a jump to the campaign's next slot: "two requests
                # within a second" that were sent a second apart)
            elif campaigns.waiting_until is not None:
                clock.advance_to(max(clock.monotonic(), campaigns.waiting_until))
            elif c.status is Status.COMPLETED and nxt is not None:
                clock.advance_to(max(clock.monotonic(), nxt))
            await asyncio.sleep(0.002)
        assert provider.limited == 0  # never two requests within a second
        assert sorted(to for _, to, _ in provider.requests) == sorted(
            [*numbers, "+8613899990000"])
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(provider.requests)]
        assert min(gaps) >= 1.0


async def test_at_most_1000_campaigns(tmp_path: Path) -> None:
    async with scenario(tmp_path, 100.0, 10) as s:  # nothing is sent
        clock, provider, store, channel, service, campaigns = s
        for i in range(1000):
            campaigns.create(fields(["+12025550101"], name=f"c{i}", send_time="draft"))
        with pytest.raises(CampaignError) as info:
            campaigns.create(fields(["+12025550101"], name="one more", send_time="draft"))
        assert (info.value.status, info.value.code) == (409, "too_many_campaigns")
        with pytest.raises(CampaignError):
            campaigns.copy(1)
        campaigns.delete(1)
        campaigns.copy(2)  # room again
        await store.flush()
        assert await store.fetch("SELECT COUNT(*) FROM messaging_campaigns") == [(1000,)]


async def test_a_failure_inside_the_sender_stops_that_campaign_only(tmp_path: Path) -> None:
    clock = VirtualClock()
    store = await Store.open(str(tmp_path / "switch.sqlite3"))

    class Broken:
        async def send(self, source: str, to: str, text: str,
                       media: tuple[str, ...]) -> SendResult:
            raise RuntimeError("boom")

    async def no_replies(c: Any) -> dict[str, float]:
        return {}

    channel = config("http://127.0.0.1:9")
    campaigns = Campaigns((channel,), store, clock, lambda name: Broken(),
                          lambda c, k, pid: None, no_replies)
    await campaigns.start()
    try:
        first = campaigns.create(fields(["+18300002001"], name="first"))
        second = campaigns.create(fields(["+18300002002"], name="second"))
        await drive(clock, campaigns, lambda: second.status is Status.STOPPED)
        assert first.status is Status.STOPPED and "boom" in first.stop_reason
        assert first.contacts[0].result is Result.FAILED
        assert first.contacts[0].reason == IN_DOUBT
    finally:
        await campaigns.close()
        await store.close()
