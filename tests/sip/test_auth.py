"""Digest authentication (RFC 2617 / 7616 / 8760) and the brute-force guard, in virtual
time."""

from __future__ import annotations

import hashlib
import ipaddress

import pytest

from softswitch.sip import (
    HA1,
    AuthResult,
    AuthStatus,
    BruteForceGuard,
    DigestAuthenticator,
    Request,
    Response,
    parse_message,
)
from softswitch.sip.auth import Ban, compute_ha1, compute_response, normalize_address
from softswitch.sip.headers import parse_auth_params

from . import rfc4475

REALM = "switch.example.com"
PASSWORDS = {"1001": "s3cret", "1002": "other"}


def request(method: str = "REGISTER", user: str = "1001",
            ruri: str = "sip:switch.example.com") -> Request:
    return Request(method, ruri, [
        ("Via", "SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKx1;rport"),
        ("From", f"<sip:{user}@switch.example.com>;tag=f1"),
        ("To", f"<sip:{user}@switch.example.com>"),
        ("Call-ID", "auth-1"),
        ("CSeq", f"1 {method}"),
    ])


def client_answer(challenge_value: str, req: Request, user: str, password: str,
                  nc: int = 1, qop: bool = True, header: str = "Authorization",
                  cnonce: str = "0a4f113b") -> Request:
    """What a phone does with one challenge (written independently of the server code)."""
    _scheme, p = parse_auth_params(challenge_value)
    alg = p.get("algorithm", "MD5")
    h = hashlib.sha256 if alg.upper() == "SHA-256" else hashlib.md5

    def hx(s: str) -> str:
        return h(s.encode()).hexdigest()

    ha1 = hx(f"{user}:{p['realm']}:{password}")
    ha2 = hx(f"{req.method}:{req.uri}")
    ncs = f"{nc:08x}"
    if qop:
        resp = hx(f"{ha1}:{p['nonce']}:{ncs}:{cnonce}:auth:{ha2}")
        value = (f'Digest username="{user}", realm="{p["realm"]}", nonce="{p["nonce"]}", '
                 f'uri="{req.uri}", response="{resp}", algorithm={alg}, qop=auth, '
                 f'nc={ncs}, cnonce="{cnonce}"')
    else:
        resp = hx(f"{ha1}:{p['nonce']}:{ha2}")
        value = (f'Digest username="{user}", realm="{p["realm"]}", nonce="{p["nonce"]}", '
                 f'uri="{req.uri}", response="{resp}", algorithm={alg}')
    out = parse_message(bytes(req))
    assert isinstance(out, Request)
    out.set(header, value)
    return out


@pytest.fixture
def auth() -> DigestAuthenticator:
    """Configured with SHA-256 first (`sip.auth.algorithms: [SHA-256, MD5]`)."""
    return DigestAuthenticator(REALM, PASSWORDS.get, secret=b"k" * 32, nonce_ttl=300.0,
                               algorithms=("SHA-256", "MD5"))


def test_rfc2617_and_rfc7616_reference_vectors() -> None:
    # RFC 2617 §3.5 (MD5, qop=auth).
    ha1 = compute_ha1("MD5", "Mufasa", "testrealm@host.com", "Circle Of Life")
    assert compute_response("MD5", ha1, "dcd98b7102dd2f0e8b11d0f600bfb0c093", "GET",
                            "/dir/index.html", qop="auth", nc="00000001",
                            cnonce="0a4f113b") == "6629fae49393a05397450978507c4ef1"
    # RFC 7616 §3.9.1 (SHA-256 and MD5).
    nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
    cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
    for alg, expected in (
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ):
        ha1 = compute_ha1(alg, "Mufasa", "http-auth@example.org", "Circle of Life")
        assert compute_response(alg, ha1, nonce, "GET", "/dir/index.html", qop="auth",
                                nc="00000001", cnonce=cnonce) == expected


def test_register_is_challenged_with_401_offering_sha256_then_md5(
    auth: DigestAuthenticator,
) -> None:
    result, resp = auth.authenticate(request(), now=100.0)
    assert result.status is AuthStatus.MISSING and resp is not None
    assert resp.status == 401
    values = resp.get_all("WWW-Authenticate")
    assert [parse_auth_params(v)[1]["algorithm"] for v in values] == ["SHA-256", "MD5"]
    for v in values:
        p = parse_auth_params(v)[1]
        assert p["realm"] == REALM and p["qop"] == "auth" and "stale" not in p


