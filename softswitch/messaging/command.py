"""`softswitch campaign ...` and `softswitch chats export ...`: the admin's campaigns (§7) and
external chat logs (§8) of the running switch, through its API
(softswitch.messaging.admin_api) with an admin's credentials.

    softswitch campaign list
    softswitch campaign show ID [--page N]
    softswitch campaign create --name N --channel C --sender +1... (--csv FILE | --to +1...
                               | --company-contacts)
                               (--text T | --text-file F | --file PATH [--text T]
                               | --template NAME:LANGUAGE [--var NAME=VALUE ...]
                               [--header-media URL|PATH | --header-location LINK|LAT,LNG
                               --header-address A [--header-place N]])
                               [--schedule "YYYY/MM/DD HH:MM:SS"
                               [--time-zone Z] | --draft] [--assign extension:1001 |
                               --assign message_queue:NAME]
    softswitch campaign send|retry|copy|delete ID
    softswitch chats export --out FILE.zip [--all | --start "MM/DD/YYYY HH:MM:SS" --end ...
                            --sender S --recipient R --relation and|or --channel-type T]
                            [--time-zone Z]

``--csv`` uploads the file to the switch, which applies the manual's rules; the rejected
rows are printed (line and reason) on stderr and the campaign is made of the others.
``--assign`` chooses the "create session and send message" mode (without it: send directly).
``--file`` uploads the file (<= 100 MB) and sends it as the SMS campaign's MMS media (the
content type File, softswitch.messaging.campaign_files); ``--template`` sends a WhatsApp
template with its ``--var`` values, and ``--header-media`` the image, video or document its
header shows (a URL, or a file uploaded the same way), or for a location header
``--header-location`` a Google Maps link (the coordinates and place name read from it) or
``LAT,LNG``, with the typed ``--header-address`` (and ``--header-place``, the name).
Exit status as the other API commands (softswitch.web.client): 0, 1 refused, 2 usage."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from softswitch.web.client import ApiClient, CommandError, add_connection_arguments, table

BASE = "/api/v1/messaging"


def add_parsers(sub: Any) -> None:
    campaign = sub.add_parser("campaign", help="list, create, send, retry, copy or delete "
                                               "broadcast campaigns on the running switch")
    campaign.add_argument("action", choices=["list", "show", "create", "send", "retry",
                                             "copy", "delete"])
    campaign.add_argument("id", nargs="?", type=int, help="the campaign's id")
    campaign.add_argument("--page", type=int, default=1, help="show: the results page")
    campaign.add_argument("--name")
    campaign.add_argument("--channel")
    campaign.add_argument("--sender", help="a number of the channel")
    campaign.add_argument("--csv", help="a UTF-8 CSV file with a Number column")
    campaign.add_argument("--to", action="append", default=[], help="a recipient (E.164)")
    campaign.add_argument("--company-contacts", action="store_true",
                          help="add the company contacts stored in E.164")
    campaign.add_argument("--text")
    campaign.add_argument("--text-file")
    campaign.add_argument("--schedule", help="YYYY/MM/DD HH:MM:SS in --time-zone")
    campaign.add_argument("--time-zone", default="UTC")
    campaign.add_argument("--draft", action="store_true")
    campaign.add_argument("--assign", help="extension:NUMBER or message_queue:NAME")
    campaign.add_argument("--file", help="SMS: a file sent as MMS (<= 100 MB)")
    campaign.add_argument("--template", help="WhatsApp: NAME:LANGUAGE of a synced template")
    campaign.add_argument("--var", action="append", default=[],
                          help="WhatsApp: a template variable, NAME=VALUE")
    campaign.add_argument("--header-media",
                          help="WhatsApp: the URL or file of the template's media header")
    campaign.add_argument("--header-location",
                          help="WhatsApp: a location header's Google Maps link, or LAT,LNG")
    campaign.add_argument("--header-address", help="WhatsApp: the location's address")
    campaign.add_argument("--header-place", help="WhatsApp: the location's name")
    add_connection_arguments(campaign)
    chats = sub.add_parser("chats", help="export the external chat logs of the running "
                                         "switch (Session_Record and Chat_Data_Record)")
    chats.add_argument("action", choices=["export"])
    chats.add_argument("--out", required=True, help="the zip file to write")
    chats.add_argument("--all", action="store_true", help="every record (no filter)")
    for flag in ("start", "end", "sender", "recipient", "relation", "channel-type"):
        chats.add_argument(f"--{flag}")
    chats.add_argument("--time-zone", default="UTC")
    add_connection_arguments(chats)


def _raw(client: ApiClient, method: str, path: str, data: bytes) -> bytes:
    """A request whose body or answer is not JSON (the CSV upload, the zip)."""
    req = urllib.request.Request(client.base + path, data=data or None, method=method)
    req.add_header("Authorization", client.authorization)
    if data:
        req.add_header("Content-Type", "text/csv" if path.endswith(".csv") or
                       "/import?" in path else "application/octet-stream")
    try:
        with urllib.request.urlopen(req, timeout=client.timeout) as reply:
            return bytes(reply.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("message") or exc.reason
        except ValueError:
            message = exc.reason
        raise CommandError(f"{exc.code} {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise CommandError(f"cannot reach the switch at {client.base}: "
                           f"{getattr(exc, 'reason', exc)}") from None


def _location(where: str, address: str | None, name: str | None) -> dict[str, Any]:
    """``--header-location`` (a maps link, or ``LAT,LNG``) and its address and name as the
    API's ``header_location`` (the switch checks them)."""
    place: dict[str, Any] = {}
    lat, _, lng = where.partition(",")
    try:
        place.update(latitude=float(lat), longitude=float(lng))
    except ValueError:
        if where:
            place["maps_link"] = where
    if address is not None:
        place["address"] = address
    if name is not None:
        place["name"] = name
    return place


