// The agent's inbox (External Chat, omnichannel.md §9.1, §9.3; §6 for the semantics): the
// session list (Recent / Archived, unread counts, channel and customer), the chat with its
// history (system messages shown as such), take over, reply (with the delivery state and the
// provider's error prompt), transfer to a colleague or a message queue, archive / unarchive,
// close, remove, and start a session from a number the agent is allowed on (§9.2). Every
// operation is the messaging API's (softswitch/messaging/api.py, PROTOCOL.md §7), which
// checks it again; the lists follow the websocket's messaging.* deltas live.
//
// Decisions:
// - The unread counts are the switch's (read marks per agent, so the same on every client):
//   the list's `unread` when loaded, one more per customer message arriving in a session
//   that is not the one on screen; showing a chat marks it read up to its last message.
// - Take over is offered in a message-queue session nobody owns when the queue's mode has
//   it (manual, auto: GET /messaging/me gives the modes); the server refuses anyway.
// - A failed message shows the provider's prompt (the message's `error`) under it, and a
//   toast; a pending one with an `error` is being retried and says so.
// - "Remove" (right-click on the web client, §9.3) is the context menu of a list row and,
//   for the keyboard, a button in the chat's tool bar; both ask for a confirmation.
// - Closing asks for a confirmation (§6.2); a closed session's composer is disabled.
// - A session that goes away while on screen (taken over by a colleague, transferred away)
//   leaves the chat with a notice saying so.
// - After a websocket reconnect that could not resume (a fresh snapshot), the lists are
//   read again; a resume replays the deltas missed, so nothing is re-read then.
// - "Add to contacts" (§6.2, §9.3 top-right icon; the mobile labels 添加至通讯录 / 新建联系人 /
//   添加至现有联系人) is offered in SMS and WhatsApp sessions only (the session's
//   `channel_type`): a Live Chat visitor, a Messenger user or a phone on SIP has no phone
//   number to store. Its dialog has the two choices of the manual. "New contact": the
//   fields POST /contacts takes (name, company, e-mail, numbers), the customer's number
//   prefilled and read-only with its type chosen, more numbers may be added. "Add to
//   existing contact": the company contacts searched through GET /contacts (name, company,
//   e-mail or number), one picked, its fields shown and editable ("choose one and edit it");
//   the customer's number joins its numbers. It is sent as POST .../contact {existing}
//   (which checks the session and the number: 409 number_exists, read_only), then, when a
//   field was edited, PUT /contacts/{id} with the fields as a whole; should the PUT be
//   refused (a bad e-mail...), the number is in the contact already and the dialog stays
//   open with the error, so a second OK (the POST leaves a number it has alone) saves the
//   corrected fields. A configuration contact (`editable: false`) is shown read-only; the
//   switch refuses it (read_only) and the dialog says why. The API's refusals are shown in
//   the dialog in the console's language (CONTACT_ERRORS, the field at fault marked).
// - "Session details" (§6.2, §9.3: the bottom-left icon opens a right-hand panel) shows
//   the source channel (name and type), the channel number (a Messenger channel's Page,
//   a Live Chat channel's number), the customer, the session's facts (ID, origin, created,
//   last activity, destination, owner, state) and, when the customer is a company contact
//   (`customer_contact`), that contact's fields (GET /contacts/{id}), read again whenever
//   the session changes (a contact's edit sends the session again). The panel stays open
//   from one session to the next until it is closed.
import { t } from "./i18n.js";

const SYSTEM = "PBX系统";

function fmtWhen(epoch) {
  if (!epoch) return "";
  const d = new Date(epoch * 1000);
  const p = (n) => String(n).padStart(2, "0");
  const today = new Date();
  const time = `${p(d.getHours())}:${p(d.getMinutes())}`;
  return d.toDateString() === today.toDateString() ? time
    : `${d.getFullYear()}/${p(d.getMonth() + 1)}/${p(d.getDate())} ${time}`;
}

function channelType(name, senders) {
  const s = senders.find((x) => x.channel === name);
  return s ? s.type : "";
}

// the channel types whose customers are phone numbers (the switch's rule, §6.1)
const NUMBER_CHANNELS = new Set(["sms", "whatsapp"]);
const NUMBER_TYPES = ["mobile", "business", "home", "other"];
// the API's refusals of a contact, in the console's language (the rest: the API's sentence)
const CONTACT_ERRORS = { number_exists: "contact_err_number_exists", read_only: "contact_err_read_only",
  too_many_numbers: "contact_err_too_many", not_a_number: "contact_err_not_a_number",
  not_found: "contact_err_not_found", invalid_field: "contact_err_invalid" };

function digitsOf(number) { return String(number || "").replace(/[^0-9]/g, ""); }

export class InboxView {
  constructor(app) {
    this.app = app; // the Console: api, h, live, session, toast, confirm, render
    this.sessions = new Map(); // id -> session object (+ unread, last_message)
    this.which = "recent";
    this.openId = null;
    this.chat = null; // {session, messages}
    this.drafts = new Map(); // session id -> composer text
    this.options = { senders: [], queues: [], colleagues: [] };
    this.loaded = false;
    this.menu = null; // the list's context menu {id, x, y}
    this.readPending = new Set();
    this.details = false; // the session details panel shown
    this.detailContact = null; // {id, contact} of the customer's company contact
  }

