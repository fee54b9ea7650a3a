"""The per-source request flood guard (softswitch.sip.ratelimit) in virtual time."""

from __future__ import annotations

import ipaddress

import pytest

from softswitch.sip.ratelimit import RateVerdict, RequestRateLimit

ADMIT, STARTED, BLOCKED = RateVerdict.ADMIT, RateVerdict.BLOCK_STARTED, RateVerdict.BLOCKED
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def burst(limit: RequestRateLimit, host: str, count: int, now: float) -> list[RateVerdict]:
    return [limit.check(host, now) for _ in range(count)]


def test_the_request_over_the_limit_starts_a_block_and_the_rest_are_dropped() -> None:
    limit = RequestRateLimit(requests=30, interval=2.0, block_time=60.0)
    got = burst(limit, "203.0.113.9", 35, now=100.0)
    assert got == [ADMIT] * 30 + [STARTED] + [BLOCKED] * 4
    assert limit.blocked_sources(100.0) == ["203.0.113.9"]


def test_other_sources_are_not_affected() -> None:
    limit = RequestRateLimit(requests=5, interval=2.0, block_time=60.0)
    burst(limit, "203.0.113.9", 10, now=0.0)
    assert burst(limit, "198.51.100.7", 5, now=0.5) == [ADMIT] * 5
    assert limit.check("203.0.113.9", 0.5) is BLOCKED


def test_requests_spread_over_intervals_are_never_blocked() -> None:
    """30 per 2 s allowed: 15 a second for a minute passes (a new window every 2 s)."""
    limit = RequestRateLimit(requests=30, interval=2.0, block_time=60.0)
    verdicts = [limit.check("203.0.113.9", i / 15) for i in range(15 * 60)]
    assert set(verdicts) == {ADMIT}


def test_the_block_ends_after_block_time_with_a_clean_count() -> None:
    limit = RequestRateLimit(requests=3, interval=1.0, block_time=10.0)
    assert burst(limit, "h1", 4, now=0.0)[-1] is STARTED
    assert limit.check("h1", 9.99) is BLOCKED
    assert burst(limit, "h1", 3, now=10.0) == [ADMIT] * 3
    # a flood that goes on is blocked again, and that block is reported again (logged once
    # per block)
    assert burst(limit, "h1", 2, now=10.5) == [STARTED, BLOCKED]


def test_requests_while_blocked_do_not_extend_the_block() -> None:
    limit = RequestRateLimit(requests=1, interval=1.0, block_time=5.0)
    burst(limit, "h1", 2, now=0.0)
    for t in range(5):
        assert limit.check("h1", float(t)) is BLOCKED
    assert limit.check("h1", 5.0) is ADMIT


def test_trusted_networks_are_never_limited() -> None:
    limit = RequestRateLimit(requests=2, interval=1.0, block_time=5.0, trusted=LOOPBACK)
    assert set(burst(limit, "127.0.0.1", 1000, now=0.0)) == {ADMIT}
    assert set(burst(limit, "127.9.9.9", 1000, now=0.0)) == {ADMIT}
    assert set(burst(limit, "::1", 1000, now=0.0)) == {ADMIT}
    assert burst(limit, "10.0.0.1", 3, now=0.0)[-1] is STARTED
    assert limit.tracked_sources == 1  # trusted sources take no memory


def test_without_trusted_networks_loopback_is_limited_too() -> None:
    limit = RequestRateLimit(requests=2, interval=1.0, block_time=5.0, trusted=())
    assert burst(limit, "127.0.0.1", 3, now=0.0)[-1] is STARTED


