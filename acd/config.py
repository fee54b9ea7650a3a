"""Typed, validated configuration of the ACD (queue-admin.md §2-§9, omnichannel.md §5).

`parse_acd_config(sections, extensions=...)` turns the already-loaded plain mappings of the
YAML's top-level keys ``queues``, ``pause_reasons``, ``business_hours``, ``holidays`` and
``message_queues`` into frozen dataclasses. Every problem raises `AcdConfigError` whose
``path`` names the key, e.g. ``("queues", 0, "strategy")`` (``str(path)`` renders it as
``queues[0].strategy``, which the softswitch loader maps to file:line).

Defaults (the manual gives few; each choice is documented in config.example.yaml too):

* ``strategy`` ring_all (the manual's screenshot), ``max_wait`` 1800 s (screenshot),
  ``failover`` hang up (screenshot), ``ring_timeout`` 30 s, ``retry_interval`` 5 s,
  ``wrapup`` 0 s, ``ring_in_use`` false, ``max_callers`` 0 = unlimited (§9.2),
  skill level 1 (§3), SLA time 60 s / alert threshold 80 % (§7.3), evaluation interval 15 min,
  priority weight 1 without acceleration (§5), dynamic agents start logged out (§6.4),
  ``estimated_handle_time`` 180 s (seed of the wait-time estimator, acd/ewt.py).

Decisions where the manual is silent or global:

* The manual's *global* options "share wrap-up time across queues" (§6.3) and "dynamic agent
  default status" (§6.4) are per-queue keys here (``share_wrapup_time``,
  ``dynamic_agent_default_status``) because the YAML's top level is fixed; setting them on
  every queue gives the manual's global behaviour.
* Callback ``timeout`` (auto mode) must not exceed ``max_wait`` (§4.1 "不能大于"); a custom
  ``callback_timeout`` must be *less than* ``max_wait`` (§9.3 "应小于"), ambiguity §14.5.
* Time-based routing needs a ``business_hours`` entry for the queue's time zone.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

from acd.ids import AgentId, QueueId


class KeyPath(tuple[str | int, ...]):
    """A key path such as ``("queues", 0, "strategy")``; prints as ``queues[0].strategy``."""

    def __str__(self) -> str:
        out = ""
        for part in self:
            if isinstance(part, int):
                out += f"[{part}]"
            else:
                out += f".{part}" if out else part
        return out


class AcdConfigError(ValueError):
    """A configuration value is missing or wrong: ``path`` names the key, ``message`` says
    what was expected."""

    def __init__(self, path: Sequence[str | int], message: str) -> None:
        self.path = KeyPath(path)
        self.message = message
        super().__init__(f"{self.path}: {message}" if self.path else message)


class RingStrategy(Enum):
    """§2.2: the six ring strategies."""

    RING_ALL = "ring_all"
    LEAST_RECENT = "least_recent"
    FEWEST_CALLS = "fewest_calls"
    RANDOM = "random"
    ROUND_ROBIN = "round_robin"
    LINEAR = "linear"


class DestinationType(Enum):
    """§11.1: where a caller can be sent."""

    HANGUP = "hangup"
    EXTENSION = "extension"
    VOICEMAIL = "voicemail"
    GROUP_VOICEMAIL = "group_voicemail"
    IVR = "ivr"
    CALL_FLOW = "call_flow"
    RING_GROUP = "ring_group"
    QUEUE = "queue"
    EXTERNAL = "external"
    PROMPT = "prompt"


class EmptyScenario(Enum):
    """§9.2: what counts as "no agent" for Leave When Empty / Join Empty."""

    UNREGISTERED = "unregistered"
    PAUSED = "paused"
    IN_USE = "in_use"


class CallbackMethod(Enum):
    """§4.1: how a caller requests a callback."""

    PRESS_KEY = "press_key"
    TIMEOUT = "timeout"


class TakeOverMode(Enum):
    """omnichannel.md §5.3: chat assignment modes of a message queue."""

    MANUAL = "manual_take_over"
    AUTO = "auto_take_over"
    NONE = "no_take_over"


class DynamicAgentDefaultStatus(Enum):
    """§6.4: status of a dynamic agent when it is added (engine start)."""

    LOGGED_OUT = "logged_out"
    LOGGED_IN = "logged_in"


@dataclass(frozen=True, slots=True)
class Destination:
    """§11.1: ``{type, target}``; target is empty for hangup."""

    type: DestinationType
    target: str = ""


@dataclass(frozen=True, slots=True)
class Member:
    """An agent's membership in a queue: extension and skill level 1-99 (§3, 1 = best)."""

    extension: AgentId
    skill: int = 1


