"""Ended calls leave nothing behind (issue "Nothing stranded, nothing lost"): a few hundred
calls of every kind run with the cyclic garbage collector off, then every call, queue task,
transaction, dialog, media leg, playback and recording object is gone once the calls'
linger times have passed, and a full collection finds (almost) nothing unreachable: an
ended call is freed by reference counting alone.

The linger timers (64*T1 of the transactions and of the call indexes) are passed by moving
the loop's clock forward (the loop's `time()` gets an offset), not by sleeping; the media
clock re-synchronises after the jump like after any stall.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import switchproc
import yaml
from callmix import CallMix

from media.engine import MediaLeg, Playback, Recording
from softswitch.app import Switch
from softswitch.apps.shell import AppCall
from softswitch.calls.b2bua import Call
from softswitch.calls.control import CallControl
from softswitch.config import parse_config
from softswitch.queue.caller import QueueTask
from softswitch.queue.dialer import OutboundCall
from softswitch.sip.dialog import Dialog
from softswitch.sip.endpoint import OutgoingRequest
from softswitch.sip.transaction import ClientTransaction, ServerTransaction

ROUNDS = 50  # each round: 2 extension calls, 2 queue calls, 2 feature calls, 1 busy call
#: unreachable objects a full collection may find per call (interpreter and library noise,
#: e.g. an exception's traceback in a library we do not own); was ~200 per call before
MAX_GARBAGE_PER_CALL = 2

KINDS = (Call, CallControl, QueueTask, OutboundCall, AppCall, Dialog, OutgoingRequest,
         ClientTransaction, ServerTransaction, MediaLeg, Playback, Recording)


def live(kinds: tuple[type, ...] = KINDS) -> dict[str, int]:
    counts: collections.Counter[str] = collections.Counter()
    for o in gc.get_objects():
        if isinstance(o, kinds):
            counts[type(o).__name__] += 1
    return dict(counts)


@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def test_ended_calls_are_freed_by_reference_counting(tmp_path: Path,
                                                           no_cyclic_gc: None) -> None:
    raw = switchproc.base_config(tmp_path)
    raw["logging"] = {"format": "json", "level": "warning"}
    raw["recording"] = {"enabled": True, "path": str(tmp_path / "rec")}
    raw["queues"] = [{"number": "6400", "name": "Sales", "static_agents": ["1003"],
                      "dynamic_agents": ["1002"], "wrapup": 0}]
    cfg = parse_config(yaml.safe_dump(raw), "c.yaml", tmp_path)
    loop = asyncio.get_running_loop()
    skew = 0.0  # before the switch exists: some parts keep `loop.time` as their clock
    loop.time = lambda: time.monotonic() + skew  # type: ignore[method-assign]
    switch = Switch(cfg)
    await switch.start()
    host, port = switch.sip_addresses[0].split(":")[1:]
    mix = await CallMix((host, int(port))).start()
    try:
        await mix.register("1003")

        async def one_round(n: int) -> int:
            await mix.extension_call("1001", "1003")
            await mix.queue_call("6400", "1002", "1003")
            # sign in / out; every tenth time the prompt plays to its end and the switch
            # hangs up (a prompt lasts about a second), else the agent hangs up during it
            whole = n % 10 == 0
            await mix.feature_call("*76400", "1002", hang_up=not whole)
            await mix.queue_call("6400", "1001", "1003", agent_hangs_up=True)
            await mix.feature_call("*076400", "1002", hang_up=not whole)
            await mix.extension_call("1002", "1003")
            await mix.busy_call("1001", "1003")
            return 7

        async def settle() -> None:
            nonlocal skew
            await asyncio.sleep(0.2)  # the last BYEs' transactions, leg closes
            skew += 120.0  # past every linger (64*T1 = 32 s) and Timer D/J/K
            for _ in range(20):
                await asyncio.sleep(0.01)

        await one_round(0)  # warm-up: caches, prompt files, lazily built tables
        await settle()
        gc.collect()
        before = live()
        calls = 0
        for n in range(ROUNDS):
            calls += await one_round(n)
        await settle()
        after = live()
        unreachable = gc.collect()
    finally:
        mix.close()
        await switch.stop()
        del loop.time  # the loop's own clock again
    recordings = list((tmp_path / "rec").rglob("*.wav"))
    assert len(recordings) >= 4 * ROUNDS  # the calls were recorded
    assert after == before, (before, after)
    assert unreachable <= MAX_GARBAGE_PER_CALL * calls, (unreachable, calls)
