"""`softswitch check` and the config validator: every validation path, as a user sees it."""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

import pytest

from softswitch.config import ConfigError, check_command, load_config, parse_config

ROOT = Path(__file__).resolve().parents[1]

GOOD = """\
sip:
  listen:
    - udp:127.0.0.1:5060
    - tcp:127.0.0.1:0
  domain: pbx.example.com
  registrar: {min_expires: 30, max_expires: 7200, default_expires: 300}
  auth: {realm: example, algorithms: [MD5], nonce_lifetime: 60}
  brute_force: {max_failures: 5, window: 30, ban_time: 120}
  no_answer_timeout: 25
rtp:
  ports: "30000-30099"
  address: 127.0.0.1
http:
  listen: 127.0.0.1:0
database: sqlite:///data/switch.db
smtp:
  host: mail.example.com
  port: 587
  security: starttls
  sender: pbx@example.com
prompts: {directory: prompts, language: zh}
extensions:
  - {number: 0123, name: Zero, password: abcd}
  - {number: "1001", name: Alice, password: secret1, email: a@example.com, agent_id: "7"}
trunks:
  - {name: provider, host: sip.provider.net, port: 5070, transport: tcp, register: true,
     username: "4420001", password: "provider-secret"}
logging: {format: json, level: debug}
"""


def issues(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(text), "c.yaml", Path("/etc/ss"))
    return [str(i) for i in info.value.issues]


def test_example_config_is_valid() -> None:
    config = load_config(ROOT / "config.example.yaml")
    assert [e.number for e in config.extensions] == ["1001", "1002", "1003"]
    assert config.sip.listen[0].transport == "udp"


def test_trusted_networks_and_admins() -> None:
    c = parse_config("""\
sip:
  listen: [udp:127.0.0.1:5060]
  domain: x.org
  trusted_networks: [10.20.0.0/16, "2001:db8::/32", 192.0.2.7]
extensions: [{number: "1001", password: abcd}, {number: "1002", password: efgh}]
admins: ["1002", "1002"]
""")
    assert [str(n) for n in c.sip.trusted_networks] == ["10.20.0.0/16", "2001:db8::/32",
                                                        "192.0.2.7/32"]
    assert c.admins == ("1002",)
    nobody = parse_config("sip: {listen: [udp:127.0.0.1:5060], domain: x.org, "
                          "trusted_networks: []}\nextensions: []\n")
    assert nobody.sip.trusted_networks == ()  # every address can be banned


def test_every_value_is_typed() -> None:
    c = parse_config(GOOD, "c.yaml", Path("/etc/ss"))
    assert [str(a) for a in c.sip.listen] == ["udp:127.0.0.1:5060", "tcp:127.0.0.1:0"]
    assert c.sip.domain == "pbx.example.com" and c.sip.realm == "example"
    assert (c.sip.registrar.min_expires, c.sip.registrar.max_expires,
            c.sip.registrar.default_expires) == (30, 7200, 300)
    assert c.sip.auth.algorithms == ("MD5",) and c.sip.auth.nonce_lifetime == 60
    assert (c.sip.brute_force.max_failures, c.sip.brute_force.window,
            c.sip.brute_force.ban_time) == (5, 30, 120)
    assert c.sip.no_answer_timeout == 25
    assert (c.rtp.port_min, c.rtp.port_max, c.rtp.address) == (30000, 30099, "127.0.0.1")
    assert (c.http.host, c.http.port) == ("127.0.0.1", 0)
    assert c.database.path == "/etc/ss/data/switch.db"  # relative to the config file
    assert c.smtp is not None and c.smtp.port == 587 and c.smtp.security == "starttls"
    assert c.prompts.language == "zh" and c.prompts.directory == "/etc/ss/prompts"
    # an unquoted 0123 stays "0123" (YAML 1.1 would read octal 83)
    assert c.extensions[0].number == "0123" and c.extension("1001").agent_id == "7"
    assert c.trunks[0].register is True and c.trunks[0].transport == "tcp"
    assert c.logging.format == "json" and c.logging.level == "debug"