@dataclass(frozen=True, slots=True)
class CallbackConfig:
    """§4.1 / §9.3."""

    method: CallbackMethod
    key: str = ""  # press_key mode
    timeout: float = 0.0  # auto mode: seconds since queue entry
    outbound_prefix: str = ""
    callback_timeout: float | None = None  # None = the queue's max wait (default)
    min_number_length: int = 5  # §4.2: a registered number needs >= 5 digits


@dataclass(frozen=True, slots=True)
class PriorityConfig:
    """§5: weight 1-999 and optional acceleration 10-1800 s."""

    weight: int = 1
    acceleration: float | None = None


@dataclass(frozen=True, slots=True)
class SlaConfig:
    """§7.3: SLA time (s), evaluation interval (s; configured in minutes), alert threshold (%)."""

    time: float = 60.0
    evaluation_interval: float = 15 * 60.0
    alert_threshold: float = 80.0


@dataclass(frozen=True, slots=True)
class TimeBasedRouting:
    """§2.3."""

    time_zone: str
    outside_business_hours: Destination
    holiday: Destination
    ignore_holiday_destination: bool = False
    play_holiday_prompt: bool = False


@dataclass(frozen=True, slots=True)
class Prompts:
    """§2.5: what the caller and the agent hear; names of prompts in the prompt set."""

    join_announcement: str = ""
    play_full_prompt_before_ringing: bool = False
    ringback_tone: str = "default"
    hold_music: str = "default"
    queue_announcement: str = ""
    queue_announcement_frequency: float = 0.0
    announce_position: bool = False
    announce_estimated_wait_time: bool = False
    play_thank_you: bool = False
    position_announcement_frequency: float = 0.0
    announce_agent_id: bool = False
    agent_announcement: str = ""
    language: str = "en"


@dataclass(frozen=True, slots=True)
class SatisfactionSurvey:
    """§9.6: after the agent hangs up the caller hears ``prompt`` and presses a key; each key
    has a score (the reports' key -> score map); ``end_prompt`` follows a key press."""

    prompt: str
    end_prompt: str = ""
    scores: Mapping[str, int] = field(default_factory=lambda: {"1": 1, "2": 0})


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """Traffic model of `softswitch simulate` (not part of the manual).

    Poisson arrivals, exponential handle times and exponential patience (0 = callers never
    abandon). ``agents`` limits how many of the queue's members take part (0 = all).
    """

    arrivals_per_hour: float
    mean_handle_time: float
    mean_patience: float = 0.0
    agents: int = 0


# queue-admin.md §7.4 panel permissions (P1-P10 of queue-manager-agent.md §4.0)
MANAGER_PERMISSIONS = ("wallboard", "queue_panel", "change_agent_status", "call_distribution",
                       "pickup_hangup", "monitoring", "parking", "recording", "contact_match",
                       "missed_calls", "delete_missed_calls")
AGENT_PERMISSIONS = ("wallboard", "queue_panel", "call_distribution", "pickup_hangup",
                     "parking", "contact_match", "call_logs")
CALL_LOG_SCOPES = ("inbound", "missed")


@dataclass(frozen=True, slots=True)
class PanelPermissions:
    """§7.4: the permissions granted to the queue's managers and to its agents; §6.6: which
    agents see the queue call logs (``call_log_members`` None = all agents) and what."""

    managers: frozenset[str] = frozenset(MANAGER_PERMISSIONS)
    agents: frozenset[str] = frozenset({"queue_panel"})
    call_log_members: frozenset[str] | None = None
    call_log_scope: frozenset[str] = frozenset(CALL_LOG_SCOPES)


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """One call queue (§2-§9)."""

    number: QueueId
    name: str
    strategy: RingStrategy = RingStrategy.RING_ALL
    skill_based_routing: bool = False
    static_agents: tuple[Member, ...] = ()
    dynamic_agents: tuple[Member, ...] = ()
    max_wait: float = 1800.0
    failover: Destination = Destination(DestinationType.HANGUP)
    ring_timeout: float = 30.0
    retry_interval: float = 5.0
    wrapup: float = 0.0
    share_wrapup_time: bool = False
    ring_in_use: bool = False
    auto_pause_missed_calls: int = 0  # 0 = agent auto-pause off
    show_missed_calls_on_phones: bool = False
    dynamic_agent_default_status: DynamicAgentDefaultStatus = (
        DynamicAgentDefaultStatus.LOGGED_OUT)
    max_callers: int = 0
    leave_when_empty: frozenset[EmptyScenario] | None = None
    join_empty_disallowed: frozenset[EmptyScenario] | None = None
    time_based_routing: TimeBasedRouting | None = None
    callback: CallbackConfig | None = None
    priority: PriorityConfig = PriorityConfig()
    sla: SlaConfig = SlaConfig()
    key_press_events: Mapping[str, Destination] = field(default_factory=dict)
    prompts: Prompts = Prompts()
    alert_info: str = ""
    # §7.1/§7.2: extensions e-mailed on the selected queue events (softswitch.notify)
    managers: tuple[str, ...] = ()
    notifications: frozenset[str] = frozenset()
    estimated_handle_time: float = 180.0
    satisfaction_survey: SatisfactionSurvey | None = None
    simulation: SimulationConfig | None = None
    # queue-admin.md §7.4 / §6.6: what the queue's managers and agents may do in the panels
    # and the live API (enforced by softswitch.web.permissions)
    panel_permissions: PanelPermissions = field(default_factory=lambda: PanelPermissions())

    @property
    def members(self) -> tuple[Member, ...]:
        return self.static_agents + self.dynamic_agents