  // ---------------------------------------------------------------- data
  async start(live) {
    live.addEventListener("delta", (ev) => this.onDelta(ev.detail));
    document.addEventListener("visibilitychange", () => {
      if (this.openId !== null && this.showing(this.openId) && this.sessions.get(this.openId)?.unread) { this.markRead(this.openId); this.app.scheduleRender(); }
    });
    live.addEventListener("change", (ev) => { if (ev.detail.type === "snapshot" && this.loaded) this.reload(); });
    this.app.api.call("GET", "/messaging/me").then((o) => { this.options = o; this.app.scheduleRender(); }).catch(() => {});
    await this.reload();
  }

  // The lists as the switch has them now; the deltas that arrive while they are read are
  // applied after them (the answer may be older than a delta: a message would be lost)
  async reload() {
    this.queued = this.queued || [];
    try {
      // Recent whole (the open sessions, in the switch's memory), Archived a page at a time
      // (read from the store: "more" asks for the next page, archivedCursor)
      const [recent, archived] = await Promise.all([this.allPages("recent"),
        this.app.api.call("GET", "/messaging/sessions?list=archived&limit=100")]);
      this.archivedCursor = archived.next_cursor;
      this.sessions = new Map([...recent, ...archived.sessions].map((s) => [s.id, s]));
      this.loaded = true;
      const queued = this.queued;
      this.queued = null;
      for (const m of queued) this.onDelta(m);
      if (this.openId !== null) await this.open(this.openId, false);
    } catch (err) {
      const queued = this.queued || [];
      this.queued = null;
      for (const m of queued) this.onDelta(m);
      this.app.toast(`${t("error")}: ${err.message}`, "error");
    }
    this.app.scheduleRender();
  }

