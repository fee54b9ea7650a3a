"""Company contacts: the names shown for callers and chat customers, and the contacts agents
add from a chat session (queue-admin.md §6.9; omnichannel.md §6.1, §6.2 "Add customer as
contact", §7.3 "company contacts", §9.3, §9.5).

Names for callers (§6.9 "Match last {number} digits"): a caller number longer than N
matches a stored number whose last N digits are its last N digits (decision: the manual's
"the last N digits match the stored number" read on both sides, so a contact stored in
E.164, as campaigns need them, matches the same number calling; its fixture, a stored
1234567 matching 13800001234567, holds either way); a number of N digits or fewer must
equal a stored number exactly. Symbols and letters are ignored on both sides (the manual's
option "ignore symbols and letters", always on here: a caller ID of "+1 (555) 010-0100" is
the digits 15550100100).

Two sources, merged wherever contacts are shown (`ContactBook`):

* the configuration's ``contacts.entries`` (number, name), read-only: the file is theirs;
  they are listed with ids ``config-1``, ``config-2``... (file order) and refused with 409
  ``read_only`` by every change through the API;
* the contacts added through the live API (an agent's "Add new contact" from a session, or
  ``POST /contacts``), kept in the store (table ``company_contacts``, migration 18) and
  loaded at start-up, with numeric ids.

Where they are shown: the queue panel's caller names (softswitch.web.panels), a chat
session's customer ``name<number>`` (``customer_name`` and ``customer_display`` of the
session objects, and the chat logs' Sender/Recipient, omnichannel.md §6.1, §8.3), and the
campaigns' "company contacts" recipients (the contacts whose number is E.164, §7.3). The
configuration's come first: when several contacts match a number, the first wins (the
file's order, then the stored ones by id).

    GET    /api/v1/contacts?search=S&limit=N&cursor=C   the contacts (config first), a page
    GET    /api/v1/contacts/{id}
    POST   /api/v1/contacts                             add one
    PUT    /api/v1/contacts/{id}                        edit one (its fields as a whole)
    DELETE /api/v1/contacts/{id}                        admins
    POST   /api/v1/messaging/sessions/{id}/contact      the session's customer as a new
                                                        contact or into an existing one
                                                        (softswitch.messaging.api)

Fields (the manual's Company Contacts list: 联系人名称 name, 公司 company, 邮箱 e-mail, and
the numbers 办公号码 business, 手机号码 mobile, 家庭号码 home): ``name`` (1-127
characters, required), ``company`` and ``email`` (optional), ``numbers`` (up to 10 of
``{type: business|mobile|home|other, number}``, numbers in E.164 as campaigns need them,
§7.3).

Decisions:

* Visibility and permissions: every logged-in extension reads the company contacts (the
  switch has no per-user contact visibility; Linkus shows every user the company
  directory, and the names are already shown to every agent of a queue, §6.9); every
  logged-in extension adds and edits contacts (the manual gives agents both "Add new
  contact" and "Add to existing contact ... and edit it", §6.2, with no permission of its
  own in §9.6); only admins delete one (deleting company contacts is the management
  portal's, Contacts > Company Contacts > Delete).
* A number belongs to one contact: adding a number that a contact already has (by its
  digits) is refused with 409 ``number_exists`` naming that contact, so a customer's name is
  never ambiguous between stored contacts (the configuration may still repeat a number:
  the first wins, as before).
* Only chat customers that are phone numbers are matched: SMS and WhatsApp customers (a
  Live Chat visitor's address or a Messenger PSID has digits that are no phone number).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aiohttp import web
from pydantic import ConfigDict, Field

from softswitch.web.api import Endpoint, body, principal
from softswitch.web.errors import ApiError
from softswitch.web.models import Strict, parse

_NOT_DIGIT = re.compile(r"[^0-9]")
E164 = r"^\+[1-9][0-9]{1,14}$"
NUMBER_TYPES = ("business", "mobile", "home", "other")
MAX_NUMBERS = 10


class Contacts:
    """The name matcher over (number, name) pairs (the first pair of a number wins)."""

    def __init__(self, match_last_digits: int, entries: tuple[tuple[str, str], ...]) -> None:
        self.n = match_last_digits
        self.exact: dict[str, str] = {}
        self.tails: dict[str, str] = {}  # the last N digits of the stored numbers of >= N
        for number, name in entries:
            d = _NOT_DIGIT.sub("", number)
            self.exact.setdefault(d, name)
            if len(d) >= self.n:
                self.tails.setdefault(d[-self.n:], name)

    @staticmethod
    def of(config: Any) -> Contacts:
        c = config.contacts
        return _cached(c.match_last_digits, c.entries)

    def name(self, caller: str) -> str | None:
        digits = _NOT_DIGIT.sub("", caller)
        if not digits:
            return None
        if len(digits) <= self.n:
            return self.exact.get(digits)
        return self.tails.get(digits[-self.n:])


@lru_cache(maxsize=4)
def _cached(n: int, entries: tuple[tuple[str, str], ...]) -> Contacts:
    return Contacts(n, entries)


# --- the merged book -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Contact:
    id: str  # "config-{n}" (the configuration's, 1-based) or the stored id
    name: str
    company: str = ""
    email: str = ""
    numbers: tuple[tuple[str, str], ...] = ()  # (type, number)
    source: str = "api"  # "config" | "api"
    created_by: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "company": self.company,
                "email": self.email,
                "numbers": [{"type": t, "number": n} for t, n in self.numbers],
                "source": self.source, "editable": self.source == "api"}


class ContactError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


_COLUMNS = ("id", "name", "company", "email", "numbers", "created_by", "created_at",
            "updated_at")
_SAVE = (f"INSERT INTO company_contacts ({', '.join(_COLUMNS)})"
         f" VALUES ({','.join('?' * len(_COLUMNS))})"
         " ON CONFLICT (id) DO UPDATE SET "
         + ", ".join(f"{c}=excluded.{c}" for c in _COLUMNS[1:]))


def digits(number: str) -> str:
    return _NOT_DIGIT.sub("", number)


class ContactBook:
    """The configuration's contacts (``config()``: the ``contacts`` section in force, a
    reload applies) and the stored ones (``store``: the switch's, None for none: then they
    live in memory only); ``wall()``: epoch seconds."""

    def __init__(self, config: Callable[[], Any], store: Any | None,
                 wall: Callable[[], float]) -> None:
        self.config = config
        self.store = store
        self.wall = wall
        self.stored: dict[int, Contact] = {}
        self.next_id = 1
        self._matcher: tuple[Any, Contacts] | None = None
        self._ids: tuple[Any, Contacts] | None = None  # `match`'s: number -> contact id
        # told the numbers whose contact changed (added, edited, deleted): the chat
        # sessions of those customers show the new name (softswitch.messaging.service)
        self.listeners: list[Callable[[tuple[str, ...]], None]] = []

    async def load(self) -> None:
        if self.store is None:
            return
        for r in await self.store.fetch(
                f"SELECT {', '.join(_COLUMNS)} FROM company_contacts ORDER BY id"):
            numbers = tuple((str(t), str(n)) for t, n in json.loads(r[4]))
            c = Contact(str(r[0]), r[1], r[2], r[3], numbers, "api", r[5], float(r[6]),
                        float(r[7]))
            self.stored[int(r[0])] = c
            self.next_id = max(self.next_id, int(r[0]) + 1)
        self._matcher = self._ids = None

    # --- reading -------------------------------------------------------------------------

    def configured(self) -> list[Contact]:
        return [Contact(f"config-{i}", name, numbers=(("business", number),),
                        source="config")
                for i, (number, name) in enumerate(self.config().entries, 1)]

    def all(self) -> list[Contact]:
        """Every contact: the configuration's (file order), then the stored (by id)."""
        return self.configured() + [self.stored[k] for k in sorted(self.stored)]

    def get(self, contact_id: str) -> Contact:
        if contact_id.startswith("config-"):
            for c in self.configured():
                if c.id == contact_id:
                    return c
        elif contact_id.isdigit() and int(contact_id) in self.stored:
            return self.stored[int(contact_id)]
        raise ContactError(404, "not_found", f"no contact {contact_id}")

    def entries(self) -> tuple[tuple[str, str], ...]:
        """(number, name) of every contact's every number, the configuration's first."""
        return tuple(self.config().entries) + tuple(
            (n, self.stored[k].name) for k in sorted(self.stored)
            for _, n in self.stored[k].numbers)

    def name(self, number: str) -> str | None:
        """The name of the contact matching ``number`` (the configuration's
        ``match_last_digits`` rule), None for none."""
        cfg = self.config()
        if self._matcher is None or self._matcher[0] is not cfg:  # a change, or a reload
            self._matcher = (cfg, Contacts(cfg.match_last_digits, self.entries()))
        return self._matcher[1].name(number)

    def match(self, number: str) -> str | None:
        """The id of the contact whose name `name` gives for ``number`` (the same rule and
        order: the first matching number wins), None for none: the session objects'
        ``customer_contact``, so a client can show that contact's fields."""
        cfg = self.config()
        if self._ids is None or self._ids[0] is not cfg:
            pairs = tuple((n, c.id) for c in self.all() for _, n in c.numbers)
            self._ids = (cfg, Contacts(cfg.match_last_digits, pairs))
        return self._ids[1].name(number)

    def owner(self, number: str) -> Contact | None:
        """The contact that has exactly this number (by its digits)."""
        d = digits(number)
        for c in self.all():
            if any(digits(n) == d for _, n in c.numbers):
                return c
        return None

    # --- changes -------------------------------------------------------------------------

    def _editable(self, contact_id: str) -> Contact:
        c = self.get(contact_id)
        if c.source != "api":
            raise ContactError(409, "read_only", f"contact {contact_id} is in the configuration "
                                                 "file (contacts.entries): edit it there")
        return c

    def _check_numbers(self, numbers: tuple[tuple[str, str], ...],
                       contact_id: str | None) -> None:
        seen: set[str] = set()
        for _, n in numbers:
            d = digits(n)
            if d in seen:
                raise ContactError(400, "invalid_field", f"{n} is given twice")
            seen.add(d)
            other = self.owner(n)
            if other is not None and other.id != contact_id:
                raise ContactError(409, "number_exists",
                                   f"{n} is already a number of contact {other.id} "
                                   f"({other.name})")

    def create(self, by: str, name: str, company: str, email: str,
               numbers: tuple[tuple[str, str], ...]) -> Contact:
        self._check_numbers(numbers, None)
        now = self.wall()
        c = Contact(str(self.next_id), name, company, email, numbers, "api", by, now, now)
        self.stored[self.next_id] = c
        self.next_id += 1
        self._save(c)
        self._changed(c.numbers)
        return c

    def update(self, contact_id: str, name: str, company: str, email: str,
               numbers: tuple[tuple[str, str], ...]) -> Contact:
        old = self._editable(contact_id)
        self._check_numbers(numbers, old.id)
        c = Contact(old.id, name, company, email, numbers, "api", old.created_by,
                    old.created_at, self.wall())
        self.stored[int(old.id)] = c
        self._save(c)
        self._changed(old.numbers + c.numbers)
        return c

    def add_number(self, contact_id: str, kind: str, number: str) -> Contact:
        """"Add to existing contact": the number joins the contact's numbers (unchanged
        when it has it already)."""
        old = self._editable(contact_id)
        if any(digits(n) == digits(number) for _, n in old.numbers):
            return old
        if len(old.numbers) >= MAX_NUMBERS:
            raise ContactError(409, "too_many_numbers",
                               f"contact {old.id} has {MAX_NUMBERS} numbers already")
        return self.update(old.id, old.name, old.company, old.email,
                           (*old.numbers, (kind, number)))

    def delete(self, contact_id: str) -> None:
        c = self._editable(contact_id)
        del self.stored[int(c.id)]
        self._matcher = self._ids = None
        if self.store is not None:
            self.store.write("DELETE FROM company_contacts WHERE id=?", (int(c.id),))
        self._changed(c.numbers)

    def _changed(self, numbers: tuple[tuple[str, str], ...]) -> None:
        changed = tuple(dict.fromkeys(n for _, n in numbers))
        for listener in self.listeners:
            listener(changed)

    def _save(self, c: Contact) -> None:
        self._matcher = self._ids = None
        if self.store is not None:
            self.store.write(_SAVE, (int(c.id), c.name, c.company, c.email,
                                     json.dumps([list(x) for x in c.numbers]), c.created_by,
                                     c.created_at, c.updated_at))

    async def flush(self) -> None:
        if self.store is not None:
            await self.store.flush()


