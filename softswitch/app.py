"""`softswitch run`: the process (DESIGN.md "Contracts").

Start-up order: validate the whole config (a bad one stops here, nothing started), open the
database (migrations), start the media engine, restore registrations, bind every SIP
listener, close the calls a crash interrupted (their CDR rows, a BYE to each leg still
reachable: softswitch.calls.records), bind the HTTP listener, then log `switch ready` with
the bound addresses. Any bind failure undoes what was started and exits 1.

Shutdown on SIGTERM/SIGINT: stop taking new calls, end every call (BYE to both sides of a
connected call, CANCEL/503 for one still ringing), wait briefly for those transactions,
write the CDRs, flush registrations, close SIP, media and the database; exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from softswitch.calls.records import (
    InterruptedCalls,
    close_interrupted_calls,
    hang_up_interrupted,
)
from softswitch.config import Config, ConfigError, load_config, report_issues
from softswitch.log import configure_logging, get_logger
from softswitch.sip.auth import Ban, BruteForceGuard
from softswitch.sip.headers import KNOWN_METHODS
from softswitch.web import security

if TYPE_CHECKING:
    from acd.config import Destination
    from media import MediaEngine, MediaLeg
    from softswitch.apps.flow import CallInfo
    from softswitch.apps.indialog import InDialogPolicy
    from softswitch.destinations import ExternalRoute
    from softswitch.queue.seams import CallMedia
    from softswitch.sip import Request, Response
    from softswitch.sip.dialog import Dialog
    from softswitch.sip.endpoint import SipEndpoint
    from softswitch.sip.transaction import Peer, ServerInviteTransaction, ServerTransaction
    from softswitch.store import RecordStore
    from softswitch.trunks import TrunkPeer

log = get_logger("app")


class Switch:
    """Everything `softswitch run` starts, in one object (also used by process-level tests)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.store: RecordStore | None = None
        self.media: MediaEngine | None = None  # started by `start`
        self.endpoint: SipEndpoint | None = None
        self.router: SipRouter | None = None
        self.sip_addresses: list[str] = []
        self.http_address: str | None = None
        self._http_runner: web.AppRunner | None = None
        self._started: list[str] = []
        from softswitch.reload import Reloader

        self.reloads = Reloader(self)  # SIGHUP / softswitch reload (softswitch.reload)
        from softswitch.loop_lag import LoopLagMonitor

        self.loop_lag = LoopLagMonitor()  # event-loop stalls, in the health answer

    async def start(self) -> None:
        from media import MediaEngine
        from softswitch.store import open_store

        cfg = self.config
        self.loop_lag.start()
        self.store = await open_store(cfg.database)
        self._started.append("store")
        rtp_host = cfg.rtp.address or _first_ip(cfg) or "127.0.0.1"
        self.media = MediaEngine(rtp_host, (cfg.rtp.port_min, cfg.rtp.port_max),
                                 prompts_dir=cfg.prompts.directory)
        await self.media.start()
        self._started.append("media")
        from softswitch.apps.music import use_tone_region

        use_tone_region(self.media, cfg.prompts.tone_region)  # the ringback callers hear
        self.router = SipRouter(cfg, self.store, self.media)
        await self.router.restore()
        self.endpoint = self.router.endpoint
        self._started.append("sip")
        interrupted = await self._close_interrupted_calls()
        for addr in cfg.sip.listen:
            try:
                peer = await self.endpoint.listen(addr.transport, addr.host, addr.port)
            except OSError as exc:
                raise OSError(exc.errno, f"cannot listen for SIP on {addr} (sip.listen): "
                                         f"{exc.strerror or exc}") from exc
            host = f"[{peer.host}]" if ":" in peer.host else peer.host
            self.sip_addresses.append(f"{peer.transport}:{host}:{peer.port}")
        if interrupted is not None:  # BYEs from the listeners the legs' dialogs point at
            hang_up_interrupted(self.store, self.endpoint, interrupted)
        self.router.start()
        await self._start_http()
        self._start_timed_jobs()
        log.info("switch ready", sip=self.sip_addresses, http=self.http_address,
                 console=f"http://{self.http_address}/" if self.http_address else None,
                 rtp=f"{rtp_host}:{cfg.rtp.port_min}-{cfg.rtp.port_max}",
                 database=cfg.database.path, extensions=len(cfg.extensions),
                 registrations=self.router.registrar.count())

    def _start_timed_jobs(self) -> None:
        """The daily purge (config ``retention``) and the scheduled reports, on the wall
        clock (softswitch.store.retention, softswitch.reports.schedule)."""
        from softswitch.reports.report import Directory
        from softswitch.reports.schedule import ScheduledReports
        from softswitch.store.retention import DailyPurge

        cfg = self.config
        assert self.store is not None  # started before the jobs
        self.jobs: list[Any] = [DailyPurge(self.store, cfg.retention, time.time)]
        mail = getattr(getattr(self.router, "agentdesk", None), "mail", None)
        if cfg.scheduled_reports and mail is not None:
            folder = (str(Path(cfg.database.path).parent / "scheduled-reports")
                      if cfg.database.path not in ("", ":memory:") else None)
            self.jobs.append(ScheduledReports(cfg.scheduled_reports, self.store,
                                              Directory.from_config(cfg), mail.sender,
                                              time.time, directory=folder))
        for job in self.jobs:
            job.start()
        self._started.append("jobs")

    async def _close_interrupted_calls(self) -> InterruptedCalls | None:
        """Calls the last run left open (a crash): their rows closed, their legs read."""
        try:
            interrupted = await close_interrupted_calls(self.store)
        except Exception as exc:  # noqa: BLE001 - the switch starts anyway; rows stay open
            log.error("interrupted calls not closed", error=repr(exc))
            return None
        log.info("interrupted calls closed", calls=interrupted.closed, byes=interrupted.byes)
        return interrupted

    async def _start_http(self) -> None:
        from softswitch.web.api import Endpoint, add_routes
        from softswitch.web.server import build_app

        app = build_app(self.router)  # live API, websocket, /metrics, security, OpenAPI
        add_routes(app, [Endpoint("GET", "/health", self._health,
                                  "The switch's status (no log-in)", public=True)])
        from softswitch.reports.web import ReportService
        from softswitch.reports.web import add_routes as add_report_routes

        router, store = self.router, self.store
        assert router is not None and store is not None  # started before the web server
        add_report_routes(app, ReportService(store, lambda: router.config, router.bans))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        self._http_runner = runner
        self._started.append("http")
        site = web.TCPSite(runner, self.config.http.host, self.config.http.port)
        try:
            await site.start()
        except OSError as exc:
            raise OSError(exc.errno, f"cannot listen for HTTP on {self.config.http.host}:"
                                     f"{self.config.http.port} (http.listen): "
                                     f"{exc.strerror or exc}") from exc
        server = site._server  # aiohttp exposes the bound sockets only there
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            host, port = sockets[0].getsockname()[:2]
            self.http_address = f"{host}:{port}"
        else:
            self.http_address = f"{self.config.http.host}:{self.config.http.port}"

    async def _health(self, request: web.Request) -> web.Response:
        router = self.router
        return web.json_response({
            "status": "ok",
            "sip": self.sip_addresses,
            "registrations": router.registrar.count() if router else 0,
            "active_calls": router.calls.active_count() if router else 0,
            "trunks": router.trunk_registrations.states() if router else {},
            "loop": self.loop_lag.health(),
            **self.reloads.health(),
        })

    async def stop(self) -> None:
        """Undo whatever `start` did, in reverse; safe to call after a failed start."""
        if "http" in self._started and self._http_runner is not None:
            with contextlib.suppress(Exception):
                await self._http_runner.cleanup()
        if "jobs" in self._started:
            for job in self.jobs:
                await job.close()
        if "sip" in self._started and self.router is not None:
            try:
                await self.router.shutdown()
            except Exception as exc:  # noqa: BLE001 - keep closing the rest
                log.error("error while ending calls", error=repr(exc))
        if "media" in self._started and self.media is not None:
            with contextlib.suppress(Exception):
                await self.media.stop()
        if "store" in self._started and self.store is not None:
            try:
                await self.store.close()
            except Exception as exc:  # noqa: BLE001 - report, still exit
                log.error("error while closing the database", error=repr(exc))
        self._started.clear()
        self.loop_lag.stop()
        log.info("switch stopped")