def test_defaults_for_optional_sections() -> None:
    c = parse_config("sip: {listen: [udp:127.0.0.1:5060], domain: x.org}\nextensions: []\n")
    assert c.sip.registrar.min_expires == 60 and c.sip.no_answer_timeout == 60
    assert c.sip.brute_force.max_failures == 20 and c.sip.brute_force.window == 60
    assert c.sip.auth.algorithms == ("MD5",) and c.sip.realm == "x.org"
    assert [str(n) for n in c.sip.trusted_networks] == ["127.0.0.0/8", "::1/128"]
    assert c.admins == ()
    assert c.smtp is None and c.logging.format == "console" and c.trunks == ()


def test_the_issue_example_message() -> None:
    found = issues("""\
        sip:
          listen:
            - udp:127.0.0.1:5060
            - foo
          domain: x.org
        extensions: []
        """)
    assert found == ["c.yaml:4: sip.listen[1]: expected transport:host:port like "
                     "udp:127.0.0.1:5060, got 'foo'"]


def test_many_problems_reported_together_in_line_order() -> None:
    found = issues("""\
        sip:
          listen: [udp:127.0.0.1:5060, sctp:1.2.3.4:5060, "tcp:[::1]:70000", udp:bad_host:1]
          domian: x
        rtp: {ports: "abc"}
        database: mysql://x
        extensions:
          - {number: "12a", password: abcd}
          - {number: "1001", password: ab}
          - {number: "1001", password: abcd, emial: x}
        logging: {format: jsno, level: loud}
        colour: blue
        """)
    text = "\n".join(found)
    assert "c.yaml:2: sip.domain: required key is missing" in text
    assert "sip.listen[1]: expected transport:host:port like udp:127.0.0.1:5060, got " \
           "'sctp:1.2.3.4:5060' (transport must be udp or tcp, not 'sctp')" in text
    assert "(port must be 0-65535, not '70000')" in text
    assert "(not a host name or IP address: 'bad_host')" in text
    assert "c.yaml:3: sip.domian: unknown key 'domian' (did you mean 'domain'?)" in text
    assert "c.yaml:4: rtp.ports: expected a port range" in text
    assert "c.yaml:5: database: expected a database URL" in text
    assert "c.yaml:7: extensions[0].number: expected an extension number of 1-15 digits" in text
    assert "c.yaml:8: extensions[1].password: expected a password of at least 4" in text
    assert "c.yaml:9: extensions[2].number: extension 1001 is already defined at line 8" in text
    assert "extensions[2].emial: unknown key 'emial' (did you mean 'email'?)" in text
    assert "c.yaml:10: logging.format: expected one of console, json, got 'jsno' " \
           "(did you mean 'json'?)" in text
    assert "logging.level: expected one of debug, info, warning, error, got 'loud'" in text
    assert "c.yaml:11: colour: unknown key 'colour' (expected one of: sip," in text
    lines = [int(f.split(":")[1]) for f in found]
    assert lines == sorted(lines)


