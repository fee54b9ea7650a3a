"""Message-waiting lamps (RFC 3842 message-summary) through the notifier, in virtual time."""

from __future__ import annotations

from blf_helpers import DOMAIN, Switch

from softswitch.presence.bodies import message_summary


def test_subscribe_to_own_mailbox_gets_the_current_counts_then_changes() -> None:
    sw = Switch(mailbox_codes=("*97",))
    phone = sw.subscribe("1001", "1001", now=0.0, event="message-summary",
                         accept=("application/simple-message-summary",))
    assert phone.result.response.status == 200
    [first] = phone.result.notifies
    assert first.headers["Event"] == "message-summary"
    assert first.headers["Content-Type"] == "application/simple-message-summary"
    assert first.body == message_summary(f"sip:1001@{DOMAIN}", 0, 0)
    assert sw.notifier.watches_mailbox("1001") and not sw.notifier.watches_mailbox("1002")
    body = message_summary(f"sip:1001@{DOMAIN}", 2, 1)
    [n] = sw.notifier.mailbox_changed("1001", body, now=5.0)
    assert n.body == body and n.headers["Subscription-State"].startswith("active")
    assert sw.notifier.mailbox_changed("1001", body, now=6.0) == []  # nothing new
    assert sw.notifier.mailbox_changed("1002", body, now=7.0) == []  # nobody watches


def test_the_access_code_names_the_subscribers_own_lamp() -> None:
    sw = Switch(mailbox_codes=("*97",))
    body = message_summary(f"sip:1002@{DOMAIN}", 1, 0)
    sw.notifier.mailbox_changed("1002", body, now=0.0)
    phone = sw.subscribe("*97", "1002", now=1.0, event="message-summary")
    assert phone.result.response.status == 200
    assert phone.result.notifies[0].body == body


def test_nobody_watches_a_colleagues_mailbox() -> None:
    sw = Switch(mailbox_codes=("*97",))
    phone = sw.subscribe("1001", "1002", now=0.0, event="message-summary")
    assert phone.result.response.status == 403
    assert phone.result.notifies == ()


def test_wrong_accept_gets_406() -> None:
    sw = Switch()
    phone = sw.subscribe("1001", "1001", now=0.0, event="message-summary",
                         accept=("application/pidf+xml",))
    assert phone.result.response.status == 406
    assert phone.result.response.headers["Accept"] == "application/simple-message-summary"
