"""BLF keys of a phone, played by sipp (tests/interop/sipp/blf_key_auth.xml): one
digest-authenticated SUBSCRIBE (Event: dialog, RFC 4235) per key value, every NOTIFY answered
200; the NOTIFY bodies are read back from sipp's -trace_msg log."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.peers.sipp import Sipp, injection_file
from benchmarks.peers.switch import RunningSwitch

DI = "{urn:ietf:params:xml:ns:dialog-info}"


def start_keys(sipp: Callable[..., Sipp], switch: RunningSwitch, tmp_path: Path, user: str,
               password: str, values: Sequence[str]) -> Sipp:
    host, port = switch.host, switch.sip_port()
    inf = injection_file(tmp_path / f"keys-{user}.csv", [(user, password, v) for v in values])
    # sipp puts "sip:host:port" in the digest uri unless told; the switch wants the
    # Request-URI (RFC 3261 §22.4), so each line's keyword carries auth_uri
    lines = inf.read_text().splitlines()
    lines[1:] = [line.replace("]", f" auth_uri=sip:{v}@{host}:{port}]")
                 for line, v in zip(lines[1:], values, strict=True)]
    inf.write_text("\n".join(lines) + "\n")
    keys = sipp("blf_key_auth.xml", f"{host}:{port}", inf=inf, max_calls=len(values),
                rate=10, trace_msg=True, recv_timeout_ms=120_000, timeout_s=120)
    return keys.start()


def lamp_history(messages: str, values: Sequence[str]) -> dict[str, list[tuple[str, bool]]]:
    """Per key value: (state of its first dialog or "none", held) of every NOTIFY received."""
    out: dict[str, list[tuple[str, bool]]] = {v: [] for v in values}
    for block in re.split(r"-{20,}[^\n]*\n", messages):
        if not re.search(r"received.*\n\s*NOTIFY sip:", block) or "<?xml" not in block:
            continue
        body = block[block.index("<?xml"):block.index("</dialog-info>") + 14]
        root = ET.fromstring(body)
        entity = root.get("entity", "")
        value = entity[len("sip:"):entity.index("@")]
        d = root.find(f"{DI}dialog")
        if d is None:
            out.setdefault(value, []).append(("none", False))
            continue
        held = any(p.get("pname") == "+sip.rendering" and p.get("pvalue") == "no"
                   for p in d.iter(f"{DI}param"))
        out.setdefault(value, []).append((d.findtext(f"{DI}state") or "", held))
    return out


def wait_until(cond: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