@pytest.mark.parametrize("snippet, expected", [
    ("registrar: {min_expires: 100, max_expires: 50}",
     "sip.registrar.min_expires: expected at most max_expires (50), got 100"),
    ("registrar: {default_expires: 5}",
     "sip.registrar.default_expires: expected a value from min_expires (60) to max_expires "
     "(3600), got 5"),
    ("registrar: {min_expires: soon}",
     "sip.registrar.min_expires: expected a whole number from 1 to 86400, got 'soon'"),
    ("registrar: {min_expires: 1.5}",
     "sip.registrar.min_expires: expected a whole number from 1 to 86400, got '1.5'"),
    ("registrar: {min_expires: true}",
     "sip.registrar.min_expires: expected a whole number from 1 to 86400, got 'true'"),
    ("registrar: [1]", "sip.registrar: expected a mapping with keys min_expires"),
    ("auth: {algorithms: [MD5, SHA-512]}",
     "sip.auth.algorithms[1]: expected one of SHA-256, MD5, got 'SHA-512'"),
    ("auth: {algorithms: []}", "sip.auth.algorithms: expected at least one of SHA-256, MD5"),
    ("auth: {algorithms: MD5}", "sip.auth.algorithms: expected a list of digest algorithms"),
    ("trusted_networks: [10.0.0.0/8, 10.0.0.1/8]",
     "sip.trusted_networks[1]: expected a network like 10.0.0.0/8 or 2001:db8::/32, got "
     "'10.0.0.1/8' (10.0.0.1/8 has host bits set)"),
    ("trusted_networks: [lan]", "sip.trusted_networks[0]: expected a network like"),
    ("trusted_networks: 10.0.0.0/8",
     "sip.trusted_networks: expected a list of networks like 10.0.0.0/8, got '10.0.0.0/8'"),
    ("brute_force: {max_failures: 0}",
     "sip.brute_force.max_failures: expected a whole number from 1 to 100000, got 0"),
    ("no_answer_timeout: -1",
     "sip.no_answer_timeout: expected a whole number from 1 to 3600, got -1"),
    ("listen: []", "sip.listen: expected at least one address like udp:127.0.0.1:5060"),
    ("listen: udp:127.0.0.1:5060", "sip.listen: expected a list of listen addresses"),
    ("listen: [udp:127.0.0.1:5060, udp:127.0.0.1:5060]",
     "sip.listen[1]: udp:127.0.0.1:5060 is listed twice"),
    ("listen: [{a: 1}]", "sip.listen[0]: expected transport:host:port like "
                         "udp:127.0.0.1:5060, got a mapping"),
])
def test_sip_section_paths(snippet: str, expected: str) -> None:
    sip = {"listen": "listen: [udp:127.0.0.1:5060]", "domain": "domain: x.org"}
    key = snippet.split(":")[0]
    sip[key] = snippet
    body = "\n".join(f"  {v}" for v in sip.values())
    found = issues(f"sip:\n{body}\nextensions: []\n")
    assert any(expected in f for f in found), found


@pytest.mark.parametrize("section, expected", [
    ("rtp: {ports: '5000-4000'}", "rtp.ports: expected a port range"),
    ("rtp: {ports: '20000-20001'}", "rtp.ports: expected a range of at least 4 ports"),
    ("rtp: {address: localhost}", "rtp.address: expected an IP address, got 'localhost'"),
    ("http: {listen: 8080}", "http.listen: expected host:port like 127.0.0.1:8080, got '8080'"),
    ("http: {}", "http.listen: required key is missing"),
    ("database: postgresql://db", "database: expected a database URL"),
    ("database: sqlite:///", "database: expected a database URL"),
    ("smtp: {port: 25}", "smtp.host: required key is missing"),
    ("smtp: {host: m.example.com, security: ssl}",
     "smtp.security: expected one of none, starttls, tls, got 'ssl'"),
    ("smtp: {host: m.example.com, sender: nobody}",
     "smtp.sender: expected an e-mail address, got 'nobody'"),
    ("prompts: {language: fr}", "prompts.language: expected one of en, zh, got 'fr'"),
    ("prompts: {tone_region: mars}",
     "prompts.tone_region: expected one of us, ca, uk, eu, cn, jp, au, in, got 'mars'"),
    ("extensions: {number: 1}", "extensions: expected a list of extensions, got a mapping"),
    ("extensions: [{name: x}]", "extensions[0].number: required key is missing"),
    ("extensions: [{number: 1, password: abcd, email: bob}]",
     "extensions[0].email: expected an e-mail address, got 'bob'"),
    ("extensions: [{number: 1, password: null}]",
     "extensions[0].password: expected a password, got nothing"),
    ("trunks: [{name: t}]", "trunks[0].host: required key is missing"),
    ("trunks: [{name: t, host: h.net, register: maybe}]",
     "trunks[0].register: expected true or false, got 'maybe'"),
    ("trunks: [{name: t, host: h.net, register: true}]",
     "trunks[0].register: registering to a provider needs the trunk's username and password"),
    ("trunks: [{name: t, host: h.net, register_expires: 5}]",
     "trunks[0].register_expires: expected"),
    ("trunks: [{name: t, host: h.net}, {name: t, host: h.net}]",
     "trunks[1].name: trunk name 't' is used twice"),
    ("logging: json", "logging: expected a mapping with keys format, level"),
    ("admins: ['1009']", "admins[0]: no extension 1009 is defined in extensions"),
    ("admins: [boss]", "admins[0]: expected an extension number of 1-15 digits, got 'boss'"),
    ("admins: '1001'", "admins: expected a list of extension numbers, got '1001'"),
])
def test_other_section_paths(section: str, expected: str) -> None:
    base = "sip: {listen: [udp:127.0.0.1:5060], domain: x.org}\n"
    text = base + section + "\n"
    if not section.startswith("extensions"):
        text += "extensions: []\n"
    found = issues(text)
    assert any(expected in f for f in found), found