@pytest.mark.parametrize("method", ["INVITE", "MESSAGE", "SUBSCRIBE"])
def test_phone_requests_are_challenged_with_407(auth: DigestAuthenticator,
                                                method: str) -> None:
    _r, resp = auth.authenticate(request(method), now=0.0)
    assert resp is not None and resp.status == 407
    assert len(resp.get_all("Proxy-Authenticate")) == 2
    assert not resp.has("WWW-Authenticate")


@pytest.mark.parametrize("which", [0, 1])  # SHA-256, MD5
def test_right_password_is_accepted_with_either_algorithm(auth: DigestAuthenticator,
                                                          which: int) -> None:
    req = request()
    _r, challenge = auth.authenticate(req, now=10.0)
    assert challenge is not None
    answered = client_answer(challenge.get_all("WWW-Authenticate")[which], req, "1001",
                             "s3cret")
    result, resp = auth.authenticate(answered, now=11.0)
    assert result.ok and result.username == "1001" and resp is None


def test_invite_credentials_in_proxy_authorization(auth: DigestAuthenticator) -> None:
    req = request("INVITE")
    _r, challenge = auth.authenticate(req, now=0.0)
    assert challenge is not None
    answered = client_answer(challenge.get_all("Proxy-Authenticate")[0], req, "1001",
                             "s3cret", header="Proxy-Authorization")
    assert auth.verify(answered, now=1.0).ok


def test_wrong_password_and_unknown_user_fail_and_get_a_fresh_challenge(
    auth: DigestAuthenticator,
) -> None:
    req = request()
    _r, challenge = auth.authenticate(req, now=0.0)
    assert challenge is not None
    value = challenge.get_all("WWW-Authenticate")[1]
    bad = client_answer(value, req, "1001", "guess")
    result, resp = auth.authenticate(bad, now=1.0)
    assert result.status is AuthStatus.FAILED and result.reason == "wrong password"
    assert resp is not None and resp.status == 401
    assert "stale" not in resp.get_all("WWW-Authenticate")[0]
    ghost = client_answer(value, request(user="9999"), "9999", "x")
    assert auth.verify(ghost, now=1.0).status is AuthStatus.FAILED


def test_a_second_wrong_password_in_one_call_id_gets_no_new_challenge(
        auth: DigestAuthenticator) -> None:
    """baresip answers every fresh challenge with the same wrong password; from the second
    failure in a Call-ID on the caller answers 403 instead (still counting each one)."""
    req = request()
    _r, challenge = auth.authenticate(req, now=0.0)
    assert challenge is not None
    for now in (1.0, 2.0, 3.0):
        value = challenge.get_all("WWW-Authenticate")[0]
        result, challenge = auth.authenticate(client_answer(value, req, "1001", "guess"), now)
        assert result.status is AuthStatus.FAILED
        if now == 1.0:
            assert challenge is not None and challenge.status == 401
        else:
            assert challenge is None
            challenge = auth.challenge(req, now)
    # another Call-ID is challenged again; so is this one once a nonce lifetime has passed
    other = request()
    other.set("Call-ID", "auth-2")
    bad = client_answer(challenge.get_all("WWW-Authenticate")[0], other, "1001", "guess")
    assert auth.authenticate(bad, now=4.0)[1] is not None
    later = client_answer(auth.challenge(req, 302.0).get_all("WWW-Authenticate")[0], req,
                          "1001", "guess")
    assert auth.authenticate(later, now=302.0)[1] is not None
    # and the right password still gets in
    right = client_answer(auth.challenge(req, 303.0).get_all("WWW-Authenticate")[0], req,
                          "1001", "s3cret")
    assert auth.authenticate(right, now=303.0) == (AuthResult(AuthStatus.OK, "1001"), None)


def test_expired_nonce_is_answered_stale_true(auth: DigestAuthenticator) -> None:
    req = request()
    _r, challenge = auth.authenticate(req, now=0.0)
    assert challenge is not None
    answered = client_answer(challenge.get_all("WWW-Authenticate")[0], req, "1001", "s3cret")
    result, resp = auth.authenticate(answered, now=301.0)
    assert result.status is AuthStatus.STALE
    assert resp is not None and resp.status == 401
    assert all(parse_auth_params(v)[1].get("stale") == "true"
               for v in resp.get_all("WWW-Authenticate"))
    # The fresh nonce works.
    again = client_answer(resp.get_all("WWW-Authenticate")[0], req, "1001", "s3cret")
    assert auth.verify(again, now=302.0).ok