  async allPages(which) {
    const out = [];
    let cursor = null;
    do {
      const page = await this.app.api.call("GET", `/messaging/sessions?list=${which}&limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      out.push(...page.sessions);
      cursor = page.next_cursor;
    } while (cursor);
    return out;
  }

  // the next page of the Archived list
  async moreArchived() {
    if (!this.archivedCursor) return;
    try {
      const page = await this.app.api.call("GET", `/messaging/sessions?list=archived&limit=100&cursor=${encodeURIComponent(this.archivedCursor)}`);
      this.archivedCursor = page.next_cursor;
      for (const row of page.sessions) if (!this.sessions.has(row.id)) this.sessions.set(row.id, row);
    } catch (err) {
      this.app.toast(`${t("error")}: ${err.message}`, "error");
    }
    this.app.scheduleRender();
  }

  unreadTotal() {
    let n = 0;
    for (const s of this.sessions.values()) if (s.list === "recent") n += s.unread || 0;
    return n;
  }

  upsert(session, message) {
    const old = this.sessions.get(session.id) || { unread: 0, last_message: null };
    const row = { ...old, ...session };
    if (message) {
      if (!row.last_message || message.id >= row.last_message.id) row.last_message = message;
      if (message.type === "received" && message.id > (old.last_message?.id || 0) && !this.showing(session.id)) row.unread = (row.unread || 0) + 1;
    }
    this.sessions.set(session.id, row);
    return row;
  }

  // an extension as the manual shows it: `{name}<{ext}>` (§6.1), "you" for oneself
  who(ext) {
    if (ext === this.app.session.extension) return t("you");
    const c = this.options.colleagues.find((x) => x.extension === ext);
    return c ? `${c.name}<${ext}>` : ext;
  }

  showing(id) { return this.openId === id && this.app.route === "inbox" && !document.hidden; }

  onDelta(m) {
    if (!m.type || !m.type.startsWith("messaging.")) return;
    if (m.agent && m.agent !== this.app.session.extension) return;
    if (this.queued) { this.queued.push(m); return; }
    const s = m.session;
    switch (m.type) {
      case "messaging.session.changed":
        this.upsert(s);
        if (this.chat && this.chat.session.id === s.id) { this.chat.session = s; this.loadDetailContact(); }
        break;
      case "messaging.session.gone":
        this.sessions.delete(s.id);
        if (this.openId === s.id) {
          this.openId = null; this.chat = null;
          if (this.transferring !== s.id) this.app.toast(t("chat_gone", { customer: s.customer_display || s.customer }), "notice");
        }
        break;
      case "messaging.message.new": {
        this.upsert(s, m.message);
        if (this.chat && this.chat.session.id === s.id) {
          this.chat.session = s;
          if (!this.chat.messages.some((x) => x.id === m.message.id)) this.chat.messages.push(m.message);
          if (this.showing(s.id)) this.markRead(s.id);
        }
        if (m.message.type === "received" && !this.showing(s.id)) this.app.notify(t("new_chat_message", { customer: s.customer_display || s.customer }));
        break;
      }
      case "messaging.message.status": {
        const row = this.upsert(s);
        if (row.last_message && row.last_message.id === m.message.id) row.last_message = m.message;
        if (this.chat && this.chat.session.id === s.id) {
          const i = this.chat.messages.findIndex((x) => x.id === m.message.id);
          if (i >= 0) this.chat.messages[i] = m.message; else this.chat.messages.push(m.message);
        }
        if (m.message.status === "failed") this.app.toast(`${t("send_failed")}: ${m.message.error || "-"}`, "error");
        break;
      }
      default:
        return;
    }
    this.app.scheduleRender();
  }

  async open(id, focus = true) {
    this.openId = id;
    this.menu = null;
    try {
      const data = await this.app.api.call("GET", `/messaging/sessions/${id}`);
      if (this.openId !== id) return;
      this.chat = data;
      this.upsert(data.session);
      this.markRead(id);
      this.loadDetailContact();
    } catch (err) {
      this.openId = null; this.chat = null;
      this.app.toast(`${t("error")}: ${err.message}`, "error");
    }
    this.app.render();
    if (focus) document.getElementById("composer")?.focus();
  }

  async markRead(id) {
    const row = this.sessions.get(id);
    if (row) row.unread = 0;
    if (this.readPending.has(id)) return;
    this.readPending.add(id);
    try {
      const last = this.chat && this.chat.session.id === id ? this.chat.messages.at(-1) : null;
      await this.app.api.call("POST", `/messaging/sessions/${id}/read`, last ? { message: last.id } : {});
    } catch { /* the count is refreshed at the next load */ }
    finally { this.readPending.delete(id); }
  }

  async act(path, body, okText) {
    try {
      const reply = await this.app.api.call("POST", `/messaging/sessions/${this.openId}${path}`, body);
      // a transfer's outcome for this agent is the delta (gone, or changed when it is an
      // agent of the target queue): the answer may come after it and must not undo it
      if (reply.session && path !== "/transfer") {
        this.upsert(reply.session);
        if (this.chat && this.chat.session.id === reply.session.id) this.chat.session = reply.session;
      }
      if (reply.messages && this.chat) this.chat.messages = reply.messages;
      if (okText) this.app.toast(okText);
      this.app.scheduleRender();
      return reply;
    } catch (err) {
      this.app.toast(`${t("error")}: ${err.message}`, "error");
      return null;
    }
  }

  async send() {
    const id = this.openId;
    const text = (this.drafts.get(id) || "").trim();
    if (!text) return;
    const reply = await this.act("/messages", { text });
    if (!reply) return;
    this.drafts.delete(id);
    // the session's own list entry: sending unarchives it for the sender (§6.2)
    const row = this.sessions.get(id);
    if (row) row.list = row.state === "closed" ? "archived" : "recent";
    if (this.chat && this.chat.session.id === id && !this.chat.messages.some((x) => x.id === reply.message.id)) this.chat.messages.push(reply.message);
    this.app.render();
    document.getElementById("composer")?.focus();
  }

  // the company contact of the customer on screen, for the details panel (read only while
  // the panel is shown; the session's `customer_contact` says which)
  async loadDetailContact() {
    const s = this.chat?.session;
    const id = s?.customer_contact;
    const mine = this.detailSeq = (this.detailSeq || 0) + 1; // the last read wins
    if (!this.details || !id) { this.detailContact = null; return; }
    try {
      const reply = await this.app.api.call("GET", `/contacts/${encodeURIComponent(id)}`);
      if (mine !== this.detailSeq) return;
      this.detailContact = { id, contact: reply.contact };
    } catch (err) {
      if (mine !== this.detailSeq) return;
      this.detailContact = { id, contact: null, error: err.message };
    }
    this.app.scheduleRender();
  }

  toggleDetails() {
    this.details = !this.details;
    this.detailContact = null;
    this.loadDetailContact();
    this.app.render();
    document.getElementById(this.details ? "details-close" : "op-details")?.focus();
  }

  // ---------------------------------------------------------------- dialogs
  // the refusal of a contact change as the dialog shows it (the console's language)
  contactError(err) {
    const key = CONTACT_ERRORS[err.code];
    if (!key) return `${t("error")}: ${err.message}`;
    const field = err.code === "invalid_field" && err.field ? t(`contact_field_${String(err.field).split(".").find((x) => ["name", "company", "email", "numbers"].includes(x)) || "other"}`) : "";
    return t(key, { field });
  }

  // a contact's number rows: [{type, number, fixed}] -> elements; `fixed` is the customer's
  // number (read-only, its type chosen)
  numberRows(rows, prefix, disabled) {
    const h = this.app.h;
    return rows.map((r, i) => {
      const type = h("select", { id: `${prefix}-type-${i}`, class: "number-type", "aria-label": t("number_type"), disabled,
        onchange: (ev) => { r.type = ev.target.value; r.edited = true; } },
      NUMBER_TYPES.map((k) => h("option", { value: k, selected: r.type === k }, t(`number_${k}`))));
      const input = h("input", { id: `${prefix}-number-${i}`, class: "number-value", inputmode: "tel", value: r.number,
        readonly: r.fixed, disabled, "aria-label": r.fixed ? t("customer_number") : t("number_n", { n: i + 1 }),
        oninput: (ev) => { r.number = ev.target.value.trim(); r.edited = true; } });
      return h("div", { class: `number-row${r.fixed ? " fixed" : ""}` }, type, input,
        r.fixed ? h("span", { class: "muted" }, t("this_customer"))
          : h("button", { type: "button", class: "link", disabled, "aria-label": t("remove_number", { number: r.number || i + 1 }),
            onclick: () => { rows.splice(i, 1); r.removed = true; this.contactForm?.refresh(); } }, "×"));
    });
  }

  contactDialog() {
    const h = this.app.h;
    const s = this.chat.session;
    const sid = s.id;
    const customer = s.customer;
    const error = h("p", { class: "error", role: "alert", id: "contact-error" });
    const close = () => { this.app.dialog = null; this.contactForm = null; this.app.render(); };
    const field = (id, label, value, attrs = {}) => {
      const input = h("input", { id, value: value || "", ...attrs });
      return [h("label", { for: id }, label), input];
    };
    const mark = (err) => {
      for (const el of dialog.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
      const name = err && err.field ? String(err.field).split(".").find((x) => ["name", "company", "email"].includes(x)) : null;
      const el = name ? (newPart.hidden ? picked : newPart).querySelector(`[data-field='${name}']:not([disabled])`) : null;
      if (el) { el.setAttribute("aria-invalid", "true"); el.focus(); }
    };
    const fields = (data) => ({ name: data.name.value.trim(), company: data.company.value.trim(), email: data.email.value.trim() });

    // "New contact": its fields, the customer's number first (read-only)
    const newRows = [{ type: "mobile", number: customer, fixed: true }];
    const [nameL, name] = field("contact-name", t("contact_name"), "", { maxlength: 127, "data-field": "name", autocomplete: "off" });
    const [companyL, company] = field("contact-company", t("contact_company"), "", { maxlength: 127, "data-field": "company", autocomplete: "off" });
    const [emailL, email] = field("contact-email", t("contact_email"), "", { maxlength: 254, "data-field": "email", autocomplete: "off" });
    const newNumbers = h("div", { class: "numbers", id: "contact-numbers", role: "group", "aria-label": t("contact_numbers") });
    const newPart = h("div", { class: "contact-part", id: "contact-new" }, nameL, name, companyL, company, emailL, email,
      h("span", { class: "label" }, t("contact_numbers")), newNumbers,
      h("button", { type: "button", id: "contact-add-number", onclick: () => { newRows.push({ type: "mobile", number: "" }); refresh(); dialog.querySelector(`#contact-new-number-${newRows.length - 1}`)?.focus(); } }, t("add_number")));

    // "Add to existing contact": search, pick, edit
    const search = h("input", { id: "contact-search", type: "search", placeholder: t("contact_search_hint"), "aria-label": t("search"), autocomplete: "off" });
    const results = h("ul", { id: "contact-results", class: "contact-results", "aria-label": t("contacts_found") });
    const picked = h("div", { id: "contact-picked", class: "contact-part" });
    const existing = { contact: null, rows: [], inputs: null };
    const existingPart = h("div", { class: "contact-part", id: "contact-existing", hidden: true },
      h("label", { for: "contact-search" }, t("search")), search, results, picked);
    let seq = 0;
    const find = async () => {
      const mine = ++seq;
      try {
        const reply = await this.app.api.call("GET", `/contacts?limit=20&search=${encodeURIComponent(search.value.trim())}`);
        if (mine !== seq) return;
        results.replaceChildren(...(reply.contacts.length ? reply.contacts.map((c) => h("li", {},
          h("button", { type: "button", class: "contact-pick", "aria-pressed": String(existing.contact?.id === c.id), dataset: { contact: c.id },
            onclick: () => pick(c) },
          h("span", { class: "name" }, c.name), " ", h("span", { class: "muted" }, [c.company, ...c.numbers.map((n) => n.number)].filter(Boolean).join(" · ")))))
          : [h("li", { class: "muted", id: "contact-none" }, t("no_contacts"))]));
      } catch (err) {
        if (mine === seq) error.textContent = this.contactError(err);
      }
    };
    let timer = null;
    search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(find, 250); });
    search.addEventListener("keydown", (ev) => { if (ev.key === "Enter") { ev.preventDefault(); clearTimeout(timer); find(); } });
    const pick = (c) => {
      error.textContent = "";
      const has = c.numbers.some((n) => digitsOf(n.number) === digitsOf(customer));
      existing.contact = c;
      existing.rows = c.numbers.map((n) => ({ type: n.type, number: n.number, fixed: digitsOf(n.number) === digitsOf(customer) }));
      if (!has) existing.rows.push({ type: "mobile", number: customer, fixed: true, added: true });
      const ro = !c.editable;
      const [l1, i1] = field("existing-name", t("contact_name"), c.name, { maxlength: 127, "data-field": "name", disabled: ro });
      const [l2, i2] = field("existing-company", t("contact_company"), c.company, { maxlength: 127, "data-field": "company", disabled: ro });
      const [l3, i3] = field("existing-email", t("contact_email"), c.email, { maxlength: 254, "data-field": "email", disabled: ro });
      existing.inputs = { name: i1, company: i2, email: i3 };
      existing.numbers = h("div", { class: "numbers", id: "existing-numbers", role: "group", "aria-label": t("contact_numbers") });
      picked.replaceChildren(...[h("h3", { id: "contact-picked-title" }, c.name),
        ro ? h("p", { class: "muted", id: "contact-read-only" }, t("contact_config_note")) : null,
        l1, i1, l2, i2, l3, i3, h("span", { class: "label" }, t("contact_numbers")), existing.numbers].filter(Boolean));
      for (const b of results.querySelectorAll(".contact-pick")) b.setAttribute("aria-pressed", String(b.dataset.contact === c.id));
      refresh();
      (ro ? ok : i1).focus();
    };
    const refresh = () => {
      newNumbers.replaceChildren(...this.numberRows(newRows, "contact-new", false));
      if (existing.numbers) existing.numbers.replaceChildren(...this.numberRows(existing.rows, "existing", !existing.contact.editable));
    };
    this.contactForm = { refresh };

    const mode = (m) => {
      newPart.hidden = m !== "new";
      existingPart.hidden = m !== "existing";
      error.textContent = "";
      if (m === "existing" && !results.childElementCount) find();
      (m === "new" ? name : search).focus();
    };
    const choice = (m, label) => h("label", { class: "choice" },
      h("input", { type: "radio", name: "contact-mode", id: `contact-mode-${m}`, value: m, checked: m === "new", onchange: () => mode(m) }), label);

    const ok = h("button", { type: "submit", class: "primary", id: "contact-ok" }, t("save"));
    const done = (reply, text) => {
      close();
      if (reply.session) {
        this.upsert(reply.session);
        if (this.chat && this.chat.session.id === reply.session.id) this.chat.session = reply.session;
        this.loadDetailContact();
      }
      this.app.toast(text);
    };
    const submit = async () => {
      error.textContent = "";
      mark(null);
      const numbers = (rows) => rows.filter((r) => r.number).map((r) => ({ type: r.type, number: r.number }));
      ok.disabled = true;
      try {
        if (!newPart.hidden) {
          const fixed = newRows[0];
          const reply = await this.app.api.call("POST", `/messaging/sessions/${sid}/contact`,
            { new: { ...fields({ name, company, email }), numbers: numbers(newRows.slice(1)) }, type: fixed.type });
          done(reply, t("contact_added", { name: reply.contact.name }));
        } else {
          const c = existing.contact;
          if (!c) { error.textContent = t("contact_pick_one"); search.focus(); return; }
          const added = existing.rows.find((r) => r.added);
          const reply = await this.app.api.call("POST", `/messaging/sessions/${sid}/contact`,
            { existing: c.id, type: added ? added.type : "mobile" });
          const now = fields(existing.inputs);
          const edited = c.editable && (now.name !== c.name || now.company !== c.company || now.email !== c.email
            || existing.rows.some((r) => r.edited && !r.added) || existing.rows.length !== c.numbers.length + (added ? 1 : 0));
          if (edited) {
            const put = await this.app.api.call("PUT", `/contacts/${encodeURIComponent(c.id)}`, { ...now, numbers: numbers(existing.rows) });
            done({ ...reply, contact: put.contact }, t("contact_updated", { name: put.contact.name }));
          } else done(reply, t("contact_updated", { name: reply.contact.name }));
        }
      } catch (err) {
        error.textContent = this.contactError(err);
        mark(err);
      } finally { ok.disabled = false; }
    };
    const dialog = h("form", { class: "dialog wide contact-dialog", role: "dialog", "aria-modal": "true", "aria-label": t("add_to_contacts"), id: "contact-dialog",
      onsubmit: (ev) => { ev.preventDefault(); submit(); } },
    h("h2", {}, t("add_to_contacts")),
    h("p", { class: "muted" }, `${t("customer")}: ${customer}`),
    h("div", { class: "choices", role: "radiogroup", "aria-label": t("add_to_contacts") },
      choice("new", t("new_contact")), choice("existing", t("existing_contact"))),
    newPart, existingPart, error,
    h("div", { class: "controls" }, ok, h("button", { type: "button", id: "contact-cancel", onclick: close }, t("cancel"))));
    refresh();
    this.app.dialog = dialog;
    this.app.render();
    name.focus();
  }

