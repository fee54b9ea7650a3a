"""The switch configuration: one YAML file, validated into frozen dataclasses (DESIGN.md).

The file is composed into YAML nodes first, so every problem is reported with the file, the
line, the key path and what was expected, e.g.::

    config.yaml:12: sip.listen[1]: expected transport:host:port like udp:127.0.0.1:5060, got 'foo'

All problems of a file are collected and reported together (`ConfigError.issues`); a file with
any problem yields no `Config` at all, so nothing can start half-way on a bad configuration.

The queue-related sections (`queues`, `pause_reasons`, `business_hours`, `holidays`,
`message_queues`) belong to the ACD engine and are parsed by `acd.config`; its
`AcdConfigError(path, message)` is mapped back to the line of the node that path names.

Decisions (documented in config.example.yaml too):
- A relative `sqlite:///path` is relative to the directory of the config file, so the switch
  finds the same database whatever the working directory. `sqlite:///:memory:` keeps nothing.
- A listen port of 0 lets the OS choose; the bound ports are logged in `switch ready`.
- Extension numbers are digit strings; an unquoted YAML number is taken as written (`0123`
  stays "0123", YAML 1.1 would have read it as octal 83).
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import ipaddress
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

import yaml  # type: ignore[import-untyped]

T = TypeVar("T")

# ----------------------------------------------------------------------------- typed values


@dataclass(frozen=True, slots=True)
class ListenAddress:
    """One SIP listener, `transport:host:port`."""

    transport: str  # "udp" | "tcp"
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}:{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class RegistrarConfig:
    """RFC 3261 §10.3 step 7: the switch's bounds on registration intervals."""

    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 600


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """Digest authentication (RFC 7616 / RFC 8760)."""

    realm: str = ""  # empty: the SIP domain
    # offered to clients the switch knows nothing about (softswitch.sip.auth: SHA-256 goes
    # on top for a client that shows it speaks it)
    algorithms: tuple[str, ...] = ("MD5",)
    nonce_lifetime: int = 300


@dataclass(frozen=True, slots=True)
class BruteForceConfig:
    """Too many failed authentications from one address within `window` seconds refuse that
    address for `ban_time` seconds."""

    max_failures: int = 20
    window: int = 60
    ban_time: int = 600


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    """Per-source request flood guard (softswitch.sip.ratelimit, after Kamailio's pike): a
    source sending more than `requests` requests within `interval` seconds has its requests
    dropped, unanswered, for `block_time` seconds. Trusted networks are exempt."""

    enabled: bool = True
    requests: int = 100
    interval: int = 2
    block_time: int = 60


Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_TRUSTED_NETWORKS: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.0/8"),
                                                 ipaddress.ip_network("::1/128"))


@dataclass(frozen=True, slots=True)
class SipConfig:
    listen: tuple[ListenAddress, ...]
    domain: str
    registrar: RegistrarConfig = field(default_factory=RegistrarConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    brute_force: BruteForceConfig = field(default_factory=BruteForceConfig)
    no_answer_timeout: int = 60
    user_agent: str = "softswitch"
    # sources never banned by the brute-force guard (softswitch.sip.auth.BruteForceGuard)
    # nor limited by the request rate limit (softswitch.sip.ratelimit)
    trusted_networks: tuple[Network, ...] = DEFAULT_TRUSTED_NETWORKS
    rate_limit: RateLimitConfig = field(default_factory=RateLimitConfig)

    @property
    def realm(self) -> str:
        return self.auth.realm or self.domain


@dataclass(frozen=True, slots=True)
class RtpConfig:
    port_min: int = 20000
    port_max: int = 29999
    address: str = ""  # empty: the host of the first SIP listener


@dataclass(frozen=True, slots=True)
class HttpConfig:
    host: str = "127.0.0.1"
    port: int = 8080


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    url: str
    path: str  # SQLite: filesystem path, or ":memory:"; PostgreSQL: ""

    @property
    def postgresql(self) -> bool:
        return self.url.startswith(("postgresql://", "postgres://"))


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    """How long records and recordings are kept (softswitch.store.retention); 0 = forever.
    The purge runs daily at ``purge_at`` (HH:MM) in ``time_zone``."""

    records_days: int = 0
    recordings_days: int = 0
    purge_at: str = "03:30"
    time_zone: str = "UTC"


@dataclass(frozen=True, slots=True)
class ScheduledReport:
    """One report e-mailed as CSV on a schedule (softswitch.reports.schedule)."""

    name: str
    report: str
    every: str  # daily | weekly | monthly
    to: tuple[str, ...]
    at: str = "07:00"  # local time of the send (HH:MM)
    queues: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    time_zone: str = ""  # "": the (first) queue's time zone, else UTC
    granularity: str = "day"
    exclude_abandoned_within: int | None = None
    exclude_talk_within: int | None = None


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int = 25
    security: str = "none"  # none | starttls | tls
    username: str = ""
    password: str = ""
    sender: str = ""
    retries: int = 3  # further attempts after a failed send (softswitch.notify)


@dataclass(frozen=True, slots=True)
class PromptsConfig:
    directory: str = "prompts"
    language: str = "en"
    tone_region: str = "us"  # the ring tone the switch plays (softswitch.apps.music)


@dataclass(frozen=True, slots=True)
class Extension:
    number: str
    name: str
    password: str
    email: str = ""
    agent_id: str = ""
    # the agent's picture for Live Chat visitors (softswitch.messaging.agentcard): an
    # http(s) URL, or the absolute path of a PNG/JPEG file the switch serves
    avatar: str = ""


@dataclass(frozen=True, slots=True)
class Trunk:
    """A SIP trunk to a provider; routed by softswitch.trunks (inbound_routes,
    outbound_routes). With `register`, the switch registers to the provider with the trunk's
    credentials and keeps the registration fresh (softswitch.trunk_registration)."""

    name: str
    host: str
    port: int = 5060
    transport: str = "udp"
    username: str = ""
    password: str = ""
    register: bool = False
    from_user: str = ""
    register_expires: int = 3600  # asked for in REGISTER; the provider's answer decides


# Linkus presence statuses (queue-manager-agent.md §10.3; the manual's 空闲 / 离开 / 出差 /
# 免打扰 / 午休 / 下班) and the §7.5 auto-switch actions (签入 / 签入上次签入队列 / 签出 /
# 暂停 / 不做任何操作). "offline" is not a status one sets: it is the absence of a
# registration (softswitch.web.presence_state).
PRESENCE_STATUSES = ("available", "away", "business_trip", "dnd", "lunch", "off_work")
AUTO_SWITCH_ACTIONS = ("sign_in", "sign_in_last", "sign_out", "pause", "none")


@dataclass(frozen=True, slots=True)
class AutoSwitchRule:
    """What changing to one presence status does to the agent's queue states (§7.5)."""

    action: str = "none"  # one of AUTO_SWITCH_ACTIONS
    reason: str = ""  # pause only: a pause reason's name (empty: paused without a reason)


@dataclass(frozen=True, slots=True)
class PresenceConfig:
    """The `presence` section: the status of an extension never set (`initial`), the
    auto-switch rule per status for every extension (`auto_switch`) and per-extension
    overrides of single statuses (`extensions`, like each Linkus user's own settings)."""

    initial: str = "available"
    auto_switch: tuple[tuple[str, AutoSwitchRule], ...] = ()
    extensions: tuple[tuple[str, tuple[tuple[str, AutoSwitchRule], ...]], ...] = ()

    def rule(self, extension: str, status: str) -> AutoSwitchRule:
        for number, rules in self.extensions:
            if number == extension:
                for name, rule in rules:
                    if name == status:
                        return rule
        for name, rule in self.auto_switch:
            if name == status:
                return rule
        return AutoSwitchRule()


@dataclass(frozen=True, slots=True)
class Contacts:
    """Company contacts (queue-admin.md §6.9): (number, name) pairs; a caller number longer
    than ``match_last_digits`` matches a contact on its last that many digits, a shorter or
    equal one only exactly (softswitch.web.contacts)."""

    match_last_digits: int = 7
    entries: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    format: str = "console"  # console | json
    level: str = "info"


@dataclass(frozen=True)
class Config:
    """The whole validated configuration. `acd` holds what acd.config parsed (or, while that
    module does not exist, the raw mappings of the queue sections)."""

    path: str
    sip: SipConfig
    rtp: RtpConfig
    http: HttpConfig
    database: DatabaseConfig
    smtp: SmtpConfig | None
    prompts: PromptsConfig
    extensions: tuple[Extension, ...]
    trunks: tuple[Trunk, ...]
    logging: LoggingConfig
    acd: Any = None
    acd_sections: Mapping[str, Any] = field(default_factory=dict)
    message_channels: tuple[Any, ...] = ()  # softswitch.messaging.config.ChannelConfig
    feature_codes: Any = None  # softswitch.features.FeatureCodes (agent codes, §6.7)
    recording: Any = None  # softswitch.calls.recording.RecordingConfig
    parking: Any = None  # softswitch.calls.park.ParkingConfig
    pickup: Any = None  # softswitch.calls.pickup.PickupConfig
    inbound_routes: tuple[Any, ...] = ()  # softswitch.trunks.InboundRoute
    outbound_routes: tuple[Any, ...] = ()  # softswitch.trunks.OutboundRoute
    # extension numbers allowed to use the admin API (softswitch.web.security)
    admins: tuple[str, ...] = ()
    # IVRs, ring groups, call flows, voicemail (softswitch.apps.settings.AppsConfig)
    apps: Any = None
    # valid but probably unintended (printed by `check`, logged by `run`): a queue callback
    # whose outbound route some agent of the queue may not use (_check_callback_routes)
    warnings: tuple[ConfigIssue, ...] = ()
    retention: RetentionConfig = RetentionConfig()
    scheduled_reports: tuple[ScheduledReport, ...] = ()
    contacts: Contacts = Contacts()  # company contacts, for the queue panel (§6.9)
    # queue-admin.md §6.5: a forward disposition change also moves the same caller's missed
    # calls to the same queue of the last N hours (0 = off; softswitch.web.calllogs)
    disposition_auto_sync_hours: int = 0
    # where relative paths of the file are resolved (the file's directory), for state
    # written by the switch like Live Chat's images (softswitch.messaging.livechat)
    config_dir: str = "."
    # Linkus presence statuses and §7.5 auto-switch rules (softswitch.web.presence_state)
    presence: PresenceConfig = PresenceConfig()
    # omnichannel.md §4: the extensions whose log-ins are the third-party platform's API
    # integrations (``messaging_api.integrations``; softswitch.messaging.sessions)
    messaging_api: tuple[str, ...] = ()
    # the extension capacity N (``limits.extensions``; default: the configured extensions):
    # the message-queue limits of omnichannel.md §5.2 (softswitch.messaging.queues)
    extension_capacity: int = 0

    def extension(self, number: str) -> Extension | None:
        return self._by_number.get(number)

    @property
    def _by_number(self) -> dict[str, Extension]:
        cached: dict[str, Extension] | None = self.__dict__.get("_by_number_cache")
        if cached is None:
            cached = {e.number: e for e in self.extensions}
            object.__setattr__(self, "_by_number_cache", cached)
        return cached


# ----------------------------------------------------------------------------- errors


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    file: str
    line: int  # 1-based
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}:{self.line}: {where}{self.message}"


