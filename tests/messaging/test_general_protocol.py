"""The General SMS API's rules as functions (omnichannel.md §3.9, §13.19-§13.26), and the
outbox against a local provider in explicit time: a provider that cannot take a message
now is retried with back-off, and the agent sees the state."""

from __future__ import annotations

import asyncio
import json

import pytest
from fake_provider import FakeProvider

from softswitch.clock import VirtualClock
from softswitch.messaging.config import ChannelConfig, ChannelNumber, Destination
from softswitch.messaging.general import (
    ChannelStatus,
    GeneralSmsClient,
    Job,
    Outbox,
    SendResult,
    WebhookError,
    classify,
    parse_webhook,
    sign,
    signature_ok,
    verify_status,
)

EXAMPLE = {"data": {"event_type": "message.received", "id": "ev-1",
                    "occurred_at": "2019-12-09T20:16:07.588+00:00", "record_type": "event",
                    "payload": {
                        "id": "84cca175-9755-4859-b67f-4730d7f58aa3", "direction": "inbound",
                        "from": {"phone_number": "+8618012121222"},
                        "to": [{"phone_number": "+8618012121223", "status": "webhook_delivered"}],
                        "text": "Hello from PBX!", "media": [], "encoding": "GSM-7", "parts": 1,
                        "received_at": "2019-12-09T20:16:07.503+00:00", "record_type": "message",
                        "type": "SMS/MMS"}},
           "meta": {"attempt": 1}}


def body(**payload: object) -> bytes:
    doc = json.loads(json.dumps(EXAMPLE))
    doc["data"]["payload"].update(payload)
    return json.dumps(doc).encode()


def test_signature_is_lowercase_hmac_sha256_of_the_raw_body() -> None:
    raw = body()
    header = sign("s3cret", raw)
    assert signature_ok("s3cret", raw, header)
    assert not signature_ok("s3cret", raw + b" ", header)
    assert not signature_ok("other", raw, header)
    assert not signature_ok("s3cret", raw, header.upper().replace("SHA256=", "sha256="))
    assert not signature_ok("s3cret", raw, None)


def test_webhook_fields() -> None:
    got = parse_webhook(body())
    assert (got.provider_id, got.source, got.to, got.text) == (
        "84cca175-9755-4859-b67f-4730d7f58aa3", "+8618012121222", "+8618012121223",
        "Hello from PBX!")
    # `to` as an object too (§12.3)
    assert parse_webhook(body(to={"phone_number": "+8618012121223"})).to == "+8618012121223"
    mms = parse_webhook(body(text=None, media=[{"url": "https://pbs.twimg.com/a.png"}]))
    assert mms.media == ("https://pbs.twimg.com/a.png",) and mms.text == ""
    for bad in (body(text="", media=[]), body(id="x" * 256), body(record_type="call"),
                body(to={"phone_number": "8618012121223"}), body(received_at="yesterday"),
                body(media=[{"size": 3}]), b"not json", b"[]"):
        with pytest.raises(WebhookError):
            parse_webhook(bad)


@pytest.mark.parametrize(("status", "answer", "prompt", "retry"), [
    (200, b'{"data":{}}', "Send failed", False),
    (401, b"", "Authentication failed", False),
    (403, b"", "Third-party platform service unavailable", False),
    (404, b"", "Send failed", False),
    (400, b'{"errors":[{"code":"10001","title":"Invalid \'to\' address","detail":"x"}]}',
     "Invalid number", False),
    (400, b'{"errors":[{"code":"10002","title":"t","detail":"d"}]}', "Invalid parameter",
     False),
    (415, b'{"errors":[{"code":"10003","title":"t","detail":"d"}]}',
     "This message type cannot be sent due to third-party platform restrictions", False),
    (400, b'{"errors":[{"code":"10004","title":"t","detail":"d"}]}', "Authentication failed",
     False),
    (400, b'{"errors":[{"code":"10005","title":"t","detail":"d"}]}', "Authentication failed",
     False),
    (429, b'{"errors":[{"code":"10006","title":"t","detail":"d"}]}',
     "Operation too frequent, please try again later", True),
    (503, b'{"errors":[{"code":"10007","title":"t","detail":"d"}]}',
     "Third-party platform service unavailable", True),
    (413, b'{"errors":[{"code":"10008","title":"t","detail":"d"}]}',
     "File size exceeds the third-party platform limit", False),
    (400, b'{"errors":[{"code":"20001","title":"Quota","detail":"Monthly quota used"}]}',
     "Send failed: Monthly quota used", False),
    (400, b"<html>oops</html>", "Send failed", False),
    (503, b"", "Send failed", True),
    (None, b"", "Third-party platform service unavailable", True),
])
def test_send_answers_map_to_the_agent_prompts(status: int | None, answer: bytes,
                                               prompt: str, retry: bool) -> None:
    assert classify(status, answer) == SendResult(None, prompt, retry)