def test_duplicate_keys_are_rejected() -> None:
    found = issues("sip: {listen: [udp:127.0.0.1:5060], domain: x.org}\n"
                   "extensions: []\nextensions: []\n")
    assert found == ["c.yaml:3: extensions: duplicate key (an earlier line sets it too)"]


@pytest.mark.parametrize("text, expected", [
    ("", "c.yaml:1: the file is empty"),
    ("sip: [", "not valid YAML"),
    ("- a\n- b\n", "c.yaml:1: expected a mapping with keys sip"),
    ("sip: {listen: [udp:127.0.0.1:5060], domain: x.org}\n", "extensions: required key"),
])
def test_whole_file_problems(text: str, expected: str) -> None:
    assert any(expected in f for f in issues(text))


def test_check_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    assert check_command(argparse.Namespace(config=str(good))) == 0
    assert "OK" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("level: debug", "level: loud").replace("zh", "fr"))
    assert check_command(argparse.Namespace(config=str(bad))) == 1
    err = capsys.readouterr().err
    assert f"{bad}:21: prompts.language" in err and f"{bad}:28: logging.level" in err
    assert "2 problems found" in err
    assert check_command(argparse.Namespace(config=str(tmp_path / "missing.yaml"))) == 1
    assert "cannot read the file" in capsys.readouterr().err


def test_queue_sections_go_to_acd_config_and_its_errors_get_a_line() -> None:
    text = textwrap.dedent("""\
        sip: {listen: [udp:127.0.0.1:5060], domain: x.org}
        extensions:
          - {number: "1001", password: abcd}
        queues:
          - number: "6400"
            name: Sales
            strategy: ring_all
            static_agents:
              - "1001"
              - "1999"
        """)
    with pytest.raises(ConfigError) as info:
        parse_config(text, "c.yaml")
    (issue,) = info.value.issues
    assert (issue.line, issue.path) == (10, "queues[0].static_agents[1]")
    assert "1999" in issue.message
    ok = parse_config(text.replace('      - "1999"\n', ""), "c.yaml")
    assert ok.acd is not None and [q.number for q in ok.acd.queues] == ["6400"]
    assert ok.acd_sections["queues"][0]["name"] == "Sales"


def test_logging_console_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    import io
    import json

    from softswitch.log import configure_logging, get_logger

    out = io.StringIO()
    configure_logging("json", "info", stream=out, cache=False)
    log = get_logger("test")
    log.bind(call_id="abc").info("call state", new="ringing")
    log.debug("hidden at info level")
    (line,) = out.getvalue().splitlines()
    obj = json.loads(line)
    assert obj["event"] == "call state" and obj["call_id"] == "abc" and obj["level"] == "info"
    out = io.StringIO()
    configure_logging("console", "debug", stream=out, cache=False)
    get_logger("test").debug("visible", call_id="x1")
    assert "visible" in out.getvalue() and "call_id=x1" in out.getvalue()


