"""Digest authentication for SIP (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760) and a
brute-force guard. Sans-IO: time is passed in as `now`.

Decisions:
- Nonces are stateless: base64url(timestamp, 8 random bytes, a 128-bit MAC over both and
  the realm). The MAC is keyed BLAKE2b (RFC 7693 §2.5 keyed mode, a PRF like HMAC-SHA256
  but one C call: ~0.5 us instead of ~1.5-5 us, twice per REGISTER). Any instance with the
  same secret can verify them; a restarted process with a new secret answers old ones with
  a fresh challenge. A correctly computed response over an expired nonce, or over a nonce
  we did not issue (phones such as linphone send their last credentials unasked, so every
  phone does that once after a restart), gets the challenge again with `stale=true`
  (RFC 7616 §3.3) and does not count toward a brute-force ban; a wrong one is a failure
  whatever its nonce.
- Replay protection: with qop=auth each nonce keeps the highest nonce-count seen; a count
  not above it is refused. Without qop (RFC 2069 clients) a nonce is good for one request;
  its re-use is answered as stale, so the phone re-authenticates without asking the user.
- Which algorithms a challenge offers (RFC 8760 §2.4: one header field per algorithm, the
  preferred one on top; §2.5: a UAC answers the topmost one it supports and MUST ignore the
  others). Many phones do not follow §2.5: desk phones answer the first challenge whatever
  its algorithm, sipp computes MD5 for any challenge, and baresip 1.0 (libre) gives up with
  ENOSYS ("Function not implemented") on any challenge that is not MD5, even a second one.
  Asterisk and Kamailio challenge with MD5 alone by default for that reason. So:
  * Clients we know nothing about get the configured list (`sip.auth.algorithms`), MD5
    alone by default.
  * A client that shows it speaks SHA-256 gets SHA-256 on top, then the configured ones:
    its request carries credentials for our realm with algorithm=SHA-256 (linphone, for
    one, sends them unasked with the next REGISTER), or the same software (User-Agent) from
    the same address answered SHA-256 before. That memory holds the last 4096 clients.
  * SHA-256 answers are always accepted, offered or not (they are no weaker than MD5);
    MD5 answers only when MD5 is configured.
- REGISTER (and anything else not proxied) is challenged with 401/WWW-Authenticate; INVITE,
  MESSAGE, SUBSCRIBE, REFER, NOTIFY, PUBLISH, OPTIONS from phones with 407/Proxy-Authenticate
  (we act as the phone's proxy for those; §22.3).
- A wrong password is counted as a failure by the caller's `BruteForceGuard`, and answered
  with a fresh challenge (like Asterisk and Kamailio) the first time in a Call-ID, with
  `authenticate()` returning no response after that (the caller sends 403 Forbidden).
  Reason: libre (baresip 1.0) answers every fresh challenge with the same wrong password,
  15 REGISTERs in 5 ms for one registration attempt here, so a single typo would come
  close to the ban threshold; with 403 each later attempt of such a phone counts once.
  Guessers gain nothing: every guess still counts, whatever its Call-ID.
- The digest `uri` must name the same scheme and host as the Request-URI; user part, port
  and parameters may differ (sipp and some phones send `sip:<host>:<port>`).
- Brute-force bans (`BruteForceGuard`): addresses in trusted networks (loopback by default)
  are never banned, so a local softphone with a stale password cannot lock the admin out;
  bans end by themselves after `ban_time` and can be listed and lifted at runtime.
"""

from __future__ import annotations

import binascii
import enum
import hashlib
import hmac
import ipaddress
import os
import struct
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from .errors import SipParseError
from .headers import parse_auth_params
from .message import Request, Response, random_bytes
from .networks import Network, in_networks
from .uri import SipUri

__all__ = [
    "HA1",
    "AuthStatus",
    "AuthResult",
    "DigestAuthenticator",
    "BruteForceGuard",
    "Ban",
    "compute_ha1",
    "compute_response",
    "authorize",
    "PROXY_AUTH_METHODS",
]

