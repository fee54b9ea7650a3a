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
        if (this.chat && this.chat.session.id === s.id) this.chat.session = s;
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

  // ---------------------------------------------------------------- dialogs
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
    if (this.menu) parts.push(this.contextMenu());
    return h("div", { class: "inbox", id: "inbox" }, parts);
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
      s.list === "archived" && open
        ? h("button", { id: "op-unarchive", onclick: () => this.act("/archive", { archived: false }) }, t("unarchive"))
        : open ? h("button", { id: "op-archive", onclick: () => this.act("/archive", { archived: true }) }, t("archive")) : null,
      open ? h("button", { id: "op-close", class: "danger", onclick: () => this.app.confirm(t("confirm_close"), () => this.act("/close")) }, t("end_session")) : null,
      h("button", { id: "op-remove", class: "danger", onclick: () => this.remove(s.id) }, t("remove")));
    const owner = s.owner ? this.who(s.owner)
      : s.route.type === "message_queue" ? t("waiting_in", { queue: s.route.target }) : "-";
    const head = h("div", { class: "chat-head" },
      h("h2", { id: "chat-title" }, s.customer_display || s.customer),
      h("div", { class: "muted", id: "chat-details" },
        `${t("channel")}: ${s.channel}${channelType(s.channel, this.options.senders) ? ` (${channelType(s.channel, this.options.senders)})` : ""} · ${t("channel_number")}: ${s.number} · ${t("session_id")}: ${s.id} · ${t("owner")}: ${owner}${open ? "" : ` · ${t("closed")}`}`),
      tools);
    const log = h("ol", { class: "chat-log", id: "chat-log", "aria-live": "polite", "aria-label": t("history"), tabindex: "0" },
      this.chat.messages.map((m) => this.bubble(m, me)));
    queueMicrotask(() => { log.scrollTop = log.scrollHeight; });
    const text = h("textarea", { id: "composer", rows: 3, "aria-label": t("message_text"), placeholder: open ? t("type_message") : t("closed_no_send"),
      disabled: !open, maxlength: 2000,
      oninput: (ev) => this.drafts.set(s.id, ev.target.value),
      onkeydown: (ev) => { if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); this.send(); } } });
    text.value = this.drafts.get(s.id) || "";
    const composer = h("form", { class: "composer", onsubmit: (ev) => { ev.preventDefault(); this.send(); } },
      text, h("button", { type: "submit", id: "send", class: "primary", disabled: !open }, t("send")));
    return h("section", { class: "sub chat", id: "chat", dataset: { session: s.id }, "aria-label": s.customer }, head, log, composer);
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