# --- prompt and music names the queue sections use (softswitch.queue.announce.find_prompt)

PROMPT_NAMES = """\
sip: {listen: [udp:127.0.0.1:5060], domain: x.org}
extensions:
  - {number: "1001", password: abcd}
queues:
  - number: "6400"
    name: Sales
    static_agents: ["1001"]
    failover: {type: prompt, target: goodbye}
    key_press_events:
      - {key: "0", destination: {type: prompt, target: survey-thanks}}
    prompts:
      join_announcement: welcome-sales
      queue_announcement: zh/press-1-for-callback
      ringback_tone: ringback
      hold_music: default
      language: en
    satisfaction_survey: {prompt: survey-satisfied, end_prompt: goodbye}
holidays:
  - {name: Christmas, time_zone: Europe/Berlin, start: "2026-12-25", prompt: christmas-greeting}
"""


def test_prompt_names_found_in_the_library_by_the_queue_lookup_rules() -> None:
    """`<language>/<name>` or a full library id (zh/... in an en queue) are accepted."""
    c = parse_config(PROMPT_NAMES, "c.yaml")
    assert c.acd.queues[0].prompts.join_announcement == "welcome-sales"


@pytest.mark.parametrize("old, new, expected", [
    ("join_announcement: welcome-sales", "join_announcement: welcome-sale",
     "c.yaml:12: queues[0].prompts.join_announcement: no prompt 'welcome-sale' in language "
     "'en'"),
    ("queue_announcement: zh/press-1-for-callback", "queue_announcement: fr/press-1",
     "c.yaml:13: queues[0].prompts.queue_announcement: no prompt 'fr/press-1'"),
    ("ringback_tone: ringback", "ringback_tone: jazz",
     "c.yaml:14: queues[0].prompts.ringback_tone: no music 'jazz': expected ringback or one "
     "of default"),
    ("hold_music: default", "hold_music: classic",
     "c.yaml:15: queues[0].prompts.hold_music: no music 'classic'"),
    ("target: goodbye}", "target: bye}",
     "c.yaml:8: queues[0].failover.target: no prompt 'bye'"),
    ("target: survey-thanks}", "target: thanks}",
     "c.yaml:10: queues[0].key_press_events[0].destination.target: no prompt 'thanks'"),
    ("prompt: survey-satisfied,", "prompt: survey,",
     "c.yaml:17: queues[0].satisfaction_survey.prompt: no prompt 'survey'"),
    ("end_prompt: goodbye}", "end_prompt: good-bye}",
     "c.yaml:17: queues[0].satisfaction_survey.end_prompt: no prompt 'good-bye' in language "
     "'en' in"),
    ("prompt: christmas-greeting}", "prompt: xmas}",
     "c.yaml:19: holidays[0].prompt: no prompt 'xmas' in language 'en'"),
])
def test_unknown_prompt_names_are_refused_with_their_line(old: str, new: str,
                                                          expected: str) -> None:
    assert old in PROMPT_NAMES
    with pytest.raises(ConfigError) as info:
        parse_config(PROMPT_NAMES.replace(old, new), "c.yaml")
    found = [str(i) for i in info.value.issues]
    assert len(found) == 1 and found[0].startswith(expected), found


def test_a_near_miss_is_named() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(PROMPT_NAMES.replace("welcome-sales", "welcome-sale"), "c.yaml")
    assert "(did you mean welcome-sales" in str(info.value.issues[0])