  transferDialog() {
    const h = this.app.h;
    const { colleagues, queues } = this.options;
    const kind = h("select", { id: "transfer-kind", "aria-label": t("transfer_to") },
      h("option", { value: "extension" }, t("colleague")), h("option", { value: "queue" }, t("message_queue")));
    const pick = h("select", { id: "transfer-target", "aria-label": t("target") });
    const fill = () => {
      const opts = kind.value === "extension"
        ? colleagues.map((c) => h("option", { value: c.extension }, `${c.name}<${c.extension}>`))
        : queues.map((q) => h("option", { value: q.name }, q.name));
      pick.replaceChildren(...opts);
    };
    kind.addEventListener("change", fill);
    fill();
    const close = () => { this.app.dialog = null; this.app.render(); };
    this.app.dialog = h("form", { class: "dialog", role: "dialog", "aria-modal": "true", "aria-label": t("transfer_session"), id: "transfer-dialog",
      onsubmit: async (ev) => {
        ev.preventDefault();
        if (!pick.value) return;
        const body = kind.value === "extension" ? { extension: pick.value } : { queue: pick.value };
        const label = pick.selectedOptions[0]?.textContent || pick.value;
        close();
        this.transferring = this.openId;
        const reply = await this.act("/transfer", body);
        if (reply) this.app.toast(t("transferred_to", { target: label }));
      } },
    h("h2", {}, t("transfer_session")),
    h("label", { for: "transfer-kind" }, t("transfer_to")), kind,
    h("label", { for: "transfer-target" }, t("target")), pick,
    h("div", { class: "controls" }, h("button", { type: "submit", class: "primary", id: "transfer-ok" }, t("ok")),
      h("button", { type: "button", onclick: close }, t("cancel"))));
    this.app.render();
    kind.focus();
  }

