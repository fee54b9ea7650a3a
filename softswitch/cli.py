"""The `softswitch` command: `run`, `check`, `reload`, `simulate`, `bans`, `show`, `agent`,
`presence`, `hangup`, `campaign`, `chats` and `report` (DESIGN.md, "Contracts").

Each subcommand lives in its own module and is imported only when chosen, so `check` starts
fast and a broken optional part cannot stop another command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="softswitch", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the switch")
    run.add_argument("--config", required=True, help="YAML configuration file")
    run.add_argument("--log-format", choices=["console", "json"], default=None,
                     help="log line format (default: the config's logging.format, else console)")

    check = sub.add_parser("check", help="validate a configuration file and exit")
    check.add_argument("--config", required=True, help="YAML configuration file")

    reload = sub.add_parser("reload", help="apply a changed configuration to the running "
                                           "switch (validated first; calls are kept)")
    reload.add_argument("--config", required=True,
                        help="the YAML file the switch was started with")
    reload.add_argument("--timeout", type=float, default=10.0,
                        help="seconds to wait for the switch's answer (default 10)")

    sim = sub.add_parser("simulate", help="simulate queue traffic in virtual time")
    sim.add_argument("--config", required=True, help="YAML configuration file")
    sim.add_argument("--hours", type=float, default=8.0, help="simulated hours (default 8)")
    sim.add_argument("--seed", type=int, default=1, help="random seed")
    sim.add_argument("--json", action="store_true", help="print results as JSON")

    bans = sub.add_parser("bans", help="list or lift bans of source addresses (brute-force "
                                       "guard) on the running switch, through its HTTP API")
    bans.add_argument("action", choices=["list", "lift"])
    bans.add_argument("address", nargs="?", help="the banned IP address (lift)")
    from softswitch.web.client import add_connection_arguments

    add_connection_arguments(bans)  # an admin extension's credentials
    show = sub.add_parser("show", help="show the running switch's registrations, calls, "
                                       "queues, agents or bans (through its API)")
    show.add_argument("what", choices=["registrations", "calls", "queues", "agents", "bans"])
    add_connection_arguments(show)
    agent = sub.add_parser("agent", help="sign an agent in or out of a queue, pause or "
                                         "resume it, on the running switch")
    agent.add_argument("action", choices=["signin", "signout", "pause", "resume"])
    agent.add_argument("agent", help="the agent's extension number")
    agent.add_argument("queue", help="the queue number")
    agent.add_argument("--reason", help="pause reason: its name or code (pause only)")
    add_connection_arguments(agent)
    from softswitch.config import PRESENCE_STATUSES

    presence = sub.add_parser("presence", help="show or set an extension's presence status "
                                               "on the running switch (its auto-switch "
                                               "rule runs)")
    presence.add_argument("extension", help="the extension number")
    presence.add_argument("status", nargs="?", choices=PRESENCE_STATUSES,
                          help="the new status (omit it to show the current one)")
    add_connection_arguments(presence)
    hangup = sub.add_parser("hangup", help="hang up a queue call (or an agent's extension "
                                           "call) on the running switch")
    hangup.add_argument("queue", help="the queue number")
    hangup.add_argument("call", help="the call's id (`softswitch show calls`)")
    add_connection_arguments(hangup)
    from softswitch.messaging.command import add_parsers as add_messaging_parsers

    add_messaging_parsers(sub)
    from softswitch.reports.command import add_parser as add_report_parser

    add_report_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command == "run":
        from softswitch.app import run_command

        return run_command(args)
    if args.command == "check":
        from softswitch.config import check_command

        return check_command(args)
    if args.command == "reload":
        from softswitch.reload import reload_command

        return reload_command(args)
    if args.command == "simulate":
        from softswitch.simulate import simulate_command

        return simulate_command(args)
    if args.command == "report":
        from softswitch.reports.command import report_command

        return report_command(args)
    if args.command == "bans":
        from softswitch.web.security import bans_command

        return bans_command(args)
    if args.command == "show":
        from softswitch.web.client import show_command

        return show_command(args)
    if args.command == "agent":
        from softswitch.web.client import agent_command

        return agent_command(args)
    if args.command == "presence":
        from softswitch.web.client import presence_command

        return presence_command(args)
    if args.command == "hangup":
        from softswitch.web.client import hangup_command

        return hangup_command(args)
    if args.command == "campaign":
        from softswitch.messaging.command import campaign_command

        return campaign_command(args)
    if args.command == "chats":
        from softswitch.messaging.command import chats_command

        return chats_command(args)
    return 2  # argparse has already rejected anything else


if __name__ == "__main__":
    sys.exit(main())