class SipRouter:
    """The switch's SIP entry: every new request is checked against the brute-force guard,
    authenticated where RFC 3261 §22 says so (401 for REGISTER, 407 for INVITE/MESSAGE) and
    handed to the registrar or the B2BUA.

    Decisions:
    - A banned address gets 403 Forbidden (cheap, and tells an honest phone why) for every
      request until the ban ends; only failed digest checks (wrong password or unknown user)
      count toward a ban, not the first unauthenticated request nor stale nonces. Failed
      log-ins to the admin API count toward the same ban (`bans`, softswitch.web.security);
      `sip.trusted_networks` are never banned.
    - An extension may only REGISTER its own number (auth user == To user), else 403.
    - OPTIONS outside a dialog (keepalives, monitoring) is answered 200 without auth.
    """

    def __init__(self, config: Config, store: Any, media: CallMedia) -> None:
        """``media``: the started media engine, as the calls use it (the `CallMedia` seam
        of softswitch.queue.seams: the queue, the call shell, the B2BUA and the
        recordings share it)."""
        from softswitch.calls.b2bua import ALLOW, B2BUA
        from softswitch.clock import LoopClock
        from softswitch.dialplan import DialPlan
        from softswitch.registrar import RegistrarService
        from softswitch.sip.auth import AuthStatus, DigestAuthenticator, credential_table
        from softswitch.sip.endpoint import SipEndpoint
        from softswitch.sip.ratelimit import RequestRateLimit

        self.config = config
        self.loop = asyncio.get_running_loop()
        self.clock = LoopClock(self.loop)  # every shell's time and timers (softswitch.clock)
        self.store = store
        # MESSAGE to a number that is no extension's: (number, sender, request,
        # answer(status, reason)) -> handled (softswitch.messaging.api sets it)
        self.message_sink: Callable[[str, str, Any, Callable[[int, str], None]], bool] | None
        self.message_sink = None
        # the Live Chat channels' widget (softswitch.messaging.livechat.LiveChat, set when a
        # channel is a livechat one): a reload hands it the widget-call settings
        self.livechat: Any = None
        # the internal WebRTC trunk of the widget calls (its per-process secret and its
        # inbound route, set by softswitch.webrtc.calls when Live Chat takes calls)
        from softswitch.webrtc.trunk import WebRtcTrunk

        self.webrtc_trunk = WebRtcTrunk()
        sip = config.sip
        self._allow = ALLOW
        self._auth_ok = AuthStatus.OK
        self._auth_failed = AuthStatus.FAILED
        passwords = {e.number: e.password for e in config.extensions}
        self.auth = DigestAuthenticator(sip.realm, credential_table(sip.realm, passwords).get,
                                        nonce_ttl=float(sip.auth.nonce_lifetime),
                                        algorithms=sip.auth.algorithms)
        bf = sip.brute_force
        self.guard = BruteForceGuard(max_failures=bf.max_failures, window=float(bf.window),
                                     ban_time=float(bf.ban_time),
                                     trusted=sip.trusted_networks)
        self.bans = AddressBans(self.guard, self.loop)
        # the flood guard sits at the top of request handling: a blocked source's requests
        # are dropped before they are parsed (softswitch.sip.ratelimit)
        rl = sip.rate_limit
        rate_limit = RequestRateLimit(rl.requests, float(rl.interval), float(rl.block_time),
                                      sip.trusted_networks) if rl.enabled else None
        self.endpoint = SipEndpoint(self._on_request, on_ack=self._on_ack,
                                    on_cancel=self._on_cancel,
                                    on_ack_timeout=self._on_ack_timeout,
                                    user_agent=sip.user_agent, rate_limit=rate_limit)
        from softswitch.events import EventBus

        self.events = EventBus()  # every ACD event, in engine order (softswitch.events)
        self.registrar = RegistrarService(config, store, self.clock)
        self.dialplan = DialPlan.default(passwords)
        from softswitch.calls.recording import CallRecordings, RecordingConfig
        from softswitch.queue import attach_queue_calls
        from softswitch.trunks import TrunkRouter, outbound_rule

        # Built in dependency order, each part given what it uses (nothing set afterwards):
        # trunks: trusted sources, DIDs -> destinations, outbound prefixes (softswitch.trunks)
        self.trunks = TrunkRouter(config.trunks, config.inbound_routes, config.outbound_routes)
        if config.outbound_routes:
            self.dialplan.add(outbound_rule(self.trunks))
        from softswitch.destinations import DestinationRouter

        self.destinations = DestinationRouter(config)  # every destination reference
        # every answered call -> one WAV (softswitch.calls.recording)
        self.recordings = CallRecordings(media, config.recording or RecordingConfig(),
                                         clock=self.clock, events=self.events)
        # every call the switch answers itself runs on the call shell (softswitch.apps), and
        # every destination of the config resolves through one router
        from softswitch.apps.ringer import DialerRinger
        from softswitch.apps.shell import CallShell, Handoff

        self.apps = CallShell(
            endpoint=self.endpoint, media=media, events=self.events, router=self.destinations,
            clock=self.clock.monotonic, scheduler=self.clock.call_at,
            ringer=DialerRinger(endpoint=self.endpoint, domain=sip.domain,
                                user_agent=sip.user_agent, lookup=self.registrar.targets,
                                trunks=self.trunks, clock=self.clock),
            handoff=Handoff(extension=self._invite_to_extension,
                            external=self._invite_to_external,
                            queue=self._invite_to_queue,
                            queue_answered=self._answered_to_queue),
            store=store, prompts_dir=config.prompts.directory,
            ring_timeout=float(sip.no_answer_timeout), wall=self.clock.wall)
        # calls to queue numbers (softswitch/queue): the callers run on that call shell;
        # callbacks to external numbers via trunks
        self.queues = attach_queue_calls(
            config, endpoint=self.endpoint, media=media, registrar=self.registrar,
            events=self.events, dialplan=self.dialplan, store=store, clock=self.clock,
            destinations=self.destinations, trunks=self.trunks, recordings=self.recordings,
            shell=self.apps)
        # extension calls; their parties -> the queues' device busy/idle (ring-in-use)
        self.calls = B2BUA(endpoint=self.endpoint, media=media, store=store,
                           dialplan=self.dialplan, lookup=self.registrar.targets,
                           domain=sip.domain, no_answer_timeout=float(sip.no_answer_timeout),
                           clock=self.clock, events=self.events, trunks=self.trunks,
                           observer=self.queues, recordings=self.recordings,
                           user_agent=sip.user_agent, parking=config.parking,
                           pickup=config.pickup, language=config.prompts.language,
                           queues=self.queues)
        from softswitch.apps.handover import parked_to_destination

        # a park timeout sends the parked party to any destination (softswitch.apps.handover)
        self.calls.transfers.route_destination = parked_to_destination(
            router=self.destinations, apps=self.apps, queues=self.queues,
            endpoint=self.endpoint, language=config.prompts.language)
        from softswitch.agentdesk import attach_agentdesk

        self.agentdesk = attach_agentdesk(self)  # feature codes, BLF, report rows, e-mail
        from softswitch.apps.desk import ApplicationDesk

        # IVRs, ring groups, call flows, voicemail: dialled numbers, boxes, lamps
        self.applications = ApplicationDesk(self)
        from softswitch.trunk_registration import TrunkRegistrations

        # REGISTER to the providers of `register: true` trunks (softswitch.trunk_registration)
        self.trunk_registrations = TrunkRegistrations(self.endpoint, config.trunks)
        self.agent_state: Any = None  # the persisting subscriber, from restore()

    async def restore(self) -> None:
        """Before SIP listens: registrations, then the agents' sign-ins, pauses, wrap-up and
        the pending callback requests (softswitch.store.agent_state)."""
        await self.registrar.restore()
        await self.applications.restore()
        from softswitch.store.agent_state import restore_agent_state

        if self.store is not None:
            self.agent_state = await restore_agent_state(self.store, self.events, self.queues,
                                                         self.agentdesk.reports)

    def start(self) -> None:
        self.bans.start()
        self.agentdesk.start()
        self.queues.sync_registrations()
        self.trunk_registrations.start()

    async def shutdown(self) -> None:
        await self.trunk_registrations.stop()  # un-REGISTER while the sockets are open
        await self.queues.shutdown()
        await self.agentdesk.close()
        if self.agent_state is not None:
            self.agent_state.close()
        await self.apps.shutdown()
        self.applications.close()
        await self.calls.shutdown()
        self.recordings.close_all()  # any file still open is finished before exit
        self.registrar.close()
        self.bans.close()
        await self.endpoint.close()

    # -- requests

    def _reply(self, txn: ServerTransaction, request: Request, status: int,
               reason: str | None = None,
               headers: list[tuple[str, str]] | None = None) -> None:
        from softswitch.sip import new_tag

        self.endpoint.send_response(txn, request.create_response(
            status, reason, to_tag=None if request.to.tag else new_tag(),
            headers=headers or []))

    def _authenticate(self, txn: ServerTransaction, request: Request, now: float) -> str | None:
        """The authenticated extension, or None after sending a challenge."""
        host = txn.peer.host
        result, challenge = self.auth.authenticate(request, now, host)
        if challenge is None and result.status is self._auth_ok:
            return str(result.username)
        if result.status is self._auth_failed:
            log.warning("authentication failed", call_id=request.call_id,
                        method=request.method, user=result.username, source=host,
                        reason=result.reason, digest_uri=_digest_uri(request),
                        request_uri=str(request.uri))
            if self.bans.record_failure(host, "sip", call_id=request.call_id):
                self._reply(txn, request, 403, "Forbidden")
                return None
        if challenge is None:
            self._reply(txn, request, 403, "Forbidden")
        else:
            self.endpoint.send_response(txn, challenge)
        return None

    def _on_request(self, txn: ServerTransaction, request: Request) -> None:
        now = self.clock.monotonic()
        method = request.method
        if self.guard.is_banned(txn.peer.host, now):
            self._reply(txn, request, 403, "Forbidden")
            return
        required = [o.strip() for o in request.get_all("Require") if o.strip()]
        if required:
            # §8.2.2.3: we support no option tags (no 100rel, no timer) -> 420
            self._reply(txn, request, 420, "Bad Extension",
                        headers=[("Unsupported", ", ".join(required))])
            return
        if request.to.tag:
            if self.apps.owns(request.call_id):
                self.apps.handle_in_dialog(txn, request)
                return
            if method == "SUBSCRIBE" and self.agentdesk.owns_subscription(request):
                user = self._authenticate(txn, request, now)
                if user is not None:
                    self.agentdesk.handle_subscribe(txn, request, user)
                return
            if self.queues.owns(request.call_id):
                self.queues.handle_in_dialog(txn, request)
                return
            self.calls.handle_in_dialog(txn, request)
            return
        if method == "REGISTER":
            user = self._authenticate(txn, request, now)
            if user is None:
                return
            if user != request.to.uri.user:
                self._reply(txn, request, 403, "Forbidden (not your extension)")
                return
            peer = txn.peer
            self.endpoint.send_response(txn, self.registrar.handle_register(
                request, (peer.transport, peer.host, peer.port), now))
            self.queues.registration_changed(user)
            self.applications.registered(user)  # its voicemail lamp
        elif method == "INVITE":
            self.endpoint.send_response(txn, request.create_response(100))
            if self.webrtc_trunk.admits(request, txn.peer):
                self._webrtc_invite(txn, request)
                return
            trunk = self.trunks.trunk_for_source(txn.peer.host, txn.peer.port,
                                                  txn.peer.transport)
            if trunk is not None:
                self._trunk_invite(txn, request, trunk)
                return
            user = self._authenticate(txn, request, now)
            if user is None or self.agentdesk.route_invite(txn, request, user) \
                    or self.applications.route_invite(txn, request, user) \
                    or self._application_invite(txn, request, user):
                return
            if not self.queues.route_invite(txn, request, user):
                self.calls.handle_invite(txn, request, user)
        elif method == "SUBSCRIBE":
            user = self._authenticate(txn, request, now)
            if user is not None:
                self.agentdesk.handle_subscribe(txn, request, user)
        elif method == "OPTIONS":
            self._reply(txn, request, 200, headers=[("Allow", self._allow),
                                                    ("Accept", "application/sdp")])
        elif method == "MESSAGE":
            user = self._authenticate(txn, request, now)
            if user is not None:
                self._relay_message(txn, request, user, now)
        elif method in ("BYE", "INFO", "UPDATE", "PRACK", "NOTIFY", "REFER"):
            self._reply(txn, request, 481, "Call/Transaction Does Not Exist")
        elif method in KNOWN_METHODS:
            self._reply(txn, request, 405, "Method Not Allowed",
                        headers=[("Allow", self._allow)])
        else:
            # RFC 3261 §8.2.1: a method the switch does not know at all (RFC 4475 intmeth,
            # esc02) is 501, with Allow saying what it does know
            self._reply(txn, request, 501, "Not Implemented",
                        headers=[("Allow", self._allow)])

    def call_info(self, request: Request, caller: str, trunk: str | None = None) -> CallInfo:
        """What an application knows of the caller (softswitch.apps.flow.CallInfo)."""
        from softswitch.apps.flow import CallInfo

        ext = self.config.extension(caller) if trunk is None else None
        name = request.from_.display_name or (ext.name if ext is not None else caller)
        return CallInfo(request.call_id, caller, name, request.uri.user or "",
                        self.config.prompts.language, trunk)

    def _application_invite(self, txn: ServerTransaction, request: Request, user: str) -> bool:
        """An extension dialled a number the switch answers itself (the echo test)."""
        from softswitch.apps.echo import EchoFlow
        from softswitch.dialplan import ECHO

        if self.dialplan.route(request.uri.user or "", user).kind != ECHO:
            return False
        self.apps.start(txn, request, EchoFlow(), self.call_info(request, user), "echo")
        return True

    def _invite_to_queue(self, txn: ServerTransaction, request: Request, caller: str,
                         queue: str) -> None:
        """An application routes an unanswered caller to a queue (the call shell's
        `Handoff.queue`)."""
        self.queues.handle_invite(txn, request, caller, queue)

    def _answered_to_queue(self, call_id: str, caller: str, display: str, invite: Request,
                           dialog: Dialog, policy: InDialogPolicy, peer: Peer,
                           leg: MediaLeg, tag: str,
                           queue: str) -> bool:
        """An application routes an answered caller to a queue (`Handoff.queue_answered`)."""
        return self.queues.adopt(call_id, caller, display, invite, dialog, policy, peer, leg,
                                 tag, queue)

    def _invite_to_extension(self, txn: ServerTransaction, request: Request, caller: str,
                             number: str) -> None:
        from softswitch.dialplan import EXTENSION, Destination

        self.calls.handle_invite(txn, request, caller, Destination(EXTENSION, number))

    def _invite_to_external(self, txn: ServerTransaction, request: Request, caller: str,
                            route: ExternalRoute) -> None:
        from softswitch.dialplan import EXTERNAL, Destination

        self.calls.handle_invite(txn, request, caller,
                                 Destination(EXTERNAL, route.trunk, (route.send,)))

    def _trunk_invite(self, txn: ServerTransaction, request: Request, trunk: TrunkPeer) -> None:
        """An INVITE from a trunk's address (trusted, no digest: softswitch.trunks): the DID
        (Request-URI user, else To user) picks an inbound route; the caller is the From user.
        Its destination goes through the destination router (softswitch.destinations) like
        every other: an application destination runs on the call shell. Unmatched DID or a
        destination not available: 404; a `hangup` destination: 603 Decline."""
        did = request.uri.user or request.to.uri.user or ""
        caller = request.from_.uri.user or "anonymous"
        inbound = self.trunks.inbound(trunk.name, did)
        log.info("trunk call", trunk=trunk.name, did=did, caller=caller,
                 route=inbound.name if inbound else None, call_id=request.call_id)
        if inbound is None:
            self._reply(txn, request, 404, "Not Found")
            return
        self._route_trunk_call(txn, request, caller, trunk.name, inbound.name,
                               inbound.destination)

    def _webrtc_invite(self, txn: ServerTransaction, request: Request) -> None:
        """A widget call from the internal WebRTC trunk (softswitch.webrtc.trunk, already
        authenticated): the Request-URI user is the Live Chat channel number, whose
        ``call_destination`` is the trunk's inbound route; the caller is the From user."""
        from softswitch.webrtc.trunk import TRUNK

        did = request.uri.user or ""
        caller = request.from_.uri.user or "anonymous"
        destination = self.webrtc_trunk.destination(did)
        log.info("webrtc trunk call", did=did, caller=caller, call_id=request.call_id,
                 destination=None if destination is None else destination.type.value)
        if destination is None:
            self._reply(txn, request, 404, "Not Found")
            return
        self._route_trunk_call(txn, request, caller, TRUNK, did, destination)

    def _route_trunk_call(self, txn: ServerTransaction, request: Request, caller: str,
                          trunk: str, route_name: str, destination: Destination) -> None:
        from softswitch.destinations import (
            ExtensionRoute,
            ExternalRoute,
            FlowRoute,
            HangupRoute,
            QueueRoute,
        )

        route = self.destinations.resolve(destination)
        if isinstance(route, QueueRoute):
            self.queues.handle_invite(txn, request, caller, route.number)
        elif isinstance(route, ExtensionRoute):
            self._invite_to_extension(txn, request, caller, route.number)
        elif isinstance(route, ExternalRoute):
            self._invite_to_external(txn, request, caller, route)
        elif isinstance(route, FlowRoute):
            self.apps.start(txn, request, route.factory(),
                            self.call_info(request, caller, trunk), route.type.value)
        elif isinstance(route, HangupRoute):
            self._reply(txn, request, 603, "Decline")
        else:
            log.warning("inbound route destination not available", route=route_name,
                        reason=route.reason)
            self._reply(txn, request, 404, "Not Found")

    def _relay_message(self, txn: ServerTransaction, request: Request, user: str,
                       now: float) -> None:
        """SIP MESSAGE (RFC 3428) between extensions: to the callee's newest contact; its
        final answer goes back to the sender. A number that is not an extension may be a
        messaging channel's (softswitch.messaging: ``message_sink``, set by the web app
        when messaging starts): the message then opens or joins a chat session."""

        def answer(status: int, reason: str) -> None:
            self._reply(txn, request, status, reason)

        target = request.uri.user or ""
        if target not in self.registrar.extensions:
            sink = self.message_sink
            if sink is None or not sink(target, user, request, answer):
                answer(404, "Not Found")
            return
        self.send_message(user, request.from_.display_name, target,
                          request.get("Content-Type") or "text/plain", request.body, answer)

    def send_message(self, sender: str, display_name: str | None, target: str,
                     content_type: str, body: bytes,
                     on_final: Callable[[int, str], None]) -> None:
        """A MESSAGE from ``sender`` to extension ``target``'s newest contact;
        ``on_final(status, reason)`` gets its final answer (404 not an extension, 480 not
        registered, 408 no answer in time)."""
        from softswitch.registrar import request_target
        from softswitch.sip import Address, Request, SipUri, new_call_id, new_tag
        from softswitch.sip.transaction import Peer

        if target not in self.registrar.extensions:
            on_final(404, "Not Found")
            return
        bindings = self.registrar.targets(target, self.clock.monotonic())
        if not bindings:
            on_final(480, "Temporarily Unavailable")
            return
        b = bindings[0]
        domain = self.config.sip.domain
        out = Request("MESSAGE", SipUri.parse(b.contact), headers=[
            ("From", Address(SipUri.parse(f"sip:{sender}@{domain}"), display_name,
                             {"tag": new_tag()})),
            ("To", Address(SipUri.parse(f"sip:{target}@{domain}"))),
            ("Call-ID", new_call_id()),
            ("CSeq", "1 MESSAGE"),
            ("Content-Type", content_type),
        ], body=body)

        def on_response(resp: Response) -> None:
            if resp.status >= 200:
                on_final(resp.status, resp.reason)

        self.endpoint.send_request(out, Peer(*request_target(b, self.endpoint.has_connection)),
                                   on_response=on_response)

    def _on_ack(self, request: Request, txn: ServerInviteTransaction | None) -> None:
        if self.apps.owns(request.call_id):
            self.apps.handle_ack(request)
        elif self.queues.owns(request.call_id):
            self.queues.handle_ack(request)
        else:
            self.calls.handle_ack(request)

    def _on_cancel(self, request: Request, invite_txn: ServerInviteTransaction | None) -> None:
        if invite_txn is None:  # no INVITE of that dialog pending: nothing to cancel
            return
        if self.apps.handle_cancel(invite_txn):
            return
        if not self.queues.handle_cancel(invite_txn):
            self.calls.handle_cancel(invite_txn)

    def _on_ack_timeout(self, txn: ServerInviteTransaction) -> None:
        self.calls.handle_ack_timeout(txn)