def test_expired_nonce_with_wrong_password_is_not_stale(auth: DigestAuthenticator) -> None:
    req = request()
    _r, challenge = auth.authenticate(req, now=0.0)
    assert challenge is not None
    answered = client_answer(challenge.get_all("WWW-Authenticate")[0], req, "1001", "nope")
    assert auth.verify(answered, now=301.0).status is AuthStatus.FAILED


def test_replayed_nonce_count_is_refused(auth: DigestAuthenticator) -> None:
    req = request()
    _r, challenge = auth.authenticate(req, now=0.0)
    assert challenge is not None
    value = challenge.get_all("WWW-Authenticate")[0]
    first = client_answer(value, req, "1001", "s3cret", nc=1)
    assert auth.verify(first, now=1.0).ok
    replay = auth.verify(first, now=2.0)
    assert replay.status is AuthStatus.FAILED and "replayed" in replay.reason
    assert auth.verify(client_answer(value, req, "1001", "s3cret", nc=2), now=3.0).ok
    assert not auth.verify(client_answer(value, req, "1001", "s3cret", nc=2), now=4.0).ok
    assert auth.verify(client_answer(value, req, "1001", "s3cret", nc=7), now=5.0).ok


def test_without_qop_a_nonce_is_good_once(auth: DigestAuthenticator) -> None:
    req = request()
    _r, challenge = auth.authenticate(req, now=0.0)
    assert challenge is not None
    old_style = client_answer(challenge.get_all("WWW-Authenticate")[1], req, "1001", "s3cret",
                              qop=False)
    assert auth.verify(old_style, now=1.0).ok
    assert auth.verify(old_style, now=2.0).status is AuthStatus.STALE


def test_a_nonce_from_before_a_restart_is_stale_not_a_failure(
        auth: DigestAuthenticator) -> None:
    """After a restart (new secret) phones that send their last credentials unasked must
    not count toward a ban: the right password over a foreign nonce is stale."""
    before_restart = DigestAuthenticator(REALM, PASSWORDS.get, secret=b"z" * 32)
    req = request()
    _r, challenge = before_restart.authenticate(req, now=0.0)
    assert challenge is not None
    value = challenge.get_all("WWW-Authenticate")[0]
    result, resp = auth.authenticate(client_answer(value, req, "1001", "s3cret"), now=1.0)
    assert result.status is AuthStatus.STALE and "nonce" in result.reason
    assert resp is not None and "stale=true" in resp.get_all("WWW-Authenticate")[0]
    guess = auth.verify(client_answer(value, req, "1001", "guess"), now=1.0)
    assert guess.status is AuthStatus.FAILED and guess.reason == "wrong password"
    forged = client_answer(value.replace('nonce="', 'nonce="x'), req, "1001", "guess")
    assert auth.verify(forged, now=1.0).status is AuthStatus.FAILED


def test_digest_uri_must_match_request_uri(auth: DigestAuthenticator) -> None:
    req = request()
    _r, challenge = auth.authenticate(req, now=0.0)
    assert challenge is not None
    answered = client_answer(challenge.get_all("WWW-Authenticate")[0], req, "1001", "s3cret")
    answered.uri = answered.uri.copy()
    answered.uri.host = "elsewhere.example.com"
    assert auth.verify(answered, now=1.0).status is AuthStatus.FAILED


def test_digest_uri_without_user_part_is_accepted(auth: DigestAuthenticator) -> None:
    """sipp answers with uri=sip:<host>:<port> for a Request-URI with a user part."""
    req = request("INVITE", ruri="sip:1002@switch.example.com:5060")
    _r, challenge = auth.authenticate(req, now=0.0)
    assert challenge is not None
    answered = client_answer(challenge.get_all("Proxy-Authenticate")[0], req, "1001",
                             "s3cret", header="Proxy-Authorization")
    value = answered.get("Proxy-Authorization") or ""
    resp_uri = "sip:switch.example.com:5060"
    # Recompute the answer as sipp does: over its own uri.
    _s, p = parse_auth_params(value)
    ha1 = compute_ha1("SHA-256", "1001", REALM, "s3cret")
    digest = compute_response("SHA-256", ha1, p["nonce"], "INVITE", resp_uri, qop="auth",
                              nc=p["nc"], cnonce=p["cnonce"])
    answered.set("Proxy-Authorization", value.replace(f'uri="{req.uri}"', f'uri="{resp_uri}"')
                 .replace(p["response"], digest))
    assert auth.verify(answered, now=1.0).ok


