"""Config for notifications: queue managers and notification choices (§7.1, §7.2), SMTP
retries; bad values stop start-up with the line and key."""

from __future__ import annotations

import pytest

from softswitch.config import ConfigError, parse_config

BASE = """
sip:
  listen: [udp:127.0.0.1:0]
  domain: 127.0.0.1
extensions:
  - {number: "1001", password: "secret-1001", email: a@example.com}
  - {number: "1003", password: "secret-1003", email: m@example.com}
smtp:
  host: 127.0.0.1
  port: 2525
  sender: pbx@example.com
  retries: 2
queues:
  - number: "6400"
    name: Sales
    static_agents: ["1001"]
    managers: [MANAGERS]
    notifications: [NOTES]
"""


def text(managers: str = '"1003"', notes: str = "sla_below_threshold") -> str:
    return BASE.replace("MANAGERS", managers).replace("NOTES", notes)


def test_managers_notifications_and_retries_are_read() -> None:
    cfg = parse_config(text(notes="sla_below_threshold, callback_failed"))
    q = cfg.acd.queues[0]
    assert q.managers == ("1003",)
    assert q.notifications == {"sla_below_threshold", "callback_failed"}
    assert cfg.smtp is not None and cfg.smtp.retries == 2


def test_unknown_manager_extension_is_an_error_with_its_line() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(text(managers='"1999"'))
    (issue,) = exc.value.issues
    assert issue.line == 17 and "no extension 1999" in str(issue)


def test_unknown_notification_is_an_error() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(text(notes="sla_low"))
    assert "expected one of missed_call" in str(exc.value.issues[0])
