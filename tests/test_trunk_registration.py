"""Registration to trunk providers (softswitch.trunk_registration): the sans-IO core in
virtual time, and the shell against a scripted provider over real UDP."""

from __future__ import annotations

from softswitch.trunk_registration import Action, State, TrunkRegistration


def test_register_challenge_granted_and_refreshed_before_expiry() -> None:
    reg = TrunkRegistration("provider", expires=3600)
    assert reg.start(0.0) is Action.SEND and reg.state is State.REGISTERING
    assert reg.handle_response(100, 0.1) is Action.NONE  # provisional: nothing
    assert reg.handle_response(401, 0.2) is Action.ANSWER_CHALLENGE
    assert reg.handle_response(200, 0.3, granted=1800) is Action.NONE
    assert (reg.state, reg.granted, reg.registered_until) == (State.REGISTERED, 1800, 1800.3)
    assert reg.next_deadline() == 1800.3 - 60  # a minute before it runs out
    assert reg.handle_timer(1000.0) is Action.NONE  # not yet
    assert reg.handle_timer(1740.3) is Action.SEND and reg.state is State.REGISTERING
    # a refresh gets challenged again (new nonce): answered again
    assert reg.handle_response(401, 1740.4) is Action.ANSWER_CHALLENGE
    assert reg.handle_response(200, 1740.5, granted=None) is Action.NONE
    assert reg.granted == 3600  # no expires in the answer: what we asked for


def test_short_grants_refresh_at_half_time() -> None:
    reg = TrunkRegistration("provider", expires=3600)
    reg.start(0.0)
    reg.handle_response(200, 0.0, granted=60)
    assert reg.next_deadline() == 30.0


def test_refused_credentials_back_off_and_recover() -> None:
    reg = TrunkRegistration("provider", expires=600)
    reg.start(0.0)
    assert reg.handle_response(401, 0.0) is Action.ANSWER_CHALLENGE
    assert reg.handle_response(401, 0.1) is Action.NONE  # the answer was refused
    assert (reg.state, reg.failures, reg.last_status) == (State.FAILED, 1, 401)
    assert reg.next_deadline() == 30.1
    deadlines = []
    now = 30.1
    for _ in range(5):  # 408 timeouts: 60, 120, 240, 300, 300 s
        assert reg.handle_timer(now) is Action.SEND
        reg.handle_response(408, now + 32)
        deadlines.append(round(reg.next_deadline() - (now + 32)))
        now = reg.next_deadline()
    assert deadlines == [60, 120, 240, 300, 300]
    assert reg.handle_timer(now) is Action.SEND
    reg.handle_response(200, now, granted=600)
    assert (reg.state, reg.failures) == (State.REGISTERED, 0)


def test_stale_nonce_is_answered_again_and_423_asks_for_min_expires() -> None:
    reg = TrunkRegistration("provider", expires=60)
    reg.start(0.0)
    assert reg.handle_response(401, 0.0) is Action.ANSWER_CHALLENGE
    assert reg.handle_response(401, 0.1, stale=True) is Action.ANSWER_CHALLENGE
    assert reg.handle_response(423, 0.2, min_expires=300) is Action.SEND
    assert reg.expires == 300 and reg.state is State.REGISTERING
    # a 423 without a usable Min-Expires is a failure like any other
    assert reg.handle_response(423, 0.3, min_expires=None) is Action.NONE
    assert reg.state is State.FAILED


def test_stop_forgets_the_registration() -> None:
    reg = TrunkRegistration("provider", expires=600)
    reg.start(0.0)
    reg.handle_response(200, 0.0, granted=600)
    reg.stop()
    assert (reg.state, reg.next_deadline(), reg.registered_until) == (State.IDLE, None, None)
    assert reg.handle_response(200, 1.0) is Action.NONE  # a late answer changes nothing
