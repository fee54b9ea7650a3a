"""The registrar core (RFC 3261 §10.3) in virtual time: no sockets, no sleeping."""

from __future__ import annotations

from softswitch.registrar import WILDCARD, Binding, ContactRequest, LocationService

SRC = ("192.0.2.10", 40000)


def register(loc: LocationService, contacts: list[ContactRequest] | str, now: float,
             expires: int | None = None, call_id: str = "c1", cseq: int = 1,
             aor: str = "1001"):
    return loc.handle_register(aor, contacts, expires, call_id, cseq, SRC, "udp", now)


def test_contact_registered_with_header_expires_and_source_address() -> None:
    loc = LocationService()
    out = register(loc, [ContactRequest("sip:1001@10.0.0.5:5060")], now=100.0, expires=300)
    assert out.status == 200
    (b,) = out.bindings
    assert (b.contact, b.remaining(100.0)) == ("sip:1001@10.0.0.5:5060", 300)
    # NAT: the request target is where the REGISTER came from, not the private Contact
    assert (b.received_host, b.received_port, b.transport) == ("192.0.2.10", 40000, "udp")
    assert [x.contact for x in loc.lookup("1001", 100.0)] == ["sip:1001@10.0.0.5:5060"]


def test_expires_param_beats_header_default_applies_max_caps() -> None:
    loc = LocationService(min_expires=60, max_expires=3600, default_expires=600)
    out = register(loc, [ContactRequest("sip:a@h", expires=120), ContactRequest("sip:b@h"),
                         ContactRequest("sip:c@h", expires=99999)], now=0.0, expires=None)
    remaining = {b.contact: b.remaining(0.0) for b in out.bindings}
    assert remaining == {"sip:a@h": 120, "sip:b@h": 600, "sip:c@h": 3600}


def test_too_brief_gets_423_with_min_expires_and_changes_nothing() -> None:
    loc = LocationService(min_expires=60)
    out = register(loc, [ContactRequest("sip:a@h", expires=3600), ContactRequest("sip:b@h")],
                   now=0.0, expires=30)
    assert (out.status, out.min_expires) == (423, 60)
    assert loc.lookup("1001", 0.0) == []


def test_multiple_contacts_per_extension_from_several_phones() -> None:
    loc = LocationService()
    register(loc, [ContactRequest("sip:desk@h")], 0.0, 600, call_id="desk")
    out = register(loc, [ContactRequest("sip:soft@h", q=0.5)], 10.0, 600, call_id="soft")
    assert {b.contact for b in out.bindings} == {"sip:desk@h", "sip:soft@h"}
    # q orders the lookup (no q counts as 1.0)
    assert [b.contact for b in loc.lookup("1001", 20.0)] == ["sip:desk@h", "sip:soft@h"]


def test_refresh_unregister_and_wildcard() -> None:
    loc = LocationService()
    register(loc, [ContactRequest("sip:a@h")], 0.0, 600, cseq=1)
    register(loc, [ContactRequest("sip:b@h")], 0.0, 600, call_id="c2", cseq=1)
    out = register(loc, [ContactRequest("sip:a@h")], 500.0, 600, cseq=2)
    assert {b.contact: b.remaining(500.0) for b in out.bindings}["sip:a@h"] == 600
    out = register(loc, [ContactRequest("sip:a@h", expires=0)], 501.0, None, cseq=3)
    assert [b.contact for b in out.removed] == ["sip:a@h"]
    assert [b.contact for b in out.bindings] == ["sip:b@h"]
    assert register(loc, WILDCARD, 502.0, expires=3600, cseq=4).status == 400
    out = register(loc, WILDCARD, 502.0, expires=0, cseq=4)
    assert out.status == 200 and [b.contact for b in out.removed] == ["sip:b@h"]
    assert loc.lookup("1001", 502.0) == []


def test_plain_refresh_is_not_a_contact_change_but_a_new_source_is() -> None:
    loc = LocationService()
    c = [ContactRequest("sip:1001@10.0.0.5:5060")]
    assert register(loc, c, now=0.0, expires=300).contacts_changed
    assert not register(loc, c, now=10.0, expires=300, cseq=2).contacts_changed
    moved = loc.handle_register("1001", c, 300, "c1", 3, ("192.0.2.99", 40000), "udp", 20.0)
    assert moved.contacts_changed  # NAT binding moved: requests now go elsewhere
    assert register(loc, c, now=30.0, expires=0, cseq=4).contacts_changed