class ConfigError(Exception):
    """Every problem found in one configuration file."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


# ----------------------------------------------------------------------------- validation


class _Invalid(Exception):
    """Raised inside a field check after the issue was recorded; the field is skipped."""


_MISSING = object()
_Node: TypeAlias = yaml.Node
_constructor = yaml.SafeLoader("")


def _path_join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _describe(node: _Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag.endswith(":null"):
        return "nothing"
    return repr(node.value)


class _Checker:
    """Walks the composed YAML nodes, records issues, returns plain values."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.issues: list[ConfigIssue] = []

    def issue(self, node: _Node | None, path: str, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 1
        self.issues.append(ConfigIssue(self.file, line, path, message))

    def fail(self, node: _Node | None, path: str, message: str) -> _Invalid:
        self.issue(node, path, message)
        return _Invalid()

    # -- containers

    def mapping(self, node: _Node, path: str, allowed: tuple[str, ...],
                required: tuple[str, ...] = ()) -> dict[str, tuple[_Node, _Node]]:
        """The entries of a mapping node by key name, after rejecting unknown, duplicate
        and missing keys."""
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, path, f"expected a mapping with keys {', '.join(allowed)}, "
                                        f"got {_describe(node)}")
        entries: dict[str, tuple[_Node, _Node]] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            key_path = _path_join(path, key)
            if not isinstance(key_node, yaml.ScalarNode):
                self.issue(key_node, path, "expected a plain key")
                continue
            if key in entries:
                self.issue(key_node, key_path, "duplicate key (an earlier line sets it too)")
                continue
            if key not in allowed:
                hint = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                msg = f"unknown key '{key}'"
                msg += f" (did you mean '{hint[0]}'?)" if hint else \
                    f" (expected one of: {', '.join(allowed)})"
                self.issue(key_node, key_path, msg)
                continue
            entries[key] = (key_node, value_node)
        for key in required:
            if key not in entries:
                self.issue(node, _path_join(path, key), "required key is missing")
        return entries

    def sequence(self, node: _Node, path: str, what: str) -> list[_Node]:
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, path, f"expected a list of {what}, got {_describe(node)}")
        return list(node.value)

    # -- scalars

    def _scalar(self, node: _Node, path: str, expected: str) -> yaml.ScalarNode:
        if not isinstance(node, yaml.ScalarNode) or node.tag.endswith(":null"):
            raise self.fail(node, path, f"expected {expected}, got {_describe(node)}")
        return node

    def text(self, node: _Node, path: str, *, allow_empty: bool = False,
             expected: str = "a text") -> str:
        """A string; unquoted numbers and booleans are taken as written."""
        scalar = self._scalar(node, path, expected)
        value = str(scalar.value)
        if not value and not allow_empty:
            raise self.fail(node, path, f"expected {expected}, got an empty value")
        return value

    def integer(self, node: _Node, path: str, low: int | None = None,
                high: int | None = None) -> int:
        bounds = _bounds(low, high)
        scalar = self._scalar(node, path, f"a whole number{bounds}")
        value = _constructor.construct_object(scalar) if scalar.tag.endswith(":int") else None
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(node, path, f"expected a whole number{bounds}, got {scalar.value!r}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise self.fail(node, path, f"expected a whole number{bounds}, got {value}")
        return value

    def boolean(self, node: _Node, path: str) -> bool:
        scalar = self._scalar(node, path, "true or false")
        if not scalar.tag.endswith(":bool"):
            raise self.fail(node, path, f"expected true or false, got {scalar.value!r}")
        return bool(_constructor.construct_object(scalar))

    def choice(self, node: _Node, path: str, choices: tuple[str, ...]) -> str:
        value = self.text(node, path, expected=f"one of {', '.join(choices)}")
        if value not in choices:
            hint = difflib.get_close_matches(value, choices, n=1, cutoff=0.5)
            extra = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise self.fail(node, path,
                            f"expected one of {', '.join(choices)}, got {value!r}{extra}")
        return value

    # -- helpers for sections

    def field(self, entries: Mapping[str, tuple[_Node, _Node]], key: str, path: str,
              parse: Callable[[_Node, str], T], default: Any = _MISSING) -> Any:
        """Parse one entry; a failed or missing entry gives `default` (the issue is already
        recorded for a failed one, and for a missing required one by `mapping`)."""
        if key not in entries:
            return default
        try:
            return parse(entries[key][1], _path_join(path, key))
        except _Invalid:
            return _MISSING


def _bounds(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f" from {low} to {high}"
    if low is not None:
        return f" >= {low}"
    if high is not None:
        return f" <= {high}"
    return ""


_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")
_DIGITS = re.compile(r"^[0-9]{1,15}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(_HOSTNAME.match(host))


def _split_host_port(text: str) -> tuple[str, str] | None:
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1:end + 2] != ":":
            return None
        return text[1:end], text[end + 2:]
    host, sep, port = text.rpartition(":")
    if not sep or ":" in host:
        return None
    return host, port


def _parse_port(text: str) -> int | None:
    if not text.isdigit():
        return None
    port = int(text)
    return port if 0 <= port <= 65535 else None


class _Sections:
    """One parse function per top-level key; each returns the section's dataclass."""

    def __init__(self, checker: _Checker, config_dir: Path) -> None:
        self.c = checker
        self.config_dir = config_dir
        # (node, path, queue number) of inbound routes to a queue: checked after the queues
        self.queue_refs: list[tuple[_Node, str, str]] = []
        # (path, Destination) of inbound routes: checked by softswitch.destinations at the end
        self.destination_refs: list[tuple[str, Any]] = []
        # (node, path, slot numbers) of the parking lot: checked against the queue numbers
        self.park_slots: tuple[_Node, str, set[str]] | None = None

    # sip ---------------------------------------------------------------------------

    def listen_address(self, node: _Node, path: str) -> ListenAddress:
        expected = "transport:host:port like udp:127.0.0.1:5060"
        text = self.c.text(node, path, expected=expected)
        transport, sep, rest = text.partition(":")
        hp = _split_host_port(rest) if sep else None
        port = _parse_port(hp[1]) if hp else None
        if transport not in ("udp", "tcp") or hp is None or port is None \
                or not _valid_host(hp[0]):
            why = ""
            if sep and transport not in ("udp", "tcp"):
                why = f" (transport must be udp or tcp, not {transport!r})"
            elif hp is not None and port is None:
                why = f" (port must be 0-65535, not {hp[1]!r})"
            elif hp is not None and not _valid_host(hp[0]):
                why = f" (not a host name or IP address: {hp[0]!r})"
            raise self.c.fail(node, path, f"expected {expected}, got {text!r}{why}")
        return ListenAddress(transport, hp[0], port)

    def sip(self, node: _Node, path: str) -> SipConfig:
        c = self.c
        e = c.mapping(node, path, ("listen", "domain", "registrar", "auth", "brute_force",
                                   "trusted_networks", "no_answer_timeout", "user_agent",
                                   "rate_limit"),
                      required=("listen", "domain"))
        listen: list[ListenAddress] = []
        if "listen" in e:
            lnode = e["listen"][1]
            try:
                items = c.sequence(lnode, _path_join(path, "listen"), "listen addresses")
                if not items:
                    c.issue(lnode, _path_join(path, "listen"),
                            "expected at least one address like udp:127.0.0.1:5060")
                seen: set[tuple[str, str, int]] = set()
                for i, item in enumerate(items):
                    ipath = _path_join(_path_join(path, "listen"), i)
                    try:
                        addr = self.listen_address(item, ipath)
                    except _Invalid:
                        continue
                    key = (addr.transport, addr.host, addr.port)
                    if addr.port and key in seen:
                        c.issue(item, ipath, f"{addr} is listed twice")
                    seen.add(key)
                    listen.append(addr)
            except _Invalid:
                pass
        domain = c.field(e, "domain", path, self._domain)
        registrar = c.field(e, "registrar", path, self.registrar, RegistrarConfig())
        auth = c.field(e, "auth", path, self.auth, AuthConfig())
        brute = c.field(e, "brute_force", path, self.brute_force, BruteForceConfig())
        timeout = c.field(e, "no_answer_timeout", path,
                          lambda n, p: c.integer(n, p, 1, 3600), 60)
        ua = c.field(e, "user_agent", path, c.text, "softswitch")
        trusted = c.field(e, "trusted_networks", path, self.networks, DEFAULT_TRUSTED_NETWORKS)
        rate_limit = c.field(e, "rate_limit", path, self.rate_limit, RateLimitConfig())
        return SipConfig(tuple(listen), domain, registrar, auth, brute, timeout, ua,
                         trusted_networks=trusted, rate_limit=rate_limit)

    def networks(self, node: _Node, path: str) -> tuple[Network, ...]:
        """A list of networks in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`); a bare
        address is a network of one."""
        c = self.c
        result: list[Network] = []
        for i, item in enumerate(c.sequence(node, path, "networks like 10.0.0.0/8")):
            ipath = _path_join(path, i)
            try:
                text = c.text(item, ipath, expected="a network like 10.0.0.0/8")
                result.append(ipaddress.ip_network(text))
            except _Invalid:
                continue
            except ValueError as exc:
                c.issue(item, ipath, f"expected a network like 10.0.0.0/8 or 2001:db8::/32, "
                                     f"got {text!r} ({exc})")
        return tuple(result)

    def rate_limit(self, node: _Node, path: str) -> RateLimitConfig:
        c = self.c
        e = c.mapping(node, path, ("enabled", "requests", "interval", "block_time"))
        d = RateLimitConfig()
        return RateLimitConfig(
            c.field(e, "enabled", path, c.boolean, d.enabled),
            c.field(e, "requests", path, lambda n, p: c.integer(n, p, 1, 1_000_000),
                    d.requests),
            c.field(e, "interval", path, lambda n, p: c.integer(n, p, 1, 3600), d.interval),
            c.field(e, "block_time", path, lambda n, p: c.integer(n, p, 1, 86400),
                    d.block_time),
        )

    def _domain(self, node: _Node, path: str) -> str:
        value = self.c.text(node, path, expected="a domain name or IP address")
        if not _valid_host(value):
            raise self.c.fail(node, path,
                              f"expected a domain name or IP address, got {value!r}")
        return value

    def registrar(self, node: _Node, path: str) -> RegistrarConfig:
        c = self.c
        e = c.mapping(node, path, ("min_expires", "max_expires", "default_expires"))
        d = RegistrarConfig()
        lo = c.field(e, "min_expires", path, lambda n, p: c.integer(n, p, 1, 86400),
                     d.min_expires)
        hi = c.field(e, "max_expires", path, lambda n, p: c.integer(n, p, 1, 604800),
                     d.max_expires)
        de = c.field(e, "default_expires", path, lambda n, p: c.integer(n, p, 1, 604800),
                     d.default_expires)
        if _MISSING in (lo, hi, de):
            raise _Invalid()
        if lo > hi:
            c.issue(e.get("min_expires", (node, node))[1], _path_join(path, "min_expires"),
                    f"expected at most max_expires ({hi}), got {lo}")
        elif not lo <= de <= hi:
            c.issue(e.get("default_expires", (node, node))[1],
                    _path_join(path, "default_expires"),
                    f"expected a value from min_expires ({lo}) to max_expires ({hi}), got {de}")
        return RegistrarConfig(lo, hi, de)

    def auth(self, node: _Node, path: str) -> AuthConfig:
        c = self.c
        e = c.mapping(node, path, ("realm", "algorithms", "nonce_lifetime"))
        realm = c.field(e, "realm", path, c.text, "")
        algorithms = AuthConfig().algorithms
        if "algorithms" in e:
            anode = e["algorithms"][1]
            apath = _path_join(path, "algorithms")
            try:
                items = c.sequence(anode, apath, "digest algorithms (SHA-256, MD5)")
                algs = []
                for i, item in enumerate(items):
                    try:
                        algs.append(c.choice(item, _path_join(apath, i), ("SHA-256", "MD5")))
                    except _Invalid:
                        pass
                if not items:
                    c.issue(anode, apath, "expected at least one of SHA-256, MD5")
                algorithms = tuple(dict.fromkeys(algs))
            except _Invalid:
                pass
        lifetime = c.field(e, "nonce_lifetime", path, lambda n, p: c.integer(n, p, 10, 86400),
                           300)
        return AuthConfig(realm, algorithms, lifetime)

    def brute_force(self, node: _Node, path: str) -> BruteForceConfig:
        c = self.c
        e = c.mapping(node, path, ("max_failures", "window", "ban_time"))
        return BruteForceConfig(
            c.field(e, "max_failures", path, lambda n, p: c.integer(n, p, 1, 100000), 20),
            c.field(e, "window", path, lambda n, p: c.integer(n, p, 1, 86400), 60),
            c.field(e, "ban_time", path, lambda n, p: c.integer(n, p, 1, 31536000), 600),
        )

    # rtp / http / database / smtp / prompts / logging -----------------------------

    def rtp(self, node: _Node, path: str) -> RtpConfig:
        c = self.c
        e = c.mapping(node, path, ("ports", "address"))
        port_min, port_max = 20000, 29999
        if "ports" in e:
            pnode = e["ports"][1]
            ppath = _path_join(path, "ports")
            expected = 'a port range "first-last" like "20000-29999"'
            try:
                text = c.text(pnode, ppath, expected=expected)
                m = re.fullmatch(r"\s*(\d{1,5})\s*-\s*(\d{1,5})\s*", text)
                if not m:
                    raise c.fail(pnode, ppath, f"expected {expected}, got {text!r}")
                port_min, port_max = int(m[1]), int(m[2])
                if not 1024 <= port_min < port_max <= 65535:
                    raise c.fail(pnode, ppath, f"expected {expected} with 1024 <= first < "
                                               f"last <= 65535, got {text!r}")
                if port_max - port_min < 3:
                    raise c.fail(pnode, ppath, f"expected a range of at least 4 ports "
                                               f"(2 per call leg), got {text!r}")
            except _Invalid:
                pass
        address = c.field(e, "address", path, self._ip, "")
        return RtpConfig(port_min, port_max, address if address is not _MISSING else "")

    def _ip(self, node: _Node, path: str) -> str:
        value = self.c.text(node, path, expected="an IP address")
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise self.c.fail(node, path, f"expected an IP address, got {value!r}") from None
        return value

    def http(self, node: _Node, path: str) -> HttpConfig:
        c = self.c
        e = c.mapping(node, path, ("listen",), required=("listen",))
        if "listen" not in e:
            raise _Invalid()
        lnode = e["listen"][1]
        lpath = _path_join(path, "listen")
        expected = "host:port like 127.0.0.1:8080"
        text = c.text(lnode, lpath, expected=expected)
        hp = _split_host_port(text)
        port = _parse_port(hp[1]) if hp else None
        if hp is None or port is None or not _valid_host(hp[0]):
            raise c.fail(lnode, lpath, f"expected {expected}, got {text!r}")
        return HttpConfig(hp[0], port)

    def database(self, node: _Node, path: str) -> DatabaseConfig:
        expected = ("a database URL like sqlite:///var/softswitch.sqlite3 or "
                    "postgresql://user:password@host:5432/name")
        url = self.c.text(node, path, expected=expected)
        if url.startswith(("postgres://", "postgresql://")):
            rest = url.split("://", 1)[1]
            if "/" not in rest or not rest.split("/", 1)[0] or not rest.split("/", 1)[1]:
                raise self.c.fail(node, path, f"expected {expected} (host and database "
                                              f"name), got {url!r}")
            return DatabaseConfig(url, "")
        if not url.startswith("sqlite:///") or len(url) == len("sqlite:///"):
            raise self.c.fail(node, path, f"expected {expected}, got {url!r}")
        raw = url[len("sqlite:///"):]
        if raw == ":memory:":
            return DatabaseConfig(url, raw)
        p = Path(raw)
        if not p.is_absolute():
            p = self.config_dir / p
        return DatabaseConfig(url, str(p))

    def smtp(self, node: _Node, path: str) -> SmtpConfig | None:
        c = self.c
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            return None
        e = c.mapping(node, path, ("host", "port", "security", "username", "password",
                                   "sender", "retries"), required=("host",))
        host = c.field(e, "host", path, self._domain)
        port = c.field(e, "port", path, lambda n, p: c.integer(n, p, 1, 65535), 25)
        security = c.field(e, "security", path,
                           lambda n, p: c.choice(n, p, ("none", "starttls", "tls")), "none")
        username = c.field(e, "username", path, lambda n, p: c.text(n, p, allow_empty=True), "")
        password = c.field(e, "password", path, lambda n, p: c.text(n, p, allow_empty=True), "")
        sender = c.field(e, "sender", path, self._email, "")
        retries = c.field(e, "retries", path, lambda n, p: c.integer(n, p, 0, 10), 3)
        if _MISSING in (host, port, security, username, password, sender, retries):
            raise _Invalid()
        return SmtpConfig(host, port, security, username, password, sender, retries)

    def _email(self, node: _Node, path: str) -> str:
        value = self.c.text(node, path, allow_empty=True, expected="an e-mail address")
        if value and not _EMAIL.match(value):
            raise self.c.fail(node, path, f"expected an e-mail address, got {value!r}")
        return value

    def _avatar(self, node: _Node, path: str) -> str:
        """An extension's ``avatar`` (softswitch.messaging.agentcard.check_avatar)."""
        from softswitch.messaging.agentcard import check_avatar

        value = self.c.text(node, path, expected="an image URL or a PNG/JPEG file")
        try:
            return check_avatar(value, self.config_dir)
        except ValueError as exc:
            raise self.c.fail(node, path, str(exc)) from None

    def prompts(self, node: _Node, path: str) -> PromptsConfig:
        c = self.c
        from media.player import RINGBACK

        e = c.mapping(node, path, ("directory", "language", "tone_region"))
        directory = c.field(e, "directory", path, c.text, _builtin_prompts())
        language = c.field(e, "language", path, lambda n, p: c.choice(n, p, ("en", "zh")), "en")
        region = c.field(e, "tone_region", path,
                         lambda n, p: c.choice(n, p, tuple(RINGBACK)), "us")
        if directory is not _MISSING and not Path(directory).is_absolute():
            directory = str(self.config_dir / directory)
        return PromptsConfig(directory, language, region)

    def contacts(self, node: _Node, path: str) -> Contacts:
        """Company contacts (queue-admin.md §6.9): names shown for waiting callers."""
        c = self.c
        e = c.mapping(node, path, ("match_last_digits", "entries"))
        digits = c.field(e, "match_last_digits", path,
                         lambda n, p: c.integer(n, p, 4, 31), 7)
        entries: list[tuple[str, str]] = []
        if "entries" in e:
            epath = _path_join(path, "entries")
            for i, item in enumerate(c.sequence(e["entries"][1], epath, "contacts")):
                ipath = _path_join(epath, i)
                try:
                    m = c.mapping(item, ipath, ("name", "number"), required=("name", "number"))
                    name = c.text(m["name"][1], _path_join(ipath, "name"))
                    number = self._contact_number(m["number"][1],
                                                  _path_join(ipath, "number"))
                except (_Invalid, KeyError):  # a missing key was reported by `mapping`
                    continue
                entries.append((number, name))
        return Contacts(digits, tuple(entries))

    def presence(self, node: _Node, path: str, extensions: set[str],
                 reasons: set[str] | None) -> PresenceConfig:
        """Presence statuses and their auto-switch rules (queue-manager-agent.md §7.5).
        ``reasons``: the pause reasons' names and codes (None: the ACD sections failed)."""
        c = self.c
        e = c.mapping(node, path, ("initial", "auto_switch", "extensions"))
        initial = c.field(e, "initial", path,
                          lambda n, p: c.choice(n, p, PRESENCE_STATUSES), "available")

        def rules(rnode: _Node, rpath: str) -> tuple[tuple[str, AutoSwitchRule], ...]:
            m = c.mapping(rnode, rpath, PRESENCE_STATUSES)
            out: list[tuple[str, AutoSwitchRule]] = []
            for status in PRESENCE_STATUSES:
                rule = c.field(m, status, rpath, self._auto_switch_rule(reasons), None)
                if isinstance(rule, AutoSwitchRule):
                    out.append((status, rule))
            return tuple(out)

        auto = c.field(e, "auto_switch", path, rules, ())
        per_ext: list[tuple[str, tuple[tuple[str, AutoSwitchRule], ...]]] = []
        if "extensions" in e:
            xnode = e["extensions"][1]
            xpath = _path_join(path, "extensions")
            if not isinstance(xnode, yaml.MappingNode):
                raise c.fail(xnode, xpath, f"expected a mapping of extension numbers to "
                                           f"rules, got {_describe(xnode)}")
            for knode, vnode in xnode.value:
                try:
                    number = self._number(knode, xpath)
                except _Invalid:
                    continue
                epath = _path_join(xpath, number)
                if number not in extensions:
                    c.issue(knode, epath, f"no extension {number} is defined in extensions")
                    continue
                try:
                    per_ext.append((number, rules(vnode, epath)))
                except _Invalid:
                    continue
        return PresenceConfig(initial if isinstance(initial, str) else "available",
                              auto if isinstance(auto, tuple) else (), tuple(per_ext))

    def _auto_switch_rule(self, reasons: set[str] | None
                          ) -> Callable[[_Node, str], AutoSwitchRule]:
        c = self.c

        def parse(node: _Node, path: str) -> AutoSwitchRule:
            if isinstance(node, yaml.ScalarNode):
                action = c.choice(node, path, AUTO_SWITCH_ACTIONS)
                return AutoSwitchRule(action)
            m = c.mapping(node, path, ("action", "reason"), required=("action",))
            action = c.choice(m["action"][1], _path_join(path, "action"), AUTO_SWITCH_ACTIONS)
            reason = ""
            if "reason" in m:
                rnode = m["reason"][1]
                rpath = _path_join(path, "reason")
                reason = c.text(rnode, rpath, expected="a pause reason's name or code")
                if action != "pause":
                    raise c.fail(rnode, rpath, "only the pause action takes a reason")
                if reasons is not None and reason not in reasons:
                    known = ", ".join(sorted(reasons)) or "none are configured"
                    raise c.fail(rnode, rpath, f"no pause reason {reason!r} (pause_reasons: "
                                               f"{known})")
            return AutoSwitchRule(action, reason)

        return parse

    def logging(self, node: _Node, path: str) -> LoggingConfig:
        c = self.c
        e = c.mapping(node, path, ("format", "level"))
        fmt = c.field(e, "format", path, lambda n, p: c.choice(n, p, ("console", "json")),
                      "console")
        level = c.field(e, "level", path,
                        lambda n, p: c.choice(n, p, ("debug", "info", "warning", "error")),
                        "info")
        return LoggingConfig(fmt, level)

    def recording(self, node: _Node, path: str) -> Any:
        """Call recording (softswitch.calls.recording): enabled, path (a directory, relative
        to the config file), and which calls: extensions, queues."""
        from softswitch.calls.recording import RecordingConfig

        c = self.c
        e = c.mapping(node, path, ("enabled", "path", "extensions", "queues"))
        enabled = c.field(e, "enabled", path, c.boolean, True)
        directory = c.field(e, "path", path,
                            lambda n, p: c.text(n, p, expected="a directory"), "var/recordings")
        extensions = c.field(e, "extensions", path, c.boolean, True)
        queues = c.field(e, "queues", path, c.boolean, True)
        if _MISSING in (enabled, directory, extensions, queues):
            raise _Invalid()
        target = Path(directory) if Path(directory).is_absolute() \
            else self.config_dir / directory
        if target.exists() and not target.is_dir():
            raise c.fail(e["path"][1], _path_join(path, "path"),
                         f"expected a directory, but {str(target)!r} is a file")
        return RecordingConfig(enabled, str(target), extensions, queues)

    def parking(self, node: _Node, path: str, extensions: set[str]) -> Any:
        """Call park (softswitch.calls.park): code, slots ("6000-6009"), timeout, ring_back,
        timeout_destination (any destination of the router, softswitch.destinations:
        {type: hangup}, {type: extension|queue|ivr|voicemail|ring_group|..., target: N}).
        Slots must not be extension numbers (queue numbers are checked once the queues are
        read)."""
        from acd.config import Destination, DestinationType
        from softswitch.calls.park import ParkingConfig

        c = self.c
        e = c.mapping(node, path, ("code", "slots", "timeout", "ring_back",
                                   "timeout_destination"))
        default = ParkingConfig()
        code = c.field(e, "code", path, lambda n, p: self._dial_code(n, p), default.code)
        slots = c.field(e, "slots", path, self._slots, default.slots)
        timeout = c.field(e, "timeout", path, lambda n, p: c.integer(n, p, 10, 3600),
                          int(default.timeout))
        ring_back = c.field(e, "ring_back", path, lambda n, p: c.integer(n, p, 5, 300),
                            int(default.ring_back))
        destination = default.timeout_destination
        if "timeout_destination" in e:
            from softswitch.trunks import INBOUND_DESTINATION_TYPES

            dpath = _path_join(path, "timeout_destination")
            d = c.mapping(e["timeout_destination"][1], dpath, ("type", "target"),
                          required=("type",))
            kind = c.field(d, "type", dpath,
                           lambda n, p: c.choice(n, p, INBOUND_DESTINATION_TYPES))
            target = c.field(d, "target", dpath, lambda n, p: c.text(n, p), "")
            if _MISSING in (kind, target):
                raise _Invalid()
            tnode = d["target"][1] if "target" in d else e["timeout_destination"][1]
            if kind == "hangup":
                if target:
                    raise c.fail(tnode, _path_join(dpath, "target"),
                                 "a hangup destination takes no target")
                destination = Destination(DestinationType.HANGUP)
            elif not target:
                raise c.fail(tnode, _path_join(dpath, "target"),
                             f"a {kind} destination needs a target")
            elif kind == "extension" and target not in extensions:
                raise c.fail(tnode, _path_join(dpath, "target"),
                             f"no extension {target!r} is defined in extensions")
            else:
                # every other type: its target is checked by the destination router once
                # the whole config is read (softswitch.destinations), with this line
                destination = Destination(DestinationType(kind), target)
                self.destination_refs.append((dpath, destination))
        if _MISSING in (code, slots, timeout, ring_back):
            raise _Invalid()
        clash = sorted(set(slots) & extensions)
        if clash:
            raise c.fail(e["slots"][1] if "slots" in e else node, _path_join(path, "slots"),
                         f"park slots {', '.join(clash)} are extension numbers")
        self.park_slots = (e["slots"][1] if "slots" in e else node,
                           _path_join(path, "slots"), set(slots))
        return ParkingConfig(code, slots, float(timeout), float(ring_back), destination)

    def _dial_code(self, node: _Node, path: str) -> str:
        value = self.c.text(node, path, expected="a code of digits, * and #")
        if not value or any(ch not in "0123456789*#" for ch in value):
            raise self.c.fail(node, path, f"expected a code of digits, * and #, got {value!r}")
        return value

    def _slots(self, node: _Node, path: str) -> tuple[str, ...]:
        from softswitch.calls.park import slot_range

        text = self.c.text(node, path, expected='a range like "6000-6009"')
        try:
            return slot_range(text)
        except ValueError as exc:
            raise self.c.fail(node, path, str(exc)) from None

    def pickup(self, node: _Node, path: str, extensions: set[str]) -> Any:
        """Call pickup (softswitch.calls.pickup): group_code, directed_code, and groups
        (name -> list of extension numbers)."""
        from softswitch.calls.pickup import PickupConfig

        c = self.c
        e = c.mapping(node, path, ("group_code", "directed_code", "groups"))
        default = PickupConfig()
        group_code = c.field(e, "group_code", path, self._dial_code, default.group_code)
        directed_code = c.field(e, "directed_code", path, self._dial_code,
                                default.directed_code)
        groups: dict[str, tuple[str, ...]] = {}
        if "groups" in e:
            gpath = _path_join(path, "groups")
            gnode = e["groups"][1]
            if not isinstance(gnode, yaml.MappingNode):
                raise c.fail(gnode, gpath, "expected a mapping of group name to extensions")
            for key_node, members_node in gnode.value:
                name = str(key_node.value)
                mpath = _path_join(gpath, name)
                members: list[str] = []
                for m in c.sequence(members_node, mpath, "extension numbers"):
                    number = c.text(m, mpath)
                    if number not in extensions:
                        c.issue(m, mpath, f"no extension {number!r} is defined in extensions")
                    members.append(number)
                groups[name] = tuple(members)
        if _MISSING in (group_code, directed_code):
            raise _Invalid()
        if group_code == directed_code:
            raise c.fail(node, path, "group_code and directed_code must differ")
        return PickupConfig(group_code, directed_code, groups)

    def recording_default(self) -> Any:
        from softswitch.calls.recording import RecordingConfig

        return RecordingConfig(path=str(self.config_dir / "var/recordings"))

    # extensions / trunks ------------------------------------------------------------

    def extensions(self, node: _Node, path: str) -> tuple[Extension, ...]:
        c = self.c
        result: list[Extension] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(c.sequence(node, path, "extensions")):
            ipath = _path_join(path, i)
            try:
                e = c.mapping(item, ipath, ("number", "name", "password", "email", "agent_id",
                                            "avatar"), required=("number", "password"))
            except _Invalid:
                continue
            number = c.field(e, "number", ipath, self._number)
            name = c.field(e, "name", ipath, c.text, "")
            password = c.field(e, "password", ipath, self._password)
            email = c.field(e, "email", ipath, self._email, "")
            agent_id = c.field(e, "agent_id", ipath, lambda n, p: c.text(n, p, allow_empty=True),
                               "")
            avatar = c.field(e, "avatar", ipath, self._avatar, "")
            if isinstance(number, str):
                if number in seen:
                    c.issue(e["number"][1], _path_join(ipath, "number"),
                            f"extension {number} is already defined at line {seen[number]}")
                    continue
                seen[number] = e["number"][1].start_mark.line + 1
            if _MISSING in (number, name, password, email, agent_id, avatar):
                continue
            result.append(Extension(number, name or number, password, email, agent_id,
                                    avatar))
        return tuple(result)

    def limits(self, node: _Node, path: str, configured: int) -> int:
        """``limits.extensions``: the extension capacity N (softswitch.messaging.queues
        .queue_limits), at least the configured extensions; absent: their number."""
        c = self.c
        e = c.mapping(node, path, ("extensions",))
        if "extensions" not in e:
            return configured
        epath = _path_join(path, "extensions")
        value = c.integer(e["extensions"][1], epath, 1, 100000)
        if value < configured:
            raise c.fail(e["extensions"][1], epath,
                         f"the extension capacity {value} is below the {configured} "
                         "extensions configured")
        return value

    def messaging_api(self, node: _Node, path: str, extensions: set[str]) -> tuple[str, ...]:
        """omnichannel.md §4: ``integrations``, the extensions the third-party platform
        logs in with (its API integration). At least one: the section is what
        "configured" means (the ``api`` destination and the transfer to the platform)."""
        c = self.c
        e = c.mapping(node, path, ("integrations",), required=("integrations",))
        ipath = _path_join(path, "integrations")
        if "integrations" not in e:
            raise _Invalid()
        result = self.admins(e["integrations"][1], ipath, extensions)
        if not result and not any(i.path.startswith(ipath) for i in c.issues):
            c.issue(e["integrations"][1], ipath, "expected at least one extension number")
        return result

    def admins(self, node: _Node, path: str, extensions: set[str]) -> tuple[str, ...]:
        """Extension numbers whose number and password log in to the admin API."""
        c = self.c
        result: list[str] = []
        for i, item in enumerate(c.sequence(node, path, "extension numbers")):
            ipath = _path_join(path, i)
            try:
                number = self._number(item, ipath)
            except _Invalid:
                continue
            if number not in extensions:
                c.issue(item, ipath, f"no extension {number} is defined in extensions")
            elif number not in result:
                result.append(number)
        return tuple(result)

    # retention / scheduled_reports (softswitch.store.retention, softswitch.reports.schedule)

    def _clock_time(self, node: _Node, path: str) -> str:
        value = self.c.text(node, path, expected="a time of day HH:MM")
        if not _HHMM.match(value):
            raise self.c.fail(node, path, f"expected a time of day HH:MM, got {value!r}")
        return value

    def _zone(self, node: _Node, path: str) -> str:
        from zoneinfo import ZoneInfo

        value = self.c.text(node, path, expected="a time zone like Europe/Berlin")
        try:
            ZoneInfo(value)
        except (ValueError, KeyError, OSError):
            raise self.c.fail(node, path, f"unknown time zone {value!r}") from None
        return value

    def retention(self, node: _Node, path: str) -> RetentionConfig:
        c = self.c
        e = c.mapping(node, path, ("records_days", "recordings_days", "purge_at",
                                   "time_zone"))
        days = lambda n, p: c.integer(n, p, 0, 36500)  # noqa: E731
        values = (c.field(e, "records_days", path, days, 0),
                  c.field(e, "recordings_days", path, days, 0),
                  c.field(e, "purge_at", path, self._clock_time, "03:30"),
                  c.field(e, "time_zone", path, self._zone, "UTC"))
        if _MISSING in values:
            raise _Invalid()
        return RetentionConfig(*values)

    def scheduled_reports(self, node: _Node, path: str, queues: set[str] | None,
                          extensions: set[str]) -> tuple[ScheduledReport, ...]:
        from softswitch.reports.catalog import REPORTS
        from softswitch.reports.report import GRANULARITIES

        c = self.c
        out: list[ScheduledReport] = []
        for i, item in enumerate(c.sequence(node, path, "scheduled reports")):
            ipath = _path_join(path, i)
            try:
                e = c.mapping(item, ipath, (
                    "name", "report", "every", "at", "to", "queues", "agents", "time_zone",
                    "granularity", "exclude_abandoned_within", "exclude_talk_within"),
                    required=("name", "report", "every", "to"))
            except _Invalid:
                continue

            def emails(n: _Node, p: str) -> tuple[str, ...]:
                found = tuple(self._email(x, _path_join(p, j))
                              for j, x in enumerate(c.sequence(n, p, "e-mail addresses")))
                if not found or "" in found:
                    raise c.fail(n, p, "expected at least one e-mail address")
                return found

            def numbers(known: set[str] | None, what: str) -> Callable[[_Node, str],
                                                                       tuple[str, ...]]:
                def parse(n: _Node, p: str) -> tuple[str, ...]:
                    found: list[str] = []
                    for j, x in enumerate(c.sequence(n, p, what)):
                        value = self._number(x, _path_join(p, j))
                        if known is not None and value not in known:
                            c.issue(x, _path_join(p, j), f"no {what[:-1]} {value} is defined")
                        found.append(value)
                    return tuple(found)
                return parse

            seconds = lambda n, p: c.integer(n, p, 0, 3600)  # noqa: E731
            values = dict(
                name=c.field(e, "name", ipath, c.text),
                report=c.field(e, "report", ipath,
                               lambda n, p: c.choice(n, p, tuple(REPORTS))),
                every=c.field(e, "every", ipath,
                              lambda n, p: c.choice(n, p, ("daily", "weekly", "monthly"))),
                to=c.field(e, "to", ipath, emails),
                at=c.field(e, "at", ipath, self._clock_time, "07:00"),
                queues=c.field(e, "queues", ipath, numbers(queues, "queues"), ()),
                agents=c.field(e, "agents", ipath, numbers(extensions, "extensions"), ()),
                time_zone=c.field(e, "time_zone", ipath, self._zone, ""),
                granularity=c.field(e, "granularity", ipath,
                                    lambda n, p: c.choice(n, p, GRANULARITIES), "day"),
                exclude_abandoned_within=c.field(e, "exclude_abandoned_within", ipath,
                                                 seconds, None),
                exclude_talk_within=c.field(e, "exclude_talk_within", ipath, seconds, None))
            if _MISSING not in values.values():
                out.append(ScheduledReport(**values))
        return tuple(out)

    def _number(self, node: _Node, path: str) -> str:
        value = self.c.text(node, path, expected="an extension number (digits)")
        if not _DIGITS.match(value):
            raise self.c.fail(node, path,
                              f"expected an extension number of 1-15 digits, got {value!r}")
        return value

    def _contact_number(self, node: _Node, path: str) -> str:
        """A company contact's number: digits, or E.164 (``+`` and digits) as campaigns
        need them (omnichannel.md §7.3); the caller-name match ignores the ``+``."""
        value = self.c.text(node, path, expected="a phone number")
        if not re.fullmatch(r"\+?[0-9]{1,15}", value):
            raise self.c.fail(node, path,
                              f"expected 1-15 digits, optionally after +, got {value!r}")
        return value

    def _password(self, node: _Node, path: str) -> str:
        value = self.c.text(node, path, expected="a password")
        if len(value) < 4:
            raise self.c.fail(node, path, "expected a password of at least 4 characters")
        return value

    def trunks(self, node: _Node, path: str) -> tuple[Trunk, ...]:
        c = self.c
        result: list[Trunk] = []
        names: set[str] = set()
        for i, item in enumerate(c.sequence(node, path, "trunks")):
            ipath = _path_join(path, i)
            try:
                e = c.mapping(item, ipath, ("name", "host", "port", "transport", "username",
                                            "password", "register", "from_user",
                                            "register_expires"),
                              required=("name", "host"))
            except _Invalid:
                continue
            values = (
                c.field(e, "name", ipath, c.text),
                c.field(e, "host", ipath, self._domain),
                c.field(e, "port", ipath, lambda n, p: c.integer(n, p, 1, 65535), 5060),
                c.field(e, "transport", ipath, lambda n, p: c.choice(n, p, ("udp", "tcp")),
                        "udp"),
                c.field(e, "username", ipath, lambda n, p: c.text(n, p, allow_empty=True), ""),
                c.field(e, "password", ipath, lambda n, p: c.text(n, p, allow_empty=True), ""),
                c.field(e, "register", ipath, c.boolean, False),
                c.field(e, "from_user", ipath, lambda n, p: c.text(n, p, allow_empty=True), ""),
                c.field(e, "register_expires", ipath, lambda n, p: c.integer(n, p, 60, 86400),
                        3600),
            )
            if _MISSING in values:
                continue
            if values[6] and not (values[4] and values[5]):
                c.issue(e["register"][1], _path_join(ipath, "register"),
                        "registering to a provider needs the trunk's username and password")
                continue
            if values[0] in names:
                c.issue(e["name"][1], _path_join(ipath, "name"),
                        f"trunk name {values[0]!r} is used twice")
                continue
            names.add(values[0])
            result.append(Trunk(*values))
        return tuple(result)

    def inbound_routes(self, node: _Node, path: str, trunks: set[str],
                       extensions: set[str]) -> tuple[Any, ...]:
        """`inbound_routes`: {name, trunk (optional), did (exact or "*"), destination
        {type, target}} (softswitch.trunks); the destination, any type of §11.1, is
        checked by softswitch.destinations once the whole file is parsed."""
        from softswitch.trunks import INBOUND_DESTINATION_TYPES, InboundRoute

        c = self.c
        result: list[Any] = []
        for i, item in enumerate(c.sequence(node, path, "inbound routes")):
            ipath = _path_join(path, i)
            try:
                e = c.mapping(item, ipath, ("name", "trunk", "did", "destination"),
                              required=("name", "did", "destination"))
            except _Invalid:
                continue
            name = c.field(e, "name", ipath, c.text)
            trunk = c.field(e, "trunk", ipath, lambda n, p: self._trunk_ref(n, p, trunks), "")
            did = c.field(e, "did", ipath, lambda n, p: c.text(
                n, p, expected='a dialled number or "*"'))
            dpath = _path_join(ipath, "destination")
            try:
                d = c.mapping(e["destination"][1], dpath, ("type", "target"),
                              required=("type",))
            except _Invalid:
                continue
            kind = c.field(d, "type", dpath,
                           lambda n, p: c.choice(n, p, INBOUND_DESTINATION_TYPES))
            target = c.field(d, "target", dpath, c.text, "")
            if _MISSING in (name, trunk, did, kind, target):
                continue
            tnode = d["target"][1] if "target" in d else e["destination"][1]
            if kind != "hangup" and not target:
                c.issue(tnode, _path_join(dpath, "target"),
                        f"a {kind} destination needs a target (the {kind} number)")
                continue
            if kind == "extension" and target not in extensions:
                c.issue(tnode, _path_join(dpath, "target"),
                        f"no extension {target} is defined")
                continue
            if kind == "queue" and not _DIGITS.match(target):
                c.issue(tnode, _path_join(dpath, "target"),
                        f"expected a queue number (digits), got {target!r}")
                continue
            if kind == "queue":  # checked in parse_config once the queues are parsed
                self.queue_refs.append((tnode, _path_join(dpath, "target"), target))
            route = InboundRoute(name, did, kind, target, trunk)
            self.destination_refs.append((dpath, route.destination))
            result.append(route)
        return tuple(result)

    def outbound_routes(self, node: _Node, path: str, trunks: set[str],
                        extensions: set[str]) -> tuple[Any, ...]:
        """`outbound_routes`: {name, prefix, strip (0), prepend (""), trunk, extensions (the
        extensions allowed to use the route; left out: every extension)}."""
        from softswitch.trunks import OutboundRoute

        c = self.c
        result: list[Any] = []
        for i, item in enumerate(c.sequence(node, path, "outbound routes")):
            ipath = _path_join(path, i)
            try:
                e = c.mapping(item, ipath, ("name", "prefix", "strip", "prepend", "trunk",
                                            "extensions"),
                              required=("name", "prefix", "trunk"))
            except _Invalid:
                continue
            name = c.field(e, "name", ipath, c.text)
            prefix = c.field(e, "prefix", ipath, self._dial_prefix)
            strip = c.field(e, "strip", ipath, lambda n, p: c.integer(n, p, 0, 15), 0)
            prepend = c.field(e, "prepend", ipath, lambda n, p: c.text(n, p, allow_empty=True),
                              "")
            trunk = c.field(e, "trunk", ipath, lambda n, p: self._trunk_ref(n, p, trunks))
            allowed = c.field(e, "extensions", ipath,
                              lambda n, p: self._route_extensions(n, p, extensions), None)
            if _MISSING in (name, prefix, strip, prepend, trunk, allowed):
                continue
            if strip > len(prefix) and "strip" in e:
                c.issue(e["strip"][1], _path_join(ipath, "strip"),
                        f"strip {strip} removes more than the prefix {prefix!r}")
                continue
            result.append(OutboundRoute(name, prefix, trunk, strip, prepend, allowed))
        return tuple(result)

    def _route_extensions(self, node: _Node, path: str,
                          extensions: set[str]) -> frozenset[str]:
        """An outbound route's `extensions`: defined extension numbers, at least one (leave
        the key out to open the route to every extension)."""
        c = self.c
        items = c.sequence(node, path, "extension numbers")
        if not items:
            raise c.fail(node, path, "expected at least one extension number (leave the key "
                                     "out to let every extension use the route)")
        allowed: set[str] = set()
        for i, item in enumerate(items):
            ipath = _path_join(path, i)
            number = self._number(item, ipath)
            if number not in extensions:
                raise c.fail(item, ipath, f"no extension {number} is defined in extensions")
            allowed.add(number)
        return frozenset(allowed)

    def _dial_prefix(self, node: _Node, path: str) -> str:
        value = self.c.text(node, path, expected="a dial prefix (digits, * or #, or +)")
        if not re.fullmatch(r"[0-9*#+]{1,15}", value):
            raise self.c.fail(node, path, f"expected a dial prefix of digits, got {value!r}")
        return value

    def _trunk_ref(self, node: _Node, path: str, trunks: set[str]) -> str:
        value = self.c.text(node, path, expected="a trunk name")
        if value not in trunks:
            known = ", ".join(sorted(trunks)) or "none are configured"
            raise self.c.fail(node, path, f"unknown trunk {value!r} (trunks: {known})")
        return value


# Sections parsed by the ACD engine (acd.config); core keeps them out of its own dataclasses.
ACD_SECTIONS = ("queues", "pause_reasons", "business_hours", "holidays", "message_queues")
# Sections of the call applications (softswitch.apps.settings).
APP_SECTIONS = ("ivrs", "ring_groups", "call_flows", "group_voicemails", "voicemail")
TOP_LEVEL = ("sip", "rtp", "http", "database", "smtp", "prompts", "extensions", "trunks",
             "inbound_routes", "outbound_routes", "admins", "retention", "scheduled_reports",
             "contacts", "disposition_auto_sync_hours", "presence", "logging",
             "message_channels", "messaging_api", "limits", "feature_codes", "recording",
             "parking", "pickup",
             *ACD_SECTIONS, *APP_SECTIONS)


def _feature_codes(checker: _Checker, entries: Mapping[str, tuple[_Node, _Node]]) -> Any:
    """The `feature_codes` section (softswitch.features.FeatureCodes validates it)."""
    from softswitch.features import FeatureCodeError, FeatureCodes

    if "feature_codes" not in entries:
        return FeatureCodes()
    node = entries["feature_codes"][1]
    raw = _construct(node)
    if raw is not None and not isinstance(raw, dict):
        checker.issue(node, "feature_codes", "expected a mapping of feature name to code")
        return None
    try:
        return FeatureCodes.from_config(raw)
    except FeatureCodeError as exc:
        key = str(exc).split(":", 1)[0]
        checker.issue(_node_at(node, key.removeprefix("feature_codes.")), key,
                      str(exc).split(": ", 1)[-1])
        return None


def _node_at(root: _Node, path: str) -> _Node:
    """The deepest node a dotted/indexed path (as acd.config reports it) reaches."""
    node = root
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("[") and isinstance(node, yaml.SequenceNode):
            idx = int(part[1:-1])
            if idx >= len(node.value):
                break
            node = node.value[idx]
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if str(k.value) == part:
                    node = v
                    break
            else:
                break
        else:
            break
    return node


def _construct(node: _Node) -> Any:
    loader = yaml.SafeLoader("")
    return loader.construct_document(node)


def _parse_acd(checker: _Checker, root: _Node, entries: Mapping[str, tuple[_Node, _Node]],
               extensions: tuple[Extension, ...]) -> tuple[Any, dict[str, Any]]:
    raw = {k: _construct(entries[k][1]) for k in ACD_SECTIONS if k in entries}
    try:
        from acd import config as acd_config  # the ACD helper's module
    except ImportError:
        return None, raw
    parse = getattr(acd_config, "parse_acd_config", None) or getattr(acd_config, "parse", None)
    error_type = getattr(acd_config, "AcdConfigError", None)
    if parse is None or error_type is None:
        return None, raw
    try:
        return parse(raw, extensions=[e.number for e in extensions]), raw
    except TypeError:
        pass
    except error_type as exc:
        _report_acd_error(checker, root, exc)
        return None, raw
    try:
        return parse(raw), raw
    except error_type as exc:
        _report_acd_error(checker, root, exc)
        return None, raw


def _parse_channels(checker: _Checker, root: _Node,
                    entries: Mapping[str, tuple[_Node, _Node]], extensions: set[str],
                    acd: Any, platform: bool) -> tuple[Any, ...]:
    """The ``message_channels`` section (softswitch.messaging.config), errors mapped to
    lines like the ACD's; ``platform``: ``messaging_api`` is there (its own errors are
    reported on it)."""
    from softswitch.messaging.config import MessagingConfigError, parse_channels

    if "message_channels" not in entries:
        return ()
    queues = [q.name for q in acd.message_queues] if acd is not None else []
    try:
        return parse_channels(_construct(entries["message_channels"][1]), extensions, queues,
                              platform)
    except MessagingConfigError as exc:
        _report_acd_error(checker, root, exc)
        return ()


def _check_message_queue_limits(checker: _Checker, root: _Node,
                                entries: Mapping[str, tuple[_Node, _Node]], acd: Any,
                                capacity: int) -> None:
    """omnichannel.md §5.2: at most so many message queues, and agents per queue, for the
    extension capacity (softswitch.messaging.queues.queue_limits)."""
    from softswitch.messaging.queues import queue_limits

    if "message_queues" not in entries:
        return
    max_queues, max_agents = queue_limits(capacity)
    node = entries["message_queues"][1]
    why = f"for an extension capacity of {capacity} (limits.extensions)"
    for i, mq in enumerate(acd.message_queues):
        if i >= max_queues:
            path = f"message_queues[{i}]"
            checker.issue(_node_at(node, f"[{i}]"), path,
                          f"at most {max_queues} message queues {why}")
            break
        if len(mq.agents) > max_agents:
            path = f"message_queues[{i}].agents[{max_agents}]"
            checker.issue(_node_at(node, f"[{i}].agents[{max_agents}]"), path,
                          f"at most {max_agents} agents in a message queue {why}")


def _parse_apps(checker: _Checker, root: _Node, entries: Mapping[str, tuple[_Node, _Node]],
                extensions: tuple[Extension, ...], acd: Any) -> Any:
    """The call applications' sections (softswitch.apps.settings), their errors mapped to
    lines like the ACD's; their numbers must not be an extension's or a queue's."""
    from acd.config import AcdConfigError
    from softswitch.apps.settings import AppsConfig, parse_apps_config

    raw = {k: _construct(entries[k][1]) for k in APP_SECTIONS if k in entries}
    try:
        apps = parse_apps_config(raw, {e.number: e.email for e in extensions},
                                 acd.business_hours if acd is not None else (),
                                 acd.holidays if acd is not None else ())
    except AcdConfigError as exc:
        _report_acd_error(checker, root, exc)
        return AppsConfig()
    taken = {e.number: "an extension" for e in extensions}
    taken.update({q.number: "a queue" for q in (acd.queues if acd is not None else ())})
    sections = {"ivrs": apps.ivrs, "ring_groups": apps.ring_groups,
                "call_flows": apps.call_flows, "group_voicemails": apps.group_voicemails}
    for section, items in sections.items():
        for i, number in enumerate(items):
            if number in taken:
                path = f"{section}[{i}].number"
                checker.issue(_node_at(root, path), path,
                              f"{number} is already {taken[number]}'s number")
    return apps


def _builtin_prompts() -> str:
    """The prompt sets shipped with the switch (the repository's prompts/ directory)."""
    from media.player import PROMPTS_DIR

    return str(PROMPTS_DIR)


def _check_prompt_names(checker: _Checker, root: _Node,
                        entries: Mapping[str, tuple[_Node, _Node]], acd: Any,
                        prompts: PromptsConfig) -> None:
    """Every prompt and music name the queue sections use must stand for something in the
    prompt library of `prompts.directory` (its manifest), by the lookup rules the queue
    calls use (softswitch.queue.announce.find_prompt): `<queue language>/<name>`, a full
    library id, or a WAV file. A library prompt whose file is not installed is refused too.
    A holiday's prompt is checked in the languages of the queues routed by its time zone
    (the global `prompts.language` when none is)."""
    from acd.config import DestinationType
    from media.player import PromptError, PromptLibrary
    from softswitch.apps.music import RINGBACK_MUSIC
    from softswitch.queue.announce import find_prompt, music_exists

    names: list[tuple[str, str, str]] = []  # (key path, name, language)
    musics: list[tuple[str, str]] = []
    raw_queues = _construct(entries["queues"][1]) if "queues" in entries else None

    def destination(path: str, dest: Any, lang: str) -> None:
        if dest is not None and dest.type is DestinationType.PROMPT:
            names.append((f"{path}.target", dest.target, lang))

    for i, q in enumerate(acd.queues):
        qpath, p = f"queues[{i}]", q.prompts
        for key in ("join_announcement", "queue_announcement", "agent_announcement"):
            names.append((f"{qpath}.prompts.{key}", getattr(p, key), p.language))
        for key in ("ringback_tone", "hold_music"):
            musics.append((f"{qpath}.prompts.{key}", getattr(p, key)))
        if q.satisfaction_survey is not None:
            for key in ("prompt", "end_prompt"):
                names.append((f"{qpath}.satisfaction_survey.{key}",
                              getattr(q.satisfaction_survey, key), p.language))
        destination(f"{qpath}.failover", q.failover, p.language)
        tbr = q.time_based_routing
        if tbr is not None:
            destination(f"{qpath}.time_based_routing.outside_business_hours",
                        tbr.outside_business_hours, p.language)
            destination(f"{qpath}.time_based_routing.holiday", tbr.holiday, p.language)
        raw_events = (raw_queues[i].get("key_press_events") if isinstance(raw_queues, list)
                      and i < len(raw_queues) and isinstance(raw_queues[i], dict) else None)
        for j, item in enumerate(raw_events if isinstance(raw_events, list) else []):
            pressed = str(item.get("key")) if isinstance(item, dict) else None
            if pressed in q.key_press_events:
                destination(f"{qpath}.key_press_events[{j}].destination",
                            q.key_press_events[pressed], p.language)
    for k, holiday in enumerate(acd.holidays):
        langs = sorted({q.prompts.language for q in acd.queues
                        if q.time_based_routing is not None
                        and q.time_based_routing.time_zone == holiday.time_zone}
                       or {prompts.language})
        for lang in langs:
            names.append((f"holidays[{k}].prompt", holiday.prompt, lang))
    names = [n for n in names if n[1]]
    musics = [m for m in musics if m[1]]
    if not names and not musics:
        return
    try:
        library = PromptLibrary(prompts.directory)
    except PromptError as exc:
        where = _node_at(root, "prompts.directory") if "prompts" in entries else None
        checker.issue(where, "prompts.directory", f"{exc}; the prompt names of the queue "
                                                  "sections cannot be checked")
        return
    prompts_dir = Path(prompts.directory)
    for path, name, lang in names:
        found = find_prompt(library, name, lang, prompts_dir)
        if found is None:
            close = difflib.get_close_matches(
                name, [e.split("/", 1)[1] for e in library.entries
                       if e.startswith(f"{lang}/")], n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            checker.issue(_node_at(root, path), path,
                          f"no prompt {name!r} in language {lang!r} in "
                          f"{library.directory}/manifest.json, and no such WAV file{hint}")
        elif isinstance(found, str) and library.missing(found):
            checker.issue(_node_at(root, path), path, str(library.missing(found)))
    for path, name in musics:
        if not music_exists(library, name):
            known = sorted(e.split("/", 1)[1] for e in library.entries if e.startswith("moh/"))
            checker.issue(_node_at(root, path), path,
                          f"no music {name!r}: expected ringback or one of "
                          f"{', '.join(known)} (moh/<name> in "
                          f"{library.directory}/manifest.json)")
        elif name not in RINGBACK_MUSIC and library.missing(f"moh/{name}"):
            checker.issue(_node_at(root, path), path, str(library.missing(f"moh/{name}")))


def _check_callback_routes(file: str, root: _Node, acd: Any,
                           routes: tuple[Any, ...]) -> tuple[ConfigIssue, ...]:
    """Warnings for queue callbacks that can fail on route permissions (queue-admin.md §4.1:
    "All agents in the queue must have permission to use that outbound route, otherwise
    callback fails"). The manual makes this a run-time failure and the route depends on the
    number the caller enters, so `check` warns instead of refusing: one warning per agent
    (static or dynamic member) and route that a callback number starting with the queue's
    `outbound_prefix` can reach and that does not permit the agent. No warning when a route
    whose prefix the outbound prefix starts with permits every agent: it matches every
    callback number, so a permitted route is always found (softswitch.trunks)."""
    if acd is None or not routes:
        return ()
    warnings: list[ConfigIssue] = []
    for i, q in enumerate(acd.queues):
        if q.callback is None:
            continue
        prefix = q.callback.outbound_prefix
        agents = tuple(m.extension for m in q.members)
        reachable = [r for r in routes
                     if r.prefix.startswith(prefix) or prefix.startswith(r.prefix)]
        if any(prefix.startswith(r.prefix) and not r.refuses(agents) for r in reachable):
            continue
        path = f"queues[{i}].callback.outbound_prefix"
        node = _node_at(root, path)
        for route in reachable:
            for agent in route.refuses(agents):
                warnings.append(ConfigIssue(
                    file, node.start_mark.line + 1, path,
                    f"queue {q.number}: agent {agent} may not use outbound route "
                    f"{route.name!r} (prefix {route.prefix!r}); callbacks through it fail "
                    "(every agent of the queue must be listed in the route's extensions)"))
    return tuple(warnings)


def _report_acd_error(checker: _Checker, root: _Node, exc: Exception) -> None:
    errors = getattr(exc, "errors", None) or [exc]
    for err in errors:
        path = str(getattr(err, "path", "") or "")
        message = str(getattr(err, "message", "") or err)
        checker.issue(_node_at(root, path), path, message)


def parse_config(text: str, file: str = "config.yaml",
                 config_dir: Path | None = None) -> Config:
    """Validate a configuration text; raises ConfigError listing every problem."""
    checker = _Checker(file)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigIssue(file, line, "", f"not valid YAML: {problem}")]) from None
    if root is None:
        raise ConfigError([ConfigIssue(file, 1, "", "the file is empty; expected a mapping "
                                                    "with at least sip and extensions")])
    sections = _Sections(checker, config_dir or Path("."))
    try:
        entries = checker.mapping(root, "", TOP_LEVEL, required=("sip", "extensions"))
    except _Invalid:
        raise ConfigError(checker.issues) from None

    sip = checker.field(entries, "sip", "", sections.sip)
    rtp = checker.field(entries, "rtp", "", sections.rtp, RtpConfig())
    http = checker.field(entries, "http", "", sections.http, HttpConfig())
    database = checker.field(entries, "database", "", sections.database,
                             DatabaseConfig("sqlite:///softswitch.sqlite3",
                                            str((config_dir or Path(".")) /
                                                "softswitch.sqlite3")))
    smtp = checker.field(entries, "smtp", "", sections.smtp, None)
    prompts = checker.field(entries, "prompts", "", sections.prompts,
                            PromptsConfig(_builtin_prompts()))
    extensions = checker.field(entries, "extensions", "", sections.extensions, ())
    trunks = checker.field(entries, "trunks", "", sections.trunks, ())
    trunk_names = {t.name for t in trunks} if isinstance(trunks, tuple) else set()
    ext_numbers = {e.number for e in extensions} if isinstance(extensions, tuple) else set()
    inbound_routes = checker.field(
        entries, "inbound_routes", "",
        lambda n, p: sections.inbound_routes(n, "inbound_routes", trunk_names, ext_numbers), ())
    outbound_routes = checker.field(
        entries, "outbound_routes", "",
        lambda n, p: sections.outbound_routes(n, "outbound_routes", trunk_names, ext_numbers),
        ())
    admins = checker.field(entries, "admins", "",
                           lambda n, p: sections.admins(n, p, ext_numbers), ())
    contacts = checker.field(entries, "contacts", "", sections.contacts, Contacts())
    auto_sync = checker.field(entries, "disposition_auto_sync_hours", "",
                              lambda n, p: checker.integer(n, p, 0, 168), 0)
    logging_ = checker.field(entries, "logging", "", sections.logging, LoggingConfig())
    recording = checker.field(entries, "recording", "", sections.recording,
                              sections.recording_default())
    from softswitch.calls.park import ParkingConfig
    from softswitch.calls.pickup import PickupConfig

    parking = checker.field(entries, "parking", "",
                            lambda n, p: sections.parking(n, "parking", ext_numbers),
                            ParkingConfig())
    pickup = checker.field(entries, "pickup", "",
                           lambda n, p: sections.pickup(n, "pickup", ext_numbers),
                           PickupConfig())
    feature_codes = _feature_codes(checker, entries)
    acd, acd_raw = _parse_acd(checker, root, entries,
                              extensions if isinstance(extensions, tuple) else ())
    messaging_api = checker.field(entries, "messaging_api", "",
                                  lambda n, p: sections.messaging_api(n, p, ext_numbers), ())
    channels = _parse_channels(checker, root, entries, ext_numbers, acd,
                               "messaging_api" in entries)
    capacity = checker.field(entries, "limits", "",
                             lambda n, p: sections.limits(n, p, len(ext_numbers)),
                             len(ext_numbers))
    if acd is not None and isinstance(capacity, int):
        _check_message_queue_limits(checker, root, entries, acd, capacity)
    if acd is not None and isinstance(prompts, PromptsConfig):
        _check_prompt_names(checker, root, entries, acd, prompts)
    apps = _parse_apps(checker, root, entries,
                       extensions if isinstance(extensions, tuple) else (), acd)
    if acd is not None or not checker.issues:
        queue_numbers = {q.number for q in acd.queues} if acd is not None else set()
        for tnode, tpath, target in sections.queue_refs:
            if target not in queue_numbers:
                checker.issue(tnode, tpath, f"no queue {target} is defined in queues")
        if sections.park_slots is not None:
            snode, spath, slots = sections.park_slots
            clash = sorted(slots & queue_numbers)
            if clash:
                checker.issue(snode, spath, f"park slots {', '.join(clash)} are queue numbers")
    reason_keys = None if acd is None else ({r.reason for r in acd.pause_reasons} |
                                            {r.code for r in acd.pause_reasons})
    presence = checker.field(entries, "presence", "", lambda n, p: sections.presence(
        n, p, ext_numbers, reason_keys), PresenceConfig())
    retention = checker.field(entries, "retention", "", sections.retention, RetentionConfig())
    queue_set = {q.number for q in acd.queues} if acd is not None else None
    scheduled = checker.field(entries, "scheduled_reports", "", lambda n, p: (
        sections.scheduled_reports(n, p, queue_set, ext_numbers)), ())
    if scheduled and smtp is None:
        checker.issue(entries["scheduled_reports"][0], "scheduled_reports",
                      "scheduled reports are sent by e-mail: configure smtp")
    config = Config(path=file, config_dir=str((config_dir or Path(".")).resolve()),
                    sip=sip, rtp=rtp, http=http, database=database, smtp=smtp,
                    prompts=prompts, extensions=extensions, trunks=trunks, logging=logging_,
                    acd=acd, acd_sections=acd_raw, message_channels=channels,
                    feature_codes=feature_codes, recording=recording,
                    inbound_routes=inbound_routes, outbound_routes=outbound_routes,
                    admins=admins, apps=apps, retention=retention,
                    scheduled_reports=scheduled,
                    parking=parking if parking is not _MISSING else None,
                    pickup=pickup if pickup is not _MISSING else None,
                    contacts=contacts, disposition_auto_sync_hours=auto_sync,
                    presence=presence,
                    messaging_api=messaging_api if isinstance(messaging_api, tuple) else (),
                    extension_capacity=capacity if isinstance(capacity, int) else 0)
    _check_destinations(checker, root, config, sections.destination_refs)
    if checker.issues:
        raise ConfigError(sorted(checker.issues, key=lambda i: i.line))
    warnings = _check_callback_routes(file, root, acd, outbound_routes)
    return dataclasses.replace(config, warnings=warnings)


def _check_destinations(checker: _Checker, root: _Node, config: Config,
                        refs: list[tuple[str, Any]]) -> None:
    """Every destination's target exists, and its type has an application
    (softswitch.destinations). Sections that failed to parse are skipped (their own
    issues are reported), and so is a path that already has an issue."""
    from softswitch.destinations import DestinationRouter

    if not isinstance(config.extensions, tuple) or not isinstance(config.trunks, tuple) \
            or not isinstance(config.inbound_routes, tuple) \
            or not isinstance(config.outbound_routes, tuple) \
            or not isinstance(config.prompts, PromptsConfig):
        return
    reported = {i.path.rsplit(".", 1)[0] for i in checker.issues}
    router = DestinationRouter(config)
    for path, message in router.check([*refs, *router.references(inbound=False)]):
        if path.rsplit(".", 1)[0] in reported:
            continue
        checker.issue(_node_at(root, path), path, message)


def load_config(path: str | Path) -> Config:
    """Read and validate a configuration file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigIssue(str(p), 1, "", f"cannot read the file: "
                                                      f"{exc.strerror or exc}")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigIssue(str(p), 1, "", f"not UTF-8 text: {exc.reason}")]) \
            from None
    return parse_config(text, str(p), p.resolve().parent)


def report_issues(config_path: str, issues: list[ConfigIssue], outcome: str) -> None:
    """Print every issue of a configuration to stderr, then one summary line."""
    for issue in issues:
        print(issue, file=sys.stderr)
    n = len(issues)
    print(f"{config_path}: {n} problem{'s' if n != 1 else ''} found{outcome}", file=sys.stderr)


def check_command(args: argparse.Namespace) -> int:
    """`softswitch check --config FILE`: 0 and a summary when valid, 1 and every issue when
    not."""
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        report_issues(args.config, exc.issues, "")
        return 1
    for warning in config.warnings:
        print(f"{warning} (warning)", file=sys.stderr)
    listen = ", ".join(str(a) for a in config.sip.listen)
    print(f"{args.config}: OK: SIP on {listen}, domain {config.sip.domain}, "
          f"{len(config.extensions)} extensions, {len(config.trunks)} trunks")
    return 0
