"""The `feature_codes` config section (queue-admin.md §6.7): defaults, custom codes,
disabled codes, and bad values reported with their line."""

from __future__ import annotations

import pytest

from softswitch.config import ConfigError, parse_config

BASE = """sip:
  listen: [udp:127.0.0.1:0]
  domain: 127.0.0.1
extensions:
  - {number: "1001", password: "secret-1001"}
"""


def test_defaults_are_the_manuals_codes() -> None:
    codes = parse_config(BASE).feature_codes
    assert (codes.sign_in_out, codes.pause_unpause) == ("*7", "*07")


def test_custom_and_disabled_codes() -> None:
    codes = parse_config(BASE + 'feature_codes:\n  sign_in_out: "*5"\n  sign_in_all: null\n'
                         ).feature_codes
    assert codes.sign_in_out == "*5" and codes.sign_in_all is None


@pytest.mark.parametrize("section, line, text", [
    ('feature_codes:\n  sign_in_out: "*07"\n', 6, "*07 is already used by sign_in_out"),
    ('feature_codes:\n  pause_unpause: "abc"\n', 7, "expected digits"),
    ('feature_codes:\n  sign_on: "*9"\n', 6, "unknown key 'sign_on'"),
])
def test_bad_codes_are_reported_with_line(section: str, line: int, text: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(BASE + section)
    (issue,) = exc.value.issues
    assert text in str(issue)
    assert issue.line in (line, line + 1)
