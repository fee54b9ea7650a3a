"""A REAL SMTP server for e-mail tests (aiosmtpd on a free loopback port) and the messages
it received, in order. ``delay`` makes it a slow server."""

from __future__ import annotations

import asyncio
import email
import socket
from email.message import Message
from typing import Any

from aiosmtpd.smtp import SMTP


class Inbox:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.messages: asyncio.Queue[tuple[list[str], Message]] = asyncio.Queue()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.messages.put_nowait((list(envelope.rcpt_tos),
                                  email.message_from_bytes(envelope.content)))
        return "250 OK"

    async def next(self, timeout: float = 15.0) -> tuple[list[str], Message]:
        return await asyncio.wait_for(self.messages.get(), timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def serve(inbox: Inbox, port: int = 0) -> asyncio.Server:
    return await asyncio.get_running_loop().create_server(lambda: SMTP(inbox), "127.0.0.1",
                                                          port)