def test_out_of_order_cseq_is_refused() -> None:
    loc = LocationService()
    register(loc, [ContactRequest("sip:a@h")], 0.0, 600, cseq=5)
    out = register(loc, [ContactRequest("sip:a@h", expires=0)], 1.0, None, cseq=5)
    assert out.status == 500
    assert len(loc.lookup("1001", 1.0)) == 1
    # another Call-ID (another phone / a rebooted one) may always update
    assert register(loc, [ContactRequest("sip:a@h")], 1.0, 600, call_id="x", cseq=1).status \
        == 200


def test_query_without_contact_lists_bindings() -> None:
    loc = LocationService()
    register(loc, [ContactRequest("sip:a@h")], 0.0, 600)
    out = register(loc, [], 1.0, None, cseq=2)
    assert out.status == 200 and [b.contact for b in out.bindings] == ["sip:a@h"]


def test_expiry_sweep_in_virtual_time() -> None:
    loc = LocationService()
    register(loc, [ContactRequest("sip:a@h")], 0.0, 100, call_id="a")
    register(loc, [ContactRequest("sip:b@h")], 0.0, 200, call_id="b", aor="1002")
    assert loc.next_deadline() == 100.0
    # refreshing a moves its deadline; the stale heap entry is skipped
    register(loc, [ContactRequest("sip:a@h")], 50.0, 300, call_id="a", cseq=2)
    assert loc.next_deadline() == 200.0
    assert loc.handle_timer(199.9) == []
    assert [b.aor for b in loc.handle_timer(200.0)] == ["1002"]
    assert loc.next_deadline() == 350.0
    assert loc.lookup("1001", 349.0) and not loc.lookup("1001", 350.0)
    assert [b.contact for b in loc.handle_timer(350.0)] == ["sip:a@h"]
    assert loc.next_deadline() is None and len(loc) == 0


def test_refreshes_keep_one_heap_entry_per_binding_and_expiry_still_exact() -> None:
    loc = LocationService()
    for i in range(1000):  # a phone refreshing every second with expires=600
        register(loc, [ContactRequest("sip:a@h")], float(i), 600, call_id="a", cseq=i + 1)
    assert len(loc._heap) == 1
    # the entry pushed at the first REGISTER comes due at 600: no expiry, moved to 1599
    assert loc.handle_timer(600.0) == []
    assert loc.next_deadline() == 1599.0
    register(loc, [ContactRequest("sip:a@h")], 1000.0, 100, call_id="a", cseq=2000)
    assert loc.next_deadline() == 1100.0  # a shorter expiry gets its own entry at once
    assert loc.handle_timer(1099.9) == []
    assert [b.contact for b in loc.handle_timer(1100.0)] == ["sip:a@h"]
    assert loc.next_deadline() is None and len(loc) == 0


def test_contact_limit_replaces_the_soonest_expiring() -> None:
    loc = LocationService(max_contacts=2)
    register(loc, [ContactRequest("sip:1@h")], 0.0, 100, call_id="1")
    register(loc, [ContactRequest("sip:2@h")], 0.0, 600, call_id="2")
    out = register(loc, [ContactRequest("sip:3@h")], 1.0, 600, call_id="3")
    assert [b.contact for b in out.removed] == ["sip:1@h"]
    assert {b.contact for b in loc.lookup("1001", 1.0)} == {"sip:2@h", "sip:3@h"}


def test_restore_after_restart() -> None:
    loc = LocationService()
    loc.restore([Binding("1001", "sip:a@h", 1000.0, "c", 3, "192.0.2.1", 5060, "tcp")])
    assert loc.lookup("1001", 999.0)[0].transport == "tcp"
    assert loc.next_deadline() == 1000.0