class AddressBans:
    """The asyncio shell of the brute-force guard (softswitch.sip.auth.BruteForceGuard),
    shared by SIP digest and the admin API's log-in: feeds it `loop.time()`, sleeps until
    its next deadline, and logs every ban when it starts (`address banned`: source,
    failures, until) and when it ends (`ban ended`: reason expired or lifted). Wall-clock
    times appear only here, in log lines and for the API."""

    def __init__(self, guard: BruteForceGuard, loop: asyncio.AbstractEventLoop) -> None:
        self.guard = guard
        self.loop = loop
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    def clock(self) -> float:
        return self.loop.time()

    def wall(self, at: float) -> float:
        """The wall-clock time (epoch seconds) of the monotonic instant `at`."""
        return time.time() + (at - self.loop.time())

    def is_banned(self, address: str) -> bool:
        return self.guard.is_banned(address, self.loop.time())

    def record_failure(self, address: str, via: str, **context: Any) -> bool:
        """Count one failed authentication from `address` (`via` sip or http); True when it
        started a ban."""
        ban = self.guard.record_failure(address, self.loop.time())
        if ban is not None:
            log.warning("address banned", source=ban.address, failures=ban.failures,
                        until=security.iso_utc(self.wall(ban.until)),
                        ban_time=ban.until - ban.since, via=via, **context)
        self._arm()
        return ban is not None

    def bans(self) -> list[Ban]:
        return self.guard.bans(self.loop.time())

    def lift(self, address: str, by: str) -> Ban | None:
        """End `address`'s ban now; the Ban lifted, or None when it was not banned."""
        ban = self.guard.lift(address)
        if ban is not None:
            log.warning("ban ended", source=ban.address, reason="lifted", by=by,
                        banned_at=security.iso_utc(self.wall(ban.since)))
            self._arm()
        return ban

    def start(self) -> None:
        self._arm()

    def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.guard.next_deadline()
        if deadline is not None and not self._closed:
            self._timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        for ban in self.guard.handle_timer(self.loop.time()):
            log.warning("ban ended", source=ban.address, reason="expired",
                        banned_at=security.iso_utc(self.wall(ban.since)),
                        failures=ban.failures)
        self._arm()