CONTACTS = web.AppKey("contacts", ContactBook)


# --- the API ------------------------------------------------------------------------------


class NumberItem(Strict):
    type: str = Field(default="mobile", pattern=r"^(business|mobile|home|other)$")
    number: str = Field(pattern=E164)


class ContactFields(Strict):
    """A contact's fields (module docstring)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "Kristin Hale", "company": "Hale & Co", "email": "kristin@hale.example",
         "numbers": [{"type": "mobile", "number": "+12025550101"}]}]})
    name: str = Field(min_length=1, max_length=127)
    company: str = Field(default="", max_length=127)
    email: str = Field(default="", max_length=254,
                       pattern=r"^$|^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")
    numbers: list[NumberItem] = Field(default_factory=list, max_length=MAX_NUMBERS)

    def number_pairs(self) -> tuple[tuple[str, str], ...]:
        return tuple((n.type, n.number) for n in self.numbers)


class ContactQuery(Strict):
    """``search``: part of the name, company, e-mail or a number (case-insensitive);
    ``limit`` 1-500 (default 100); ``cursor``: the previous page's ``next_cursor``."""

    search: str = Field(default="", max_length=127)
    limit: int = Field(default=100, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=40)


def book_of(request: web.Request) -> ContactBook:
    return request.app[CONTACTS]