def test_memory_holds_only_recent_and_blocked_sources() -> None:
    limit = RequestRateLimit(requests=10, interval=2.0, block_time=30.0)
    for i in range(10_000):  # an address sweep, one request each
        limit.check(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", now=i / 10_000)
    assert limit.tracked_sources == 10_000
    burst(limit, "203.0.113.9", 11, now=1.5)
    limit.check("198.51.100.7", now=3.0)  # the sweep's windows are over
    assert limit.tracked_sources == 2  # the blocked source and the last one
    limit.check("198.51.100.7", now=40.0)
    assert limit.tracked_sources == 1


def test_names_and_ipv6_literals() -> None:
    limit = RequestRateLimit(requests=1, interval=1.0, block_time=5.0, trusted=LOOPBACK)
    assert limit.is_trusted("[::1]") and not limit.is_trusted("phone.example.com")
    assert not limit.is_trusted("2001:db8::1")
    assert limit.is_trusted("::ffff:127.0.0.1")  # an IPv4 peer on a dual-stack socket


@pytest.mark.parametrize("args", [(0, 1.0, 1.0), (1, 0.0, 1.0), (1, 1.0, 0.0)])
def test_nonsense_settings_are_refused(args: tuple[int, float, float]) -> None:
    with pytest.raises(ValueError):
        RequestRateLimit(*args)


# -- configuration: sip.rate_limit and sip.trusted_networks ------------------------------


def _parse(sip_lines: str) -> object:
    from pathlib import Path

    from softswitch.config import parse_config

    text = f"sip:\n  listen: [udp:127.0.0.1:5060]\n  domain: x.org\n{sip_lines}extensions: []\n"
    return parse_config(text, "c.yaml", Path("/etc/ss"))


def test_config_defaults_limit_everyone_but_loopback() -> None:
    sip = _parse("").sip  # type: ignore[attr-defined]
    assert (sip.rate_limit.enabled, sip.rate_limit.requests, sip.rate_limit.interval,
            sip.rate_limit.block_time) == (True, 100, 2, 60)
    assert [str(n) for n in sip.trusted_networks] == ["127.0.0.0/8", "::1/128"]


def test_config_values_are_read() -> None:
    sip = _parse("  rate_limit: {enabled: false, requests: 5, interval: 3, block_time: 9}\n"
                 "  trusted_networks: [10.1.0.0/16, 192.0.2.7, '2001:db8::/32']\n"
                 ).sip  # type: ignore[attr-defined]
    assert (sip.rate_limit.enabled, sip.rate_limit.requests, sip.rate_limit.interval,
            sip.rate_limit.block_time) == (False, 5, 3, 9)
    assert [str(n) for n in sip.trusted_networks] == ["10.1.0.0/16", "192.0.2.7/32",
                                                      "2001:db8::/32"]
    assert _parse("  trusted_networks: []\n").sip.trusted_networks == ()  # type: ignore


@pytest.mark.parametrize("snippet, expected", [
    ("rate_limit: {requests: 0}",
     "c.yaml:4: sip.rate_limit.requests: expected a whole number from 1 to 1000000, got 0"),
    ("rate_limit: {interval: 1.5}",
     "sip.rate_limit.interval: expected a whole number from 1 to 3600, got '1.5'"),
    ("rate_limit: {block_time: -1}",
     "sip.rate_limit.block_time: expected a whole number from 1 to 86400, got -1"),
    ("rate_limit: {enabled: maybe}", "sip.rate_limit.enabled: expected true or false"),
    ("rate_limit: {burst: 3}", "sip.rate_limit.burst: unknown key 'burst'"),
    ("trusted_networks: [10.0.0.0/33]",
     "sip.trusted_networks[0]: expected a network like 10.0.0.0/8 or 2001:db8::/32"),
    ("trusted_networks: 10.0.0.0/8", "sip.trusted_networks: expected a list of networks"),
])
def test_config_errors_name_file_line_and_key(snippet: str, expected: str) -> None:
    from softswitch.config import ConfigError

    with pytest.raises(ConfigError) as info:
        _parse(f"  {snippet}\n")
    found = [str(i) for i in info.value.issues]
    assert any(expected in f for f in found), found
