"""CPU per REGISTER-with-auth of the switch, in process, without sockets or a load generator.

    .venv/bin/python -m benchmarks.sip_register_cpu [--registers N] [--profile FILE]

The whole switch (`softswitch.app.Switch`: store, media engine, registrar, B2BUA, ACD) is
started in this process with the same configuration `benchmarks.sip_load` uses (MD5 only,
JSON logs at info level to /dev/null). Then, for N REGISTER transactions pairs, the exact
datagrams sipp's `register_auth.xml` sends are handed to the endpoint's UDP entry
(`SipEndpoint.udp_datagram`): the first REGISTER, whose 401 is read back, the digest
answered like sipp does (MD5, qop=auth, nc=00000001), and the authorised REGISTER, whose 200
is checked. The UDP socket's `send` is replaced by a list append, so the figure is the
switch's own Python work per REGISTER (parse, transactions, auth, registrar, serialise, the
SQLite writer thread's share), without the two recvfrom/sendto system calls and the event
loop's select that a real run adds (~10-20 us per REGISTER on this machine).

Result = process CPU time (all threads) / N, measured after a warm-up of one round through
all users, with the garbage collector set up as `softswitch run` does. `--profile FILE`
writes a cProfile of the measured part. For figures that do not move with the load other
processes put on a shared machine, count instructions instead of seconds: run it under
`valgrind --tool=callgrind` with `--registers 1` and `--registers 2001` and divide the
difference by 2000.

Last line: JSON {"cpu_us_per_register": ..., "registers": N, "register_per_core_s": ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.peers.switch import Extension, build_config
from softswitch.app import configure_gc

# sip_load's REGISTER users (3000-3199): numbers the demo config leaves free (7000-7199
# collided with its IVR and call-flow numbers, so `check` refused the config)
USERS = [(f"3{i:03d}", f"reg-{i:03d}-pw") for i in range(200)]
SIPP = ("127.0.0.1", 5061)

_NONCE_RE = re.compile(rb'nonce="([^"]+)"')


def _register(user: str, switch: tuple[str, int], n: int, cseq: int, auth: str = "") -> bytes:
    host, port = switch
    lines = [
        f"REGISTER sip:{host}:{port} SIP/2.0",
        f"Via: SIP/2.0/UDP {SIPP[0]}:{SIPP[1]};branch=z9hG4bK-{n}-{cseq}-0;rport",
        "Max-Forwards: 70",
        f"From: <sip:{user}@127.0.0.1>;tag=4242R{n}",
        f"To: <sip:{user}@127.0.0.1>",
        f"Call-ID: {n}-4242@127.0.0.1",
        f"CSeq: {cseq} REGISTER",
        f"Contact: <sip:{user}@{SIPP[0]}:{SIPP[1]}>",
        "Expires: 3600",
    ]
    if auth:
        lines.append(auth)
    lines += ["User-Agent: sipp", "Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def _md5(s: str) -> str:
    return hashlib.md5(s.encode()).hexdigest()


def _authorization(user: str, password: str, realm: str, nonce: str, uri: str) -> str:
    ha1 = _md5(f"{user}:{realm}:{password}")
    ha2 = _md5(f"REGISTER:{uri}")
    cnonce = "6b8b4567"
    resp = _md5(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}")
    return (f'Authorization: Digest username="{user}",realm="{realm}",cnonce="{cnonce}",'
            f'nc=00000001,qop=auth,uri="{uri}",nonce="{nonce}",response="{resp}",'
            f"algorithm=MD5")


def switch_config(workdir: Path) -> dict[str, Any]:
    """The demo config with the REGISTER users and MD5 only, as sip_load runs the switch."""
    return build_config(workdir, extensions=[Extension(u, p) for u, p in USERS],
                        overrides={"sip": {"auth": {"algorithms": ["MD5"]}}})


async def run(registers: int, profile: str | None) -> dict[str, Any]:
    from softswitch.app import Switch
    from softswitch.config import load_config
    from softswitch.log import configure_logging
    from softswitch.sip.transaction import Peer

    workdir = Path(tempfile.mkdtemp(prefix="sip_register_cpu-"))
    cfg = switch_config(workdir)
    path = workdir / "softswitch.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    config = load_config(str(path))
    devnull = open("/dev/null", "w")  # noqa: SIM115 - lives as long as the run
    configure_logging("json", config.logging.level, stream=devnull)
    switch = Switch(config)
    await switch.start()
    endpoint = switch.endpoint
    udp = endpoint._udp[0]
    assert udp.local is not None
    me = (udp.local.host, udp.local.port)
    realm = config.sip.realm
    uri = f"sip:{me[0]}:{me[1]}"
    sent: list[bytes] = []
    udp.send = lambda data, peer: sent.append(data)  # type: ignore[method-assign]
    peer = Peer("udp", *SIPP)
    deliver = endpoint.udp_datagram

    def one(i: int) -> None:
        user, password = USERS[i % len(USERS)]
        deliver(udp, _register(user, me, i, 1), peer)
        challenge = sent.pop()
        m = _NONCE_RE.search(challenge)
        if m is None or not challenge.startswith(b"SIP/2.0 401"):
            raise RuntimeError(f"expected a 401 challenge, got {challenge[:200]!r}")
        auth = _authorization(user, password, realm, m.group(1).decode(), uri)
        deliver(udp, _register(user, me, i, 2, auth), peer)
        ok = sent.pop()
        if not ok.startswith(b"SIP/2.0 200"):
            raise RuntimeError(f"expected 200, got {ok[:300]!r}")
        sent.clear()

    configure_gc()  # the same garbage-collector set-up as `softswitch.app.serve`
    try:
        for i in range(len(USERS)):
            one(i)
        await asyncio.sleep(0.2)  # let the writer thread catch up with the warm-up
        prof = None
        if profile:
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        t0 = time.process_time()
        w0 = time.perf_counter()
        base = len(USERS)
        for k in range(registers):
            one(base + k)
            if k % 200 == 199:
                await asyncio.sleep(0)  # let the store's writer run like it would
        await asyncio.sleep(0.3)
        cpu = time.process_time() - t0
        wall = time.perf_counter() - w0 - 0.3
        if prof is not None:
            prof.disable()
            prof.dump_stats(profile)
    finally:
        await switch.stop()
        devnull.close()
    per = cpu / registers
    return {"cpu_us_per_register": round(per * 1e6, 1), "registers": registers,
            "register_per_core_s": round(1 / per), "wall_s": round(wall, 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--registers", type=int, default=20000)
    ap.add_argument("--profile", default=None, help="write a cProfile of the measured part")
    args = ap.parse_args(argv)
    result = asyncio.run(run(args.registers, args.profile))
    print(f"switch in process: {result['cpu_us_per_register']} us CPU per REGISTER with auth "
          f"(2 requests), {result['register_per_core_s']} REGISTER per core-second "
          f"({result['registers']} REGISTERs)")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