PROXY_AUTH_METHODS = frozenset(
    {"INVITE", "MESSAGE", "SUBSCRIBE", "REFER", "NOTIFY", "PUBLISH", "OPTIONS", "INFO",
     "UPDATE"}
)
_pack_time = struct.Struct(">d").pack
_blake2b = hashlib.blake2b
# base64.urlsafe_b64encode/-decode without their Python wrappers (same alphabet, same
# lenient decoding of stray characters).
_b2a = binascii.b2a_base64
_a2b = binascii.a2b_base64
_URLSAFE_ENC = bytes.maketrans(b"+/", b"-_")
_URLSAFE_DEC = bytes.maketrans(b"-_", b"+/")
_HASHES = {
    "MD5": hashlib.md5,
    "MD5-SESS": hashlib.md5,
    "SHA-256": hashlib.sha256,
    "SHA-256-SESS": hashlib.sha256,
}


@dataclass(frozen=True, slots=True)
class HA1:
    """Pre-computed H(username:realm:password) per algorithm, hex (what a credentials store
    keeps instead of the password)."""

    md5: str | None = None
    sha256: str | None = None


Secret = str | HA1
Lookup = Callable[[str], Secret | None]
SHA256 = "SHA-256"
# clients (source address, User-Agent) remembered as speaking SHA-256
_SHA256_MEMORY = 4096
# Call-IDs that already failed once (answered 403 from then on), remembered for a while
_FAILED_CALLS = 4096


class AuthStatus(enum.Enum):
    OK = "ok"
    MISSING = "missing"  # no credentials for our realm: challenge
    STALE = "stale"  # right password, old or used nonce: challenge with stale=true
    FAILED = "failed"  # wrong password, unknown user, forged nonce, replay


@dataclass(frozen=True, slots=True)
class AuthResult:
    status: AuthStatus
    username: str | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status is AuthStatus.OK


def _h(algorithm: str, text: str) -> str:
    return _HASHES[algorithm](text.encode("utf-8", "surrogateescape")).hexdigest()


def compute_ha1(algorithm: str, username: str, realm: str, password: str) -> str:
    return _h(algorithm, f"{username}:{realm}:{password}")