def test_request_target_nat_rules() -> None:
    from softswitch.registrar import request_target

    def b(contact: str, transport: str = "udp") -> Binding:
        return Binding("1001", contact, 1e9, "c", 1, "203.0.113.5", 40001, transport)

    # behind NAT: private Contact, requests go where the REGISTER came from
    assert request_target(b("sip:1001@192.168.1.20:5060")) == ("udp", "203.0.113.5", 40001)
    assert request_target(b("sip:1001@100.64.3.3")) == ("udp", "203.0.113.5", 40001)
    # a public or loopback Contact (e.g. registered on behalf of a device) is used as is
    assert request_target(b("sip:1001@198.51.100.7:5070")) == ("udp", "198.51.100.7", 5070)
    assert request_target(b("sip:1001@127.0.0.1:5999;transport=tcp")) == \
        ("tcp", "127.0.0.1", 5999)
    # TCP: the connection the phone registered on, while it is open
    assert request_target(b("sip:1001@192.168.1.20:5060", "tcp")) == \
        ("tcp", "203.0.113.5", 40001)
    assert request_target(b("sip:1001@198.51.100.7:5070", "tcp"),
                          lambda host, port: (host, port) == ("203.0.113.5", 40001)) == \
        ("tcp", "203.0.113.5", 40001)
    # ... once it is gone, the Contact's own address over TCP (the phone listens there;
    # no port: 5060), unless the Contact is private: behind NAT only the phone can reopen
    gone = lambda host, port: False  # noqa: E731
    assert request_target(b("sip:1001@198.51.100.7:5070", "tcp"), gone) == \
        ("tcp", "198.51.100.7", 5070)
    assert request_target(b("sip:1001@198.51.100.7", "tcp"), gone) == \
        ("tcp", "198.51.100.7", 5060)
    assert request_target(b("sip:1001@192.168.1.20:5060", "tcp"), gone) == \
        ("tcp", "203.0.113.5", 40001)


async def test_registrar_service_answers_persists_and_tells_listeners() -> None:
    import asyncio

    from sipua import SipUA

    from softswitch.config import parse_config
    from softswitch.sip import parse_message

    config = parse_config("sip: {listen: [udp:127.0.0.1:0], domain: 127.0.0.1}\n"
                          "extensions: [{number: '1001', password: abcd}]\n")

    class Store:
        saved: list = []
        deleted: list = []

        def save_registration(self, row) -> None:
            self.saved.append(row)

        def delete_registration(self, aor, contact) -> None:
            self.deleted.append((aor, contact))

    from softswitch.clock import LoopClock
    from softswitch.registrar import RegistrarService

    service = RegistrarService(config, Store(), LoopClock())
    changed: list[str] = []
    service.listeners.append(changed.append)
    ua = SipUA("1001", "abcd", ("127.0.0.1", 5060))
    ua.local = ("192.0.2.7", 5062)
    now = asyncio.get_running_loop().time()
    req = parse_message(ua.build("REGISTER", "sip:127.0.0.1", headers=["Expires: 120"]))
    resp = service.handle_register(req, ("udp", "192.0.2.7", 5062), now)
    assert resp.status == 200 and resp.get_all("Contact") == [
        "<sip:1001@192.0.2.7:5062>;expires=120"]
    assert [r.aor for r in Store.saved] == ["1001"] and changed == ["1001"]
    # a plain refresh (same contact, same source) changes nothing a listener shows
    req = parse_message(ua.build("REGISTER", "sip:127.0.0.1", headers=["Expires: 120"]))
    assert service.handle_register(req, ("udp", "192.0.2.7", 5062), now + 1).status == 200
    assert changed == ["1001"]
    req = parse_message(ua.build("REGISTER", "sip:127.0.0.1", headers=["Expires: 0"]))
    assert service.handle_register(req, ("udp", "192.0.2.7", 5062), now).status == 200
    assert Store.deleted == [("1001", "sip:1001@192.0.2.7:5062")] and changed == ["1001"] * 2
    req = parse_message(ua.build("REGISTER", "sip:127.0.0.1", to="<sip:1999@127.0.0.1>"))
    assert service.handle_register(req, ("udp", "192.0.2.7", 5062), now).status == 404
    service.close()


def test_registrar_service_expiry_timer_in_virtual_time() -> None:
    from sipua import SipUA

    from softswitch.config import parse_config
    from softswitch.registrar import RegistrarService
    from softswitch.sip import parse_message

    class VirtualLoop:
        """Just what the shell uses of its clock (softswitch.clock): monotonic(), wall() and
        call_at()."""

        def __init__(self) -> None:
            self.now = 1000.0
            self.timers: list[tuple[float, object]] = []

        def monotonic(self) -> float:
            return self.now

        def wall(self) -> float:
            return 1_700_000_000.0 + self.now

        def call_at(self, when: float, cb, *args):  # noqa: ANN001, ANN202
            loop = self

            class Handle:
                def cancel(self) -> None:
                    loop.timers = [t for t in loop.timers if t[1] is not self]

            h = Handle()
            self.timers.append((when, h))
            h.fire = lambda: cb(*args)  # type: ignore[attr-defined]
            return h

    class Store:
        deleted: list = []

        def save_registration(self, row) -> None:  # noqa: ANN001
            pass

        def delete_registration(self, aor, contact) -> None:  # noqa: ANN001
            self.deleted.append(aor)

    config = parse_config("sip: {listen: [udp:127.0.0.1:0], domain: 127.0.0.1}\n"
                          "extensions: [{number: '1001', password: abcd}]\n")
    loop = VirtualLoop()
    service = RegistrarService(config, Store(), loop)  # type: ignore[arg-type]
    expired: list[str] = []
    service.listeners.append(expired.append)
    ua = SipUA("1001", "abcd", ("127.0.0.1", 5060))
    ua.local = ("192.0.2.7", 5062)
    req = parse_message(ua.build("REGISTER", "sip:127.0.0.1", headers=["Expires: 60"]))
    service.handle_register(req, ("udp", "192.0.2.7", 5062), loop.now)
    expired.clear()
    assert [t[0] for t in loop.timers] == [1060.0]
    loop.now = 1060.0
    loop.timers.pop()[1].fire()
    assert service.count() == 0 and Store.deleted == ["1001"] and expired == ["1001"]
    assert loop.timers == []  # nothing left to expire, no timer armed