def refused(exc: ContactError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message)


def _after(contacts: list[Contact], cursor: str | None) -> list[Contact]:
    if cursor is None:
        return contacts
    ids = [c.id for c in contacts]
    if cursor in ids:
        return contacts[ids.index(cursor) + 1:]
    if cursor.isdigit():  # that contact was deleted meanwhile: the ones after its id
        return [c for c in contacts if c.source == "api" and int(c.id) > int(cursor)]
    raise ApiError(400, "invalid_field", "cursor: the next_cursor of the previous page",
                   "cursor")


async def list_contacts(request: web.Request) -> web.Response:
    q = parse(ContactQuery, dict(request.query), "query")
    needle = q.search.casefold()
    rows = [c for c in _after(book_of(request).all(), q.cursor)
            if not needle or needle in c.name.casefold() or needle in c.company.casefold()
            or needle in c.email.casefold()
            or any(needle in n for _, n in c.numbers)]
    page = rows[:q.limit]
    more = len(rows) > q.limit
    return web.json_response({"contacts": [c.as_json() for c in page],
                              "next_cursor": page[-1].id if more else None})


async def get_contact(request: web.Request) -> web.Response:
    try:
        c = book_of(request).get(request.match_info["contact"])
    except ContactError as exc:
        raise refused(exc) from None
    return web.json_response({"contact": c.as_json()})


