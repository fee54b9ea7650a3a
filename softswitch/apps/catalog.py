"""Every application module that serves a destination type, imported once by
`softswitch.destinations.applications()` so that each registers itself
(`softswitch.destinations.register_application`). A new application adds its import here.
"""

from softswitch.apps import prompt  # noqa: F401  (prompt: play, then a destination)
