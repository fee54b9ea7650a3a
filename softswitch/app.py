"""`softswitch run`: the process (DESIGN.md "Contracts").

Start-up order: validate the whole config (a bad one stops here, nothing started), open the
database (migrations), start the media engine, restore registrations, bind every SIP
listener and the HTTP listener, then log `switch ready` with the bound addresses. Any bind
failure undoes what was started and exits 1.

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
from typing import Any

from aiohttp import web

from softswitch.config import Config, ConfigError, load_config, report_issues
from softswitch.log import configure_logging, get_logger

log = get_logger("app")


class Switch:
    """Everything `softswitch run` starts, in one object (also used by process-level tests)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.store: Any = None
        self.media: Any = None
        self.endpoint: Any = None
        self.router: Any = None
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
        from softswitch.store import Store

        cfg = self.config
        self.loop_lag.start()
        self.store = await Store.open(cfg.database.path)
        self._started.append("store")
        rtp_host = cfg.rtp.address or _first_ip(cfg) or "127.0.0.1"
        self.media = MediaEngine(rtp_host, (cfg.rtp.port_min, cfg.rtp.port_max))
        await self.media.start()
        self._started.append("media")
        self.router = SipRouter(cfg, self.store, self.media)
        await self.router.restore()
        self.endpoint = self.router.endpoint
        self._started.append("sip")
        for addr in cfg.sip.listen:
            try:
                peer = await self.endpoint.listen(addr.transport, addr.host, addr.port)
            except OSError as exc:
                raise OSError(exc.errno, f"cannot listen for SIP on {addr} (sip.listen): "
                                         f"{exc.strerror or exc}") from exc
            host = f"[{peer.host}]" if ":" in peer.host else peer.host
            self.sip_addresses.append(f"{peer.transport}:{host}:{peer.port}")
        self.router.start()
        await self._start_http()
        log.info("switch ready", sip=self.sip_addresses, http=self.http_address,
                 rtp=f"{rtp_host}:{cfg.rtp.port_min}-{cfg.rtp.port_max}",
                 database=cfg.database.path, extensions=len(cfg.extensions),
                 registrations=self.router.registrar.count())

    async def _start_http(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v1/health", self._health)
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
      count toward a ban, not the first unauthenticated request nor stale nonces.
    - An extension may only REGISTER its own number (auth user == To user), else 403.
    - OPTIONS outside a dialog (keepalives, monitoring) is answered 200 without auth.
    """

    def __init__(self, config: Config, store: Any, media: Any) -> None:
        from softswitch.calls.b2bua import ALLOW, B2BUA
        from softswitch.dialplan import DialPlan
        from softswitch.registrar import RegistrarService
        from softswitch.sip.auth import (
            AuthStatus,
            BruteForceGuard,
            DigestAuthenticator,
            credential_table,
        )
        from softswitch.sip.endpoint import SipEndpoint

        self.config = config
        self.loop = asyncio.get_running_loop()
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
                                     ban_time=float(bf.ban_time))
        self.endpoint = SipEndpoint(self._on_request, on_ack=self._on_ack,
                                    on_cancel=self._on_cancel,
                                    on_ack_timeout=self._on_ack_timeout,
                                    user_agent=sip.user_agent)
        from softswitch.events import EventBus

        self.events = EventBus()  # every ACD event, in engine order (softswitch.events)
        self.registrar = RegistrarService(config, store, self.loop)
        self.dialplan = DialPlan.default(passwords)
        self.calls = B2BUA(endpoint=self.endpoint, media=media, store=store,
                           dialplan=self.dialplan, lookup=self.registrar.targets,
                           domain=sip.domain, no_answer_timeout=float(sip.no_answer_timeout),
                           user_agent=sip.user_agent)
        self.calls.events = self.events  # CallStarted/Answered/Ended (softswitch.calls.events)
        from softswitch.trunks import TrunkRouter, outbound_rule

        # trunks: trusted sources, DIDs -> destinations, outbound prefixes (softswitch.trunks)
        self.trunks = TrunkRouter(config.trunks, config.inbound_routes, config.outbound_routes)
        if config.outbound_routes:
            self.dialplan.add(outbound_rule(self.trunks))
        self.calls.trunks = self.trunks
        from softswitch.queue import attach_queue_calls

        self.queues = attach_queue_calls(self)  # calls to queue numbers (softswitch/queue)
        self.calls.observer = self.queues  # extension calls -> ACD device busy/idle
        self.queues.trunks = self.trunks  # callbacks to external numbers (softswitch.trunks)
        from softswitch.calls.recording import CallRecordings, RecordingConfig

        # every answered call -> one WAV (softswitch.calls.recording)
        self.recordings = CallRecordings(media, config.recording or RecordingConfig(),
                                         events=self.events)
        self.calls.recordings = self.queues.recordings = self.recordings
        from softswitch.agentdesk import attach_agentdesk

        self.agentdesk = attach_agentdesk(self)  # feature codes, BLF, report rows, e-mail
        from softswitch.trunk_registration import TrunkRegistrations

        # REGISTER to the providers of `register: true` trunks (softswitch.trunk_registration)
        self.trunk_registrations = TrunkRegistrations(self.endpoint, config.trunks)
        self._guard_timer: asyncio.TimerHandle | None = None

    async def restore(self) -> None:
        await self.registrar.restore()

    def start(self) -> None:
        self._sweep_guard()
        self.agentdesk.start()
        self.queues.sync_registrations()
        self.trunk_registrations.start()

    def _sweep_guard(self) -> None:
        self.guard.handle_timer(self.loop.time())
        self._guard_timer = self.loop.call_later(10.0, self._sweep_guard)

    async def shutdown(self) -> None:
        await self.trunk_registrations.stop()  # un-REGISTER while the sockets are open
        await self.queues.shutdown()
        await self.agentdesk.close()
        await self.calls.shutdown()
        self.recordings.close_all()  # any file still open is finished before exit
        self.registrar.close()
        if self._guard_timer is not None:
            self._guard_timer.cancel()
        await self.endpoint.close()

    # -- requests

    def _reply(self, txn: Any, request: Any, status: int, reason: str | None = None,
               headers: list[tuple[str, Any]] | None = None) -> None:
        from softswitch.sip import new_tag

        self.endpoint.send_response(txn, request.create_response(
            status, reason, to_tag=None if request.to.tag else new_tag(),
            headers=headers or []))

    def _authenticate(self, txn: Any, request: Any, now: float) -> str | None:
        """The authenticated extension, or None after sending a challenge."""
        result, challenge = self.auth.authenticate(request, now)
        if challenge is None and result.status is self._auth_ok:
            return str(result.username)
        host = txn.peer.host
        if result.status is self._auth_failed:
            banned = self.guard.record_failure(host, now)
            log.warning("authentication failed", call_id=request.call_id,
                        method=request.method, user=result.username, source=host,
                        reason=result.reason, digest_uri=_digest_uri(request),
                        request_uri=str(request.uri))
            if banned:
                log.warning("address banned", source=host,
                            ban_time=self.config.sip.brute_force.ban_time,
                            call_id=request.call_id)
                self._reply(txn, request, 403, "Forbidden")
                return None
        if challenge is None:
            self._reply(txn, request, 403, "Forbidden")
        else:
            self.endpoint.send_response(txn, challenge)
        return None

    def _on_request(self, txn: Any, request: Any) -> None:
        now = self.loop.time()
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
            if self.agentdesk.owns(request.call_id):
                self.agentdesk.handle_in_dialog(txn, request)
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
        elif method == "INVITE":
            self.endpoint.send_response(txn, request.create_response(100))
            trunk = self.trunks.trunk_for_source(txn.peer.host, txn.peer.port,
                                                  txn.peer.transport)
            if trunk is not None:
                self._trunk_invite(txn, request, trunk)
                return
            user = self._authenticate(txn, request, now)
            if user is not None and self.agentdesk.route_invite(txn, request, user):
                return
            if user is not None:
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
        else:
            self._reply(txn, request, 405, "Method Not Allowed",
                        headers=[("Allow", self._allow)])

    def _trunk_invite(self, txn: Any, request: Any, trunk: Any) -> None:
        """An INVITE from a trunk's address (trusted, no digest: softswitch.trunks): the DID
        (Request-URI user, else To user) picks an inbound route; the caller is the From user.
        Unmatched DID or an unknown queue: 404; a `hangup` destination: 603 Decline."""
        from softswitch.dialplan import EXTENSION, Destination

        did = request.uri.user or request.to.uri.user or ""
        caller = request.from_.uri.user or "anonymous"
        route = self.trunks.inbound(trunk.name, did)
        log.info("trunk call", trunk=trunk.name, did=did, caller=caller,
                 route=route.name if route else None, call_id=request.call_id)
        if route is None:
            self._reply(txn, request, 404, "Not Found")
        elif route.destination_type == "queue":
            if route.destination_target in getattr(self.queues, "queues", {}):
                self.queues.handle_invite(txn, request, caller, route.destination_target)
            else:
                log.warning("inbound route names an unknown queue", route=route.name,
                            queue=route.destination_target)
                self._reply(txn, request, 404, "Not Found")
        elif route.destination_type == "extension":
            self.calls.handle_invite(txn, request, caller,
                                     Destination(EXTENSION, route.destination_target))
        else:
            self._reply(txn, request, 603, "Decline")

    def _relay_message(self, txn: Any, request: Any, user: str, now: float) -> None:
        """SIP MESSAGE (RFC 3428) between extensions: to the callee's newest contact; its
        final answer goes back to the sender."""
        from softswitch.registrar import request_target
        from softswitch.sip import Address, Request, SipUri, new_call_id, new_tag
        from softswitch.sip.transaction import Peer

        target = request.uri.user or ""
        if target not in self.registrar.extensions:
            self._reply(txn, request, 404, "Not Found")
            return
        bindings = self.registrar.targets(target, now)
        if not bindings:
            self._reply(txn, request, 480, "Temporarily Unavailable")
            return
        b = bindings[0]
        domain = self.config.sip.domain
        out = Request("MESSAGE", SipUri.parse(b.contact), headers=[
            ("From", Address(SipUri.parse(f"sip:{user}@{domain}"), request.from_.display_name,
                             {"tag": new_tag()})),
            ("To", Address(SipUri.parse(f"sip:{target}@{domain}"))),
            ("Call-ID", new_call_id()),
            ("CSeq", "1 MESSAGE"),
            ("Content-Type", request.get("Content-Type") or "text/plain"),
        ], body=request.body)

        def on_response(resp: Any) -> None:
            if resp.status >= 200:
                self._reply(txn, request, resp.status, resp.reason)

        self.endpoint.send_request(out, Peer(*request_target(b, self.endpoint.has_connection)),
                                   on_response=on_response)

    def _on_ack(self, request: Any, txn: Any) -> None:
        self.calls.handle_ack(request)

    def _on_cancel(self, request: Any, invite_txn: Any) -> None:
        if self.agentdesk.handle_cancel(invite_txn):
            return
        if not self.queues.handle_cancel(invite_txn):
            self.calls.handle_cancel(invite_txn)

    def _on_ack_timeout(self, txn: Any) -> None:
        self.calls.handle_ack_timeout(txn)


def _digest_uri(request: Any) -> str | None:
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
    started = time.monotonic()
    code = asyncio.run(serve(config))
    log.info("exit", code=code, uptime_s=round(time.monotonic() - started, 1))
    return code