def test_send_success_needs_data_id() -> None:
    ok = b'{"data":{"id":"b301ed3f-1490-491f-995f-6e64e69674d4"}}'
    assert classify(200, ok).provider_id == "b301ed3f-1490-491f-995f-6e64e69674d4"


@pytest.mark.parametrize(("status", "answer", "expected"), [
    (200, b"mAWpGnyeTZgguOPYlWitGPlRJYIhoLMy", ChannelStatus.CONNECTED),
    (200, b"something else", ChannelStatus.UNAUTHORIZED),
    (401, b"", ChannelStatus.UNAUTHORIZED), (403, b"", ChannelStatus.UNAUTHORIZED),
    (404, b"", ChannelStatus.UNAUTHORIZED), (500, b"", ChannelStatus.SERVICE_UNAVAILABLE),
    (429, b'{"errors":[{"code":"10006","title":"t","detail":"d"}]}',
     ChannelStatus.UNKNOWN_SOURCE),
    (429, b"", ChannelStatus.REQUEST_FAILED), (429, b"<html/>", ChannelStatus.REQUEST_FAILED),
    (None, b"", ChannelStatus.REQUEST_FAILED),
])
def test_verification_status(status: int | None, answer: bytes,
                             expected: ChannelStatus) -> None:
    assert verify_status(status, answer, "mAWpGnyeTZgguOPYlWitGPlRJYIhoLMy") is expected


def channel(base: str, verify: bool = False) -> ChannelConfig:
    return ChannelConfig("General SMS Channel", "sms", "general",
                         "429ced149ff9437695be795aff38407b", "the-api-key",
                         f"{base}/sendmessage",
                         (ChannelNumber("+8618012121222", Destination("extension", "1001")),),
                         verify_url=f"{base}/verify" if verify else None)


async def test_client_sends_exactly_the_documented_request_and_verifies() -> None:
    provider = await FakeProvider().start()
    client = GeneralSmsClient(channel(provider.base, verify=True))
    try:
        result = await client.send("+8618012121222", "+8618012121223", "Hello, World!", ())
        assert result.provider_id == "msg-0"
        await client.send("+8618012121222", "+8618012121223", "",
                          ("https://pbx.example/api/chat/70dee7e2f95041ca890f222ace06c2dc",))
        first, mms = provider.sent
        assert first.authorization == "Bearer the-api-key"
        assert first.content_type == "application/json"
        assert first.body == {"from": "+8618012121222", "to": "+8618012121223",
                              "text": "Hello, World!"}
        assert mms.body == {"from": "+8618012121222", "to": "+8618012121223", "media_urls": [
            "https://pbx.example/api/chat/70dee7e2f95041ca890f222ace06c2dc"]}
        assert await client.verify() is ChannelStatus.CONNECTED
        provider.verify_answer = (200, b"wrong")
        assert await client.verify() is ChannelStatus.UNAUTHORIZED
        assert len(set(provider.verified)) == 2  # a new random challenge each time
    finally:
        await client.close()
        await provider.stop()


