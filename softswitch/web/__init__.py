"""The switch's HTTP side (DESIGN.md "Contracts": REST under /api/v1/): one aiohttp
sub-application or route set per concern, registered by softswitch.app."""
