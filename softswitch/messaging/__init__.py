"""Omnichannel messaging (omnichannel.md §2-§6, §9): channels, routing, message queues and
chat sessions.

Modules: config (the ``message_channels`` section), sessions (the sans-IO session core:
lifecycle, visibility, auto-close), queues (the core's message queues on the ACD engine),
store (rows in the switch's database, migrations 13, 15, 16, 17), general (the General SMS API
channel: webhook, send, verification, the retrying outbox), providers (the named providers:
Twilio, Telnyx, Bandwidth, Flowroute, WhatsApp Cloud API, Messenger, each in its own
module), service (the asyncio shell, and SIP MESSAGE channels through
softswitch.app.SipRouter), livechat (the website widget's channel: its configuration,
visitor websocket, automatic messages and limits), api (the webhooks and the agents' REST
endpoints; deltas on the live websocket feed), files (agents' replies with a file, served to
the providers for 72 hours), voice (a call to a session's customer). The third-party
platform destination (``{type: api}``, ``messaging_api``) is the sessions core's; the
message-queue limits by extension capacity are queues' (checked by softswitch.config).
"""
