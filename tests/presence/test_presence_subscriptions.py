"""Subscription lifecycle (RFC 6665) on an extension key, in virtual time."""

from __future__ import annotations

from blf_helpers import DOMAIN, Switch, basic, dialogs, lamp, version

from softswitch.presence import (
    CallState,
    DialogKey,
    EventPackage,
    ExtensionCall,
    SubscriptionKey,
    TerminationReason,
)


def test_subscribe_answers_200_and_notifies_full_state_at_once() -> None:
    sw = Switch()
    phone = sw.subscribe("1002", "1001", now=100.0, expires=600)
    resp = phone.result.response
    assert (resp.status, resp.headers["Expires"]) == (200, "600")
    assert resp.to_tag == "srv1"
    [n] = phone.result.notifies
    assert n.key == SubscriptionKey(DialogKey(phone.call_id, "srv1", "ph"), EventPackage.DIALOG)
    assert n.headers["Event"] == "dialog"
    assert n.headers["Subscription-State"] == "active;expires=600"
    assert n.headers["Content-Type"] == "application/dialog-info+xml"
    assert version(n) == 0 and lamp(n) == "green" and not n.terminated
    assert sw.notifier.next_deadline() == 700.0


def test_state_changes_notify_with_incremented_version_and_remaining_expiry() -> None:
    sw = Switch()
    phone = sw.subscribe("1002", "1001", now=0.0, expires=600)
    ringing = ExtensionCall("call-a", "recipient", CallState.EARLY, local_tag="b-tag",
                            remote_tag="a-tag", remote_uri=f"sip:1004@{DOMAIN}",
                            remote_display='Dan "D" <x>')
    [n1] = sw.notifier.call_updated("1002", ringing, now=10.0)
    assert n1.key == phone.result.notifies[0].key
    assert version(n1) == 1 and lamp(n1) == "red blinking"
    assert n1.headers["Subscription-State"] == "active;expires=590"
    [d] = dialogs(n1)
    assert d.get("call-id") == "call-a" and d.get("direction") == "recipient"
    assert (d.get("local-tag"), d.get("remote-tag")) == ("b-tag", "a-tag")
    ident = d.find("{urn:ietf:params:xml:ns:dialog-info}remote/"
                   "{urn:ietf:params:xml:ns:dialog-info}identity")
    assert ident is not None and ident.text == f"sip:1004@{DOMAIN}"
    assert ident.get("display") == 'Dan "D" <x>'
    [n2] = sw.notifier.call_updated("1002", ringing.__class__(
        "call-a", "recipient", CallState.CONFIRMED), now=12.0)
    assert version(n2) == 2 and lamp(n2) == "red"
    # the same state again shows nothing new: no NOTIFY
    assert sw.notifier.call_updated("1002", ringing.__class__(
        "call-a", "recipient", CallState.CONFIRMED), now=13.0) == []
    [n3] = sw.notifier.call_ended("1002", "call-a", now=20.0)
    assert version(n3) == 3 and lamp(n3) == "green"
    assert sw.notifier.call_ended("1002", "call-a", now=21.0) == []


def test_refresh_extends_and_renotifies_then_expiry_terminates() -> None:
    sw = Switch()
    phone = sw.subscribe("1002", "1001", now=0.0, expires=120)
    r = sw.refresh(phone, now=100.0, expires=300)
    assert (r.response.status, r.response.headers["Expires"]) == (200, "300")
    [n] = r.notifies
    assert version(n) == 1 and n.headers["Subscription-State"] == "active;expires=300"
    # the old deadline (120) no longer fires
    assert sw.notifier.next_deadline() == 400.0
    assert sw.notifier.handle_timeout(now=399.9) == []
    [final] = sw.notifier.handle_timeout(now=400.0)
    assert final.terminated
    assert final.headers["Subscription-State"] == "terminated;reason=timeout"
    assert version(final) == 2 and lamp(final) == "green"
    assert sw.notifier.next_deadline() is None
    assert sw.notifier.call_updated("1002", ExtensionCall(
        "c", "initiator", CallState.EARLY), now=401.0) == []
    # a refresh of the expired subscription is unknown now
    assert sw.refresh(phone, now=402.0).response.status == 481


def test_unsubscribe_sends_final_notify_and_forgets() -> None:
    sw = Switch()
    phone = sw.subscribe("1002", "1001", now=0.0)
    r = sw.refresh(phone, now=5.0, expires=0)
    assert (r.response.status, r.response.headers["Expires"]) == (200, "0")
    [n] = r.notifies
    assert n.terminated and n.headers["Subscription-State"] == "terminated;reason=timeout"
    assert version(n) == 1
    assert sw.notifier.subscriptions() == []
    assert sw.notifier.next_deadline() is None