def test_ha1_credentials_instead_of_passwords() -> None:
    store = {"1001": HA1(md5=compute_ha1("MD5", "1001", REALM, "s3cret"),
                         sha256=compute_ha1("SHA-256", "1001", REALM, "s3cret"))}
    auth = DigestAuthenticator(REALM, store.get)
    req = request()
    _r, challenge = auth.authenticate(req, now=0.0)
    assert challenge is not None
    # Both challenges carry the same nonce, so the second answer counts on (nc=2).
    for nc, value in enumerate(challenge.get_all("WWW-Authenticate"), start=1):
        assert auth.verify(client_answer(value, req, "1001", "s3cret", nc=nc), now=1.0).ok


def test_md5_only_configuration() -> None:
    auth = DigestAuthenticator(REALM, PASSWORDS.get, algorithms=("MD5",))
    _r, challenge = auth.authenticate(request(), now=0.0)
    assert challenge is not None
    assert len(challenge.get_all("WWW-Authenticate")) == 1
    with pytest.raises(ValueError):
        DigestAuthenticator(REALM, PASSWORDS.get, algorithms=("SHA-512-256",))


def offered(resp: object) -> list[str]:
    assert isinstance(resp, Response)
    name = "Proxy-Authenticate" if resp.status == 407 else "WWW-Authenticate"
    return [parse_auth_params(v)[1]["algorithm"] for v in resp.get_all(name)]


def test_by_default_every_phone_is_offered_md5_alone() -> None:
    """Desk phones answer the first challenge and baresip 1.0 fails on any SHA-256 one, so
    a client the switch knows nothing about sees MD5 only (like Asterisk and Kamailio)."""
    auth = DigestAuthenticator(REALM, PASSWORDS.get)
    for method in ("REGISTER", "INVITE"):
        _r, challenge = auth.authenticate(request(method), now=0.0, source="192.0.2.5")
        assert offered(challenge) == ["MD5"]
    _r, challenge = auth.authenticate(request(), now=0.0)
    assert challenge is not None
    answered = client_answer(challenge.get_all("WWW-Authenticate")[0], request(), "1001",
                             "s3cret")
    assert auth.verify(answered, now=1.0, source="192.0.2.5").ok


def sha256_answer(auth: DigestAuthenticator, req: Request, password: str = "s3cret",
                  now: float = 0.0) -> Request:
    """Credentials with algorithm=SHA-256 over a nonce of ours, as a phone set to SHA-256
    (or linphone re-using its last nonce) sends them."""
    nonce = auth.make_nonce(now)
    value = (f'Digest realm="{REALM}", nonce="{nonce}", algorithm=SHA-256, qop="auth"')
    return client_answer(value, req, "1001", password)


def test_a_client_sending_sha256_credentials_is_offered_sha256_first() -> None:
    auth = DigestAuthenticator(REALM, PASSWORDS.get, nonce_ttl=300.0)
    req = request()
    req.set("User-Agent", "Linphone/5.1")
    # A SHA-256 answer is accepted although only MD5 is offered to unknown clients ...
    assert auth.verify(sha256_answer(auth, req), now=1.0, source="192.0.2.5").ok
    # ... its stale nonce is answered with SHA-256 on top, then MD5 ...
    result, challenge = auth.authenticate(sha256_answer(auth, req), now=400.0,
                                          source="192.0.2.5")
    assert result.status is AuthStatus.STALE and offered(challenge) == ["SHA-256", "MD5"]
    # ... and so is its next request without credentials (same software, same address).
    _r, challenge = auth.authenticate(req, now=401.0, source="192.0.2.5")
    assert offered(challenge) == ["SHA-256", "MD5"]
    # Other software at that address, and the same software elsewhere, still get MD5 alone.
    other = request()
    other.set("User-Agent", "Yealink SIP-T46U")
    assert offered(auth.authenticate(other, now=402.0, source="192.0.2.5")[1]) == ["MD5"]
    assert offered(auth.authenticate(req, now=402.0, source="192.0.2.6")[1]) == ["MD5"]