  createDialog() {
    const h = this.app.h;
    const senders = this.options.senders;
    const sender = h("select", { id: "create-sender", "aria-label": t("sender") },
      senders.map((s, i) => h("option", { value: String(i) }, `${s.number}/${s.channel}`)));
    const to = h("input", { id: "create-recipient", inputmode: "tel", placeholder: "+8613899990000", required: true,
      pattern: "\\+[1-9][0-9]{1,14}", "aria-label": t("recipient"), title: t("e164_hint") });
    const close = () => { this.app.dialog = null; this.app.render(); };
    const error = h("p", { class: "error", role: "alert", id: "create-error" });
    this.app.dialog = h("form", { class: "dialog", role: "dialog", "aria-modal": "true", "aria-label": t("create_session"), id: "create-dialog",
      onsubmit: async (ev) => {
        ev.preventDefault();
        const s = senders[Number(sender.value)];
        try {
          const reply = await this.app.api.call("POST", "/messaging/sessions", { channel: s.channel, number: s.number, customer: to.value.trim() });
          close();
          this.upsert(reply.session);
          this.which = "recent";
          await this.open(reply.session.id);
        } catch (err) { error.textContent = `${t("error")}: ${err.message}`; }
      } },
    h("h2", {}, t("create_session")),
    h("label", { for: "create-sender" }, t("sender")), sender,
    h("label", { for: "create-recipient" }, t("recipient")), to, error,
    h("div", { class: "controls" }, h("button", { type: "submit", class: "primary", id: "create-ok" }, t("create")),
      h("button", { type: "button", onclick: close }, t("cancel"))));
    this.app.render();
    to.focus();
  }