async def create_contact(request: web.Request) -> web.Response:
    by = principal(request).extension
    return await _save_contact(request, lambda book, f: book.create(
        by, f.name, f.company, f.email, f.number_pairs()))


async def update_contact(request: web.Request) -> web.Response:
    contact = request.match_info["contact"]
    return await _save_contact(request, lambda book, f: book.update(
        contact, f.name, f.company, f.email, f.number_pairs()))


async def _save_contact(request: web.Request,
                        save: Callable[[ContactBook, ContactFields], Contact]) -> web.Response:
    """Write a contact from the request's fields (``save``), stored before the answer."""
    req = await body(request, ContactFields)
    book = book_of(request)
    try:
        c = save(book, req)
    except ContactError as exc:
        raise refused(exc) from None
    await book.flush()
    return web.json_response({"contact": c.as_json()})


async def delete_contact(request: web.Request) -> web.Response:
    if not principal(request).admin:
        raise ApiError(403, "forbidden", "only admins delete company contacts")
    book = book_of(request)
    try:
        book.delete(request.match_info["contact"])
    except ContactError as exc:
        raise refused(exc) from None
    await book.flush()
    return web.json_response({"deleted": request.match_info["contact"]})


ENDPOINTS = [
    Endpoint("GET", "/contacts", list_contacts,
             "Company contacts: the configuration's, then those added through the API",
             tag="contacts", query_model=ContactQuery),
    Endpoint("GET", "/contacts/{contact}", get_contact, "One company contact",
             tag="contacts"),
    Endpoint("POST", "/contacts", create_contact, "Add a company contact", ContactFields,
             tag="contacts"),
    Endpoint("PUT", "/contacts/{contact}", update_contact,
             "Edit a company contact (409 for the configuration's)", ContactFields,
             tag="contacts"),
    Endpoint("DELETE", "/contacts/{contact}", delete_contact,
             "Delete a company contact (admins; 409 for the configuration's)",
             tag="contacts"),
]


def attach(app: web.Application, book: ContactBook) -> None:
    from softswitch.web.api import add_routes

    app[CONTACTS] = book
    add_routes(app, ENDPOINTS)

    async def on_startup(app: web.Application) -> None:
        await book.load()

    app.on_startup.append(on_startup)
