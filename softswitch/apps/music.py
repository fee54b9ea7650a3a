"""What a caller hears while something else happens: ring tone or music on hold, on the
media engine's shared streams (one encode per tick for every listener).

The ring tone is the configured tone region's (`prompts.tone_region`: us, ca, uk, eu, cn,
jp, au, in; ITU-T E.180 Supplement 2, media.player.RINGBACK), one stream for every caller
who hears ringback from the switch: a queue's ringback, an application's bridge, a blind
or attended transfer's transferee, a widget visitor. `use_tone_region` sets it at start and
on a reload that changes it (listeners hear the new tone at once). Decision: the default
is "us", as before; phones make their own ring tone for extension calls (180 without
media), so the region matters only where the switch plays it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from media import MediaLeg
from media.player import Loop, ringback_tone
from softswitch.log import get_logger

if TYPE_CHECKING:  # (the seams import the call shell, which imports this module)
    from softswitch.queue.seams import CallMedia

log = get_logger("apps")

RINGBACK_STREAM = "ringback"
RINGBACK_MUSIC = ("ringback", "ringback_tone")  # the region's ringback tone, not a track


def use_tone_region(media: CallMedia, region: str) -> None:
    """The ring tone of every caller who hears ringback from the switch is ``region``'s."""
    media.set_music(RINGBACK_STREAM, Loop(ringback_tone(region)))


def attach_music(media: CallMedia, leg: MediaLeg, name: str) -> None:
    """What a caller hears while something else happens (a bridge ringing, waiting in a
    queue): "ringback" (also "ringback_tone") is the ring tone, one shared stream; any
    other name is a music-on-hold stream, the default one when it does not exist."""
    from media import MediaError

    if name in RINGBACK_MUSIC:
        if RINGBACK_STREAM not in media.music_streams:
            media.add_music(RINGBACK_STREAM, Loop(ringback_tone("us")))
        media.attach_moh(leg, RINGBACK_STREAM)
        return
    try:
        media.attach_moh(leg, name or "default")
    except MediaError as exc:
        log.warning("music not found, playing the default", music=name, error=str(exc))
        media.attach_moh(leg, "default")