  remove(id) {
    const row = this.sessions.get(id);
    this.app.confirm(t("confirm_remove", { customer: row ? row.customer_display || row.customer : id }), async () => {
      try {
        await this.app.api.call("POST", `/messaging/sessions/${id}/remove`);
        this.sessions.delete(id);
        if (this.openId === id) { this.openId = null; this.chat = null; }
      } catch (err) { this.app.toast(`${t("error")}: ${err.message}`, "error"); }
      this.app.render();
    });
  }

  // ---------------------------------------------------------------- view
  element() {
    const h = this.app.h;
    // the Campaign filter: the sessions campaigns created, open or closed (§13 item 48)
    const inList = (s, w) => (w === "campaign" ? s.origin === "campaign" : s.list === w);
    const rows = [...this.sessions.values()].filter((s) => inList(s, this.which))
      .sort((a, b) => b.last_activity - a.last_activity || b.id - a.id);
    const count = (w) => [...this.sessions.values()].filter((s) => inList(s, w)).length;
    const tab = (w) => h("button", { id: `inbox-${w}`, role: "tab", "aria-selected": String(this.which === w), class: this.which === w ? "current" : "",
      onclick: () => { this.which = w; this.app.render(); } }, `${t(`list_${w}`)} (${count(w)})`);
    const list = h("ul", { id: "session-list", class: "session-list", role: "listbox", "aria-label": t(`list_${this.which}`) },
      rows.length ? rows.map((s) => this.listRow(s))
        : h("li", { class: "muted empty", id: this.loaded ? "no-sessions" : "loading-sessions" }, this.loaded ? t("no_sessions") : "…"));
    const more = this.which === "archived" && this.archivedCursor
      ? h("button", { id: "archived-more", class: "more", onclick: () => this.moreArchived() }, t("load_more")) : null;
    const side = h("section", { class: "sub inbox-list", "aria-label": t("inbox") },
      h("div", { class: "controls" }, h("h2", {}, t("inbox")),
        this.options.senders.length ? h("button", { id: "create-session", title: t("create_session"), "aria-label": t("create_session"), onclick: () => this.createDialog() }, "+") : null),
      h("div", { role: "tablist", class: "inbox-tabs" }, tab("recent"), tab("archived"), tab("campaign")), list, more);
    const parts = [side, this.chatPane()];
    const details = this.details && this.chat ? this.detailsPanel() : null;
    if (details) parts.push(details);
    if (this.menu) parts.push(this.contextMenu());
    return h("div", { class: `inbox${details ? " with-details" : ""}`, id: "inbox" }, parts);
  }

