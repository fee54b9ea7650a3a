"""linphonec (Debian package `linphone-cli`, liblinphone 5) as a headless softphone for
interop tests: registration only.

The account lives in the rc file written here (`[proxy_0]` and `[auth_info_0]`), so
linphonec registers at start-up without any prompt; HOME points into the work directory
(linphone keeps its database under ~/.local/share). No sound card is needed to register:
liblinphone logs that ALSA has no card and goes on. The log (`-d 6 -l FILE`, SIP messages
included) is where the registration state is read:
`... moving from state [LinphoneRegistrationProgress] to [LinphoneRegistrationOk]`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

from benchmarks.peers.net import free_port

_STATE = re.compile(r"for identity \[([^\]]+)\] moving from state \[\w+\] to \[(\w+)\]")


class LinphoneError(AssertionError):
    pass


class Linphone:
    """One linphonec process registering `user` to host:port over UDP."""

    def __init__(self, workdir: Path, name: str, user: str, password: str, host: str,
                 port: int, domain: str) -> None:
        binary = shutil.which("linphonec")
        if binary is None:
            raise LinphoneError("linphonec is not installed (Debian package linphone-cli)")
        self.name = name
        self.dir = Path(workdir) / name
        (self.dir / ".local/share/linphone").mkdir(parents=True, exist_ok=True)
        self.identity = f"sip:{user}@{domain}"
        self.log_path = self.dir / "linphone.log"
        rc = self.dir / "linphonerc"
        rc.write_text(f"""\
[sip]
sip_port={free_port()}
sip_tcp_port=-1
sip_tls_port=-1
default_proxy=0
register_only_when_network_is_up=0
[rtp]
audio_rtp_port={free_port()}
[sound]
playback_dev_id=
ringer_dev_id=
capture_dev_id=
[proxy_0]
reg_proxy=<sip:{host}:{port};transport=udp>
reg_identity={self.identity}
reg_expires=300
reg_sendregister=1
publish=0
[auth_info_0]
username={user}
passwd={password}
realm={domain}
domain={domain}
""")
        self._out = open(self.dir / "stdout.txt", "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [binary, "-c", str(rc), "-d", "6", "-l", str(self.log_path)],
            stdin=subprocess.PIPE, stdout=self._out, stderr=subprocess.STDOUT, cwd=self.dir,
            env={"HOME": str(self.dir), "PATH": "/usr/bin:/bin"}, start_new_session=True)

    def states(self) -> list[str]:
        """Registration states of our account so far, in order."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return []
        return [m[2] for m in _STATE.finditer(text) if m[1] == self.identity]

    def wait_registration(self, timeout: float = 15.0) -> str:
        """The first final state: LinphoneRegistrationOk, ...Failed (or a LinphoneError)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = [s for s in self.states() if s in ("LinphoneRegistrationOk",
                                                      "LinphoneRegistrationFailed")]
            if done:
                return done[0]
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise LinphoneError(f"{self.name}: no registration result in {timeout}s (states "
                            f"{self.states()}, exit {self.proc.poll()})\n{self.log()}")

    def log(self, chars: int = 4000) -> str:
        try:
            return "--- linphone log ---\n" + self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def close(self, timeout: float = 5.0) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None:
            try:
                self.proc.stdin.write(b"quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)
        self._out.close()
