"""Call applications: every call the switch answers itself (DESIGN.md principle 6).

`softswitch.apps.flow` is the contract: a sans-IO `Flow` per application (echo, feature
codes, prompt, IVR, voicemail, call flow, ring group's announcements, the queue's caller
side) takes the caller's events with `now` and returns `Action`s; one asyncio shell
(`softswitch.apps.shell`) answers the caller, owns the dialog and the media leg, applies the
one in-dialog policy, and executes the actions.
"""