def _digest_uri(request: Request) -> str | None:
    """The uri parameter of the request's credentials (for the log line of a failure)."""
    import re

    value = request.get("Proxy-Authorization") or request.get("Authorization") or ""
    m = re.search(r'uri="([^"]*)"', value)
    return m[1] if m else None


def _first_ip(config: Config) -> str | None:
    import ipaddress

    for addr in config.sip.listen:
        try:
            ip = ipaddress.ip_address(addr.host)
        except ValueError:
            continue
        if not ip.is_unspecified:
            return addr.host
    return None


def configure_gc() -> None:
    """The cyclic garbage collector's set-up of a running switch (`serve`; also used by
    benchmarks.sip_register_cpu so that it measures the same process)."""
    # Tuned with `python -m benchmarks.soak` (40 extension + 5 queue calls/s, 3 s of RTP
    # each way, recording on; every collection's pause from the health answer's loop.gc).
    # Machine: 2 shared cores (load average 6-8 from other work), so each ms figure is
    # inflated by preemption; the comparisons were run back to back.
    # - An ended call leaves no reference cycle (tests/test_no_cycles.py): reference
    #   counting frees it, and collections find next to nothing (2 min: 169 objects in
    #   1,472 collections). A collection's cost is scanning what is still alive, and the
    #   loop (every call's SIP and RTP) waits meanwhile.
    # - Objects made at start-up (config, modules, tables) live for the whole run: frozen,
    #   so no collection scans them.
    # - Young generations small (700, 5): short scans. The previous (10_000, 20, 20) let
    #   generation 1 grow to ~200,000 objects: in 3 min, gen1 pauses up to 497 ms, gen0 up
    #   to 293 ms. (700, 10): in 10 min, gen1 up to 66 ms (9.7 s in all), gen0 up to 19 ms.
    #   (700, 5): in 3 min, gen1 up to 19 ms (1.9 s in all), gen0 up to 13 ms.
    # - A full collection scans every live object, i.e. the ~1,500 calls (at 45/s) that
    #   linger 32 s for retransmissions: at a third threshold of 10, 11 full collections
    #   in 2 min took up to 270 ms each and freed 6 objects in total. So generation 2 runs
    #   only after 2,000 gen1 collections (~every 20 min at 45 calls/s, rarer when
    #   quieter): it is there for the odd cycle a library makes, not to free calls.
    # - The one gen2 collection a 10-minute soak reports (20-40 ms) is the `gc.collect()`
    #   below, at start-up before any call (the health answer's GC hook is installed by
    #   then): none runs under load.
    gc.collect()
    gc.freeze()
    gc.set_threshold(700, 5, 2000)


async def serve(config: Config) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    switch = Switch(config)
    loop.add_signal_handler(signal.SIGHUP, switch.reloads.request)
    try:
        await switch.start()
    except OSError as exc:
        log.error("cannot start", error=str(exc))
        await switch.stop()
        return 1
    except Exception as exc:
        log.error("cannot start", error=repr(exc))
        await switch.stop()
        return 1
    switch.reloads.started()  # the pid file: `softswitch reload` finds this switch
    configure_gc()
    await stop.wait()
    log.info("shutting down", reason="signal")
    switch.reloads.close()
    await switch.stop()
    return 0


def run_command(args: argparse.Namespace) -> int:
    """`softswitch run --config FILE [--log-format console|json]`."""
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        report_issues(args.config, exc.issues, "; not started")
        return 1
    configure_logging(args.log_format or config.logging.format, config.logging.level)
    for warning in config.warnings:
        log.warning("configuration warning", issue=str(warning))
    started = time.monotonic()
    code = asyncio.run(serve(config))
    log.info("exit", code=code, uptime_s=round(time.monotonic() - started, 1))
    return code
