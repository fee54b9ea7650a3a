"""The console's files and its settings endpoint as the running switch serves them
(softswitch.web.console)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from test_console import EXTENSIONS, MANAGER, OVERRIDES, QUEUE

from benchmarks.peers.switch import RunningSwitch


def get(url: str, token: str | None = None) -> tuple[int, str, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"}
                                 if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as reply:
            return reply.status, reply.headers.get("Content-Type", ""), reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


@pytest.mark.switch_config(extensions=EXTENSIONS, queues=[QUEUE], overrides=OVERRIDES)
def test_console_files_and_settings(switch: RunningSwitch) -> None:
    base = switch.http_url
    status, ctype, body = get(base + "/")
    assert (status, ctype.split(";")[0]) == (200, "text/html") and b"/console/app.js" in body
    for name, kind in (("app.js", "text/javascript"), ("live.js", "text/javascript"),
                       ("i18n.js", "text/javascript"), ("reports.js", "text/javascript"),
                       ("style.css", "text/css")):
        status, ctype, _ = get(f"{base}/console/{name}")
        assert (status, ctype.split(";")[0]) == (200, kind), name
    for bad in ("/console/..%2Fconsole.py", "/console/console.py", "/console/missing.js",
                "/console/%2e%2e%2fserver.py"):
        assert get(base + bad)[0] == 404, bad
    assert get(base + "/api/v1/console/settings")[0] == 401
    login = urllib.request.Request(base + "/api/v1/login", method="POST", data=json.dumps(
        {"extension": MANAGER[0], "password": MANAGER[1]}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(login, timeout=10) as reply:
        token = json.loads(reply.read())["token"]
    status, _, body = get(base + "/api/v1/console/settings", token)
    assert status == 200
    assert json.loads(body)["pause_reasons"] == [  # config.example.yaml's
        {"code": "*01", "reason": "Lunch"}, {"code": "*02", "reason": "Break"},
        {"code": "*03", "reason": "Wrap up"}]