@dataclass(frozen=True, slots=True)
class PauseReason:
    """§6.1: a global pause reason and its feature code (``*01``)."""

    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """Business hours of one time zone: weekday (0 = Monday) -> list of (start, end)."""

    time_zone: str
    periods: Mapping[int, tuple[tuple[dt.time, dt.time], ...]]

    def is_open(self, local: dt.datetime) -> bool:
        t = local.time()
        return any(start <= t < end for start, end in self.periods.get(local.weekday(), ()))


@dataclass(frozen=True, slots=True)
class Holiday:
    """A holiday of one time zone, inclusive date range, with an optional prompt."""

    name: str
    time_zone: str
    start: dt.date
    end: dt.date
    prompt: str = ""


@dataclass(frozen=True, slots=True)
class MessageQueueConfig:
    """omnichannel.md §5.2."""

    name: QueueId
    chat_assignment_mode: TakeOverMode
    agents: tuple[AgentId, ...]


@dataclass(frozen=True, slots=True)
class AcdConfig:
    queues: tuple[QueueConfig, ...] = ()
    pause_reasons: tuple[PauseReason, ...] = ()
    business_hours: tuple[BusinessHours, ...] = ()
    holidays: tuple[Holiday, ...] = ()
    message_queues: tuple[MessageQueueConfig, ...] = ()

    def queue(self, number: QueueId) -> QueueConfig:
        for q in self.queues:
            if q.number == number:
                return q
        raise KeyError(number)


DEFAULT_PAUSE_REASONS = (PauseReason("*01", "Lunch"), PauseReason("*02", "Break"),
                         PauseReason("*03", "Wrap up"))
MAX_PAUSE_REASONS = 20
DTMF_KEYS = frozenset("0123456789*#")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


# --- the reader ---------------------------------------------------------------------------

Path = tuple[str | int, ...]
E = TypeVar("E", bound=Enum)


def _err(path: Path, message: str) -> AcdConfigError:
    return AcdConfigError(path, message)


def _mapping(value: object, path: Path, allowed: Iterable[str],
             required: Iterable[str] = ()) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _err(path, f"expected a mapping, got {_kind(value)}")
    allowed_set = set(allowed)
    for key in value:
        if key not in allowed_set:
            raise _err((*path, str(key)), f"unknown key; expected one of: "
                                          f"{', '.join(sorted(allowed_set))}")
    for key in required:
        if key not in value:
            raise _err((*path, key), "is required")
    return value


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    return type(value).__name__


def _list(value: object, path: Path) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _err(path, f"expected a list, got {_kind(value)}")
    return value


def _text(value: object, path: Path, *, allow_empty: bool = False) -> str:
    if isinstance(value, bool) or value is None or not isinstance(value, str | int):
        raise _err(path, f"expected text, got {_kind(value)}")
    text = str(value).strip()
    if not text and not allow_empty:
        raise _err(path, "must not be empty")
    return text


def _digits(value: object, path: Path, what: str) -> str:
    text = _text(value, path)
    if not text.isdigit():
        raise _err(path, f"expected {what} (digits only), got {text!r}")
    return text


def _number(value: object, path: Path, low: float | None = None, high: float | None = None,
            *, integer: bool = False) -> float:
    ok_type = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok_type):
        raise _err(path, f"expected {'an integer' if integer else 'a number'}"
                         f"{_range(low, high)}, got {value!r}")
    number = float(value)
    if (low is not None and number < low) or (high is not None and number > high):
        raise _err(path, f"expected {'an integer' if integer else 'a number'}"
                         f"{_range(low, high)}, got {value!r}")
    return number


