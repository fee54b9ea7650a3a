"""Call-recording CPU: what one recorded call costs the media clock, per 20 ms tick.

    .venv/bin/python -m benchmarks.recording [--calls N] [--seconds S]

In-process, no sockets: ``--calls`` two-channel `media.recorder.ChannelRecorder`s (a
recorded bridged call: caller left, agent right), each fed one 160-byte PCMU packet per
channel and ticked once per 20 ms of simulated audio, as `media.engine.Recording` does,
for ``--seconds`` of audio; the files are written to a temporary folder and closed. The
figure is process CPU time per recorded call per tick (push of both packets, the tick,
the decode and the WAV writes they amortise), and what that makes at the soak's load
(benchmarks/soak: ~135 recorded calls at once, 50 ticks/s each).

The soak's profile (py-spy, 2026-12-03) had the recording path at about a third of the
switch's samples before `ChannelRecorder` kept frames as received and decoded a second at
once. The last line is one JSON object: ``us_per_call_tick``, ``core_pct_at_135_calls``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from media import g711
from media.recorder import ChannelRecorder


def run(calls: int, seconds: float) -> dict[str, float]:
    ticks = int(seconds * 50)
    tone = (np.sin(np.arange(160) / 5) * 8000).astype(np.int16)
    payload = g711.encode(tone, g711.Codec.PCMU)
    with tempfile.TemporaryDirectory() as folder:
        recorders = [ChannelRecorder(Path(folder) / f"{i}.wav", 2) for i in range(calls)]
        start = time.process_time()
        for _ in range(ticks):
            for rec in recorders:
                rec.push_payload(0, payload, g711.Codec.PCMU)
                rec.push_payload(1, payload, g711.Codec.PCMU)
                rec.tick()
        for rec in recorders:
            rec.close()
        cpu = time.process_time() - start
    per_tick_us = cpu / (calls * ticks) * 1e6
    return {"us_per_call_tick": round(per_tick_us, 2),
            "core_pct_at_135_calls": round(per_tick_us * 135 * 50 / 1e4, 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--calls", type=int, default=135)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    result = run(args.calls, args.seconds)
    print(f"{args.calls} recorded calls, {args.seconds:g} s of audio: "
          f"{result['us_per_call_tick']} us CPU per call per tick, "
          f"{result['core_pct_at_135_calls']} % of a core at 135 calls")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
