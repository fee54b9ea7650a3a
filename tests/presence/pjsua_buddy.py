"""A pjsua2 softphone watching one buddy (SUBSCRIBE Event: presence), in its own process.

Usage: python pjsua_buddy.py <buddy-uri> <log-file>. Prints one JSON line per buddy state
pjsip reports ({"status": "ONLINE" | "OFFLINE" | "UNKNOWN", "text": ..., "sub": ...});
exits when stdin closes.
"""

from __future__ import annotations

import json
import os
import select
import sys

import pjsua2 as pj  # type: ignore[import-untyped]

_OUT = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)  # pjlib prints its banner to fd 1

STATUS = {pj.PJSUA_BUDDY_STATUS_ONLINE: "ONLINE", pj.PJSUA_BUDDY_STATUS_OFFLINE: "OFFLINE",
          pj.PJSUA_BUDDY_STATUS_UNKNOWN: "UNKNOWN"}


class Watched(pj.Buddy):  # type: ignore[misc]
    def onBuddyState(self) -> None:
        info = self.getInfo()
        _OUT.write(json.dumps({"status": STATUS.get(info.presStatus.status, "?"),
                               "text": info.presStatus.statusText,
                               "sub": info.subStateName}) + "\n")


def main() -> None:
    uri, log_path = sys.argv[1], sys.argv[2]
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = 5
    cfg.logConfig.consoleLevel = 0
    cfg.logConfig.msgLogging = 1
    cfg.logConfig.filename = log_path
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.port = 0
    tcfg.boundAddress = "127.0.0.1"
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.libStart()
    ep.audDevManager().setNullDev()
    acfg = pj.AccountConfig()
    acfg.idUri = "sip:1001@127.0.0.1"
    acc = pj.Account()
    acc.create(acfg)
    bcfg = pj.BuddyConfig()
    bcfg.uri = uri
    bcfg.subscribe = True
    buddy = Watched()
    buddy.create(acc, bcfg)
    _OUT.write(json.dumps({"ready": True}) + "\n")
    while True:
        ep.libHandleEvents(20)
        ready, _, _ = select.select([sys.stdin], [], [], 0)
        if ready and not sys.stdin.readline():
            break
    buddy.subscribePresence(False)
    for _ in range(25):
        ep.libHandleEvents(20)
    ep.libDestroy()


if __name__ == "__main__":
    main()