def _int(value: object, path: Path, low: int | None = None, high: int | None = None) -> int:
    return int(_number(value, path, low, high, integer=True))


def _range(low: float | None, high: float | None) -> str:
    def fmt(x: float) -> str:
        return str(int(x)) if x == int(x) else str(x)
    if low is not None and high is not None:
        return f" from {fmt(low)} to {fmt(high)}"
    if low is not None:
        return f" >= {fmt(low)}"
    if high is not None:
        return f" <= {fmt(high)}"
    return ""


def _bool(value: object, path: Path) -> bool:
    if not isinstance(value, bool):
        raise _err(path, f"expected true or false, got {value!r}")
    return value


def _enum(cls: type[E], value: object, path: Path) -> E:
    for member in cls:
        if member.value == value:
            return member
    choices = ", ".join(str(m.value) for m in cls)
    raise _err(path, f"expected one of {choices}, got {value!r}")


def parse_destination(value: object, path: Path) -> Destination:
    m = _mapping(value, path, ("type", "target"), ("type",))
    dtype = _enum(DestinationType, m["type"], (*path, "type"))
    if dtype is DestinationType.HANGUP:
        if m.get("target") not in (None, ""):
            raise _err((*path, "target"), "hangup takes no target")
        return Destination(dtype)
    if "target" not in m:
        raise _err((*path, "target"), f"is required for type {dtype.value}")
    return Destination(dtype, _text(m["target"], (*path, "target")))


def _members(value: object, path: Path, extensions: frozenset[str] | None,
             skill_based: bool) -> tuple[Member, ...]:
    out: list[Member] = []
    seen: set[str] = set()
    for i, item in enumerate(_list(value, path)):
        ipath = (*path, i)
        if isinstance(item, Mapping):
            m = _mapping(item, ipath, ("extension", "skill"), ("extension",))
            ext = _digits(m["extension"], (*ipath, "extension"), "an extension number")
            skill = _int(m.get("skill", 1), (*ipath, "skill"), 1, 99)
            epath: Path = (*ipath, "extension")
        else:
            ext = _digits(item, ipath, "an extension number")
            skill, epath = 1, ipath
        if extensions is not None and ext not in extensions:
            raise _err(epath, f"extension {ext} is not defined under extensions")
        if ext in seen:
            raise _err(epath, f"extension {ext} is listed twice")
        seen.add(ext)
        out.append(Member(ext, skill if skill_based else 1))
    return tuple(out)


def _scenarios(value: object, path: Path) -> frozenset[EmptyScenario] | None:
    if value is None or value is False:
        return None
    if value is True:
        return frozenset(EmptyScenario)
    items = _list(value, path)
    return frozenset(_enum(EmptyScenario, v, (*path, i)) for i, v in enumerate(items))


def _prompts(value: object, path: Path) -> Prompts:
    if value is None:
        return Prompts()
    keys = Prompts.__dataclass_fields__.keys()
    m = _mapping(value, path, keys)
    kwargs: dict[str, Any] = {}
    for key, raw in m.items():
        kpath = (*path, key)
        default = getattr(Prompts(), key)
        if isinstance(default, bool):
            kwargs[key] = _bool(raw, kpath)
        elif isinstance(default, float):
            kwargs[key] = _number(raw, kpath, 0)
        else:
            kwargs[key] = "" if raw is None else _text(raw, kpath, allow_empty=True)
    return Prompts(**kwargs)


QUEUE_KEYS = (
    "number", "name", "strategy", "skill_based_routing", "static_agents", "dynamic_agents",
    "max_wait", "failover", "ring_timeout", "retry_interval", "wrapup", "share_wrapup_time",
    "ring_in_use", "agent_auto_pause", "show_missed_calls_on_phones",
    "dynamic_agent_default_status", "max_callers", "leave_when_empty", "join_empty_disallowed",
    "time_based_routing", "callback", "priority", "sla", "key_press_events", "prompts",
    "alert_info", "estimated_handle_time", "simulation", "managers", "notifications",
    "satisfaction_survey", "panel_permissions",
)
# §7.2 queue notifications e-mailed to the queue's managers
QUEUE_NOTIFICATIONS = ("missed_call", "abandoned_call", "sla_below_threshold",
                       "callback_requested", "callback_failed")


