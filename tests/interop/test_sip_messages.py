"""SIP MESSAGE (RFC 3428) with real phones (pjsua2) and the switch as a process: phone to
phone through the switch, and a phone writing into a message queue (a ``type: sip``
message channel, softswitch.messaging) whose agent takes the session over and replies
through the live API: the phone receives the reply as a MESSAGE from the channel's
number."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from phones import Phone
from queue_support import phone

from benchmarks.peers.switch import Extension, RunningSwitch

CUSTOMER = ("3000", "customer-pw")
COLLEAGUE = ("3001", "colleague-pw")
AGENT = ("2000", "agent-pw")
EXTENSIONS = [Extension(*x) for x in (CUSTOMER, COLLEAGUE, AGENT)]
CHANNELS = {
    "message_queues": [{"name": "Help Desk", "chat_assignment_mode": "manual_take_over",
                        "agents": [AGENT[0]]}],
    "message_channels": [{"name": "Phones", "type": "sip", "numbers": [
        {"number": "6590", "destination": {"type": "message_queue", "target": "Help Desk"}}]}],
}


def request(switch: RunningSwitch, method: str, path: str, body: dict[str, Any] | None,
            token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(switch.http_url + path, method=method, data=data,
                                 headers=headers)
    with urllib.request.urlopen(req, timeout=10) as reply:
        return json.loads(reply.read())


def api(switch: RunningSwitch, who: tuple[str, str], method: str, path: str,
        body: dict[str, Any] | None = None) -> Any:
    """One messaging call of the live API as ``who`` (logged in for it)."""
    token = request(switch, "POST", "/api/v1/login",
                    {"extension": who[0], "password": who[1]})["token"]
    return request(switch, method, "/api/v1/messaging" + path,
                   body if body is not None or method == "GET" else {}, token)


@pytest.mark.switch_config(extensions=EXTENSIONS, overrides=CHANNELS)
def test_phone_to_phone_and_phone_into_a_message_queue(
        switch: RunningSwitch, phone_factory: Callable[..., Phone]) -> None:
    customer = phone(phone_factory, CUSTOMER, switch)
    colleague = phone(phone_factory, COLLEAGUE, switch)
    since = colleague.mark()
    assert customer.send_message(f"sip:{COLLEAGUE[0]}@{switch.host}:{switch.port}",
                                 "lunch?") == 200
    got = colleague.wait_message(since=since)
    assert got["body"] == "lunch?" and f"sip:{CUSTOMER[0]}@" in got["from"]

    assert customer.send_message(f"sip:6590@{switch.host}:{switch.port}",
                                 "my screen is dark") == 200
    [session] = api(switch, AGENT, "GET", "/sessions")["sessions"]
    assert session["customer"] == CUSTOMER[0] and session["route"]["target"] == "Help Desk"
    taken = api(switch, AGENT, "POST", f"/sessions/{session['id']}/take_over")
    assert taken["session"]["owner"] == AGENT[0]
    since = customer.mark()
    api(switch, AGENT, "POST", f"/sessions/{session['id']}/messages",
        {"text": "Is it plugged in?"})
    reply = customer.wait_message(since=since)
    assert reply["body"] == "Is it plugged in?" and "sip:6590@" in reply["from"]
    # the customer's answer goes to the same number and joins the session
    assert customer.send_message(f"sip:6590@{switch.host}:{switch.port}", "yes") == 200
    history = api(switch, AGENT, "GET", f"/sessions/{session['id']}")["messages"]
    assert [m["text"] for m in history if m["type"] != "system"] == [
        "my screen is dark", "Is it plugged in?", "yes"]
