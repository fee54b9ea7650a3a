"""Processes the SIP benchmark and the interop harness start: the switch under test, sipp,
and the peers it is measured against (Kamailio, Sippy B2BUA).

Shared by `benchmarks.sip_load` and `tests/interop/`; nothing here is a test double: every
launcher starts the real program and waits until it answers on its SIP socket.
"""