def test_a_wrong_sha256_password_teaches_nothing() -> None:
    auth = DigestAuthenticator(REALM, PASSWORDS.get)
    req = request()
    result, challenge = auth.authenticate(sha256_answer(auth, req, "guess"), now=1.0,
                                          source="192.0.2.5")
    # this request itself shows SHA-256, so its challenge offers it first ...
    assert result.status is AuthStatus.FAILED and offered(challenge) == ["SHA-256", "MD5"]
    # ... but a guess is not remembered as a SHA-256 client
    assert offered(auth.authenticate(req, now=2.0, source="192.0.2.5")[1]) == ["MD5"]


def test_md5_answers_are_refused_when_only_sha256_is_configured() -> None:
    auth = DigestAuthenticator(REALM, PASSWORDS.get, algorithms=("SHA-256",))
    md5 = auth.make_nonce(0.0)
    value = f'Digest realm="{REALM}", nonce="{md5}", algorithm=MD5, qop="auth"'
    result = auth.verify(client_answer(value, request(), "1001", "s3cret"), now=1.0)
    assert result.status is AuthStatus.FAILED and "not offered" in result.reason


def test_unknown_auth_scheme_is_just_challenged(auth: DigestAuthenticator) -> None:
    """RFC 4475 §3.3.7 regaut01: an unknown scheme gets a 401 challenge."""
    req = parse_message(rfc4475.REGAUT01)
    assert isinstance(req, Request)
    result, resp = auth.authenticate(req, now=0.0)
    assert result.status is AuthStatus.MISSING and resp is not None and resp.status == 401


# -- brute-force guard -----------------------------------------------------------------


def test_twenty_failures_in_a_minute_ban_the_address() -> None:
    guard = BruteForceGuard(max_failures=20, window=60.0, ban_time=300.0)
    for i in range(19):
        assert not guard.record_failure("192.0.2.9", now=float(i))
    assert not guard.is_banned("192.0.2.9", now=19.0)
    assert guard.record_failure("192.0.2.9", now=19.5)
    assert guard.is_banned("192.0.2.9", now=20.0)
    assert not guard.is_banned("192.0.2.10", now=20.0)  # others are not affected
    assert guard.is_banned("192.0.2.9", now=319.0)
    assert not guard.is_banned("192.0.2.9", now=319.6)  # the ban ends


def test_failures_spread_over_more_than_the_window_do_not_ban() -> None:
    guard = BruteForceGuard(max_failures=20, window=60.0, ban_time=300.0)
    for i in range(100):
        assert not guard.record_failure("192.0.2.9", now=i * 3.5)  # 17 per minute


def test_guard_forgets_old_entries() -> None:
    guard = BruteForceGuard(max_failures=3, window=10.0, ban_time=30.0)
    guard.record_failure("a", now=0.0)
    for t in (1.0, 2.0, 3.0):
        guard.record_failure("b", now=t)
    assert guard.banned_hosts(now=4.0) == ["b"]
    assert guard.next_deadline() == 10.0  # host a's failure leaves the window
    guard.handle_timer(now=11.0)
    assert guard.next_deadline() == 33.0  # only b's ban remains
    guard.handle_timer(now=34.0)
    assert guard.next_deadline() is None and guard.banned_hosts(now=34.0) == []


LOOPBACK_AND_LAN = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"),
                    ipaddress.ip_network("10.1.0.0/16"))


def ban(guard: BruteForceGuard, host: str, now: float) -> Ban | None:
    """max_failures failures from `host` at `now`; the ban the last one started."""
    result = None
    for _ in range(guard.max_failures):
        result = guard.record_failure(host, now)
    return result


@pytest.mark.parametrize("host", ["127.0.0.1", "127.9.9.9", "::1", "10.1.200.3",
                                  "::ffff:127.0.0.1"])
def test_trusted_networks_are_never_banned(host: str) -> None:
    guard = BruteForceGuard(max_failures=3, window=60.0, ban_time=600.0,
                            trusted=LOOPBACK_AND_LAN)
    for i in range(100):
        assert guard.record_failure(host, now=float(i) / 10) is None
    assert not guard.is_banned(host, now=10.0) and guard.bans(now=10.0) == []
    assert guard.next_deadline() is None  # nothing was even counted


@pytest.mark.parametrize("host", ["10.2.0.1", "192.0.2.9", "2001:db8::1", "not-an-ip"])
def test_addresses_outside_the_trusted_networks_are_banned(host: str) -> None:
    guard = BruteForceGuard(max_failures=3, window=60.0, ban_time=600.0,
                            trusted=LOOPBACK_AND_LAN)
    started = ban(guard, host, now=5.0)
    assert started == Ban(host, failures=3, since=5.0, until=605.0)
    assert guard.is_banned(host, now=6.0)