def test_fetch_with_expires_zero_keeps_nothing() -> None:
    sw = Switch()
    phone = sw.subscribe("1002", "1001", now=0.0, expires=0)
    assert phone.result.response.status == 200
    [n] = phone.result.notifies
    assert n.terminated and version(n) == 0
    assert sw.notifier.subscriptions() == []


def test_unknown_event_package_is_489_with_allow_events() -> None:
    sw = Switch()
    r = sw.subscribe("1002", "1001", now=0.0, event="conference").result
    assert r.response.status == 489
    assert r.response.headers["Allow-Events"] == "dialog, presence, message-summary"
    assert r.notifies == () and sw.notifier.subscriptions() == []


def test_too_brief_expiry_is_423_with_min_expires() -> None:
    sw = Switch()
    r = sw.subscribe("1002", "1001", now=0.0, expires=30).result
    assert r.response.status == 423 and r.response.headers["Min-Expires"] == "60"
    assert r.notifies == ()
    phone = sw.subscribe("1002", "1001", now=0.0, expires=60)
    assert sw.refresh(phone, now=1.0, expires=59).response.status == 423
    # the subscription is unharmed by the refused refresh
    assert sw.notifier.next_deadline() == 60.0


def test_long_and_absent_expiry() -> None:
    sw = Switch(max_expires=1800)
    long = sw.subscribe("1002", "1001", now=0.0, expires=86400).result
    assert long.response.headers["Expires"] == "1800"
    assert long.notifies[0].headers["Subscription-State"] == "active;expires=1800"
    absent = sw.subscribe("1003", "1001", now=0.0, expires=None).result
    assert absent.response.headers["Expires"] == "1800"  # default 3600, capped
    assert sw.subscribe("1003", "1001", now=0.0, expires=-1).result.response.status == 400


def test_unknown_in_dialog_refresh_is_481() -> None:
    sw = Switch()
    phone = sw.subscribe("1002", "1001", now=0.0)
    phone.call_id = "other-call"
    assert sw.refresh(phone, now=1.0).response.status == 481
    # same dialog, other package: not a subscription we hold either
    phone2 = sw.subscribe("1002", "1001", now=0.0, call_id="c2")
    assert sw.refresh(phone2, now=1.0, event="presence").response.status == 481


def test_unknown_resource_is_404_and_accept_is_honoured() -> None:
    sw = Switch()
    assert sw.subscribe("9999", "1001", now=0.0).result.response.status == 404
    r = sw.subscribe("1002", "1001", now=0.0, accept=("application/pidf+xml",)).result
    assert r.response.status == 406
    assert r.response.headers["Accept"] == "application/dialog-info+xml"
    ok = sw.subscribe("1002", "1001", now=0.0,
                      accept=("application/dialog-info+xml", "multipart/related")).result
    assert ok.response.status == 200


def test_event_id_is_echoed_and_part_of_the_key() -> None:
    sw = Switch()
    phone = sw.subscribe("1002", "1001", now=0.0, event="dialog;id=77")
    [n] = phone.result.notifies
    assert n.headers["Event"] == "dialog;id=77" and n.key.event_id == "77"
    assert sw.refresh(phone, now=1.0, event="dialog").response.status == 481
    assert sw.refresh(phone, now=1.0, event="dialog;id=77").response.status == 200


def test_presence_open_when_registered_closed_otherwise() -> None:
    sw = Switch()
    phone = sw.subscribe("1002", "1001", now=0.0, event="presence")
    [n0] = phone.result.notifies
    assert n0.headers["Content-Type"] == "application/pidf+xml"
    assert basic(n0) == "closed"
    [n1] = sw.notifier.registration_changed("1002", True, now=1.0)
    assert basic(n1) == "open" and b"Available" in n1.body
    [n2] = sw.notifier.call_updated("1002", ExtensionCall("c", "initiator",
                                                          CallState.CONFIRMED), now=2.0)
    assert basic(n2) == "open" and b"On the phone" in n2.body
    [n3] = sw.notifier.registration_changed("1002", False, now=3.0)
    assert basic(n3) == "closed" and b"Offline" in n3.body


def test_failed_notify_removes_subscription() -> None:
    sw = Switch()
    phone = sw.subscribe("1002", "1001", now=0.0)
    key = phone.result.notifies[0].key
    sw.notifier.handle_notify_response(key, 200, now=1.0)
    assert len(sw.notifier.subscriptions()) == 1
    sw.notifier.handle_notify_response(key, 481, now=2.0)
    assert sw.notifier.subscriptions() == []
    assert sw.notifier.registration_changed("1002", True, now=3.0) == []