def test_registrar_service_refreshes_written_back_once_per_window() -> None:
    """A refresh storm of one binding: the first REGISTER is written at once, the refreshes
    within RegistrarService.WRITE_BACK become one write (the latest state) at the window's
    end; a removal is written at once and cancels a pending refresh; close() flushes."""
    from sipua import SipUA

    from softswitch.config import parse_config
    from softswitch.registrar import RegistrarService
    from softswitch.sip import parse_message

    class VirtualLoop:
        def __init__(self) -> None:
            self.now = 1000.0
            self.timers: list[tuple[float, object]] = []

        def monotonic(self) -> float:
            return self.now

        def wall(self) -> float:
            return 1_700_000_000.0 + self.now

        def call_at(self, when: float, cb, *args):  # noqa: ANN001, ANN202
            loop = self

            class Handle:
                def cancel(self) -> None:
                    loop.timers = [t for t in loop.timers if t[1] is not self]

                def fire(self) -> None:
                    loop.timers = [t for t in loop.timers if t[1] is not self]
                    cb(*args)

            h = Handle()
            self.timers.append((when, h))
            return h

        def fire_until(self, when: float) -> None:
            self.now = when
            for t in sorted((t for t in self.timers if t[0] <= when), key=lambda t: t[0]):
                t[1].fire()  # type: ignore[attr-defined]

    class Store:
        def __init__(self) -> None:
            self.ops: list[tuple[str, str, int]] = []

        def save_registration(self, row) -> None:  # noqa: ANN001
            self.ops.append(("save", row.contact, row.cseq))

        def delete_registration(self, aor, contact) -> None:  # noqa: ANN001
            self.ops.append(("delete", contact, 0))

    config = parse_config("sip: {listen: [udp:127.0.0.1:0], domain: 127.0.0.1}\n"
                          "extensions: [{number: '1001', password: abcd}]\n")
    loop = VirtualLoop()
    store = Store()
    service = RegistrarService(config, store, loop)  # type: ignore[arg-type]
    ua = SipUA("1001", "abcd", ("127.0.0.1", 5060))
    ua.local = ("192.0.2.7", 5062)
    contact = "sip:1001@192.0.2.7:5062"

    def register(expires: int) -> None:
        req = parse_message(ua.build("REGISTER", "sip:127.0.0.1",
                                     headers=[f"Expires: {expires}"]))
        assert service.handle_register(req, ("udp", "192.0.2.7", 5062), loop.now).status == 200

    register(3600)  # CSeq 1: new binding, written at once
    assert store.ops == [("save", contact, 1)]
    for _ in range(5):  # CSeq 2..6 within the window: nothing written yet
        loop.now += 0.1
        register(3600)
    assert store.ops == [("save", contact, 1)]
    loop.fire_until(1001.0)  # window ends: one write with the latest state
    assert store.ops == [("save", contact, 1), ("save", contact, 6)]
    loop.now = 1003.0
    register(3600)  # CSeq 7, window long over: written at once
    assert store.ops[-1] == ("save", contact, 7)
    loop.now += 0.1
    register(3600)  # CSeq 8: waits ...
    loop.now += 0.1
    register(0)  # CSeq 9: ... and the removal supersedes it, written at once
    loop.fire_until(1010.0)
    assert store.ops[2:] == [("save", contact, 7), ("delete", contact, 0)]
    register(3600)  # CSeq 10: new again -> at once
    loop.now += 0.1
    register(3600)  # CSeq 11 waits; close() flushes it
    service.close()
    assert store.ops[-2:] == [("save", contact, 10), ("save", contact, 11)]