def compute_response(
    algorithm: str,
    ha1: str,
    nonce: str,
    method: str,
    uri: str,
    *,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
) -> str:
    """request-digest of RFC 7616 §3.4.1 (qop=auth or none); `ha1` is already -sess adjusted
    by the caller when needed."""
    ha2 = _h(algorithm, f"{method}:{uri}")
    if qop:
        return _h(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _h(algorithm, f"{ha1}:{nonce}:{ha2}")


def authorize(
    challenge: Response,
    request: Request,
    username: str,
    password: str,
    *,
    nc: int = 1,
    cnonce: str | None = None,
) -> Request:
    """UAC side (RFC 3261 §22.2, RFC 8760): `request` again, answering the 401/407
    `challenge` with credentials -- for trunks and tests. Picks the first challenge whose
    algorithm we know (SHA-256, MD5, their -sess forms), uses qop=auth when offered, and
    returns a new Request with the next CSeq and no Via (the endpoint adds a fresh one).
    Raises ValueError when no challenge can be answered."""
    name = "Proxy-Authenticate" if challenge.status == 407 else "WWW-Authenticate"
    for value in challenge.get_all(name):
        try:
            scheme, p = parse_auth_params(value)
        except SipParseError:
            continue
        algorithm = p.get("algorithm", "MD5").upper()
        base = algorithm.removesuffix("-SESS")
        if scheme.lower() != "digest" or base not in ("MD5", "SHA-256") or "nonce" not in p:
            continue
        realm = p.get("realm", "")
        qops = [q.strip() for q in p.get("qop", "").split(",") if q.strip()]
        qop = "auth" if "auth" in qops else None
        if qops and qop is None:
            continue  # only auth-int offered
        cn = cnonce or os.urandom(8).hex()
        ncs = f"{nc:08x}"
        uri = str(request.uri)
        ha1 = compute_ha1(base, username, realm, password)
        if algorithm.endswith("-SESS"):
            ha1 = _h(base, f"{ha1}:{p['nonce']}:{cn}")
        digest = compute_response(base, ha1, p["nonce"], request.method, uri,
                                  qop=qop, nc=ncs, cnonce=cn)
        parts = [f'username="{username}"', f'realm="{realm}"', f'nonce="{p["nonce"]}"',
                 f'uri="{uri}"', f'response="{digest}"', f"algorithm={p.get('algorithm', 'MD5')}"]
        if qop:
            parts += [f"qop={qop}", f"nc={ncs}", f'cnonce="{cn}"']
        if "opaque" in p:
            parts.append(f'opaque="{p["opaque"]}"')
        again = Request(request.method, request.uri.copy(), body=request.body)
        for e in request.headers:
            if e[0] not in ("via", "cseq", "authorization", "proxy-authorization"):
                again.headers.append(list(e))
        again.add("CSeq", f"{request.cseq.number + 1} {request.method}")
        again.add("Proxy-Authorization" if challenge.status == 407 else "Authorization",
                  "Digest " + ", ".join(parts))
        return again
    raise ValueError("no digest challenge we can answer")


class DigestAuthenticator:
    """Challenges and verifies digest credentials for one realm."""

    def __init__(
        self,
        realm: str,
        lookup: Lookup,
        *,
        secret: bytes | None = None,
        nonce_ttl: float = 300.0,
        algorithms: Iterable[str] = ("MD5",),
    ) -> None:
        self.realm = realm
        self.lookup = lookup
        self.secret = secret if secret is not None else os.urandom(32)
        # BLAKE2b takes keys of up to 64 bytes; a longer secret is hashed down to one.
        self._mac_key = self.secret if len(self.secret) <= 64 else _blake2b(self.secret).digest()
        self._realm_bytes = realm.encode()
        self.nonce_ttl = nonce_ttl
        self.algorithms = tuple(a.upper() for a in algorithms)
        for a in self.algorithms:
            if a not in ("MD5", SHA256):
                raise ValueError(f"unsupported digest algorithm {a!r}")
        if not self.algorithms:
            raise ValueError("at least one digest algorithm is needed")
        self._accepted = frozenset(self.algorithms) | {SHA256}
        self._sha256_first = (SHA256, *(a for a in self.algorithms if a != SHA256))
        self._sha256_clients: OrderedDict[tuple[str, str], None] = OrderedDict()
        # Call-ID -> time of its first failure (oldest first)
        self._failed_calls: OrderedDict[str, float] = OrderedDict()
        # nonce -> highest nonce-count seen (0 = used without qop); in first-use order
        self._counts: dict[str, int] = {}
        self._expiry: deque[tuple[float, str]] = deque()

    # -- nonces --------------------------------------------------------------------------

    def make_nonce(self, now: float) -> str:
        body = _pack_time(now) + random_bytes(8)
        mac = _blake2b(body + self._realm_bytes, key=self._mac_key, digest_size=16).digest()
        return _b2a(body + mac, newline=False).translate(_URLSAFE_ENC).decode()[:43]

    def _nonce_time(self, nonce: str) -> float | None:
        """The nonce's issue time if we issued it, else None."""
        if len(nonce) != 43:
            return None
        try:
            raw = _a2b((nonce + "=").encode("ascii").translate(_URLSAFE_DEC))
        except (ValueError, TypeError):
            return None
        if len(raw) != 32:
            return None
        body, mac = raw[:16], raw[16:]
        good = _blake2b(body + self._realm_bytes, key=self._mac_key, digest_size=16).digest()
        if not hmac.compare_digest(mac, good):
            return None
        return float(struct.unpack(">d", body[:8])[0])

    # -- challenges ----------------------------------------------------------------------

    def challenge_header_name(self, request: Request) -> str:
        return "Proxy-Authenticate" if request.method in PROXY_AUTH_METHODS else (
            "WWW-Authenticate"
        )

    def offered(self, request: Request, source: str = "") -> tuple[str, ...]:
        """The algorithms to challenge `request` from `source` with, preferred first (see
        the module docstring)."""
        if self._sha256_first == self.algorithms or self._speaks_sha256(request, source):
            return self._sha256_first
        return self.algorithms

    def _speaks_sha256(self, request: Request, source: str) -> bool:
        for p in self._credentials(request):
            if p.get("algorithm", "MD5").upper().removesuffix("-SESS") == SHA256:
                return True
        if not self._sha256_clients:
            return False
        return (source, request.get("User-Agent") or "") in self._sha256_clients

    def challenge(self, request: Request, now: float, *, stale: bool = False,
                  source: str = "") -> Response:
        """401 with WWW-Authenticate (REGISTER, ...) or 407 with Proxy-Authenticate (INVITE,
        MESSAGE, SUBSCRIBE, ...), one challenge per offered algorithm, same nonce."""
        proxy = request.method in PROXY_AUTH_METHODS
        resp = request.create_response(407 if proxy else 401)
        name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        nonce = self.make_nonce(now)
        for alg in self.offered(request, source):
            value = f'Digest realm="{self.realm}", nonce="{nonce}", algorithm={alg}, qop="auth"'
            if stale:
                value += ", stale=true"
            resp.add(name, value)
        return resp

    # -- verification --------------------------------------------------------------------

    def _credentials(self, request: Request) -> list[dict[str, str]]:
        found: list[dict[str, str]] = []
        # One pass over the headers (most requests carry neither); the header the method
        # expects is tried first, then the other one.
        www: list[str] = []
        proxy: list[str] = []
        for e in request.headers:
            lk = e[0]
            if lk == "authorization" or lk == "proxy-authorization":
                v = e[2]
                (www if lk == "authorization" else proxy).append(
                    v if type(v) is str else str(v))
        if not www and not proxy:
            return found
        values = proxy + www if request.method in PROXY_AUTH_METHODS else www + proxy
        for value in values:
            try:
                scheme, params = parse_auth_params(value)
            except SipParseError:
                continue
            if scheme.lower() == "digest" and params.get("realm") == self.realm:
                found.append(params)
        return found

    def verify(self, request: Request, now: float, source: str = "") -> AuthResult:
        """Check the request's credentials; a correct SHA-256 answer from `source` makes the
        switch offer SHA-256 first to the same software there from now on."""
        creds = self._credentials(request)
        if not creds:
            return AuthResult(AuthStatus.MISSING, None, "no credentials for this realm")
        # Prefer the strongest algorithm the client answered.
        creds.sort(key=lambda p: 0 if p.get("algorithm", "MD5").upper().startswith("SHA") else 1)
        result = self._verify_one(request, creds[0], now)
        if result.status in (AuthStatus.OK, AuthStatus.STALE) and \
                creds[0].get("algorithm", "").upper().startswith(SHA256):
            self._remember_sha256(source, request.get("User-Agent") or "")
        return result

    def _remember_sha256(self, source: str, user_agent: str) -> None:
        key = (source, user_agent)
        clients = self._sha256_clients
        if key in clients:
            clients.move_to_end(key)
            return
        clients[key] = None
        if len(clients) > _SHA256_MEMORY:
            clients.popitem(last=False)

    def _verify_one(self, request: Request, p: dict[str, str], now: float) -> AuthResult:
        username = p.get("username")
        nonce = p.get("nonce")
        uri = p.get("uri")
        response = p.get("response")
        if not username or not nonce or not uri or not response:
            return AuthResult(AuthStatus.FAILED, username, "incomplete credentials")
        algorithm = p.get("algorithm", "MD5").upper()
        base_alg = algorithm.removesuffix("-SESS")
        if base_alg not in self._accepted:
            return AuthResult(AuthStatus.FAILED, username, f"algorithm {algorithm} not offered")
        qop = p.get("qop")
        nc = p.get("nc")
        cnonce = p.get("cnonce")
        nc_value = 0
        if qop is not None:
            if qop.lower() != "auth":
                return AuthResult(AuthStatus.FAILED, username, f"qop {qop!r} not offered")
            if not nc or not cnonce or len(nc) != 8:
                return AuthResult(AuthStatus.FAILED, username, "qop without nc/cnonce")
            try:
                nc_value = int(nc, 16)
            except ValueError:
                return AuthResult(AuthStatus.FAILED, username, "invalid nonce-count")
        if not _same_uri(uri, request.uri):
            return AuthResult(AuthStatus.FAILED, username, "digest uri differs from Request-URI")
        issued = self._nonce_time(nonce)
        secret = self.lookup(username)
        if secret is None:
            return AuthResult(AuthStatus.FAILED, username, "unknown user")
        ha1 = self._ha1(secret, base_alg, username)
        if ha1 is None:
            return AuthResult(AuthStatus.FAILED, username, f"no {base_alg} credentials")
        if algorithm.endswith("-SESS"):
            ha1 = _h(base_alg, f"{ha1}:{nonce}:{cnonce}")
        expected = compute_response(
            base_alg, ha1, nonce, request.method, uri, qop=qop, nc=nc, cnonce=cnonce
        )
        if not hmac.compare_digest(expected, response.lower()):
            return AuthResult(AuthStatus.FAILED, username, "wrong password")
        if issued is None:
            return AuthResult(AuthStatus.STALE, username, "nonce not issued by us")
        if now - issued > self.nonce_ttl or issued - now > 5.0:
            return AuthResult(AuthStatus.STALE, username, "nonce expired")
        # Replay protection.
        self._purge(now)
        last = self._counts.get(nonce)
        if qop is None:
            if last is not None:
                return AuthResult(AuthStatus.STALE, username, "nonce already used")
            self._remember(nonce, 0, issued)
        else:
            if last is not None and nc_value <= last:
                return AuthResult(AuthStatus.FAILED, username, "nonce-count replayed")
            if last is None:
                self._remember(nonce, nc_value, issued)
            else:
                self._counts[nonce] = nc_value
        return AuthResult(AuthStatus.OK, username)

    def _ha1(self, secret: Secret, algorithm: str, username: str) -> str | None:
        if isinstance(secret, HA1):
            return (secret.md5 if algorithm == "MD5" else secret.sha256)
        return compute_ha1(algorithm, username, self.realm, secret)

    def _remember(self, nonce: str, count: int, issued: float) -> None:
        self._counts[nonce] = count
        self._expiry.append((issued + self.nonce_ttl, nonce))

    def _purge(self, now: float) -> None:
        exp = self._expiry
        while exp and exp[0][0] < now:
            _, n = exp.popleft()
            self._counts.pop(n, None)

    def authenticate(self, request: Request, now: float,
                     source: str = "") -> tuple[AuthResult, Response | None]:
        """Verify and, unless OK, build the response to send: a challenge (stale=true when the
        password was right but the nonce old/used). `source` is the sender's address (it
        decides, with the User-Agent, whether SHA-256 is offered first)."""
        result = self.verify(request, now, source)
        if result.status is AuthStatus.OK:
            return result, None
        if result.status is AuthStatus.FAILED and self._failed_before(request.call_id, now):
            return result, None
        return result, self.challenge(request, now, stale=result.status is AuthStatus.STALE,
                                      source=source)

    def _failed_before(self, call_id: str, now: float) -> bool:
        """Whether `call_id` already failed within a nonce lifetime; remembers it if not."""
        calls = self._failed_calls
        while calls:
            oldest_call, first = next(iter(calls.items()))
            if now - first <= self.nonce_ttl and len(calls) <= _FAILED_CALLS:
                break
            del calls[oldest_call]
        if call_id in calls:
            return True
        calls[call_id] = now
        return False


def _same_uri(digest_uri: str, request_uri: SipUri) -> bool:
    """RFC 7616 §3.4.6 asks that the digest `uri` designate the Request-URI's resource. SIP
    clients differ in what they put there (sipp sends `sip:<host>:<port>` without the user
    part; some phones drop parameters), so the same scheme and host count as the same
    resource. The response hash covers the uri that was sent, and the nonce-count rules stop
    replays, so this leniency gives an attacker nothing."""
    if digest_uri == str(request_uri):
        return True
    try:
        uri = SipUri.parse(digest_uri)
    except SipParseError:
        return False
    return uri.scheme == request_uri.scheme and uri.host == request_uri.host


@dataclass(frozen=True, slots=True)
class Ban:
    """One banned source address: `failures` failed authentications led to it at `since`;
    it ends at `until` (monotonic seconds, like every `now` here)."""

    address: str
    failures: int
    since: float
    until: float


def normalize_address(text: str) -> str:
    """The canonical text of an IP address (`[::1]` and `0:0::1` both become `::1`), as the
    guard keys its tables; ValueError when `text` is not an IP address."""
    return str(ipaddress.ip_address(text.strip().removeprefix("[").removesuffix("]")))


class BruteForceGuard:
    """Refuses a source address after `max_failures` failed authentications within
    `window` seconds, for `ban_time` seconds (issue 2: 20 in a minute). Sans-IO.

    - A success does not reset the count: a guesser who knows one password must not clear
      the counter for the others it tries from the same address.
    - Addresses inside `trusted` networks are never counted nor banned (the switch's own
      host and the admin's LAN: a softphone there retrying a stale password must not lock
      everyone out).
    - A ban ends by itself at `until`: `handle_timer(now)` returns the bans that ended, for
      the shell to log; `lift()` ends one early and forgets its failures."""

    def __init__(self, max_failures: int = 20, window: float = 60.0,
                 ban_time: float = 300.0, trusted: Iterable[Network] = ()) -> None:
        if max_failures < 1 or window <= 0 or ban_time <= 0:
            raise ValueError("max_failures, window and ban_time must be positive")
        self.max_failures = max_failures
        self.window = window
        self.ban_time = ban_time
        self.trusted = tuple(trusted)
        # host -> failure times, ordered by the host's latest failure (oldest first)
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        # host -> its ban; ordered by ban start so the first ends first
        self._banned: OrderedDict[str, Ban] = OrderedDict()

    def is_trusted(self, host: str) -> bool:
        return in_networks(host, self.trusted)

    def is_banned(self, host: str, now: float) -> bool:
        ban = self._banned.get(host)
        return ban is not None and ban.until > now

    def record_failure(self, host: str, now: float) -> Ban | None:
        """Count a failed attempt; the new Ban when it bans `host` (None otherwise, also
        for a trusted or already banned host)."""
        if self.trusted and self.is_trusted(host):
            return None
        if self.is_banned(host, now):
            return None
        times = self._failures.get(host)
        if times is None:
            times = self._failures[host] = deque()
        else:
            self._failures.move_to_end(host)
        times.append(now)
        limit = now - self.window
        while times and times[0] <= limit:
            times.popleft()
        if len(times) >= self.max_failures:
            del self._failures[host]
            ban = Ban(host, len(times), now, now + self.ban_time)
            self._banned.pop(host, None)  # an ended ban the timer has not swept yet
            self._banned[host] = ban
            return ban
        return None

    def lift(self, host: str) -> Ban | None:
        """End `host`'s ban now (an admin's decision) and forget its failures; the ban that
        was lifted, or None when the host was not banned."""
        self._failures.pop(host, None)
        return self._banned.pop(host, None)

    def bans(self, now: float) -> list[Ban]:
        """Current bans, oldest first."""
        return [b for b in self._banned.values() if b.until > now]

    def banned_hosts(self, now: float) -> list[str]:
        return [b.address for b in self.bans(now)]

    def next_deadline(self) -> float | None:
        deadlines = []
        if self._banned:
            deadlines.append(next(iter(self._banned.values())).until)
        if self._failures:
            first = next(iter(self._failures.values()))
            if first:
                deadlines.append(first[-1] + self.window)
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> list[Ban]:
        """Forget hosts whose last failure left the window; end the bans that are over and
        return them (oldest first)."""
        ended: list[Ban] = []
        while self._banned:
            ban = next(iter(self._banned.values()))
            if ban.until > now:
                break
            del self._banned[ban.address]
            ended.append(ban)
        limit = now - self.window
        while self._failures:
            host, times = next(iter(self._failures.items()))
            if times and times[-1] > limit:
                break
            del self._failures[host]
        return ended


def credential_table(realm: str, passwords: Mapping[str, str]) -> dict[str, HA1]:
    """H(user:realm:password) per user for both algorithms, computed once (at start-up and
    at a reload), not once per request; ``table.get`` is a `DigestAuthenticator` lookup."""
    return {user: HA1(md5=compute_ha1("MD5", user, realm, pw),
                      sha256=compute_ha1("SHA-256", user, realm, pw))
            for user, pw in passwords.items()}
