"""The call applications' side of the running switch (wired by softswitch.app.SipRouter):

- numbers an extension dials that an application answers: the numbers of IVRs, ring
  groups, call flows and group voicemails (through the destination router, like any other
  reference to them), the voicemail access code (`*97`: one's own box; `*97<number>`:
  another box, with its PIN), and each call flow's toggle code;
- the call flows' day/night BLF keys: a phone subscribes (dialog package, RFC 4235) to the
  toggle code (`*280`, the FreePBX `*28<n>` way: the key's value is what it dials) and the
  lamp is busy while night mode is forced, idle while the schedule applies; a NOTIFY goes
  out on every toggle (softswitch.presence.resources.CallFlowToggleKey);
- the voicemail boxes (`MailboxService`: rows, e-mail, message-waiting lamps) and the call
  flows' manual night modes (kept in the store, restored at start-up);
- message-waiting lamps (RFC 3842): NOTIFY in the phone's message-summary subscription, or,
  for boxes configured `unsolicited_mwi`, unsolicited (out of dialog, `Event:
  message-summary`) to the extension's contacts when none subscribed (what Asterisk does
  for phones set up without a subscription), also right after a REGISTER.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from acd.config import Destination
from softswitch.apps.applications import SECTION_TYPES
from softswitch.apps.call_flow import ToggleFlow
from softswitch.apps.context import AppContext
from softswitch.apps.events import CallFlowToggled
from softswitch.apps.mailbox import Mailboxes
from softswitch.apps.mailbox_service import MailboxService
from softswitch.apps.settings import AppsConfig
from softswitch.apps.voicemail import MailboxFlow
from softswitch.events import Subscription
from softswitch.log import get_logger

log = get_logger("apps")


class ApplicationDesk:
    def __init__(self, router: Any) -> None:
        self.router = router
        cfg = router.config
        self.apps: AppsConfig = cfg.apps if isinstance(cfg.apps, AppsConfig) else AppsConfig()
        base = Path(cfg.path).resolve().parent if cfg.path else Path.cwd()
        directory = Path(self.apps.voicemail.directory)
        mailboxes = Mailboxes(self.apps.boxes(), cfg.sip.domain)
        self.context = AppContext(mailboxes, directory if directory.is_absolute()
                                  else base / directory, router.clock.wall)
        router.destinations.context = self.context
        mail = router.agentdesk.mail
        self.mailboxes = MailboxService(mailboxes, router.events, router.store, self._lamp,
                                        mail.sender if mail is not None else None,
                                        router.clock.wall)
        self._toggles: Subscription | None = router.events.subscribe(self._toggled,
                                                                     CallFlowToggled)
        # the day/night BLF keys: a phone subscribes (dialog package) to the toggle code
        router.agentdesk.notifier.set_call_flow_toggles(
            {cf.toggle_code: number for number, cf in self.apps.call_flows.items()
             if cf.toggle_code})

    def reconfigure(self, cfg: Any) -> None:
        """A reload (softswitch.reload.apply): the numbers dialled to IVRs, ring groups, call
        flows and group voicemails, the boxes and their owners, the voicemail access code and
        the day/night keys are the new file's from the next call on. Calls in an application
        finish with the settings they started with. Stored messages stay (a box removed
        keeps its rows and files; a box that comes back finds them); a lamp whose box
        membership changed is sent again. Decision: the voicemail directory is fixed at
        start (its files are where the stored messages point): a change waits for a
        restart, as ``recording`` does."""
        self.apps = cfg.apps if isinstance(cfg.apps, AppsConfig) else AppsConfig()
        mailboxes = self.mailboxes.mailboxes
        before = {ext: mailboxes.lamp(ext) for b in mailboxes.boxes.values() for ext in b.owners}
        mailboxes.boxes = self.apps.boxes()
        after = {ext: mailboxes.lamp(ext) for b in mailboxes.boxes.values() for ext in b.owners}
        for ext in sorted(before.keys() | after.keys()):
            body = after.get(ext, mailboxes.lamp(ext))
            if before.get(ext) != body:
                self._lamp(ext, body)
        self.router.agentdesk.notifier.set_call_flow_toggles(
            {cf.toggle_code: number for number, cf in self.apps.call_flows.items()
             if cf.toggle_code})

    async def restore(self) -> None:
        """The boxes' messages and the call flows' modes from the store."""
        from softswitch.store.voicemail import load_call_flow_modes, load_messages

        store = self.router.store
        if store is None:
            return
        self.mailboxes.mailboxes.load(await load_messages(store))
        self.context.call_flow_modes.update(await load_call_flow_modes(store))
        for number, forced in self.context.call_flow_modes.items():
            self._toggle_lamp(number, forced == "night")

    # -- dialled numbers

    def route_invite(self, txn: Any, request: Any, user: str) -> bool:
        """An extension's INVITE to a number an application answers (module docstring)."""
        dialled = request.uri.user or ""
        router = self.router
        flow: Any = None
        kind = ""
        section = self.apps.numbers().get(dialled)
        if section is not None:
            route = router.destinations.resolve(Destination(SECTION_TYPES[section], dialled))
            factory = getattr(route, "factory", None)
            if factory is None:
                log.warning("application not available", number=dialled,
                            reason=getattr(route, "reason", ""))
                return False
            flow, kind = factory(), SECTION_TYPES[section].value
        elif self._mailbox_of(dialled, user) is not None:
            box = self._mailbox_of(dialled, user)
            assert box is not None
            flow, kind = MailboxFlow(box, self.mailboxes.mailboxes.messages(box.number)), \
                "voicemail_main"
        else:
            for number, cf in self.apps.call_flows.items():
                if cf.toggle_code and dialled == cf.toggle_code:
                    flow = ToggleFlow(cf, self.context.call_flow_modes.get(number) == "night")
                    kind = "call_flow_toggle"
                    break
        if flow is None:
            return False
        router.apps.start(txn, request, flow, router.call_info(request, user), kind)
        return True

    def _mailbox_of(self, dialled: str, user: str) -> Any:
        code = self.apps.voicemail.access_code
        if not code or not dialled.startswith(code):
            return None
        boxes = self.apps.boxes()
        rest = dialled[len(code):]
        return boxes.get(rest or user)

    # -- call-flow toggles

    def _toggled(self, event: CallFlowToggled) -> None:
        from softswitch.store.voicemail import save_call_flow_mode

        if event.forced:
            self.context.call_flow_modes[event.call_flow] = event.forced
        else:
            self.context.call_flow_modes.pop(event.call_flow, None)
        log.info("call flow mode", call_flow=event.call_flow,
                 mode=event.forced or "schedule", by=event.by)
        self._toggle_lamp(event.call_flow, event.forced == "night")
        if self.router.store is not None:
            save_call_flow_mode(self.router.store, event.call_flow, event.forced,
                                self.router.clock.wall(), event.by)

    def _toggle_lamp(self, call_flow: str, forced_night: bool) -> None:
        """The flow's day/night BLF keys (softswitch.presence.resources.CallFlowToggleKey):
        busy while night mode is forced, idle while the schedule applies."""
        desk = self.router.agentdesk
        desk.presence.send(desk.notifier.call_flow_mode_changed(
            call_flow, forced_night, self.router.clock.monotonic()))

    # -- message-waiting lamps

    def _wants_unsolicited(self, extension: str) -> bool:
        box = self.apps.extension_boxes.get(extension)
        return box is not None and box.unsolicited_mwi and \
            not self.router.agentdesk.notifier.watches_mailbox(extension)

    def _lamp(self, extension: str, body: bytes) -> None:
        desk = self.router.agentdesk
        now = self.router.clock.monotonic()
        notifies = desk.notifier.mailbox_changed(extension, body, now)
        if notifies:
            desk.presence.send(notifies)
        elif self._wants_unsolicited(extension):
            self._unsolicited(extension, body)

    def registered(self, extension: str) -> None:
        """A phone registered: its lamp, unsolicited where configured and not subscribed."""
        if self._wants_unsolicited(extension):
            self._unsolicited(extension, self.mailboxes.mailboxes.lamp(extension))

    def _unsolicited(self, extension: str, body: bytes) -> None:
        from softswitch.registrar import request_target
        from softswitch.sip import Address, Request, SipUri, new_call_id, new_tag
        from softswitch.sip.transaction import Peer

        router = self.router
        domain = router.config.sip.domain
        for b in router.registrar.targets(extension, router.clock.monotonic()):
            out = Request("NOTIFY", SipUri.parse(b.contact), headers=[
                ("From", Address(SipUri.parse(f"sip:{extension}@{domain}"), None,
                                 {"tag": new_tag()})),
                ("To", Address(SipUri.parse(f"sip:{extension}@{domain}"))),
                ("Call-ID", new_call_id()),
                ("CSeq", "1 NOTIFY"),
                ("Event", "message-summary"),
                ("Subscription-State", "active"),
                ("Content-Type", "application/simple-message-summary"),
            ], body=body)
            router.endpoint.send_request(out, Peer(*request_target(
                b, router.endpoint.has_connection)))

    def close(self) -> None:
        self.mailboxes.close()
        if self._toggles is not None:
            self._toggles.cancel()
            self._toggles = None