async def test_outbox_retries_with_backoff_on_the_clock() -> None:
    provider = await FakeProvider(script=[(503, b""), (
        503, b'{"errors":[{"code":"10007","title":"t","detail":"d"}]}')]).start()
    client = GeneralSmsClient(channel(provider.base))
    clock = VirtualClock()
    results: list[tuple[int, SendResult, bool]] = []
    changed = asyncio.Event()

    async def deliver(job: Job) -> SendResult:
        return await client.send(job.source, job.to, job.text, job.media)

    def done(job: Job, result: SendResult, final: bool) -> None:
        results.append((job.attempts, result, final))
        changed.set()

    async def next_result() -> tuple[int, SendResult, bool]:
        await asyncio.wait_for(changed.wait(), 5)
        changed.clear()
        return results[-1]

    outbox = Outbox(deliver, done, clock)
    outbox.start()
    try:
        outbox.add(Job(1, 1, "General SMS Channel", "+8618012121222", "+8618012121223",
                       "hi", (), clock.monotonic()))
        assert await next_result() == (1, SendResult(None, "Send failed", True), False)
        clock.advance(0.99)  # back-off 1 s: nothing yet
        await asyncio.sleep(0)
        assert len(provider.sent) == 1
        clock.advance(0.01)
        attempts, result, final = await next_result()
        assert (attempts, result.prompt, final) == (
            2, "Third-party platform service unavailable", False)
        clock.advance(2.0)  # back-off 2 s
        attempts, result, final = await next_result()
        assert (attempts, result.provider_id, final) == (3, "msg-0", True)
        assert len(provider.sent) == 3
    finally:
        await outbox.close()
        await client.close()
        await provider.stop()


async def test_send_rate_queues_and_sends_one_per_interval() -> None:
    """§13.5: send rate 1/s and 5 messages within a second: all 5 go, about 1 per second."""
    provider = await FakeProvider().start()
    client = GeneralSmsClient(channel(provider.base))
    clock = VirtualClock()
    sent_at: list[float] = []
    changed = asyncio.Event()

    async def deliver(job: Job) -> SendResult:
        sent_at.append(clock.monotonic())
        return await client.send(job.source, job.to, job.text, job.media)

    def done(job: Job, result: SendResult, final: bool) -> None:
        changed.set()

    outbox = Outbox(deliver, done, clock, interval=lambda name: 1.0)
    outbox.start()
    try:
        start = clock.monotonic()
        for i in range(5):
            outbox.add(Job(i, 1, "General SMS Channel", "+8618012121222", "+8618012121223",
                           f"m{i}", (), start))
        for step in range(5):
            await asyncio.wait_for(changed.wait(), 5)
            changed.clear()
            await asyncio.sleep(0)
            assert len(sent_at) == step + 1  # the next one waits for its slot
            clock.advance(1.0)
        assert [t - start for t in sent_at] == [0.0, 1.0, 2.0, 3.0, 4.0]
        assert [r.body["text"] for r in provider.sent] == ["m0", "m1", "m2", "m3", "m4"]
    finally:
        await outbox.close()
        await client.close()
        await provider.stop()


async def test_a_job_cancelled_while_on_the_wire_is_not_retried() -> None:
    """`Outbox.cancel` while the provider is being asked: its answer (retry) is dropped,
    the job is not queued again and nobody is told of a result."""
    clock = VirtualClock()
    answers: list[asyncio.Future[SendResult]] = []
    done: list[tuple[int, bool]] = []

    async def deliver(job: Job) -> SendResult:
        answers.append(asyncio.get_running_loop().create_future())
        return await answers[-1]

    outbox = Outbox(deliver, lambda job, result, final: done.append((job.message, final)),
                    clock)
    outbox.start()
    try:
        outbox.add(Job(7, 3, "General SMS Channel", "+1", "+2", "hi", (), clock.monotonic()))
        outbox.add(Job(8, 4, "General SMS Channel", "+1", "+3", "other", (),
                       clock.monotonic()), due=clock.monotonic() + 5)
        while not answers:
            await asyncio.sleep(0)
        assert outbox.cancel(3) == [7]  # on the wire
        assert outbox.cancel(4, frozenset({9})) == []  # another message of session 4
        answers[0].set_result(SendResult(None, "Send failed", True))
        for _ in range(5):
            await asyncio.sleep(0)
        assert done == [] and len(outbox) == 1
        assert outbox.cancel(4, frozenset({8})) == [8]  # queued
        clock.advance(3600)
        for _ in range(5):
            await asyncio.sleep(0)
        assert len(answers) == 1 and done == [] and len(outbox) == 0
    finally:
        await outbox.close()
