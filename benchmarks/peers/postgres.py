"""A throw-away PostgreSQL server (the storage and report tests, benchmarks.reports):
``initdb`` into a temporary folder and ``pg_ctl start`` on a free loopback port, run as an
unprivileged user (PostgreSQL refuses to run as root, and CI runs as root: then the folder
is handed to the ``postgres`` system user, or ``nobody``, and the programs run through
``runuser``). Debian's ``postgresql`` package provides the programs (the Makefile installs
it)."""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return versions[-1] if versions else None


def available() -> bool:
    return _bin("initdb") is not None and _bin("pg_ctl") is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yields the URL of a running server's ``postgres`` database (superuser ``postgres``,
    trust authentication on loopback only)."""
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    assert initdb and pg_ctl, "PostgreSQL's programs are not installed"
    prefix: list[str] = []
    root = tempfile.mkdtemp(prefix="softswitch-pg-")
    if os.geteuid() == 0:
        user = next(u for u in ("postgres", "nobody") if _user_exists(u))
        entry = pwd.getpwnam(user)
        os.chmod(root, 0o755)
        os.chown(root, entry.pw_uid, entry.pw_gid)
        prefix = ["runuser", "-u", user, "--"]
    data, port = os.path.join(root, "data"), _free_port()
    run = dict(check=True, capture_output=True, cwd=root)
    subprocess.run([*prefix, initdb, "-D", data, "-U", "postgres", "-A", "trust",
                    "--no-sync", "-E", "UTF8", "--locale=C"], **run)  # type: ignore[call-overload]
    options = (f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off"
               " -c synchronous_commit=off -c full_page_writes=off")
    subprocess.run([*prefix, pg_ctl, "-D", data, "-l", os.path.join(root, "log"), "-w",
                    "-o", options, "start"], **run)  # type: ignore[call-overload]
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"],
                       capture_output=True, cwd=root)
        shutil.rmtree(root, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


_databases = itertools.count(1)


@asynccontextmanager
async def database(server_url: str) -> AsyncIterator[str]:
    """A fresh, empty database on the server at ``server_url``, dropped afterwards."""
    import asyncpg

    name = f"t{os.getpid()}_{next(_databases)}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    try:
        yield server_url.rsplit("/", 1)[0] + "/" + name
    finally:
        admin = await asyncpg.connect(server_url)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await admin.close()