def _queue(value: object, path: Path, extensions: frozenset[str] | None,
           time_zones: frozenset[str]) -> QueueConfig:
    m = _mapping(value, path, QUEUE_KEYS, ("number", "name"))
    number = _digits(m["number"], (*path, "number"), "a queue number")
    name = _text(m["name"], (*path, "name"))
    kw: dict[str, Any] = {"number": number, "name": name}
    if "strategy" in m:
        kw["strategy"] = _enum(RingStrategy, m["strategy"], (*path, "strategy"))
    skill_based = _bool(m.get("skill_based_routing", False), (*path, "skill_based_routing"))
    kw["skill_based_routing"] = skill_based
    static = _members(m.get("static_agents"), (*path, "static_agents"), extensions, skill_based)
    dynamic = _members(m.get("dynamic_agents"), (*path, "dynamic_agents"), extensions,
                       skill_based)
    both = {a.extension for a in static} & {a.extension for a in dynamic}
    if both:
        raise _err((*path, "dynamic_agents"),
                   f"extension {sorted(both)[0]} is already a static agent of this queue")
    kw["static_agents"], kw["dynamic_agents"] = static, dynamic
    max_wait = _number(m.get("max_wait", 1800), (*path, "max_wait"), 1)
    kw["max_wait"] = max_wait
    if "failover" in m:
        kw["failover"] = parse_destination(m["failover"], (*path, "failover"))
    for key, low in (("ring_timeout", 1), ("retry_interval", 0), ("wrapup", 0),
                     ("estimated_handle_time", 1)):
        if key in m:
            kw[key] = _number(m[key], (*path, key), low)
    for key in ("share_wrapup_time", "ring_in_use", "show_missed_calls_on_phones"):
        if key in m:
            kw[key] = _bool(m[key], (*path, key))
    if "agent_auto_pause" in m:
        ap = m["agent_auto_pause"]
        if ap is not None and ap is not False:
            apm = _mapping(ap, (*path, "agent_auto_pause"), ("missed_calls",), ("missed_calls",))
            kw["auto_pause_missed_calls"] = _int(apm["missed_calls"],
                                                 (*path, "agent_auto_pause", "missed_calls"),
                                                 1, 99)
    if "dynamic_agent_default_status" in m:
        kw["dynamic_agent_default_status"] = _enum(
            DynamicAgentDefaultStatus, m["dynamic_agent_default_status"],
            (*path, "dynamic_agent_default_status"))
    if "max_callers" in m:
        kw["max_callers"] = _int(m["max_callers"], (*path, "max_callers"), 0)
    kw["leave_when_empty"] = _scenarios(m.get("leave_when_empty"), (*path, "leave_when_empty"))
    kw["join_empty_disallowed"] = _scenarios(m.get("join_empty_disallowed"),
                                             (*path, "join_empty_disallowed"))
    if m.get("time_based_routing") is not None:
        tpath = (*path, "time_based_routing")
        t = _mapping(m["time_based_routing"], tpath,
                     ("time_zone", "outside_business_hours", "holiday",
                      "ignore_holiday_destination", "play_holiday_prompt"),
                     ("time_zone", "outside_business_hours"))
        tz = _time_zone(t["time_zone"], (*tpath, "time_zone"))
        if tz not in time_zones:
            raise _err((*tpath, "time_zone"),
                       f"no business_hours entry for time zone {tz}; add one")
        outside = parse_destination(t["outside_business_hours"],
                                    (*tpath, "outside_business_hours"))
        holiday = (parse_destination(t["holiday"], (*tpath, "holiday"))
                   if "holiday" in t else outside)
        kw["time_based_routing"] = TimeBasedRouting(
            tz, outside, holiday,
            _bool(t.get("ignore_holiday_destination", False),
                  (*tpath, "ignore_holiday_destination")),
            _bool(t.get("play_holiday_prompt", False), (*tpath, "play_holiday_prompt")))
    keys: dict[str, Destination] = {}
    for i, item in enumerate(_list(m.get("key_press_events"), (*path, "key_press_events"))):
        kpath = (*path, "key_press_events", i)
        k = _mapping(item, kpath, ("key", "destination"), ("key", "destination"))
        key = _text(k["key"], (*kpath, "key"))
        if key not in DTMF_KEYS:
            raise _err((*kpath, "key"), f"expected one DTMF key 0-9, * or #, got {key!r}")
        if key in keys:
            raise _err((*kpath, "key"), f"key {key} is used twice")
        keys[key] = parse_destination(k["destination"], (*kpath, "destination"))
    kw["key_press_events"] = keys
    if m.get("callback") is not None:
        kw["callback"] = _callback(m["callback"], (*path, "callback"), max_wait, keys)
    if m.get("priority") is not None:
        ppath = (*path, "priority")
        p = _mapping(m["priority"], ppath, ("weight", "acceleration"))
        acc = p.get("acceleration")
        kw["priority"] = PriorityConfig(
            _int(p.get("weight", 1), (*ppath, "weight"), 1, 999),
            None if acc is None else _number(acc, (*ppath, "acceleration"), 10, 1800))
    if m.get("sla") is not None:
        spath = (*path, "sla")
        s = _mapping(m["sla"], spath, ("time", "evaluation_interval", "alert_threshold"))
        kw["sla"] = SlaConfig(
            _number(s.get("time", 60), (*spath, "time"), 1),
            60.0 * _number(s.get("evaluation_interval", 15), (*spath, "evaluation_interval"), 1),
            _number(s.get("alert_threshold", 80), (*spath, "alert_threshold"), 0, 100))
    kw["prompts"] = _prompts(m.get("prompts"), (*path, "prompts"))
    if "alert_info" in m:
        kw["alert_info"] = "" if m["alert_info"] is None else _text(
            m["alert_info"], (*path, "alert_info"), allow_empty=True)
    if m.get("simulation") is not None:
        kw["simulation"] = _simulation(m["simulation"], (*path, "simulation"))
    managers = []
    for i, item in enumerate(_list(m.get("managers"), (*path, "managers"))):
        ext = _digits(item, (*path, "managers", i), "an extension number")
        if extensions is not None and ext not in extensions:
            raise _err((*path, "managers", i), f"no extension {ext}")
        managers.append(ext)
    kw["managers"] = tuple(managers)
    notes = set()
    for i, item in enumerate(_list(m.get("notifications"), (*path, "notifications"))):
        if item not in QUEUE_NOTIFICATIONS:
            raise _err((*path, "notifications", i),
                       f"expected one of {', '.join(QUEUE_NOTIFICATIONS)}, got {item!r}")
        notes.add(str(item))
    kw["notifications"] = frozenset(notes)
    if m.get("satisfaction_survey") is not None:
        kw["satisfaction_survey"] = _survey(m["satisfaction_survey"],
                                            (*path, "satisfaction_survey"))
    if m.get("panel_permissions") is not None:
        kw["panel_permissions"] = _panel_permissions(m["panel_permissions"],
                                                     (*path, "panel_permissions"), extensions)
    return QueueConfig(**kw)


