"""Every application module that serves a destination type, imported once by
`softswitch.destinations.applications()` so that each registers itself
(`softswitch.destinations.register_application`). A new application adds its import here.
"""

from softswitch.apps import (
    applications,  # noqa: F401,E402  (IVR, ring group, call flow, voicemail)
    prompt,  # noqa: F401  (prompt: play, then a destination)
)