def small_library(root: Path) -> Path:
    """A prompts directory with en/hello (installed), en/later (from a Debian package, not
    installed yet) and the music moh/calm."""
    import wave

    lib = root / "prompts"
    (lib / "en").mkdir(parents=True)
    (lib / "moh").mkdir()
    for rel in ("en/hello.wav", "moh/calm.wav", "custom.wav"):
        with wave.open(str(lib / rel), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(b"\x10\x00" * 800)
    entry = {"text": "", "language": "en", "duration": 0.1, "source": "espeak-ng"}
    manifest = {"prompts": {"en/hello": {**entry, "file": "en/hello.wav"},
                            "en/later": {**entry, "file": "en/later.wav",
                                         "source": "asterisk-core-sounds-en-wav"}},
                "music": {"moh/calm": {**entry, "file": "moh/calm.wav", "language": ""}}}
    (lib / "manifest.json").write_text(json.dumps(manifest))
    return lib


def queue_with(directory: str, **prompts: str) -> str:
    lines = "".join(f"\n      {k}: {v}" for k, v in prompts.items())
    return (f"sip: {{listen: [udp:127.0.0.1:5060], domain: x.org}}\n"
            f"prompts: {{directory: {directory}, language: zh}}\n"
            f"extensions: [{{number: '1001', password: abcd}}]\n"
            f"queues:\n  - number: '6400'\n    name: Sales\n    static_agents: ['1001']\n"
            f"    prompts:{lines}\n")


def test_the_configured_prompts_directory_is_the_library_checked(tmp_path: Path) -> None:
    small_library(tmp_path)
    ok = queue_with("prompts", join_announcement="hello", hold_music="calm",
                    ringback_tone="calm", queue_announcement="custom.wav", language="en")
    c = parse_config(ok, "c.yaml", tmp_path)  # custom.wav: relative to prompts.directory
    assert c.prompts.directory == str(tmp_path / "prompts")
    found = issues_in(ok.replace("language: en", "language: zh"), tmp_path)
    assert found == ["c.yaml:9: queues[0].prompts.join_announcement: no prompt 'hello' in "
                     f"language 'zh' in {tmp_path}/prompts/manifest.json, and no such WAV "
                     "file"]
    (found,) = issues_in(ok.replace("custom.wav", "other.wav"), tmp_path)
    assert found.startswith("c.yaml:12: queues[0].prompts.queue_announcement: no prompt "
                            "'other.wav'")
    (found,) = issues_in(ok.replace("hold_music: calm", "hold_music: default"), tmp_path)
    assert "no music 'default': expected ringback or one of calm" in found


def test_a_library_prompt_not_installed_yet_is_refused(tmp_path: Path) -> None:
    small_library(tmp_path)
    (found,) = issues_in(queue_with("prompts", join_announcement="later",
                                    ringback_tone="calm", hold_music="calm", language="en"),
                         tmp_path)
    assert found.startswith("c.yaml:9: queues[0].prompts.join_announcement: ")
    assert "en/later.wav is missing" in found and "asterisk-core-sounds-en-wav" in found
    assert "make prompts" in found


def test_a_prompts_directory_without_a_manifest(tmp_path: Path) -> None:
    (found,) = issues_in(queue_with("nowhere", join_announcement="hello"), tmp_path)
    assert found.startswith(f"c.yaml:2: prompts.directory: prompt manifest not found: "
                            f"{tmp_path}/nowhere/manifest.json")


def test_a_holiday_prompt_in_the_language_of_the_queues_routed_by_its_time_zone(
        tmp_path: Path) -> None:
    small_library(tmp_path)
    text = queue_with("prompts", ringback_tone="calm", hold_music="calm", language="zh") + (
        "    time_based_routing:\n      time_zone: Europe/Berlin\n"
        "      outside_business_hours: {type: hangup}\n"
        "business_hours:\n  - time_zone: Europe/Berlin\n    periods:\n"
        "      - {days: [mon], time: '09:00-18:00'}\n"
        "holidays:\n  - {name: X, time_zone: Europe/Berlin, start: '2026-12-25', "
        "prompt: hello}\n")
    (found,) = issues_in(text, tmp_path)
    assert found.startswith("c.yaml:20: holidays[0].prompt: no prompt 'hello' in language "
                            "'zh'")
    parse_config(text.replace("language: zh", "language: en"), "c.yaml", tmp_path)


def issues_in(text: str, config_dir: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "c.yaml", config_dir)
    return [str(i) for i in info.value.issues]
