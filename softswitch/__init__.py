"""A contact-center softswitch: SIP core, queue calls, messaging, reports in one asyncio process."""

__version__ = "0.1.0"