def _panel_permissions(value: object, path: Path,
                       extensions: frozenset[str] | None) -> PanelPermissions:
    """§7.4: each role may only be granted what the manual's matrix allows it."""
    m = _mapping(value, path, ("managers", "agents", "call_logs"))
    granted: dict[str, frozenset[str]] = {}
    for role, allowed in (("managers", MANAGER_PERMISSIONS), ("agents", AGENT_PERMISSIONS)):
        names = set()
        if role in m:
            for i, item in enumerate(_list(m[role], (*path, role))):
                if item not in allowed:
                    other = "agents" if role == "managers" else "managers"
                    hint = f" (only {other} can have it, §7.4)" if isinstance(item, str) and \
                        item in MANAGER_PERMISSIONS + AGENT_PERMISSIONS else ""
                    raise _err((*path, role, i), f"{role} cannot be granted {item!r}{hint}; "
                                                 f"expected one of {', '.join(allowed)}")
                names.add(str(item))
            granted[role] = frozenset(names)
    members: frozenset[str] | None = None
    scope = frozenset(CALL_LOG_SCOPES)
    if m.get("call_logs") is not None:
        cpath = (*path, "call_logs")
        c = _mapping(m["call_logs"], cpath, ("members", "scope"))
        raw = c.get("members", "all")
        if raw != "all":
            chosen = set()
            for i, item in enumerate(_list(raw, (*cpath, "members"))):
                ext = _digits(item, (*cpath, "members", i), "an extension number")
                if extensions is not None and ext not in extensions:
                    raise _err((*cpath, "members", i), f"no extension {ext}")
                chosen.add(ext)
            members = frozenset(chosen)
        if "scope" in c:
            picked = set()
            for i, item in enumerate(_list(c["scope"], (*cpath, "scope"))):
                if item not in CALL_LOG_SCOPES:
                    raise _err((*cpath, "scope", i),
                               f"expected inbound or missed, got {item!r}")
                picked.add(str(item))
            scope = frozenset(picked)
    default = PanelPermissions()
    return PanelPermissions(granted.get("managers", default.managers),
                            granted.get("agents", default.agents), members, scope)


