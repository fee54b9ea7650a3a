"""The operator commands that talk to the running switch through its API (HTTP Basic auth as
an extension, softswitch.web.auth): `softswitch show ...`, `softswitch agent ...`, and the
transport `softswitch bans` uses too.

    softswitch show registrations|calls|queues|agents|bans --config FILE [--user --password]
    softswitch agent signin|signout|pause|resume AGENT QUEUE [--reason R] --config FILE ...
    softswitch presence EXTENSION [available|away|business_trip|dnd|lunch|off_work] ...
    softswitch hangup QUEUE CALL-ID --config FILE ...

Exit status: 0 done; 1 the switch refused (its JSON error is printed) or is unreachable;
2 bad usage. Credentials: --user/--password, else $SOFTSWITCH_USER/$SOFTSWITCH_PASSWORD.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any


class CommandError(Exception):
    """Printed as is; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True,
                        help="the running switch's YAML file (its http.listen is used)")
    parser.add_argument("--user", help="an extension number (else $SOFTSWITCH_USER)")
    parser.add_argument("--password", help="its password (else $SOFTSWITCH_PASSWORD)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds to wait for the switch (default 10)")


class ApiClient:
    def __init__(self, base: str, user: str, password: str, timeout: float,
                 config_path: str) -> None:
        self.base = base
        self.timeout = timeout
        self.config_path = config_path
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.authorization = f"Basic {token}"

    @classmethod
    def from_args(cls, args: argparse.Namespace, command: str) -> ApiClient:
        from softswitch.config import ConfigError, load_config, report_issues

        user = args.user or os.environ.get("SOFTSWITCH_USER")
        password = args.password or os.environ.get("SOFTSWITCH_PASSWORD")
        if not user or not password:
            raise CommandError(f"softswitch {command}: credentials are needed: --user and "
                               f"--password, or SOFTSWITCH_USER and SOFTSWITCH_PASSWORD", 2)
        try:
            config = load_config(args.config)
        except ConfigError as exc:
            report_issues(args.config, exc.issues, "")
            raise CommandError("", 1) from None
        host, port = config.http.host, config.http.port
        if port == 0:
            raise CommandError(f"{args.config}: http.listen has port 0 (chosen at start-up); "
                               f"give the switch a fixed HTTP port to use this command")
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        base = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        return cls(base, user, password, args.timeout, args.config)

    def request(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """The JSON answer; CommandError with the switch's message on a 4xx/5xx."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", self.authorization)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as reply:
                answer: dict[str, Any] = json.loads(reply.read() or b"{}")
                return answer
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("message") or exc.reason
            except ValueError:
                message = exc.reason
            raise CommandError(f"{exc.code} {message}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CommandError(f"cannot reach the switch at {self.base}{path} (http.listen in "
                               f"{self.config_path}): {reason}") from None


def table(header: Sequence[str], rows: list[Sequence[Any]]) -> str:
    cells = [tuple(header)] + [tuple("-" if c is None else str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in cells)


def _show(client: ApiClient, what: str) -> str:
    if what == "registrations":
        rows = client.request("GET", "/api/v1/registrations")["registrations"]
        return table(("EXTENSION", "CONTACT", "SOURCE", "EXPIRES IN", "USER AGENT"),
                     [(r["extension"], r["contact"], r["source"], f"{r['expires_in']}s",
                       r["user_agent"]) for r in rows]) if rows else "no registrations"
    if what == "calls":
        body = client.request("GET", "/api/v1/calls")
        rows = [(c["id"], c["queue"], c["caller"], "waiting", "-") for c in body["waiting"]]
        rows += [(c["id"], c["queue"], c["caller"], "connected", c["agent"])
                 for c in body["connected"]]
        out = f"{body['active_calls']} calls in progress; queue calls:\n"
        return out + (table(("CALL-ID", "QUEUE", "CALLER", "STATE", "AGENT"), rows)
                      if rows else "none")
    if what == "queues":
        queues = client.request("GET", "/api/v1/queues")["queues"]
        return table(("QUEUE", "NAME", "SIGNED IN", "IDLE", "WAITING", "ACTIVE", "ANSWERED",
                      "ABANDONED", "MISSED", "SLA %"),
                     [(q["number"], q["name"],
                       f"{q['kpis']['signed_in_agents']}/{q['kpis']['total_agents']}",
                       q["kpis"]["idle_agents"], q["kpis"]["waiting_calls"],
                       q["kpis"]["active_calls"], q["kpis"]["answered"],
                       q["kpis"]["abandoned"], q["kpis"]["missed"], q["kpis"]["sla"])
                      for q in queues])
    if what == "agents":
        agents = client.request("GET", "/api/v1/agents")["agents"]
        return table(("QUEUE", "AGENT", "NAME", "TYPE", "STATE", "PAUSE REASON", "REGISTERED",
                      "PRESENCE"),
                     [(a["queue"], a["agent"], a["name"], a["type"], a["state"],
                       a["pause_reason"], "yes" if a["registered"] else "no",
                       a.get("presence"))
                      for a in agents])
    bans = client.request("GET", "/api/v1/security/bans")["bans"]
    return table(("ADDRESS", "FAILURES", "SINCE", "UNTIL", "REMAINING"),
                 [(b["address"], b["failures"], b["since"], b["until"], f"{b['remaining']}s")
                  for b in bans]) if bans else "no banned addresses"


def show_command(args: argparse.Namespace) -> int:
    try:
        print(_show(ApiClient.from_args(args, "show"), args.what))
    except CommandError as exc:
        if str(exc):
            print(exc if exc.code == 2 else f"softswitch show {args.what}: {exc}",
                  file=sys.stderr)
        return exc.code
    return 0


def agent_command(args: argparse.Namespace) -> int:
    if args.reason and args.action != "pause":
        print("softswitch agent: only pause takes --reason", file=sys.stderr)
        return 2
    body: dict[str, Any] = {"action": args.action}
    if args.reason:
        body["reason"] = args.reason
    path = (f"/api/v1/queues/{urllib.parse.quote(args.queue, safe='')}/agents/"
            f"{urllib.parse.quote(args.agent, safe='')}/state")
    try:
        member = ApiClient.from_args(args, "agent").request("POST", path, body)["member"]
    except CommandError as exc:
        if str(exc):
            print(exc if exc.code == 2 else f"softswitch agent {args.action}: {exc}",
                  file=sys.stderr)
        return exc.code
    reason = f" ({member['pause_reason']})" if member["pause_reason"] else ""
    print(f"agent {member['agent']} in queue {member['queue']}: {member['state']}{reason}")
    return 0


def _refused(command: str, exc: CommandError) -> int:
    if str(exc):
        print(exc if exc.code == 2 else f"softswitch {command}: {exc}", file=sys.stderr)
    return exc.code


def presence_command(args: argparse.Namespace) -> int:
    """Show an extension's presence status, or set it (its §7.5 auto-switch rule runs);
    prints the status and the agent's state in each of its queues."""
    path = f"/api/v1/extensions/{urllib.parse.quote(args.extension, safe='')}/presence"
    try:
        client = ApiClient.from_args(args, "presence")
        body = (client.request("PUT", path, {"status": args.status}) if args.status
                else client.request("GET", path))
    except CommandError as exc:
        return _refused("presence", exc)
    online = "registered" if body["registered"] else "not registered"
    print(f"extension {body['extension']}: {body['presence']} ({online})"
          + ("" if body.get("changed", True) else "; unchanged"))
    for m in body["memberships"]:
        reason = f" ({m['pause_reason']})" if m["pause_reason"] else ""
        state = "paused" if m["paused"] else "signed in" if m["signed_in"] else "signed out"
        print(f"  queue {m['queue']}: {state}{reason}")
    return 0


def hangup_command(args: argparse.Namespace) -> int:
    """Hang up a waiting or answered call of a queue (§4.9, P3) on every phone in it."""
    path = (f"/api/v1/queues/{urllib.parse.quote(args.queue, safe='')}/calls/"
            f"{urllib.parse.quote(args.call, safe='')}/hangup")
    try:
        call = ApiClient.from_args(args, "hangup").request("POST", path)["hung_up"]
    except CommandError as exc:
        return _refused("hangup", exc)
    agent = f", agent {call['agent']}" if call.get("agent") else ""
    print(f"hung up {call['kind']} call {call['call_id']} of queue {call['queue']} "
          f"({call['status']}{agent})")
    return 0