  listRow(s) {
    const h = this.app.h;
    const last = s.last_message;
    const preview = !last ? "" : last.type === "system" ? `[${t("system")}] ${last.text}` : last.text;
    const li = h("li", { role: "option", tabindex: "0", "aria-selected": String(this.openId === s.id), class: `session${this.openId === s.id ? " current" : ""}${s.unread ? " unread" : ""}`,
      dataset: { session: s.id, customer: s.customer },
      onclick: () => this.open(s.id),
      onkeydown: (ev) => {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); this.open(s.id); }
        else if (ev.key === "Delete") { ev.preventDefault(); this.remove(s.id); }
        else if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
          ev.preventDefault();
          const sib = ev.key === "ArrowDown" ? li.nextElementSibling : li.previousElementSibling;
          if (sib) sib.focus();
        }
      },
      oncontextmenu: (ev) => { ev.preventDefault(); this.menu = { id: s.id, x: ev.clientX, y: ev.clientY }; this.app.render(); } },
    h("div", { class: "row1" }, h("span", { class: "customer" }, s.customer_display || s.customer),
      s.unread ? h("span", { class: "badge unread-count", "aria-label": t("unread_n", { n: s.unread }) }, String(s.unread)) : null,
      h("span", { class: "when muted" }, fmtWhen(s.last_activity))),
    h("div", { class: "row2 muted" }, h("span", { class: "channel" }, `${s.channel} · ${s.number}`),
      s.state === "closed" ? h("span", { class: "closed-tag" }, t("closed")) : null),
    h("div", { class: "preview muted" }, preview));
    return li;
  }

  contextMenu() {
    const h = this.app.h;
    const { id, x, y } = this.menu;
    const close = () => { this.menu = null; this.app.render(); };
    const item = h("button", { role: "menuitem", id: "menu-remove", onclick: () => { this.menu = null; this.remove(id); } }, t("remove"));
    const menu = h("div", { class: "context-menu", role: "menu", style: `left:${x}px;top:${y}px`,
      onkeydown: (ev) => { if (ev.key === "Escape") close(); } }, item);
    queueMicrotask(() => item.focus());
    setTimeout(() => document.addEventListener("click", () => { if (this.menu) close(); }, { once: true }), 0);
    return menu;
  }

  chatPane() {
    const h = this.app.h;
    if (!this.chat) return h("section", { class: "sub chat empty", id: "chat" }, h("p", { class: "muted" }, this.loaded ? t("pick_session") : "…"));
    const s = this.chat.session;
    const me = this.app.session.extension;
    const open = s.state === "open";
    const queue = this.options.queues.find((q) => q.name === s.route.target);
    const canTake = open && s.route.type === "message_queue" && !s.owner && (!queue || queue.mode !== "no_take_over");
    const tools = h("div", { class: "controls chat-tools" },
      canTake ? h("button", { id: "take-over", class: "primary", onclick: () => this.act("/take_over", undefined, t("taken_over")) }, t("take_over")) : null,
      open ? h("button", { id: "op-transfer", onclick: () => this.transferDialog() }, t("transfer_session")) : null,
      NUMBER_CHANNELS.has(s.channel_type) ? h("button", { id: "op-contact", onclick: () => this.contactDialog() }, t("add_to_contacts")) : null,
      s.list === "archived" && open
        ? h("button", { id: "op-unarchive", onclick: () => this.act("/archive", { archived: false }) }, t("unarchive"))
        : open ? h("button", { id: "op-archive", onclick: () => this.act("/archive", { archived: true }) }, t("archive")) : null,
      open ? h("button", { id: "op-close", class: "danger", onclick: () => this.app.confirm(t("confirm_close"), () => this.act("/close")) }, t("end_session")) : null,
      h("button", { id: "op-remove", class: "danger", onclick: () => this.remove(s.id) }, t("remove")));
    const owner = s.owner ? this.who(s.owner)
      : s.route.type === "message_queue" ? t("waiting_in", { queue: s.route.target }) : "-";
    const ctype = s.channel_type || channelType(s.channel, this.options.senders);
    const head = h("div", { class: "chat-head" },
      h("h2", { id: "chat-title" }, s.customer_display || s.customer),
      h("div", { class: "muted", id: "chat-details" },
        `${t("channel")}: ${s.channel}${ctype ? ` (${t(`ctype_${ctype}`)})` : ""} · ${t("channel_number")}: ${s.number} · ${t("session_id")}: ${s.id} · ${t("owner")}: ${owner}${open ? "" : ` · ${t("closed")}`}`),
      tools);
    const log = h("ol", { class: "chat-log", id: "chat-log", "aria-live": "polite", "aria-label": t("history"), tabindex: "0" },
      this.chat.messages.map((m) => this.bubble(m, me)));
    queueMicrotask(() => { log.scrollTop = log.scrollHeight; });
    const text = h("textarea", { id: "composer", rows: 3, "aria-label": t("message_text"), placeholder: open ? t("type_message") : t("closed_no_send"),
      disabled: !open, maxlength: 2000,
      oninput: (ev) => this.drafts.set(s.id, ev.target.value),
      onkeydown: (ev) => { if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); this.send(); } } });
    text.value = this.drafts.get(s.id) || "";
    // the session details' icon sits at the bottom left (§9.3)
    const info = h("button", { type: "button", id: "op-details", class: `details-toggle${this.details ? " current" : ""}`,
      "aria-pressed": String(this.details), "aria-controls": "session-details", title: t("session_details"), "aria-label": t("session_details"),
      onclick: () => this.toggleDetails() }, "ⓘ");
    const composer = h("form", { class: "composer", onsubmit: (ev) => { ev.preventDefault(); this.send(); } },
      info, text, h("button", { type: "submit", id: "send", class: "primary", disabled: !open }, t("send")));
    return h("section", { class: "sub chat", id: "chat", dataset: { session: s.id }, "aria-label": s.customer }, head, log, composer);
  }

  // the right-hand panel of "View session details" (§6.2, §9.3)
  detailsPanel() {
    const h = this.app.h;
    const s = this.chat.session;
    const type = s.channel_type || channelType(s.channel, this.options.senders);
    const row = (key, label, value) => (value === null || value === undefined || value === "" ? null
      : [h("dt", {}, label), h("dd", { dataset: { detail: key } }, value)]);
    const numberLabel = type === "messenger" ? t("facebook_page") : type === "livechat" ? t("livechat_channel") : t("details_channel_number");
    const numberValue = type === "messenger" && s.channel_page ? `${s.channel_page} (${s.number})` : s.number;
    const customerLabel = type === "livechat" ? t("visitor") : type === "messenger" ? t("facebook_user") : t("customer_number");
    const dest = s.route.type === "message_queue" ? `${t("message_queue")}: ${s.route.target}`
      : s.route.type === "extension" ? `${t("extension")}: ${this.who(s.route.target)}`
        : s.route.type === "api" ? t("third_party") : s.route.target;
    const owner = s.owner ? this.who(s.owner) : s.route.type === "message_queue" ? t("not_taken_over") : "-";
    const facts = h("dl", { class: "facts", id: "details-session" },
      row("channel", t("source_channel"), `${s.channel}${type ? ` (${t(`ctype_${type}`)})` : ""}`),
      row("number", numberLabel, numberValue),
      row("customer", customerLabel, s.customer),
      row("id", t("session_id"), String(s.id)),
      row("origin", t("origin"), t(`origin_${s.origin}`)),
      row("created", t("created"), fmtWhen(s.created)),
      row("last_activity", t("last_activity"), fmtWhen(s.last_activity)),
      row("destination", t("destination"), dest),
      row("owner", t("assigned_to"), owner),
      row("state", t("status"), s.state === "open" ? (s.list === "archived" ? t("list_archived") : t("open")) : t("closed")));
    let contact = null;
    if (s.customer_contact) {
      const d = this.detailContact;
      const c = d && d.id === s.customer_contact ? d.contact : null;
      contact = h("section", { id: "details-contact", "aria-label": t("contact_info") }, h("h3", {}, t("contact_info")),
        c ? h("dl", { class: "facts" },
          row("contact_name", t("contact_name"), c.name),
          row("contact_company", t("contact_company"), c.company),
          row("contact_email", t("contact_email"), c.email),
          c.numbers.flatMap((n, i) => row(`contact_number_${i}`, t(`number_${n.type}`), n.number)),
          c.editable ? null : h("dd", { class: "muted", id: "details-contact-config" }, t("contact_config_note")))
          : h("p", { class: d && d.error ? "error" : "muted" }, d && d.error ? `${t("error")}: ${d.error}` : "…"));
    }
    return h("aside", { class: "sub session-details", id: "session-details", "aria-label": t("session_details") },
      h("div", { class: "controls" }, h("h2", {}, t("session_details")),
        h("button", { id: "details-close", type: "button", "aria-label": t("close_panel"), title: t("close_panel"), onclick: () => this.toggleDetails() }, "×")),
      facts, contact);
  }

  bubble(m, me) {
    const h = this.app.h;
    if (m.type === "system") {
      return h("li", { class: "msg system", dataset: { message: m.id, type: "system" } },
        h("span", { class: "sender" }, m.sender === SYSTEM ? t("pbx_system") : m.sender), " ",
        h("span", { class: "text" }, m.text), h("span", { class: "when muted" }, fmtWhen(m.time)));
    }
    const state = m.type === "sent" ? h("span", { class: `delivery ${m.status}`, dataset: { status: m.status } },
      m.status === "failed" ? t("status_failed") : m.status === "sent" ? t("status_sent") : m.error ? t("status_retrying") : t("status_pending")) : null;
    return h("li", { class: `msg ${m.type}${m.sender === me ? " mine" : ""}`, dataset: { message: m.id, type: m.type, status: m.status } },
      h("div", { class: "meta muted" }, h("span", { class: "sender" }, m.type === "sent" ? this.who(m.sender) : m.sender), " ", h("span", { class: "when" }, fmtWhen(m.time)), " ", state),
      h("div", { class: "text" }, m.text),
      (m.media || []).map((u) => (/^https?:\/\//i.test(u) ? h("a", { href: u, target: "_blank", rel: "noopener noreferrer", class: "media" }, u) : h("span", { class: "media" }, u))),
      m.error ? h("div", { class: "delivery-error", role: m.status === "failed" ? "alert" : null }, m.error) : null);
  }
}