def _survey(value: object, path: Path) -> SatisfactionSurvey:
    s = _mapping(value, path, ("prompt", "end_prompt", "scores"), ("prompt",))
    prompt = _text(s["prompt"], (*path, "prompt"))
    end = s.get("end_prompt")
    scores: dict[str, int] = {}
    if s.get("scores") is not None:
        raw = s["scores"]
        if not isinstance(raw, Mapping) or not raw:
            raise _err((*path, "scores"), 'expected a mapping of DTMF key to score, '
                                          'e.g. {"1": 1, "2": 0}')
        for key, score in raw.items():
            k = str(key)
            if k not in DTMF_KEYS:
                raise _err((*path, "scores", k), f"expected one DTMF key 0-9, * or #, "
                                                 f"got {k!r}")
            scores[k] = _int(score, (*path, "scores", k))
    end_prompt = "" if end is None else _text(end, (*path, "end_prompt"), allow_empty=True)
    return SatisfactionSurvey(prompt, end_prompt, scores or {"1": 1, "2": 0})


def _callback(value: object, path: Path, max_wait: float,
              keys: Mapping[str, Destination]) -> CallbackConfig:
    c = _mapping(value, path, ("method", "key", "timeout", "outbound_prefix",
                               "callback_timeout"), ("method",))
    method = _enum(CallbackMethod, c["method"], (*path, "method"))
    key, timeout = "", 0.0
    if method is CallbackMethod.PRESS_KEY:
        if "key" not in c:
            raise _err((*path, "key"), "is required for method press_key")
        key = _text(c["key"], (*path, "key"))
        if key not in DTMF_KEYS:
            raise _err((*path, "key"), f"expected one DTMF key 0-9, * or #, got {key!r}")
        if key in keys:
            raise _err((*path, "key"), f"key {key} is already used by key_press_events")
    else:
        if "timeout" not in c:
            raise _err((*path, "timeout"), "is required for method timeout")
        timeout = _number(c["timeout"], (*path, "timeout"), 1)
        if timeout > max_wait:
            raise _err((*path, "timeout"),
                       f"must not be greater than the queue's max_wait ({max_wait:g} s)")
    prefix = c.get("outbound_prefix")
    prefix_text = "" if prefix is None else _text(prefix, (*path, "outbound_prefix"),
                                                  allow_empty=True)
    cb_timeout: float | None = None
    if c.get("callback_timeout") is not None:
        cb_timeout = _number(c["callback_timeout"], (*path, "callback_timeout"), 1)
        if cb_timeout >= max_wait:
            raise _err((*path, "callback_timeout"),
                       f"must be less than the queue's max_wait ({max_wait:g} s); leave it "
                       f"out to use max_wait")
    return CallbackConfig(method, key, timeout, prefix_text, cb_timeout)


def _simulation(value: object, path: Path) -> SimulationConfig:
    s = _mapping(value, path, ("arrivals_per_hour", "mean_handle_time", "mean_patience",
                               "agents"), ("arrivals_per_hour", "mean_handle_time"))
    return SimulationConfig(
        _number(s["arrivals_per_hour"], (*path, "arrivals_per_hour"), 0),
        _number(s["mean_handle_time"], (*path, "mean_handle_time"), 1),
        _number(s.get("mean_patience", 0), (*path, "mean_patience"), 0),
        _int(s.get("agents", 0), (*path, "agents"), 0))


def _time_zone(value: object, path: Path) -> str:
    name = _text(value, path)
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _err(path, f"unknown time zone {name!r} (expected e.g. Europe/Berlin)") from None
    return name


_HOURS = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


def _business_hours(value: object, path: Path) -> BusinessHours:
    m = _mapping(value, path, ("time_zone", "periods"), ("time_zone", "periods"))
    tz = _time_zone(m["time_zone"], (*path, "time_zone"))
    periods: dict[int, list[tuple[dt.time, dt.time]]] = {}
    for i, item in enumerate(_list(m["periods"], (*path, "periods"))):
        ppath = (*path, "periods", i)
        p = _mapping(item, ppath, ("days", "time"), ("days", "time"))
        days = _list(p["days"], (*ppath, "days"))
        if not days:
            raise _err((*ppath, "days"), "list at least one day (mon..sun)")
        match = _HOURS.match(_text(p["time"], (*ppath, "time")))
        if not match:
            raise _err((*ppath, "time"), "expected HH:MM-HH:MM, e.g. 09:00-18:00")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        try:
            start = dt.time(h1, m1)
            end = dt.time.max if (h2, m2) == (24, 0) else dt.time(h2, m2)
        except ValueError:
            raise _err((*ppath, "time"), "hours 0-24, minutes 0-59") from None
        if end <= start:
            raise _err((*ppath, "time"), "the end must be after the start")
        for j, day in enumerate(days):
            if day not in WEEKDAYS:
                raise _err((*ppath, "days", j), f"expected one of {', '.join(WEEKDAYS)}")
            periods.setdefault(WEEKDAYS.index(day), []).append((start, end))
    return BusinessHours(tz, {d: tuple(sorted(v)) for d, v in periods.items()})


