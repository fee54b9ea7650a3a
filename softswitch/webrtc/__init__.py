"""WebRTC calls from the Live Chat widget (omnichannel.md §3.12, consultation mode "Chat and
call"): ``offer`` holds the sans-IO rules (which offers are taken, the concurrency slots),
``gateway`` the aiortc side and its bridge into a media-engine leg."""
