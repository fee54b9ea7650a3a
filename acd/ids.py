"""Identifier types shared by the ACD's inputs, commands and events.

* ``AgentId``: an agent is identified by its extension number, e.g. ``"1001"``.
* ``QueueId``: a call queue by its number (``"6400"``); a message queue by its name.
* ``TaskId``: an opaque string chosen by the caller of the engine (a SIP Call-ID, a chat
  session id, ...). The engine never parses it.
"""

from __future__ import annotations

AgentId = str
QueueId = str
TaskId = str
