"""Live reload: `softswitch reload --config FILE` and SIGHUP apply a changed YAML to the
running switch without dropping calls or agent state (DESIGN.md "Contracts").

How it works:

- `softswitch run` writes its process id to ``var/<config name>.pid`` next to the config file
  (``/etc/cc/switch.yaml`` -> ``/etc/cc/var/switch.pid``) once it is ready, and removes it at
  exit. No config key: the file the switch runs is what names it.
- SIGHUP makes the switch read the file it was started with again. A file with errors is
  refused with the same file:line messages as `softswitch check`, logged as ``reload
  refused``; the running configuration stays. A valid one is applied (`apply`) in one step
  of the event loop, so no SIP request sees half of it, and logged as ``config reloaded``.
  Either way the outcome is written to ``var/<config name>.reload.json`` (attempt number,
  ok, changes, keys that wait for a restart, errors).
- `softswitch reload --config FILE` validates the file itself first (errors are printed and
  it exits 1 without disturbing the switch), finds the running switch through the pid file,
  sends SIGHUP and waits (10 s by default) for the switch's outcome, which it prints; exit 0
  when applied, 1 when refused or when no switch answered.
- ``GET /api/v1/health`` shows ``config_generation`` (1 at start, +1 per applied reload) and
  ``config_loaded_at`` (ISO 8601 UTC).

What changes live (each part's ``reconfigure``): extensions (digest credentials, REGISTER,
the dial plan; a removed extension's registrations are dropped, its calls continue), queues
and their members and every queue setting (`acd.engine.Acd.handle_reconfigure` says what
happens to waiting callers, offers and agents), pause reasons, business hours, holidays,
message queues, feature codes and BLF keys, IVRs, ring groups, call flows (and their
day/night keys), voicemail boxes and group voicemails (softswitch.apps.desk), every
destination reference (failover, key press, IVR keys, ...), trunks (a trunk's registration
is started, stopped or renewed), inbound and outbound routes, the prompts directory, report
SLA times and notification recipients. The voicemail directory waits for a restart (stored
messages point into it).

What waits for a restart (`RESTART_ONLY`): ``sip`` (listeners, domain, realm, registrar,
auth and brute-force settings, user agent, no-answer timeout), ``rtp``, ``http``,
``database``, ``logging``, ``smtp``, ``recording`` and ``message_channels``: the sockets,
files and connections they describe are open (except the Live Chat channels' widget-call
settings, ``consultation_mode``, ``call_destination`` and ``max_concurrent_calls``, which
apply to the calls that start after the reload: softswitch.messaging.livechat);
``retention`` and ``scheduled_reports``: their timers run from the start; ``parking`` and
``pickup`` (the parking lot holds parked calls in its slots). Decision: a reload that
changes them is not refused (the file on disk is what the next start uses anyway, and
refusing would hold back the changes that can apply); the switch keeps running with the
old values of those keys, applies the rest, and names every such key in a ``restart
needed`` warning, in the outcome file and in the command's output.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from softswitch.config import Config, ConfigError, load_config, report_issues
from softswitch.log import get_logger

log = get_logger("reload")

RESTART_ONLY = ("sip", "rtp", "http", "database", "logging", "smtp", "recording",
                "message_channels", "retention", "scheduled_reports", "parking", "pickup")
WAIT_SECONDS = 10.0


# ------------------------------------------------------------------------ files

def pid_path(config_path: str | Path) -> Path:
    """``var/<config name>.pid`` next to the config file."""
    p = Path(config_path).resolve()
    return p.parent / "var" / f"{p.stem}.pid"


def outcome_path(config_path: str | Path) -> Path:
    p = Path(config_path).resolve()
    return p.parent / "var" / f"{p.stem}.reload.json"


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# ------------------------------------------------------------------------ what changed

@dataclass
class Outcome:
    """One reload attempt, as written to the outcome file."""

    attempt: int
    ok: bool
    pid: int
    at: str
    generation: int
    changes: list[str] = field(default_factory=list)
    restart_needed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


# parsed fields -> the YAML keys they come from, where the names differ
_YAML_KEYS = {("rtp", "port_min"): "ports", ("rtp", "port_max"): "ports",
              ("http", "host"): "listen", ("http", "port"): "listen"}


def restart_needed(old: Config, new: Config) -> list[str]:
    """The restart-only YAML keys whose value differs (``sip.listen``, ``rtp.ports``,
    ``database``, ...)."""
    out: dict[str, None] = {}
    for name in RESTART_ONLY:
        a, b = getattr(old, name), getattr(new, name)
        if a == b:
            continue
        if name != "database" and dataclasses.is_dataclass(a) \
                and dataclasses.is_dataclass(b) and type(a) is type(b):
            for f in dataclasses.fields(a):
                if getattr(a, f.name) != getattr(b, f.name):
                    out[f"{name}.{_YAML_KEYS.get((name, f.name), f.name)}"] = None
        else:
            out[name] = None
    # the voicemail directory: stored messages point into it (softswitch.apps.desk)
    dirs = [getattr(getattr(getattr(c, "apps", None), "voicemail", None), "directory", None)
            for c in (old, new)]
    if dirs[0] != dirs[1]:
        out["voicemail.directory"] = None
    return list(out)


def _keyed(items: Any, key: str) -> dict[str, Any]:
    return {str(getattr(i, key)): i for i in items or ()}


def _diff(what: str, old: dict[str, Any], new: dict[str, Any]) -> str | None:
    added = [k for k in new if k not in old]
    removed = [k for k in old if k not in new]
    changed = [k for k in new if k in old and old[k] != new[k]]
    if not (added or removed or changed):
        return None
    parts = [f"+{k}" for k in added] + [f"-{k}" for k in removed] + [f"~{k}" for k in changed]
    return f"{what} {' '.join(parts)}"


def describe_changes(old: Config, new: Config) -> list[str]:
    """One line per changed part, e.g. ``queues +6402 ~6400`` (+ added, - removed,
    ~ changed)."""
    acd_old, acd_new = old.acd, new.acd
    lines = [
        _diff("extensions", _keyed(old.extensions, "number"), _keyed(new.extensions, "number")),
        _diff("queues", _keyed(getattr(acd_old, "queues", ()), "number"),
              _keyed(getattr(acd_new, "queues", ()), "number")),
        _diff("message queues", _keyed(getattr(acd_old, "message_queues", ()), "name"),
              _keyed(getattr(acd_new, "message_queues", ()), "name")),
        _diff("trunks", _keyed(old.trunks, "name"), _keyed(new.trunks, "name")),
        _diff("inbound routes", _keyed(old.inbound_routes, "name"),
              _keyed(new.inbound_routes, "name")),
        _diff("outbound routes", _keyed(old.outbound_routes, "name"),
              _keyed(new.outbound_routes, "name")),
    ]
    for section in ("pause_reasons", "business_hours", "holidays"):
        if getattr(acd_old, section, ()) != getattr(acd_new, section, ()):
            lines.append(section.replace("_", " "))
    apps_old, apps_new = getattr(old, "apps", None), getattr(new, "apps", None)
    for section in ("ivrs", "ring_groups", "call_flows", "group_voicemails"):
        lines.append(_diff(section.replace("_", " "),
                           dict(getattr(apps_old, section, None) or {}),
                           dict(getattr(apps_new, section, None) or {})))
    if getattr(apps_old, "voicemail", None) != getattr(apps_new, "voicemail", None):
        lines.append("voicemail")
    if old.feature_codes != new.feature_codes:
        lines.append("feature codes")
    if old.prompts != new.prompts:
        lines.append("prompts")
    return [line for line in lines if line]


# ------------------------------------------------------------------------ applying

def apply(switch: Any, new: Config) -> tuple[list[str], list[str]]:
    """Apply a validated configuration to the running switch (softswitch.app.Switch); the
    restart-only keys keep their running values. Returns (changes, keys that need a
    restart). Synchronous: no other input of the event loop runs in between."""
    from acd.config import AcdConfig
    from softswitch.messaging.livechat import with_call_settings
    from softswitch.sip.auth import credential_table
    from softswitch.trunks import outbound_rule

    old: Config = switch.config
    # Live Chat widget calls: their three settings apply live (the channels otherwise wait)
    channels = with_call_settings(old.message_channels, new.message_channels)
    restart = restart_needed(dataclasses.replace(old, message_channels=channels), new)
    live = dataclasses.replace(new, **{name: getattr(old, name) for name in RESTART_ONLY})
    live = dataclasses.replace(live, message_channels=channels)
    changes = describe_changes(old, live)
    calls = [c.name for c, was in zip(channels, old.message_channels, strict=True)
             if c != was]
    if calls:
        changes.append(f"live chat calls {' '.join('~' + name for name in calls)}")
    router = switch.router
    passwords = {e.number: e.password for e in live.extensions}
    # extensions: REGISTER (a removed one's bindings dropped), digest credentials, dial plan
    router.registrar.reconfigure(live)
    router.auth.lookup = credential_table(live.sip.realm, passwords).get
    router.dialplan.extensions = frozenset(passwords)
    # the API's log-ins read router.config (softswitch.web.auth): set below
    # trunks and routes
    router.trunks.reconfigure(live.trunks, live.inbound_routes, live.outbound_routes)
    router.dialplan.replace(outbound_rule(router.trunks))
    router.trunk_registrations.reconfigure(live.trunks)
    # queues (ACD, queue numbers), then what reads the ACD: feature codes, BLF, reports, mail
    acd_config = live.acd if isinstance(live.acd, AcdConfig) else AcdConfig()
    router.queues.reconfigure(acd_config, {e.number: e for e in live.extensions},
                              getattr(live.prompts, "directory", None))
    router.agentdesk.reconfigure(live)
    # every destination reference resolves against the new file; the applications' numbers
    router.destinations.config = live
    router.applications.reconfigure(live)
    if old.prompts.tone_region != live.prompts.tone_region and switch.media is not None:
        from softswitch.apps.music import use_tone_region

        use_tone_region(switch.media, live.prompts.tone_region)  # heard at once
    if calls and router.livechat is not None:
        router.livechat.reconfigure(channels, router)
    router.config = switch.config = live
    return changes, restart


class Reloader:
    """The switch's side: SIGHUP -> read the file again -> `apply` or refuse -> log and
    write the outcome. Owned by softswitch.app.Switch."""

    def __init__(self, switch: Any) -> None:
        self.switch = switch
        self.generation = 0
        self.loaded_at: dt.datetime | None = None
        self.attempts = 0
        self._ready = False
        self._pending = False
        self._pid_file: Path | None = None

    def _path(self) -> Path:
        return Path(self.switch.config.path).resolve()

    def started(self) -> None:
        """The switch is ready: the configuration it started with is generation 1; the pid
        file is written; a SIGHUP that came during start-up is handled now."""
        self.generation = 1
        self.loaded_at = dt.datetime.now(dt.UTC)
        self._ready = True
        path = pid_path(self._path())
        try:
            _write_atomically(path, f"{os.getpid()}\n")
            self._pid_file = path
        except OSError as exc:
            log.warning("pid file not written: softswitch reload cannot find this switch",
                        path=str(path), error=exc.strerror or str(exc))
        if self._pending:
            self._pending = False
            self.reload()

    def close(self) -> None:
        self._ready = False
        if self._pid_file is not None:
            try:
                if self._pid_file.read_text().strip() == str(os.getpid()):
                    self._pid_file.unlink()
            except OSError:
                pass
            self._pid_file = None

    def request(self) -> None:
        """SIGHUP (loop.add_signal_handler)."""
        if not self._ready:
            self._pending = True  # start-up not finished: reload once it is
            return
        self.reload()

    def health(self) -> dict[str, Any]:
        return {"config_generation": self.generation,
                "config_loaded_at": self.loaded_at.isoformat() if self.loaded_at else None}

    def reload(self) -> Outcome:
        self.attempts += 1
        path = self._path()
        now = dt.datetime.now(dt.UTC)
        outcome = Outcome(self.attempts, False, os.getpid(), now.isoformat(), self.generation)
        try:
            new = load_config(self.switch.config.path)
        except ConfigError as exc:
            outcome.errors = [str(issue) for issue in exc.issues]
            log.error("reload refused: the running configuration stays", file=str(path),
                      problems=outcome.errors)
        else:
            for warning in new.warnings:
                log.warning("configuration warning", issue=str(warning))
            try:
                outcome.changes, outcome.restart_needed = apply(self.switch, new)
            except Exception as exc:  # noqa: BLE001 - keep running; say it did not work out
                outcome.errors = [f"applying the configuration failed: {exc!r}"]
                log.exception("reload failed while applying", file=str(path))
            else:
                outcome.ok = True
                self.generation += 1
                self.loaded_at = now
                outcome.generation = self.generation
                log.info("config reloaded", file=str(path), generation=self.generation,
                         changes=outcome.changes or ["none"])
                if outcome.restart_needed:
                    log.warning("restart needed: these keys keep their running values until "
                                "the next start", keys=outcome.restart_needed)
        try:
            _write_atomically(outcome_path(path), json.dumps(dataclasses.asdict(outcome)))
        except OSError as exc:
            log.warning("reload outcome not written", error=exc.strerror or str(exc))
        return outcome


# ------------------------------------------------------------------------ the command

def _read_outcome(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def reload_command(args: argparse.Namespace) -> int:
    """`softswitch reload --config FILE [--timeout S]` (see the module docstring)."""
    try:
        load_config(args.config)
    except ConfigError as exc:
        report_issues(args.config, exc.issues, "; not reloaded, the switch runs as before")
        return 1
    pids = pid_path(args.config)
    try:
        pid = int(pids.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        print(f"{args.config}: no running switch found (no live process in {pids}); "
              f"start it with: softswitch run --config {args.config}", file=sys.stderr)
        return 1
    results = outcome_path(args.config)
    before = _read_outcome(results)
    seen = (before.get("pid"), before.get("attempt")) if before else None
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        data = _read_outcome(results)
        if data is not None and data.get("pid") == pid \
                and (data.get("pid"), data.get("attempt")) != seen:
            return _report(args.config, data)
        time.sleep(0.05)
    print(f"{args.config}: the switch (pid {pid}) did not report within {args.timeout:g} s; "
          f"see its log", file=sys.stderr)
    return 1


def _report(config: str, data: dict[str, Any]) -> int:
    if not data.get("ok"):
        for line in data.get("errors") or ():
            print(line, file=sys.stderr)
        print(f"{config}: reload refused; the switch runs as before", file=sys.stderr)
        return 1
    changes = data.get("changes") or []
    print(f"{config}: reloaded (generation {data.get('generation')}): "
          f"{'; '.join(changes) if changes else 'no changes'}")
    restart = data.get("restart_needed") or []
    if restart:
        print(f"{config}: warning: restart needed for {', '.join(restart)} (the switch keeps "
              f"their running values until then)", file=sys.stderr)
    return 0
