"""Fixtures of the interop harness: the switch as a real process, sipp, Kamailio, and
softphones (pjsua2 in subprocesses, baresip), all on loopback with ports from the OS.

Customise the switch of one test with a marker:

    @pytest.mark.switch_config(extensions=[Extension("2001", "pw")], overrides={...})
    def test_x(switch): ...

or start more than one with `switch_factory(...)`. Nothing here skips: if a program cannot
start, the test fails with that program's output.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from baresip import Baresip, BaresipAccount  # noqa: E402
from phones import Phone  # noqa: E402

from benchmarks.peers.kamailio import Kamailio  # noqa: E402
from benchmarks.peers.sipp import Sipp  # noqa: E402
from benchmarks.peers.switch import (  # noqa: E402
    Extension,
    RunningSwitch,
    SwitchStartError,
    build_config,
    start_switch,
)

SCENARIOS = HERE / "sipp"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "switch_config(extensions=None, keep_demo_extensions=True, queues=None, overrides=None):"
        " configuration of the `switch` fixture",
    )


@pytest.fixture
def switch_factory(tmp_path: Path) -> Iterator[Callable[..., RunningSwitch]]:
    """Start switches with `switch_factory(extensions=..., queues=..., overrides=...)`.

    Teardown sends SIGTERM to each and fails the test unless it exits with status 0 in 15 s.
    """
    started: list[RunningSwitch] = []

    def start(
        *,
        extensions: list[Extension | dict[str, Any]] | None = None,
        keep_demo_extensions: bool = True,
        queues: list[dict[str, Any]] | None = None,
        overrides: dict[str, Any] | None = None,
        timeout: float = 30.0,
    ) -> RunningSwitch:
        workdir = tmp_path / f"switch{len(started)}"
        workdir.mkdir()
        config = build_config(workdir, extensions=extensions,
                              keep_demo_extensions=keep_demo_extensions,
                              queues=queues, overrides=overrides)
        try:
            running = start_switch(workdir, config, timeout=timeout)
        except SwitchStartError as exc:
            pytest.fail(str(exc), pytrace=False)
        started.append(running)
        return running

    yield start

    problems = []
    for running in started:
        was_alive = running.alive()
        code = running.stop(15.0)
        if not was_alive:
            problems.append(f"switch died during the test (status {code})")
        elif code != 0:
            problems.append(f"switch did not exit cleanly on SIGTERM (status {code}; "
                            f"{'killed' if code == -signal.SIGKILL else 'exited'})")
        else:
            continue
        problems.append(running.output())
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def switch(request: pytest.FixtureRequest,
           switch_factory: Callable[..., RunningSwitch]) -> RunningSwitch:
    """A running switch on free loopback ports (see `switch_config` marker)."""
    marker = request.node.get_closest_marker("switch_config")
    kwargs = dict(marker.kwargs) if marker else {}
    return switch_factory(**kwargs)


@pytest.fixture
def sipp(tmp_path: Path) -> Iterator[Callable[..., Sipp]]:
    """`sipp(scenario, remote, **options)` -> a not yet started `Sipp`; a scenario name without
    a directory is looked up in tests/interop/sipp/ then benchmarks/sipp/. Processes still
    running at teardown are stopped."""
    made: list[Sipp] = []

    def make(scenario: str | Path, remote: str | None, **options: Any) -> Sipp:
        path = Path(scenario)
        if not path.is_absolute() and (SCENARIOS / path).exists():
            path = SCENARIOS / path
        options.setdefault("name", f"{path.stem}{len(made)}")
        runner = Sipp(path, remote, tmp_path / "sipp", **options)
        made.append(runner)
        return runner

    yield make
    for runner in made:
        if runner.proc is not None and runner.alive():
            runner.stop(grace=3)


@pytest.fixture
def kamailio_factory(tmp_path: Path) -> Iterator[Callable[..., Kamailio]]:
    """Start a Kamailio registrar/proxy with digest auth for the given (user, password)s."""
    started: list[Kamailio] = []

    def start(users: list[tuple[str, str]]) -> Kamailio:
        k = Kamailio(tmp_path / f"kamailio{len(started)}", users)
        try:
            k.start()
        except RuntimeError as exc:
            pytest.fail(str(exc), pytrace=False)
        started.append(k)
        return k

    yield start
    for k in started:
        k.stop()


@pytest.fixture
def phone_factory(tmp_path: Path) -> Iterator[Callable[..., Phone]]:
    """`phone_factory("alice")` -> a pjsua2 softphone in its own process (closed at teardown).
    Files (pjsua log with SIP messages, recordings you ask for) go to tmp_path/phones."""
    made: list[Phone] = []

    def make(name: str | None = None, **kw: Any) -> Phone:
        phone = Phone(tmp_path / "phones", name or f"phone{len(made)}", **kw)
        made.append(phone)
        return phone

    yield make
    for phone in made:
        phone.close()


@pytest.fixture
def baresip_factory(tmp_path: Path) -> Iterator[Callable[..., Baresip]]:
    """`baresip_factory(name, source_wav, [BaresipAccount(...)])` -> a headless baresip that
    sends `source_wav` in its calls and records what it receives (closed at teardown)."""
    made: list[Baresip] = []

    def make(name: str, source_wav: Path, accounts: list[BaresipAccount]) -> Baresip:
        bs = Baresip(tmp_path / "baresip", name, source_wav, accounts)
        made.append(bs)
        return bs

    yield make
    for bs in made:
        bs.close()
