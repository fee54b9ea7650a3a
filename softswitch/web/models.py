"""Request and reply bodies of the live API (pydantic v2): the same models validate the
requests and generate /api/v1/openapi.json (softswitch.web.openapi). Each request model's
``examples`` are sent by tests/web/test_openapi.py against a running switch."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from softswitch.web.errors import ApiError

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=2000)


class LoginRequest(Strict):
    """An extension's number and SIP password (the phone's credentials)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"extension": "1001", "password": "pw-1001"}]})
    extension: str = Field(pattern=r"^[0-9]{1,20}$")
    password: str = Field(min_length=1, max_length=200)


class LoginReply(BaseModel):
    token: str
    extension: str
    expires_in: float
    roles: dict[str, Any]


class AgentStateRequest(Strict):
    """§4.1 / §7: sign an agent in or out of the queue, pause it (with an optional reason:
    its name, e.g. "Lunch", or its feature code, e.g. "*01"), or resume it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"action": "pause", "reason": "Lunch"}, {"action": "resume"}]})
    action: Literal["signin", "signout", "pause", "resume"]
    reason: str | None = Field(default=None, max_length=100)


class PresenceRequest(Strict):
    """§7.5 / §10.3: an extension's Linkus presence status; changing to a status runs its
    auto-switch rule (softswitch.web.presence_state)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"status": "lunch"}, {"status": "available"}]})
    status: Literal["available", "away", "business_trip", "dnd", "lunch", "off_work"]


class DispositionRequest(Strict):
    """§4.11: the processing status of a missed or abandoned queue call record."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"disposition": "processing"}]})
    disposition: Literal["unhandled", "processing", "handled"]


class NoteRequest(Strict):
    """§8.2: call tags and free text on a queue call (during the call, in wrap-up, after)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"tags": ["billing"], "text": "asked for a refund"}]})
    tags: list[str] = Field(default_factory=list, max_length=20)
    text: str = Field(default="", max_length=2000)


class RedirectRequest(Strict):
    """§4.3: a waiting or ringing queue call to an extension (or, with ``voicemail``, that
    extension's voicemail), a ring group or another queue."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"target": "1005"}, {"target": "1005", "voicemail": True}]})
    target: str = Field(pattern=r"^[0-9*#]{1,32}$")
    voicemail: bool = False


class TransferRequest(Strict):
    """§4.4: an answered call. ``party`` (caller or callee; a queue call's caller is the
    customer) is sent to ``target`` (blind), or joined with the target of the consultation
    call ``consult_call_id`` that the other party (the transferor) has with it (attended,
    extension calls); the transferor leaves."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"target": "1005", "party": "caller"},
                     {"mode": "attended", "party": "caller", "consult_call_id": "consult-1"}]})
    mode: Literal["blind", "attended"] = "blind"
    party: Literal["caller", "callee"] = "caller"
    target: str | None = Field(default=None, pattern=r"^[0-9*#]{1,32}$")
    voicemail: bool = False
    consult_call_id: str | None = Field(default=None, min_length=1, max_length=200)


class ParkRequest(Strict):
    """§4.5: ``party`` waits in the lowest free park slot (or ``slot``); the other leaves."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"party": "caller"}]})
    party: Literal["caller", "callee"] = "caller"
    slot: str | None = Field(default=None, pattern=r"^[0-9*#]{1,32}$")


class RecordingRequest(Strict):
    """§4.6: pause, resume or start the recording of an answered call."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"action": "pause"}, {"action": "resume"}]})
    action: Literal["pause", "resume", "start"]


class MonitorRequest(Strict):
    """§4.7 (managers, P4): the switch calls the manager's phone; once answered it hears
    the agent and the caller (``listen``), is heard by the agent only (``whisper``) or by
    both (``barge``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"mode": "listen"}, {"mode": "whisper"}, {"mode": "barge"}]})
    mode: Literal["listen", "whisper", "barge"]


class PeriodQuery(Strict):
    """The wallboard's time range (§2.2 数据的时间范围) of the period KPIs (§2.4 #5-#16):
    ``today`` (from 00:00), ``week`` (from Monday 00:00) or ``month`` (from the 1st), in
    the queue's time zone; a call counts in the window of its queue-entry time
    (softswitch.web.periods)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"period": "today"}, {"period": "week"}, {"period": "month"}]})
    period: Literal["today", "week", "month"] = "today"


class ErrorReply(BaseModel):
    error: str
    message: str
    field: str | None = None


class Member(BaseModel):
    """One agent in one queue (§2.5, §3.3.4)."""

    agent: str
    queue: str
    name: str
    type: Literal["static", "dynamic"]
    state: str
    signed_in: bool
    paused: bool
    pause_reason: str | None
    since: float
    signed_in_at: float | None
    signed_out_at: float | None
    paused_at: float | None
    registered: bool
    current_calls: int
    longest_call_since: float | None
    wrap_up_until: float | None
    # §2.5 period columns: "today" | "week" | "month" -> {answered, missed (per ring), talk}
    period_calls: dict[str, dict[str, float]]


def parse(model: type[M], data: Any, where: str = "body") -> M:
    """Validate ``data``; a 400 naming the first field at fault otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        field = loc or where
        raise ApiError(400, "invalid_field", f"{field}: {first['msg']}", field) from None