def _upload(client: ApiClient, path: Path) -> str:
    """A campaign file uploaded (softswitch.messaging.campaign_files): its URL."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror}", 2) from None
    answer = json.loads(_raw(client, "POST", f"{BASE}/campaigns/files?file_name="
                             f"{urllib.parse.quote(path.name)}", data))
    return str(answer["file"]["url"])


def _line(c: dict[str, Any]) -> list[Any]:
    r = c["result"]
    rate = "-" if c["reply_rate"] is None else f"{c['reply_rate']}%"
    return [c["id"], c["status"], c["name"], c["channel"], c["sender"], c["recipients"],
            c["sent_at"], c["mode"], f"{r['failed']}/{r['total']}", rate]


HEADER = ("ID", "STATUS", "NAME", "CHANNEL", "SENDER", "RECIPIENTS", "SEND TIME", "MODE",
          "FAILED/TOTAL", "REPLY RATE")


def _create(client: ApiClient, args: argparse.Namespace) -> dict[str, Any]:
    for need in ("name", "channel", "sender"):
        if not getattr(args, need):
            raise CommandError(f"softswitch campaign create: --{need} is required", 2)
    content: dict[str, Any] = {}
    if args.text_file:
        text = Path(args.text_file).read_text(encoding="utf-8")
    elif args.text is not None:
        text = args.text
    elif args.file or args.template:
        text = ""
    else:
        raise CommandError("softswitch campaign create: --text, --text-file, --file or "
                           "--template is required", 2)
    if args.file:
        content = {"content_type": "file", "file": _upload(client, Path(args.file))}
    if args.template:
        name, _, language = args.template.rpartition(":")
        variables = {}
        for item in args.var:
            key, sep, value = item.partition("=")
            if not sep:
                raise CommandError(f"softswitch campaign create: --var {item}: NAME=VALUE",
                                   2)
            variables[key] = value
        template: dict[str, Any] = {"name": name, "language": language,
                                    "variables": variables}
        media = args.header_media
        if media:
            template["header_media"] = media if media.startswith(
                ("http://", "https://")) else _upload(client, Path(media))
        if args.header_location or args.header_address or args.header_place:
            template["header_location"] = _location(args.header_location or "",
                                                    args.header_address, args.header_place)
        content = {"template": template}
    contacts: list[Any] = list(args.to)
    if args.csv:
        path = Path(args.csv)
        answer = json.loads(_raw(client, "POST", f"{BASE}/campaigns/import?file_name="
                                 f"{urllib.parse.quote(path.name)}", path.read_bytes()))
        for r in answer["rejected"]:
            print(f"{path.name}: line {r['line']}: {r['value']!r}: {r['reason']}",
                  file=sys.stderr)
        contacts += answer["contacts"]
    if not contacts and not args.company_contacts:
        raise CommandError("softswitch campaign create: --csv, --to or --company-contacts "
                           "is required", 2)
    body: dict[str, Any] = {"name": args.name, "channel": args.channel,
                            "sender": args.sender, "contacts": contacts, "text": text,
                            "time_zone": args.time_zone, **content}
    if args.csv:
        body["recipients"] = Path(args.csv).name
    if args.company_contacts:
        body["company_contacts"] = True
    if args.schedule:
        body.update(send_time="schedule", send_at=args.schedule)
    elif args.draft:
        body["send_time"] = "draft"
    if args.assign:
        kind, _, target = args.assign.partition(":")
        body.update(mode="session", assign={"type": kind, "target": target})
    return client.request("POST", f"{BASE}/campaigns", body)


def campaign_command(args: argparse.Namespace) -> int:
    try:
        client = ApiClient.from_args(args, "campaign")
        if args.action == "list":
            rows = client.request("GET", f"{BASE}/campaigns")["campaigns"]
            print(table(HEADER, [_line(c) for c in rows]) if rows else "no campaigns")
            return 0
        if args.action == "create":
            c = _create(client, args)["campaign"]
            print(table(HEADER, [_line(c)]))
            return 0
        if args.id is None:
            raise CommandError(f"softswitch campaign {args.action}: the campaign's id is "
                               "needed", 2)
        path = f"{BASE}/campaigns/{args.id}"
        if args.action == "show":
            answer = client.request("GET", f"{path}?page={args.page}")
            d = answer["details"]
            print(table(HEADER, [_line(answer["campaign"])]))
            c = answer["campaign"]
            if c.get("preview") is not None:  # a WhatsApp template, as the customer reads it
                print(f"Template: {c['template']['name']} ({c['template']['language']})")
                print(f"Preview: {c['preview']}")
            elif c.get("content_type") == "file":
                print(f"File: {c['media'][0]}")
            print(f"Send time: {d['send_time'] or '-'}, Failed: {d['failed']}, "
                  f"Succeeded: {d['succeeded']}, Total: {d['total']}")
            print(table(("CONTACT NAME", "NUMBER", "RESULT", "FAILURE REASON"),
                        [(k["name"] or "-", k["number"], k["result"], k["reason"] or "-")
                         for k in d["contacts"]]))
            return 0
        if args.action == "delete":
            client.request("DELETE", path)
            print(f"campaign {args.id} deleted")
            return 0
        c = client.request("POST", f"{path}/{args.action}")["campaign"]
        print(table(HEADER, [_line(c)]))
        return 0
    except CommandError as exc:
        if str(exc):
            print(exc if exc.code == 2 else f"softswitch campaign {args.action}: {exc}",
                  file=sys.stderr)
        return exc.code


def chats_command(args: argparse.Namespace) -> int:
    query: dict[str, str] = {"time_zone": args.time_zone}
    if args.all:
        query["all"] = "1"
    for key in ("start", "end", "sender", "recipient", "relation", "channel_type"):
        value = getattr(args, key)
        if value:
            query[key] = value
    try:
        client = ApiClient.from_args(args, "chats")
        data = _raw(client, "GET", f"{BASE}/chat-logs/download?"
                    f"{urllib.parse.urlencode(query)}", b"")
    except CommandError as exc:
        if str(exc):
            print(exc if exc.code == 2 else f"softswitch chats export: {exc}",
                  file=sys.stderr)
        return exc.code
    Path(args.out).write_bytes(data)
    print(f"wrote {args.out} (Session_Record.csv, Chat_Data_Record.csv)")
    return 0