def _date(value: object, path: Path) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    try:
        return dt.date.fromisoformat(_text(value, path))
    except ValueError:
        raise _err(path, f"expected a date YYYY-MM-DD, got {value!r}") from None


def _holiday(value: object, path: Path) -> Holiday:
    m = _mapping(value, path, ("name", "time_zone", "start", "end", "prompt"),
                 ("name", "time_zone", "start"))
    start = _date(m["start"], (*path, "start"))
    end = _date(m.get("end", start), (*path, "end"))
    if end < start:
        raise _err((*path, "end"), "must not be before start")
    prompt = m.get("prompt")
    return Holiday(_text(m["name"], (*path, "name")),
                   _time_zone(m["time_zone"], (*path, "time_zone")), start, end,
                   "" if prompt is None else _text(prompt, (*path, "prompt"), allow_empty=True))


def _pause_reasons(value: object, path: Path) -> tuple[PauseReason, ...]:
    if value is None:
        return DEFAULT_PAUSE_REASONS
    items = _list(value, path)
    if len(items) > MAX_PAUSE_REASONS:
        raise _err((*path, MAX_PAUSE_REASONS),
                   f"at most {MAX_PAUSE_REASONS} pause reasons are allowed (§6.1)")
    out: list[PauseReason] = []
    for i, item in enumerate(items):
        m = _mapping(item, (*path, i), ("code", "reason"), ("code", "reason"))
        code = _text(m["code"], (*path, i, "code"))
        if not re.fullmatch(r"\*\d{1,4}", code):
            raise _err((*path, i, "code"), f"expected * and 1-4 digits like *01, got {code!r}")
        if any(r.code == code for r in out):
            raise _err((*path, i, "code"), f"code {code} is used twice")
        out.append(PauseReason(code, _text(m["reason"], (*path, i, "reason"))))
    return tuple(out)


def _message_queue(value: object, path: Path,
                   extensions: frozenset[str] | None) -> MessageQueueConfig:
    m = _mapping(value, path, ("name", "chat_assignment_mode", "agents"), ("name", "agents"))
    agents = tuple(a.extension for a in _members(m["agents"], (*path, "agents"), extensions,
                                                  False))
    if not agents:
        raise _err((*path, "agents"), "a message queue needs at least one agent")
    return MessageQueueConfig(
        _text(m["name"], (*path, "name")),
        _enum(TakeOverMode, m.get("chat_assignment_mode", "manual_take_over"),
              (*path, "chat_assignment_mode")),
        agents)


def parse_acd_config(sections: Mapping[str, Any],
                     extensions: Iterable[str] | None = None) -> AcdConfig:
    """Validate the ACD's top-level sections (plain mappings from YAML).

    ``extensions``: the configured extension numbers; when given, every agent must be one.
    """
    known = frozenset(extensions) if extensions is not None else None
    hours = tuple(_business_hours(v, ("business_hours", i))
                  for i, v in enumerate(_list(sections.get("business_hours"),
                                              ("business_hours",))))
    zones = [h.time_zone for h in hours]
    for i, tz in enumerate(zones):
        if tz in zones[:i]:
            raise _err(("business_hours", i, "time_zone"),
                       f"time zone {tz} already has business hours")
    holidays = tuple(_holiday(v, ("holidays", i))
                     for i, v in enumerate(_list(sections.get("holidays"), ("holidays",))))
    queues: list[QueueConfig] = []
    for i, v in enumerate(_list(sections.get("queues"), ("queues",))):
        q = _queue(v, ("queues", i), known, frozenset(zones))
        if any(other.number == q.number for other in queues):
            raise _err(("queues", i, "number"), f"queue number {q.number} is used twice")
        queues.append(q)
    mqs: list[MessageQueueConfig] = []
    for i, v in enumerate(_list(sections.get("message_queues"), ("message_queues",))):
        mq = _message_queue(v, ("message_queues", i), known)
        if any(o.name == mq.name for o in mqs) or any(q.number == mq.name for q in queues):
            raise _err(("message_queues", i, "name"), f"name {mq.name} is already used")
        mqs.append(mq)
    return AcdConfig(tuple(queues), _pause_reasons(sections.get("pause_reasons"),
                                                   ("pause_reasons",)),
                     hours, holidays, tuple(mqs))


parse = parse_acd_config