def test_bans_end_by_themselves_in_virtual_time() -> None:
    guard = BruteForceGuard(max_failures=2, window=60.0, ban_time=600.0)
    first = ban(guard, "192.0.2.1", now=100.0)
    second = ban(guard, "192.0.2.2", now=130.5)
    assert first is not None and second is not None
    assert guard.bans(now=131.0) == [first, second]  # listed oldest first
    # the shell sleeps until next_deadline(); nothing ends a moment before it
    assert guard.next_deadline() == 700.0
    assert guard.handle_timer(now=699.999) == []
    assert guard.is_banned("192.0.2.1", now=699.999)
    assert guard.handle_timer(now=700.0) == [first]  # the ended ban, for the log line
    assert not guard.is_banned("192.0.2.1", now=700.0)
    assert guard.bans(now=700.0) == [second] and guard.next_deadline() == 730.5
    assert guard.handle_timer(now=731.0) == [second]
    assert guard.bans(now=731.0) == [] and guard.next_deadline() is None
    # a fresh start: the address needs max_failures new failures to be banned again
    assert guard.record_failure("192.0.2.1", now=732.0) is None


def test_is_banned_is_false_once_the_ban_is_over_even_before_the_timer_runs() -> None:
    guard = BruteForceGuard(max_failures=1, window=60.0, ban_time=10.0)
    ban(guard, "192.0.2.1", now=0.0)
    assert guard.is_banned("192.0.2.1", now=9.9) and not guard.is_banned("192.0.2.1", 10.0)
    assert guard.bans(now=10.0) == []
    # a new ban before the sweep replaces the ended one
    again = guard.record_failure("192.0.2.1", now=11.0)
    assert again == Ban("192.0.2.1", 1, 11.0, 21.0)
    assert guard.handle_timer(now=12.0) == [] and guard.bans(now=12.0) == [again]


def test_lifting_a_ban_lets_the_address_in_and_forgets_its_failures() -> None:
    guard = BruteForceGuard(max_failures=3, window=60.0, ban_time=600.0)
    banned = ban(guard, "192.0.2.1", now=0.0)
    guard.record_failure("192.0.2.2", now=1.0)
    guard.record_failure("192.0.2.2", now=2.0)
    assert guard.lift("192.0.2.1") == banned
    assert not guard.is_banned("192.0.2.1", now=3.0) and guard.bans(now=3.0) == []
    assert guard.lift("192.0.2.1") is None  # nothing left to lift
    assert guard.lift("192.0.2.2") is None  # not banned; its two failures are forgotten
    assert guard.record_failure("192.0.2.2", now=3.0) is None
    assert guard.record_failure("192.0.2.2", now=4.0) is None
    assert guard.handle_timer(now=601.0) == []  # the lifted ban does not end a second time


@pytest.mark.parametrize(("text", "canonical"), [
    ("192.0.2.1", "192.0.2.1"), (" 192.0.2.1 ", "192.0.2.1"), ("[::1]", "::1"),
    ("2001:DB8:0:0::1", "2001:db8::1")])
def test_addresses_are_normalized(text: str, canonical: str) -> None:
    assert normalize_address(text) == canonical


@pytest.mark.parametrize("text", ["", "192.0.2", "300.1.1.1", "host.example.com", "::1::"])
def test_malformed_addresses_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        normalize_address(text)


@pytest.mark.parametrize("algorithms", [("SHA-256", "MD5"), ("MD5",)])
@pytest.mark.parametrize("method", ["REGISTER", "INVITE"])
def test_uac_authorize_answers_our_own_challenge(algorithms: tuple[str, ...],
                                                 method: str) -> None:
    from softswitch.sip.auth import authorize

    auth = DigestAuthenticator(REALM, PASSWORDS.get, algorithms=algorithms)
    req = request(method)
    _r, challenge = auth.authenticate(req, now=0.0)
    assert challenge is not None
    again = authorize(challenge, req, "1001", "s3cret")
    assert again.cseq.number == req.cseq.number + 1 and not again.has("Via")
    assert again.call_id == req.call_id and again.from_.tag == req.from_.tag
    again.insert_via(req.via)
    wire = parse_message(bytes(again))
    assert isinstance(wire, Request)
    assert auth.verify(wire, now=1.0).ok
    with pytest.raises(ValueError):
        authorize(req.create_response(401), req, "1001", "s3cret")  # no challenge in it