def test_versions_are_per_subscription() -> None:
    sw = Switch()
    a = sw.subscribe("1002", "1001", now=0.0)
    sw.notifier.registration_changed("1002", True, now=0.5)  # dialog view unchanged
    sw.notifier.call_updated("1002", ExtensionCall("c", "recipient", CallState.EARLY), 1.0)
    b = sw.subscribe("1002", "1003", now=2.0)
    assert version(a.result.notifies[0]) == 0 and version(b.result.notifies[0]) == 0
    n = sw.notifier.call_ended("1002", "c", now=3.0)
    assert sorted(version(x) for x in n) == [1, 2]


def test_shutdown_deactivates_every_subscription() -> None:
    sw = Switch()
    sw.subscribe("1002", "1001", now=0.0)
    sw.subscribe("1003", "1001", now=0.0, event="presence")
    out = sw.notifier.terminate_all(TerminationReason.DEACTIVATED, now=5.0)
    assert len(out) == 2 and all(n.terminated for n in out)
    assert {n.headers["Subscription-State"] for n in out} == {
        "terminated;reason=deactivated"}
    assert sw.notifier.next_deadline() is None


def test_subscriptions_per_extension_are_bounded() -> None:
    sw = Switch(max_per_subscriber=2)
    assert sw.subscribe("1002", "1001", now=0.0, call_id="a").result.response.status == 200
    b = sw.subscribe("1003", "1001", now=0.0, call_id="b")
    assert b.result.response.status == 200
    third = sw.subscribe("1004", "1001", now=0.0, call_id="c").result
    assert third.response.status == 403 and third.notifies == ()
    assert sw.subscribe("1004", "1002", now=0.0).result.response.status == 200  # others fine
    assert sw.subscribe("1004", "1001", now=0.0, expires=0).result.response.status == 200
    sw.refresh(b, now=1.0, expires=0)  # one ends: room again
    assert sw.subscribe("1004", "1001", now=2.0, call_id="d").result.response.status == 200


def test_calls_of_unknown_numbers_are_not_kept() -> None:
    sw = Switch()
    call = ExtensionCall("t1", "initiator", CallState.CONFIRMED)
    assert sw.notifier.call_updated("+4930123", call, now=0.0) == []
    assert sw.notifier.registration_changed("9999", True, now=0.0) == []
    assert sw.notifier.call_ended("+4930123", "t1", now=1.0) == []


# Monotonic clocks where `(t + 600) - t` rounds above 600 for about a quarter of the
# fractional offsets (1000 s into a run: the BLF test that once saw `expires=601`).
BASES = (0.0, 1.0, 1000.0, 3631.0, 86400.0 * 3, 1e6)
OFFSETS = [k / 1000 for k in range(1000)]


def test_remaining_time_never_exceeds_the_grant_at_any_fractional_offset() -> None:
    """RFC 6665 §4.1.3: `active;expires=` is the time left; a phone refreshing just before
    it must still be subscribed. Every NOTIFY, first or later, for every start time."""
    sw = Switch()
    for base in BASES:
        for offset in OFFSETS:
            start = base + offset
            phone = sw.subscribe("1002", "1001", now=start, expires=600,
                                 call_id=f"c-{start!r}")
            [first] = phone.result.notifies
            assert first.headers["Subscription-State"] == "active;expires=600", start
            refreshed = sw.refresh(phone, now=start + 0.25, expires=600)
            [again] = refreshed.notifies
            assert again.headers["Subscription-State"] == "active;expires=600", start
            sw.notifier.terminate_all(TerminationReason.DEACTIVATED, now=start)


def test_later_notifies_show_the_whole_seconds_left() -> None:
    sw = Switch()
    for base in BASES:
        for offset in OFFSETS[::50]:
            start = base + offset
            sw.subscribe("1002", "1001", now=start, expires=600, call_id=f"c-{start!r}")
            ringing = ExtensionCall(f"call-{start!r}", "recipient", CallState.EARLY)
            [n] = sw.notifier.call_updated("1002", ringing, now=start + 10.5)
            # 589.5 s are left: the phone is told 589, never 590
            assert n.headers["Subscription-State"] == "active;expires=589", start
            sw.notifier.call_ended("1002", f"call-{start!r}", now=start + 11)
            sw.notifier.terminate_all(TerminationReason.DEACTIVATED, now=start + 11)
