// The contact-center console (queue-manager-agent.md §2-§12): log-in, wallboard, queue panel,
// agent console, queue call logs. Plain ES modules, no build step; every figure comes from the
// switch (live.js), every operation is a live-API call the server checks again.
//
// Decisions:
// - The time-range selector (数据的时间范围, §2.2) at the wallboard's top right picks today,
//   this week or this month (PERIODS): every queue row and the All row carry the three
//   windows' period KPIs (`periods`, softswitch/web/PROTOCOL.md), so switching needs no
//   request; the choice is kept in the browser. The queue panel's Call Statistics are today's.
//   The agent status list's Answered / Missed (per ring) / Total Talk Time columns follow
//   the same selector (agents rows' `period_calls`, kept fresh by `agent.calls` deltas).
// - The clock widget shows the switch's time (server_time, so a wrong browser clock does not
//   matter) in the browser's time zone: the configuration has no single PBX time zone.
// - Threshold colours only where the configuration gives a threshold: SLA below the queue's
//   SLA alert threshold is red (green otherwise, once there are calls); waiting calls are
//   amber, red when the longest wait exceeds the queue's SLA time.
// - Buttons follow the caller's §7.4 permissions per queue (from /me) and exist only for the
//   operations the switch's OpenAPI document lists; the server refuses anyway.
// - Wallboard widgets are moved with buttons (earlier/later) rather than dragged, so the
//   keyboard can do it; "size" cycles 1-3 grid cells.
// - Reports (issue 19, §8) is a tab for the users the report API allows (admins and queue
//   managers); reports.js has its decisions. The server refuses everyone else anyway.
// - One's own presence status (§7.5, §10.3) is a menu in the header for every user: setting
//   it runs the status's auto-switch rule on the server. The §2.5.1 filter of the agent list
//   groups the six statuses under Online (the group box ticks or unticks all six; it shows
//   ticked only when all six are) and Offline (not registered) apart; a row counts once per
//   queue, like the list. A ticked box applies at once, so no separate Search button.
// - The recording icon (§3.3.3) is a flashing red dot while recording, a static pause sign
//   when paused, nothing when no recording runs; it follows `call.recording` deltas, so a
//   change made elsewhere (the agent's own phone, another manager) shows at once.
// - Call logs (§5.1, §9): every row has call back (icon, or double-click the row) and delete;
//   ticked rows are deleted in bulk after a confirmation. Whether a delete removes the record
//   for everyone or only from one's own view is the server's rule (softswitch/web/calllogs.py).
// - "Sign in to last signed-in queues" (§7.1) is in the agent's "Switch all queues to" menu;
//   the switch remembers the set (the one *78 uses) and the menu shows it.
// - Queue groups (§3.2 Custom) are saved on the switch per user; a group shows its queues
//   together in the queue panel; its Call Statistics are the server's figures over those
//   queues (GET /console/figures), coloured against the group's SLA alert threshold.
// - The inbox (External Chat, omnichannel.md §9.3) is a tab for every user when the switch
//   has the messaging API; inbox.js has its decisions. The tab shows the unread total.
// - A pickup's outcome (the `call.pickup` delta) is a toast for the picker: "picked up", or
//   "pickup failed" with the reason (declined, busy, no answer, ...) and the SIP status.
// - Drag and drop (§3.3.4): a waiting or ringing call dropped on an agent's card is
//   redirected to that agent, an answered call is transferred (blind, the caller) to it;
//   the Redirect / Transfer buttons stay for the keyboard.
import { LANGS, lang, setLang, t } from "./i18n.js";
import { Api, Live, capabilities, login } from "./live.js";
import { InboxView } from "./inbox.js";
import { ReportsView } from "./reports.js";
import { Prefs } from "./store.js";

const KPIS = ["signed_in_agents", "idle_agents", "active_calls", "waiting_calls", "avg_talk",
  "avg_wait", "max_wait", "sla", "missed", "abandoned", "answered", "total", "missed_rate",
  "abandon_rate", "answer_rate", "callback"];
const DURATION = new Set(["avg_talk", "avg_wait", "max_wait"]);
const PERCENT = new Set(["sla", "missed_rate", "abandon_rate", "answer_rate"]);
const PANEL_STATS = ["sla", "answered", "abandoned", "missed", "max_wait", "avg_wait", "avg_talk"];

// ------------------------------------------------------------------ helpers
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function hms(seconds) {
  const s = Math.max(0, Math.floor(seconds || 0));
  const p = (n) => String(n).padStart(2, "0");
  return `${p(Math.floor(s / 3600))}:${p(Math.floor(s / 60) % 60)}:${p(s % 60)}`;
}

const PERIODS = ["today", "week", "month"];
// the settable presence statuses (softswitch.config PRESENCE_STATUSES; "offline" is the
// absence of a registration, §10.3)
const PRESENCES = ["available", "away", "business_trip", "dnd", "lunch", "off_work"];

// §2.5.1 the Agent column's filter value of a row: its presence status when online, else offline
function presenceKey(a) { return a.registered ? (a.presence || "available") : "offline"; }

// A queue's (or the All row's) KPIs with the period KPIs of the window ``period``.
function periodKpis(k, periods, period) {
  return k && periods && periods[period] ? { ...k, ...periods[period], period } : k;
}

function kpiText(key, k) {
  if (!k) return "-";
  if (key === "signed_in_agents") return k.signed_in_agents === null || k.signed_in_agents === undefined
    ? "-" : `${k.signed_in_agents}/${k.total_agents}`;
  if (key === "callback") return `${k.callback_requests ?? 0} / ${k.callback_failures ?? 0} / ${k.awaiting_callback ?? 0}`;
  const v = k[key];
  if (v === null || v === undefined) return "-";
  if (DURATION.has(key)) return hms(v);
  if (PERCENT.has(key)) return `${Number(v).toFixed(2).replace(/\.?0+$/, "")}%`;
  return String(v);
}

// SLA threshold colour (§3.2, admin §7.3): below the queue's SLA alert threshold = alert.
function kpiClass(key, k, q) {
  if (key === "sla" && q && k && k.total > 0) return k.sla < q.sla_alert_threshold ? "alert" : "good";
  if (key === "waiting_calls" && q && k && k.longest_waiting > q.sla_time) return "alert";
  if (key === "waiting_calls" && k && k.waiting_calls > 0) return "warn";
  return "";
}

function agentName(q, agent) {
  const row = q.agents.find((a) => a.agent === agent);
  return row && row.name ? `${row.name} [${agent}]` : agent;
}

function qLabel(q) { return q ? `${q.name} [${q.number}]` : ""; }

function fmtTime(epoch) {
  if (!epoch) return "-";
  const d = new Date(epoch * 1000);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}/${p(d.getMonth() + 1)}/${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function stateText(a) {
  if (!a.signed_in) return t("signed_out");
  if (a.paused) return a.pause_reason ? `${t("paused")}-${a.pause_reason}` : t("paused");
  return t("signed_in");
}

// Small inline SVG icons (no icon font or emoji font is needed on the viewing machine)
const ICONS = {
  phone: "M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2c.3-.3.7-.4 1-.2 1.1.4 2.3.6 3.6.6.6 0 1 .4 1 1V20c0 .6-.4 1-1 1A17 17 0 0 1 3 4c0-.6.4-1 1-1h3.5c.6 0 1 .4 1 1 0 1.3.2 2.5.6 3.6.1.3 0 .7-.2 1z",
  trash: "M6 19c0 1.1.9 2 2 2h8a2 2 0 0 0 2-2V7H6zM19 4h-3.5l-1-1h-5l-1 1H5v2h14z",
  pause: "M6 5h4v14H6zM14 5h4v14h-4z",
  dot: "M12 5a7 7 0 1 0 0 14 7 7 0 0 0 0-14z",
};
function icon(name) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24"); svg.setAttribute("width", "16"); svg.setAttribute("height", "16");
  svg.setAttribute("aria-hidden", "true"); svg.setAttribute("class", "icon");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", ICONS[name]); path.setAttribute("fill", "currentColor");
  svg.append(path);
  return svg;
}

// §3.3.3 the recording icon of an answered call: flashing while recording, static when paused
function recIcon(c) {
  if (!c.recording) return null;
  const label = c.recording === "paused" ? t("rec_paused") : t("rec_on");
  return h("span", { class: `rec ${c.recording}`, role: "img", "aria-label": label, title: label, dataset: { recording: c.recording } },
    icon(c.recording === "paused" ? "pause" : "dot"));
}

function stateKey(a) { return !a.signed_in ? "signed_out" : a.paused ? "paused" : "signed_in"; }

// ------------------------------------------------------------------ the application
class Console {
  constructor(root) {
    this.h = h; // for the page modules (reports.js)
    this.root = root;
    this.session = JSON.parse(sessionStorage.getItem("console.session") || "null");
    this.route = location.hash.slice(2) || "";
    this.dialog = null;
    this.logsCache = new Map();
    this.offered = [];
    this.handled = [];
    this.wbQueue = "all";
    this.wbView = "summary";
    this.panelQueue = null;
    this.carousel = null;
    this.editing = null;
    document.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape" && this.dialog) { this.dialog = null; this.render(); }
    });
    this.toasts = h("div", { id: "toasts", "aria-live": "polite" }); // outlives re-renders
    document.body.append(this.toasts);
    window.addEventListener("hashchange", () => { this.route = location.hash.slice(2); this.render(); });
    setInterval(() => this.tick(), 1000);
  }

  async start() {
    setLang(localStorage.getItem("console.lang") || (navigator.language.startsWith("zh") ? "zh" : "en"));
    if (!this.session) return this.renderLogin();
    await this.enter();
  }

  async enter() {
    this.api = new Api(this.session.token);
    this.prefs = new Prefs(this.session.extension);
    setLang(this.prefs.get("lang", lang()));
    try {
      [this.me, this.caps, this.settings] = await Promise.all([
        this.api.call("GET", "/me"), capabilities(), this.api.call("GET", "/console/settings")]);
    } catch (err) {
      if (err.status === 401) return this.logout();
      throw err;
    }
    this.roles = this.me.roles;
    this.myPresence = await this.api.call("GET", `/extensions/${encodeURIComponent(this.session.extension)}/presence`)
      .then((r) => r.presence).catch(() => null);
    this.live = new Live(this.session.token);
    this.live.addEventListener("change", () => this.scheduleRender());
    this.live.addEventListener("stats", () => { this.refreshAll(); if (this.panelGroup()) this.loadGroupFigures(); });
    this.live.addEventListener("status", (ev) => this.status(ev.detail));
    this.live.addEventListener("delta", (ev) => this.onDelta(ev.detail));
    this.live.addEventListener("unauthorized", () => this.logout());
    this.live.addEventListener("server-error", (ev) => this.toast(`${t("error")}: ${ev.detail.message}`, "error"));
    this.live.me.extension = this.session.extension;
    this.live.start();
    if (this.caps.has("messaging")) { this.inbox = new InboxView(this); this.inbox.start(this.live); }
    this.loadGroups();
    if (this.roles.agent_of.length) this.loadLastQueues();
    if (!this.route) location.hash = `#/${this.defaultRoute()}`;
    this.render();
  }

  defaultRoute() {
    return this.viewable().length ? (this.isManager() ? "panel" : "wallboard")
      : (this.roles.agent_of.length ? "agent" : (this.caps.has("messaging") ? "inbox" : "wallboard"));
  }

  // ---------------------------------------------------------------- permissions (§7.4)
  perms(queue) { return new Set((this.roles.permissions || {})[queue] || []); }
  can(queue, perm) { return this.roles.admin || this.perms(queue).has(perm); }
  isManager() { return this.roles.admin || this.roles.manager_of.length > 0; }
  // the report API's rule (softswitch/reports/web.py authorize): admins and queue managers
  mayReport() { return this.isManager(); }
  viewable() { return [...this.live?.queues.keys() ?? []]; }
  logQueues() {
    const out = [];
    for (const [q, p] of Object.entries(this.roles.permissions || {})) {
      if (p.includes("missed_calls") || p.includes("call_logs")) out.push(q);
    }
    return out;
  }

  // ---------------------------------------------------------------- log-in
  renderLogin(message) {
    const ext = h("input", { id: "login-ext", name: "extension", autocomplete: "username", required: true, inputmode: "numeric" });
    const pw = h("input", { id: "login-pw", name: "password", type: "password", autocomplete: "current-password", required: true });
    const err = h("p", { class: "error", role: "alert" }, message || "");
    const form = h("form", { class: "login", onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const reply = await login(ext.value.trim(), pw.value);
        this.session = { token: reply.token, extension: reply.extension };
        sessionStorage.setItem("console.session", JSON.stringify(this.session));
        await this.enter();
      } catch (e) { err.textContent = `${t("login_failed")}: ${e.message}`; }
    } },
    h("h1", {}, t("title")),
    h("label", { for: "login-ext" }, t("extension")), ext,
    h("label", { for: "login-pw" }, t("password")), pw,
    h("button", { type: "submit", id: "login-submit" }, t("login")),
    this.langPicker(() => this.renderLogin()), err);
    this.root.replaceChildren(form);
    ext.focus();
  }

  langPicker(after) {
    return h("select", { "aria-label": t("language"), id: "lang", onchange: (ev) => {
      setLang(ev.target.value);
      localStorage.setItem("console.lang", ev.target.value);
      if (this.prefs) this.prefs.set("lang", ev.target.value);
      after();
    } }, Object.entries(LANGS).map(([k, v]) => h("option", { value: k, selected: k === lang() }, v)));
  }

  async logout() {
    if (this.live) this.live.stop();
    if (this.api) await this.api.call("POST", "/logout").catch(() => {});
    sessionStorage.removeItem("console.session");
    this.session = null; this.live = null; this.reports = null;
    this.renderLogin();
  }

  // §7.5 / §10.3: one's own presence status (Linkus "Settings > Status"); setting it runs
  // the status's agent-state auto-switch rule on the server (PUT .../presence)
  presencePicker() {
    if (!this.myPresence) return null;
    return h("label", { class: "my-presence" }, t("presence"),
      h("select", { id: "my-presence", "aria-label": t("presence"), onchange: async (ev) => {
        const status = ev.target.value;
        try {
          const reply = await this.api.call("PUT", `/extensions/${encodeURIComponent(this.session.extension)}/presence`, { status });
          this.myPresence = reply.presence;
          this.toast(`${t("presence")}: ${t(`presence_${reply.presence}`)}`);
        } catch (err) { this.toast(`${t("error")}: ${err.message}`, "error"); }
        this.render();
      } }, PRESENCES.map((p) => h("option", { value: p, selected: p === this.myPresence }, t(`presence_${p}`)))));
  }

  // ---------------------------------------------------------------- live plumbing
  status({ online, resumed }) {
    const banner = document.getElementById("offline");
    if (banner) banner.hidden = online;
    document.body.classList.toggle("is-offline", !online);
    if (online && resumed) this.toast(t("resumed"));
  }

  refreshAll() {
    // the "All" row (§2.4) is the server's: re-read after queue figures changed
    clearTimeout(this.allTimer);
    this.allTimer = setTimeout(async () => {
      if (!this.live || this.live.queues.size < 2) return;
      try {
        const reply = await this.api.call("GET", "/queues");
        this.live.all = reply.all;
        this.scheduleRender();
      } catch { /* offline: the next change retries */ }
    }, 200);
  }

  scheduleRender() {
    if (this.renderPending) return;
    this.renderPending = true;
    requestAnimationFrame(() => {
      this.renderPending = false;
      // a live update must not replace the row being dragged or the card under it: the
      // page is drawn again when the drag ends
      if (this.dragging) { this.renderAfterDrag = true; return; }
      this.render();
    });
  }

  endDrag() {
    this.dragging = false;
    if (this.renderAfterDrag) { this.renderAfterDrag = false; this.scheduleRender(); }
  }

  onDelta(m) {
    const mine = this.session.extension;
    if (m.type === "agent.presence" && m.agent === mine && m.presence) this.myPresence = m.presence;
    if (m.type === "agent.membership" && m.agent === mine && (m.change === "signed_out" || m.change === "signed_in")) this.loadLastQueues();
    if (m.type === "call.pickup" && m.by === mine) this.pickupNotice(m);
    if (m.type === "notification") {
      const managed = this.roles.manager_of.includes(m.queue) || this.roles.admin;
      if (m.agent === mine || managed) this.notify(t(m.kind, { agent: m.agent, queue: m.queue }));
    }
    if (m.type === "call.ringing" && m.agents.includes(mine)) {
      this.offered.unshift({ id: m.id, queue: m.queue, at: this.live.now() });
      this.offered = this.offered.slice(0, 50);
    }
    if (m.type === "call.answered" && m.call.agent === mine) {
      this.handled.unshift(m.call);
      this.handled = this.handled.slice(0, 50);
    }
    if (m.type === "agent.activity" && m.agent === mine && m.wrap_up_until) {
      // §8.2: the notes panel pops up when wrap-up starts, for the call just ended
      const last = this.handled[0];
      if (last) this.openNotes(last.queue, last.id);
    }
    if (m.type === "disposition.changed" || m.type === "note.saved" || m.type === "record.deleted") {
      if (this.route === "logs" || this.route === "agent") this.loadLogs();
    }
  }

  // the outcome of a pickup this user asked for (PROTOCOL.md §3 `call.pickup`): only the
  // picker's clients get it; a failure says why (and the phone's SIP status when there is one)
  pickupNotice(m) {
    if (m.state === "answered") { this.toast(t("pickup_done", { queue: m.queue }), "info"); return; }
    if (m.state !== "failed") return;
    const why = t(`pickup_${m.reason}`);
    const status = m.status ? ` (SIP ${m.status})` : "";
    this.toast(`${t("pickup_failed", { queue: m.queue })}: ${why}${status}`, "error");
  }

  notify(text) {
    this.toast(text, "notice");
    if (this.prefs.get("sound", true)) beep();
  }

  toast(text, kind = "info") {
    const box = this.toasts;
    const el = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
    box.append(el);
    setTimeout(() => el.remove(), 6000);
  }

  tick() {
    if (!this.live) return;
    const now = this.live.now();
    for (const el of document.querySelectorAll("[data-since]")) el.textContent = hms(now - Number(el.dataset.since));
    for (const el of document.querySelectorAll("[data-clock]")) el.textContent = fmtTime(now);
  }

  async op(path, body, okText) {
    try {
      const reply = await this.api.call("POST", path, body);
      if (okText) this.toast(okText);
      return reply;
    } catch (err) {
      this.toast(`${t("error")}: ${err.message}`, "error");
      return null;
    }
  }

  // ---------------------------------------------------------------- frame
  render() {
    if (!this.live) return;
    // a live re-render must not take the keyboard focus, the caret or a choice away
    const active = document.activeElement;
    const focusId = active && active.id;
    const caret = active && typeof active.selectionStart === "number" && active.type !== "number"
      ? [active.selectionStart, active.selectionEnd] : null;
    const tabs = [["wallboard", t("wallboard")], ["panel", t("panel")]];
    if (this.roles.agent_of.length) tabs.push(["agent", t("agent")]);
    if (this.logQueues().length) tabs.push(["logs", t("logs")]);
    if (this.mayReport()) tabs.push(["reports", t("reports")]);
    if (this.inbox) {
      const n = this.inbox.unreadTotal();
      tabs.push(["inbox", n ? `${t("inbox")} (${n})` : t("inbox")]);
    }
    const route = tabs.some(([k]) => k === this.route) ? this.route : tabs[0][0];
    const nav = h("nav", { "aria-label": "main" }, tabs.map(([k, label]) =>
      h("a", { href: `#/${k}`, id: `tab-${k}`, class: k === route ? "current" : "", "aria-current": k === route ? "page" : null }, label)));
    const header = h("header", {},
      h("span", { class: "brand" }, t("title")), nav,
      h("span", { class: "who", id: "who" }, `${this.session.extension}${this.roles.admin ? " (admin)" : ""}`),
      this.presencePicker(),
      this.langPicker(() => this.render()),
      h("label", { class: "sound" }, h("input", { type: "checkbox", id: "sound", checked: this.prefs.get("sound", true),
        onchange: (ev) => this.prefs.set("sound", ev.target.checked) }), t("sound")),
      h("button", { id: "logout", onclick: () => this.logout() }, t("logout")));
    const offline = h("div", { id: "offline", class: "offline", role: "status", hidden: this.live.online }, t("offline"));
    const main = h("main", { id: "main" });
    const body = { wallboard: () => this.wallboard(), panel: () => this.panel(), agent: () => this.agentView(), logs: () => this.logsView(), reports: () => this.reportsView(), inbox: () => this.inbox.element() }[route]();
    main.append(body);
    this.root.replaceChildren(header, offline, main, this.dialog || "");
    document.body.classList.toggle("tv", !!document.fullscreenElement);
    if (focusId) {
      const el = document.getElementById(focusId);
      if (el) { el.focus(); if (caret && el.setSelectionRange) el.setSelectionRange(...caret); }
    }
    this.tick();
  }

  // ---------------------------------------------------------------- wallboard (§2)
  layoutScope() { return this.wbQueue === "all" ? "all" : "single"; }
  defaultLayout() {
    return ["clock", "active_calls", "waiting_calls", "avg_talk", "avg_wait", "max_wait", "missed",
      "abandoned", "answered", "total", "missed_rate", "abandon_rate", "answer_rate", "callback"]
      .map((type) => ({ type, description: "", size: 1, locked: false }));
  }
  layout() { return this.editing || this.prefs.get(`layout.${this.layoutScope()}`, this.defaultLayout()); }

  wallboard() {
    const queues = [...this.live.queues.values()];
    if (!queues.length) return h("p", { id: "no-queues" }, t("no_queues"));
    if (this.wbQueue !== "all" && !this.live.queues.has(this.wbQueue)) this.wbQueue = "all";
    const sel = h("select", { id: "wb-queue", "aria-label": t("queue"), onchange: (ev) => { this.wbQueue = ev.target.value; this.editing = null; this.render(); } },
      h("option", { value: "all", selected: this.wbQueue === "all" }, t("all")),
      queues.map((q) => h("option", { value: q.number, selected: this.wbQueue === q.number }, qLabel(q))));
    const controls = h("div", { class: "controls" }, sel,
      h("button", { id: "wb-toggle", onclick: () => { this.wbView = this.wbView === "summary" ? "list" : "summary"; this.render(); } },
        this.wbView === "summary" ? t("view_list") : t("view_summary")),
      h("button", { id: "wb-play", "aria-pressed": String(!!this.carousel), onclick: () => this.toggleCarousel() }, this.carousel ? t("stop") : t("play")),
      h("label", {}, t("carousel"), h("input", { id: "wb-interval", type: "number", min: 5, max: 3600, value: this.prefs.get("carousel", 30),
        onchange: (ev) => { this.prefs.set("carousel", Math.max(5, Number(ev.target.value) || 30)); if (this.carousel) { this.toggleCarousel(); this.toggleCarousel(); } } })),
      this.wbView === "summary" ? h("button", { id: "wb-edit", onclick: () => { this.editing = this.editing ? null : structuredClone(this.layout()); this.render(); } }, this.editing ? t("cancel") : t("edit")) : null,
      h("button", { id: "wb-full", onclick: () => this.fullscreen() }, t("fullscreen")),
      h("button", { id: "wb-popout", onclick: () => popOut() }, t("popout")),
      h("label", { class: "period" }, t("time_range"),
        h("select", { id: "wb-period", "aria-label": t("time_range"), onchange: (ev) => { this.prefs.set("period", ev.target.value); this.render(); } },
          PERIODS.map((p) => h("option", { value: p, selected: this.wbPeriod() === p }, t(`period_${p}`))))));
    const content = this.wbView === "summary" ? this.summaryView() : this.listView();
    return h("section", { class: "wallboard", "aria-label": t("wallboard") }, controls, content);
  }

  toggleCarousel() {
    if (this.carousel) { clearInterval(this.carousel); this.carousel = null; }
    else this.carousel = setInterval(() => { this.wbView = this.wbView === "summary" ? "list" : "summary"; this.render(); }, this.prefs.get("carousel", 30) * 1000);
    this.render();
  }

  fullscreen() {
    if (document.fullscreenElement) document.exitFullscreen();
    else document.documentElement.requestFullscreen?.().catch(() => document.body.classList.add("tv"));
    document.body.classList.add("tv");
    const off = () => { if (!document.fullscreenElement) { document.body.classList.remove("tv"); document.removeEventListener("fullscreenchange", off); } };
    document.addEventListener("fullscreenchange", off);
  }

  wbPeriod() {
    const p = this.prefs.get("period", "today");
    return PERIODS.includes(p) ? p : "today";
  }

  qKpis(q, period = this.wbPeriod()) { return periodKpis(q.kpis, q.periods, period); }

  allKpis(period = this.wbPeriod()) { return periodKpis(this.live.all, this.live.all && this.live.all.periods, period); }

  summaryKpis() {
    if (this.wbQueue === "all") {
      const qs = [...this.live.queues.values()];
      return qs.length === 1 ? [this.qKpis(qs[0]), qs[0]] : [this.allKpis(), null];
    }
    const q = this.live.queues.get(this.wbQueue);
    return [this.qKpis(q), q];
  }

  summaryView() {
    const [k, q] = this.summaryKpis();
    const layout = this.layout();
    const grid = h("div", { class: "widgets", id: "widgets" });
    layout.forEach((w, i) => {
      const value = w.type === "clock" ? h("div", { class: "value clock", "data-clock": "1" }, fmtTime(this.live.now()))
        : h("div", { class: `value ${kpiClass(w.type, k, q)}`, id: `kpi-${w.type}` }, kpiText(w.type, k));
      const clickable = (w.type === "missed" || w.type === "abandoned") && this.logQueues().length;
      const card = h("div", { class: `widget size${w.size || 1}${w.locked ? " locked" : ""}`, dataset: { type: w.type } },
        h("div", { class: "label" }, t(w.type)), value,
        w.type === "callback" ? h("div", { class: "subtext" }, `${t("callback_requests")} / ${t("callback_failures")} / ${t("awaiting_callback")}`) : null,
        w.description ? h("div", { class: "desc" }, w.description) : null);
      if (clickable && !this.editing) {
        card.classList.add("clickable");
        card.tabIndex = 0;
        const go = () => { this.logsKind = "missed"; location.hash = "#/logs"; };
        card.addEventListener("click", go);
        card.addEventListener("keydown", (ev) => { if (ev.key === "Enter") go(); });
      }
      if (this.editing) card.append(this.widgetTools(i));
      grid.append(card);
    });
    const parts = [grid];
    if (this.editing) parts.push(this.widgetEditor());
    return h("div", {}, parts);
  }

  widgetTools(i) {
    const L = this.editing;
    const w = L[i];
    const move = (d) => { const j = i + d; if (j < 0 || j >= L.length || w.locked || L[j].locked) return; [L[i], L[j]] = [L[j], L[i]]; this.render(); };
    return h("div", { class: "tools" },
      h("button", { title: t("move_up"), "aria-label": `${t("move_up")} ${t(w.type)}`, disabled: w.locked, onclick: () => move(-1) }, "←"),
      h("button", { title: t("move_down"), "aria-label": `${t("move_down")} ${t(w.type)}`, disabled: w.locked, onclick: () => move(1) }, "→"),
      h("button", { title: t("resize"), "aria-label": `${t("resize")} ${t(w.type)}`, onclick: () => { w.size = (w.size || 1) % 3 + 1; this.render(); } }, "⤡"),
      h("button", { title: w.locked ? t("unlock") : t("lock"), "aria-pressed": String(!!w.locked), "aria-label": `${t("lock")} ${t(w.type)}`, onclick: () => { w.locked = !w.locked; this.render(); } }, w.locked ? "🔒" : "🔓"),
      h("input", { id: `wdesc-${i}`, "aria-label": `${t("description")} ${t(w.type)}`, value: w.description || "", placeholder: t("description"), oninput: (ev) => { w.description = ev.target.value; } }),
      h("button", { title: t("delete"), "aria-label": `${t("delete")} ${t(w.type)}`, class: "del", onclick: () => { L.splice(i, 1); this.render(); } }, "×"));
  }

  widgetEditor() {
    const type = h("select", { id: "wb-add-type", "aria-label": t("type") }, ["clock", ...KPIS].map((k) => h("option", { value: k }, t(k))));
    const desc = h("input", { id: "wb-add-desc", placeholder: t("description"), "aria-label": t("description") });
    return h("div", { class: "editor" },
      h("strong", {}, t("add_widget")), type, desc,
      h("button", { id: "wb-add", onclick: () => { this.editing.push({ type: type.value, description: desc.value, size: 1, locked: false }); this.render(); } }, t("add_widget")),
      h("button", { id: "wb-reset", onclick: () => { this.editing = this.defaultLayout(); this.render(); } }, t("reset")),
      h("button", { id: "wb-save", class: "primary", onclick: () => { this.prefs.set(`layout.${this.layoutScope()}`, this.editing); this.editing = null; this.render(); } }, t("save")));
  }

  listView() {
    const queues = [...this.live.queues.values()];
    const parts = [];
    if (this.wbQueue === "all") {
      const head = h("tr", {}, h("th", {}, t("queue")), KPIS.map((k) => h("th", { scope: "col" }, t(k))));
      const rows = [];
      if (this.live.all) rows.push(h("tr", { class: "all-row", dataset: { queue: "all" } }, h("th", { scope: "row" }, t("all")),
        KPIS.map((k) => h("td", { dataset: { kpi: k } }, kpiText(k, this.allKpis())))));
      for (const q of queues) rows.push(h("tr", { dataset: { queue: q.number } }, h("th", { scope: "row" }, qLabel(q)),
        KPIS.map((k) => h("td", { dataset: { kpi: k }, class: kpiClass(k, this.qKpis(q), q) }, kpiText(k, this.qKpis(q))))));
      parts.push(h("h2", {}, t("queue_perf_list")), h("div", { class: "scroll" }, h("table", { id: "perf-table" }, h("thead", {}, head), h("tbody", {}, rows))));
    }
    parts.push(h("h2", {}, t("agent_status_list")), this.agentStatusTable(this.wbQueue === "all" ? queues : [this.live.queues.get(this.wbQueue)]));
    return h("div", {}, parts);
  }

  agentStatusTable(queues) {
    this.wbFilter = this.wbFilter || { presence: null, state: null };
    const f = this.wbFilter;
    const rows = queues.flatMap((q) => q.agents.map((a) => ({ q, a })));
    const states = new Map([[t("signed_in"), 0], [t("signed_out"), 0], [t("paused"), 0]]); // §2.5.2
    for (const { a } of rows) { const s = stateText(a); states.set(s, (states.get(s) || 0) + 1); }
    for (const r of this.settings.pause_reasons) { const s = `${t("paused")}-${r.reason}`; if (!states.has(s)) states.set(s, 0); }
    // §2.5.1: Online (在线) split into the six presence statuses, with the group's total; Offline
    const counts = new Map([...PRESENCES, "offline"].map((p) => [p, 0]));
    for (const { a } of rows) counts.set(presenceKey(a), counts.get(presenceKey(a)) + 1);
    const online = rows.length - counts.get("offline");
    const checked = (p) => !f.presence || f.presence.has(p);
    const toggle = (keys, on) => {
      f.presence = f.presence || new Set([...PRESENCES, "offline"]);
      for (const k of keys) { if (on) f.presence.add(k); else f.presence.delete(k); }
      this.render();
    };
    const box = (p, label, n) => h("label", { class: p === "online" ? "group" : p === "offline" ? "" : "sub-item" },
      h("input", { type: "checkbox", id: `pf-${p}`, dataset: { presence: p },
        checked: p === "online" ? PRESENCES.every(checked) : checked(p),
        onchange: (ev) => toggle(p === "online" ? PRESENCES : [p], ev.target.checked) }), `${label} (${n})`);
    const presence = h("fieldset", { class: "filter", id: "presence-filter" }, h("legend", {}, t("presence")),
      box("online", t("online"), online),
      PRESENCES.map((p) => box(p, t(`presence_${p}`), counts.get(p))),
      box("offline", t("offline_p"), counts.get("offline")));
    const stateBox = h("fieldset", { class: "filter" }, h("legend", {}, t("status")),
      [...states].map(([s, n]) => h("label", {}, h("input", { type: "checkbox", checked: !f.state || f.state.has(s),
        onchange: (ev) => { f.state = f.state || new Set(states.keys()); ev.target.checked ? f.state.add(s) : f.state.delete(s); this.render(); } }), `${s} (${n})`)),
      h("button", { onclick: () => { this.wbFilter = null; this.render(); } }, t("reset")));
    const now = this.live.now();
    const period = this.wbPeriod();
    const shown = rows.filter(({ a }) => checked(presenceKey(a)) && (!f.state || f.state.has(stateText(a))));
    const body = shown.map(({ q, a }) => {
      let time = "-";
      if (a.paused && a.paused_at) time = h("span", { "data-since": a.paused_at }, hms(now - a.paused_at));
      else if (a.type === "dynamic") time = fmtTime(a.signed_in ? a.signed_in_at : a.signed_out_at);
      return h("tr", { dataset: { agent: a.agent, queue: q.number } },
        h("td", {}, qLabel(q)),
        h("td", {}, h("span", { class: `dot ${a.registered ? "on" : "off"}`, title: a.registered ? t("online") : t("offline_p") }), ` ${a.name || a.agent} ${a.agent}`,
          a.presence ? h("span", { class: "presence", dataset: { presence: a.presence } }, ` (${t(`presence_${a.presence}`)})`) : ""),
        h("td", {}, t(a.type)), h("td", { class: `state ${stateKey(a)}` }, stateText(a)), h("td", {}, time),
        h("td", {}, a.current_calls ? h("button", { class: "link", onclick: () => { this.panelQueue = q.number; location.hash = "#/panel"; } }, String(a.current_calls)) : "0"),
        h("td", {}, a.longest_call_since ? h("span", { "data-since": a.longest_call_since }, hms(now - a.longest_call_since)) : "00:00:00"),
        // §2.5 period columns for the time range: answered, missed (per ring), talk
        ...["answered", "missed", "talk"].map((key) => {
          const c = (a.period_calls || {})[period] || { answered: 0, missed: 0, talk: 0 };
          return h("td", { dataset: { col: key } }, key === "talk" ? hms(c.talk) : String(c[key]));
        }));
    });
    return h("div", {}, h("div", { class: "filters" }, presence, stateBox),
      h("div", { class: "scroll" }, h("table", { id: "agent-table" },
        h("thead", {}, h("tr", {}, [t("queue"), t("agent_col"), t("type"), t("status"), t("time"), t("current_calls"), t("max_current"), t("agent_answered"), t("agent_missed"), t("agent_talk")].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, body))));
  }

  // ---------------------------------------------------------------- queue panel (§3-§4)
  panel() {
    const queues = [...this.live.queues.values()];
    if (!queues.length) return h("p", { id: "no-queues" }, t("no_queues"));
    const group = this.panelGroup();
    if (!group && (!this.panelQueue || (this.panelQueue !== "all" && !this.live.queues.has(this.panelQueue)))) this.panelQueue = queues.length > 1 ? "all" : queues[0].number;
    // §3.2 a queue group shows its queues together (those this user may still see)
    const scope = group ? group.queues.filter((n) => this.live.queues.has(n)).map((n) => this.live.queues.get(n))
      : this.panelQueue === "all" ? queues : [this.live.queues.get(this.panelQueue)];
    const groups = this.sortedGroups();
    const sel = h("select", { id: "panel-queue", "aria-label": t("queue"), onchange: (ev) => { this.panelQueue = ev.target.value; this.loadGroupFigures(); this.render(); } },
      queues.length > 1 ? h("option", { value: "all", selected: this.panelQueue === "all" }, t("all")) : null,
      queues.map((q) => h("option", { value: q.number, selected: this.panelQueue === q.number }, qLabel(q))),
      groups.length ? h("optgroup", { label: t("queue_groups") }, groups.map((g) => h("option", { value: `g:${g.name}`, selected: this.panelQueue === `g:${g.name}` }, g.name))) : null);
    let k; let qcfg;
    if (group) {
      k = this.groupFigures && this.groupFigures.key === group.queues.join(",") ? this.groupFigures.figures : null;
      qcfg = group.sla_alert_threshold === null || group.sla_alert_threshold === undefined ? null
        : { sla_alert_threshold: group.sla_alert_threshold, sla_time: Math.min(...scope.map((q) => q.sla_time)) };
    } else {
      k = this.panelQueue === "all" && queues.length > 1 ? this.allKpis("today") : this.qKpis(scope[0], "today");
      qcfg = this.panelQueue === "all" ? null : scope[0];
    }
    const stats = h("section", { class: "sub stats", id: "call-stats", "aria-label": t("call_stats") }, h("h2", {}, t("call_stats")),
      h("div", { class: "statrow" }, PANEL_STATS.map((key) => {
        const clickable = (key === "missed" || key === "abandoned") && this.logQueues().length;
        return h(clickable ? "button" : "div", { class: `stat ${kpiClass(key, k, qcfg)}`, id: `stat-${key}`,
          onclick: clickable ? () => { this.logsKind = "missed"; location.hash = "#/logs"; } : null },
        h("span", { class: "label" }, t(key)), h("span", { class: "value" }, kpiText(key, k)));
      })));
    const waiting = scope.flatMap((q) => q.waiting.map((c, i) => ({ q, c, pos: i + 1 })));
    const active = scope.flatMap((q) => q.active.map((c) => ({ q, c })));
    const now = this.live.now();
    const caller = (c) => `${c.contact_name || c.caller} [${c.caller}]`;
    const origin = (c) => (/^\d{1,6}$/.test(c.caller) ? t("internal") : t("external"));
    const wTable = h("table", { id: "waiting-table" },
      h("thead", {}, h("tr", {}, [t("position"), t("caller"), t("callee"), t("status"), t("time"), t("details"), ""].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, waiting.map(({ q, c, pos }) => h("tr", { dataset: { call: c.id, caller: c.caller }, ...this.dragSource(q, c, "redirect") },
        h("td", { class: "pos" }, String(pos)), h("td", {}, caller(c), c.callback ? h("span", { class: "qcb" }, ` ${t("qcb")}`) : null),
        h("td", {}, qLabel(q)), h("td", {}, c.status === "ringing" ? `${t("ringing")} ${(c.ringing_agents || []).join(", ")}` : t("queued")),
        h("td", {}, h("span", { "data-since": c.entered_at }, hms(now - c.entered_at))),
        h("td", {}, `${origin(c)}, ${t("queued")}`),
        h("td", {}, h("span", { class: "ops" }, this.waitingOps(q, c)))))));
    const aTable = h("table", { id: "active-table" },
      h("thead", {}, h("tr", {}, [t("caller"), t("callee"), t("queue"), t("status"), t("time"), t("details"), ""].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, active.map(({ q, c }) => h("tr", { dataset: { call: c.id, caller: c.caller, agent: c.agent }, ...this.dragSource(q, c, "transfer") },
        h("td", {}, caller(c)), h("td", {}, agentName(q, c.agent)), h("td", {}, qLabel(q)),
        h("td", {}, c.on_hold ? t("on_hold") : t("talking"), recIcon(c)),
        h("td", {}, h("span", { "data-since": c.answered_at }, hms(now - c.answered_at))),
        h("td", {}, `${origin(c)}, ${t("talking")}`),
        h("td", {}, h("span", { class: "ops" }, this.activeOps(q, c)))))));
    return h("section", { class: "panel", "aria-label": t("panel") },
      h("div", { class: "controls" }, sel, h("button", { id: "panel-groups", onclick: () => this.openGroups() }, t("custom")),
        h("button", { id: "panel-popout", onclick: () => popOut() }, t("popout")),
        h("span", { class: "period" }, `${t("time_range")}: ${t("period_today")}`)),
      h("div", { class: "panel-grid" }, stats,
        h("section", { class: "sub", id: "waiting", "aria-label": t("waiting") }, h("h2", {}, `${t("waiting")} (${waiting.length})`), h("div", { class: "scroll" }, wTable)),
        h("section", { class: "sub", id: "active", "aria-label": t("active") }, h("h2", {}, `${t("active")} (${active.length})`), h("div", { class: "scroll" }, aTable)),
        h("section", { class: "sub agents", id: "agents", "aria-label": t("agents") }, h("h2", {}, t("agents")), this.agentsPanel(scope))));
  }

  // ---------------------------------------------------------------- queue groups (§3.2)
  panelGroup() {
    if (!this.panelQueue || !this.panelQueue.startsWith("g:")) return null;
    const g = (this.groups || []).find((x) => `g:${x.name}` === this.panelQueue);
    if (!g) this.panelQueue = null;
    return g || null;
  }

  sortedGroups() {
    return (this.groups || []).map((g, i) => ({ g, i }))
      .sort((a, b) => (a.g.order ?? 1e9) - (b.g.order ?? 1e9) || a.i - b.i).map(({ g }) => g);
  }

  async loadGroups() {
    try { this.groups = (await this.api.call("GET", "/console/queue-groups")).groups; } catch { this.groups = []; }
    this.loadGroupFigures();
    this.scheduleRender();
  }

  // the group's Call Statistics are the server's (the All row's formulas over its queues)
  loadGroupFigures() {
    clearTimeout(this.groupTimer);
    this.groupTimer = setTimeout(async () => {
      const g = this.panelGroup();
      if (!g || !this.live) return;
      const key = g.queues.join(",");
      try {
        const reply = await this.api.call("GET", `/console/figures?queues=${encodeURIComponent(key)}`);
        this.groupFigures = { key, figures: reply.figures };
      } catch (err) { this.groupFigures = null; this.toast(`${t("error")}: ${err.message}`, "error"); }
      this.scheduleRender();
    }, 150);
  }

  openGroups() {
    const draft = structuredClone(this.groups || []);
    const queues = [...this.live.queues.values()];
    const close = () => { this.dialog = null; this.render(); };
    const draw = () => {
      const rows = draft.map((g, i) => h("fieldset", { class: "group-edit", dataset: { group: String(i) } },
        h("legend", {}, g.name || `#${i + 1}`),
        h("label", {}, t("group_name"), h("input", { class: "g-name", id: `g-name-${i}`, value: g.name, required: true, maxlength: 64, oninput: (ev) => { g.name = ev.target.value; } })),
        h("span", { class: "g-queues", role: "group", "aria-label": t("queues_l") }, t("queues_l"), queues.map((q) => h("label", {},
          h("input", { type: "checkbox", class: "g-queue", dataset: { queue: q.number }, checked: g.queues.includes(q.number),
            onchange: (ev) => { g.queues = ev.target.checked ? [...g.queues, q.number] : g.queues.filter((n) => n !== q.number); } }), qLabel(q)))),
        h("label", {}, t("sla_alert"), h("input", { class: "g-sla", type: "number", min: 0, max: 100, value: g.sla_alert_threshold ?? "",
          oninput: (ev) => { g.sla_alert_threshold = ev.target.value === "" ? null : Number(ev.target.value); } })),
        h("label", {}, t("sort_order"), h("input", { class: "g-order", type: "number", min: 0, value: g.order ?? "",
          oninput: (ev) => { g.order = ev.target.value === "" ? null : Number(ev.target.value); } })),
        h("button", { type: "button", class: "danger g-delete", onclick: () => { draft.splice(i, 1); draw(); } }, t("delete"))));
      this.dialog = h("div", { class: "dialog wide", role: "dialog", "aria-modal": "true", "aria-label": t("queue_groups"), id: "groups-dialog" },
        h("h2", {}, t("queue_groups")), rows,
        h("div", { class: "controls" },
          h("button", { id: "group-add", onclick: () => { draft.push({ name: "", queues: [], sla_alert_threshold: null, order: null }); draw(); } }, t("add_group")),
          h("button", { id: "group-save", class: "primary", onclick: async () => {
            try {
              const reply = await this.api.call("PUT", "/console/queue-groups", { groups: draft });
              this.groups = reply.groups;
              this.toast(t("group_saved"));
              close();
              this.loadGroupFigures();
            } catch (err) { this.toast(`${t("error")}: ${err.message}`, "error"); }
          } }, t("save")),
          h("button", { onclick: close }, t("cancel"))));
      this.render();
    };
    draw();
  }

  callPath(q, c, op) { return `/queues/${encodeURIComponent(q.number)}/calls/${encodeURIComponent(c.id)}/${op}`; }

  waitingOps(q, c) {
    const out = [];
    if (this.caps.has("pickup") && this.can(q.number, "pickup_hangup")) out.push(h("button", { class: "op-pickup", onclick: () => this.op(this.callPath(q, c, "pickup"), {}) }, t("pickup")));
    if (this.caps.has("redirect") && this.can(q.number, "call_distribution")) out.push(h("button", { class: "op-redirect", onclick: () => this.ask(t("redirect"), (target) => this.op(this.callPath(q, c, "redirect"), { target })) }, t("redirect")));
    if (this.caps.has("hangup") && this.can(q.number, "pickup_hangup")) out.push(this.hangupButton(q, c));
    return out;
  }

  activeOps(q, c) {
    const out = [];
    if (this.caps.has("transfer") && this.can(q.number, "call_distribution")) out.push(h("button", { class: "op-transfer", onclick: () => this.ask(t("transfer"), (target) => this.op(this.callPath(q, c, "transfer"), { target, party: "caller" })) }, t("transfer")));
    if (this.caps.has("park") && this.can(q.number, "parking")) out.push(h("button", { class: "op-park", onclick: () => this.op(this.callPath(q, c, "park"), { party: "caller" }) }, t("park")));
    const own = c.agent === this.session.extension;
    if (this.caps.has("recording") && (own || this.can(q.number, "recording"))) {
      out.push(h("button", { class: "op-rec-pause", onclick: () => this.op(this.callPath(q, c, "recording"), { action: "pause" }) }, t("rec_pause")),
        h("button", { class: "op-rec-resume", onclick: () => this.op(this.callPath(q, c, "recording"), { action: "resume" }) }, t("rec_resume")));
    }
    if (this.caps.has("monitor") && this.can(q.number, "monitoring")) {
      for (const mode of ["listen", "whisper", "barge"]) out.push(h("button", { class: `op-${mode}`, onclick: () => this.op(this.callPath(q, c, "monitor"), { mode }) }, t(mode)));
    }
    if (this.caps.has("hangup") && this.can(q.number, "pickup_hangup")) out.push(this.hangupButton(q, c));
    return out;
  }

  hangupButton(q, c) {
    return h("button", { class: "op-hangup danger", onclick: () => this.confirm(t("confirm_hangup"), () => this.op(this.callPath(q, c, "hangup"), {})) }, t("hangup"));
  }

  agentsPanel(scope) {
    this.agentSearch = this.agentSearch ?? "";
    const search = h("input", { id: "agent-search", type: "search", placeholder: t("search"), "aria-label": t("search"), value: this.agentSearch,
      oninput: (ev) => { this.agentSearch = ev.target.value; this.render(); } });
    const onlineOnly = h("label", {}, h("input", { id: "agent-online", type: "checkbox", checked: !!this.agentOnline, onchange: (ev) => { this.agentOnline = ev.target.checked; this.render(); } }), t("online_only"));
    const compact = h("button", { id: "agent-compact", "aria-pressed": String(!!this.compact), onclick: () => { this.compact = !this.compact; this.render(); } }, this.compact ? t("standard") : t("compact"));
    const term = this.agentSearch.trim().toLowerCase();
    const cards = [];
    for (const q of scope) for (const a of q.agents) {
      if (term && !`${a.name} ${a.agent}`.toLowerCase().includes(term)) continue;
      if (this.agentOnline && !(a.registered && a.signed_in)) continue;
      const own = a.agent === this.session.extension;
      const may = own || this.can(q.number, "change_agent_status");
      // §4.10 call an agent: no permission of its own, offered when the switch has it
      const callable = !own && this.caps.has("agent_call");
      const callAgent = () => this.op(`/queues/${encodeURIComponent(q.number)}/agents/${encodeURIComponent(a.agent)}/call`, {});
      cards.push(h("div", { class: `agent-card ${stateKey(a)}`, dataset: { agent: a.agent, queue: q.number } },
        h("span", { class: `dot ${a.registered ? "on" : "off"}`, title: a.registered ? t("online") : t("offline_p") }),
        h("strong", {}, `${a.name || a.agent} ${a.agent}`),
        this.compact ? null : h("span", { class: "q" }, qLabel(q)),
        h("span", { class: `state ${stateKey(a)}` }, stateText(a)),
        this.compact ? null : h("span", { class: "calls" }, `${t("current_calls")}: ${a.current_calls}`),
        a.wrap_up_until ? h("span", { class: "wrap" }, t("wrap_up")) : null,
        may ? this.stateControls(q.number, a) : null,
        callable ? h("button", { class: "op-call-agent", onclick: callAgent }, t("call_agent")) : null));
      const card = cards[cards.length - 1];
      if (callable) card.addEventListener("dblclick", callAgent); // §4.10: double-click calls
      this.dropTarget(card, a.agent);
    }
    return h("div", {}, h("div", { class: "controls" }, search, onlineOnly, compact),
      h("div", { class: `cards${this.compact ? " compact" : ""}`, id: "agent-cards" }, cards));
  }

  // §3.3.2 / §3.3.4: a waiting (ringing) call dragged onto an agent is redirected to it, an
  // answered call is transferred (blind, the caller) to it; the row's Redirect / Transfer
  // buttons do the same from the keyboard. Only calls the user may distribute (P2) drag.
  dragSource(q, c, op) {
    if (!this.caps.has(op) || !this.can(q.number, "call_distribution")) return {};
    return { draggable: "true", class: "draggable", title: t("drag_hint"), ondragstart: (ev) => {
      this.dragging = true;
      ev.dataTransfer.setData("application/x-queue-call", JSON.stringify({ queue: q.number, id: c.id, op }));
      ev.dataTransfer.effectAllowed = "move";
    }, ondragend: () => this.endDrag() };
  }

  dropTarget(card, agent) {
    const kind = "application/x-queue-call";
    card.addEventListener("dragover", (ev) => { if (ev.dataTransfer.types.includes(kind)) { ev.preventDefault(); card.classList.add("drop"); } });
    card.addEventListener("dragleave", () => card.classList.remove("drop"));
    card.addEventListener("drop", async (ev) => {
      card.classList.remove("drop");
      this.endDrag();
      const raw = ev.dataTransfer.getData(kind);
      if (!raw) return;
      ev.preventDefault();
      const { queue, id, op } = JSON.parse(raw);
      const path = this.callPath({ number: queue }, { id }, op);
      const body = op === "redirect" ? { target: agent } : { target: agent, party: "caller" };
      if (await this.op(path, body)) this.toast(t("redirected_to", { agent }));
    });
  }

  stateControls(queue, a) {
    const path = `/queues/${encodeURIComponent(queue)}/agents/${encodeURIComponent(a.agent)}/state`;
    const act = (action, reason) => this.op(path, reason ? { action, reason } : { action });
    const out = [];
    if (a.type === "dynamic") out.push(a.signed_in
      ? h("button", { class: "op-signout", onclick: () => act("signout") }, t("signout"))
      : h("button", { class: "op-signin", onclick: () => act("signin") }, t("signin")));
    if (a.signed_in) {
      if (a.paused) out.push(h("button", { class: "op-resume", onclick: () => act("resume") }, t("resume")));
      else out.push(this.pauseMenu((reason) => act("pause", reason), `${queue}-${a.agent}`));
    }
    return h("span", { class: "state-ops" }, out);
  }

  pauseMenu(run, key) {
    this.reasons = this.reasons || new Map(); // the choice survives live re-renders
    const chosen = this.reasons.get(key) || "";
    const sel = h("select", { class: "pause-reason", id: `reason-${key}`, "aria-label": t("pause"),
      onchange: (ev) => this.reasons.set(key, ev.target.value) },
    h("option", { value: "" }, t("no_reason")),
    this.settings.pause_reasons.map((r) => h("option", { value: r.reason, selected: r.reason === chosen }, r.reason)));
    return h("span", { class: "pause-menu" }, sel, h("button", { class: "op-pause", id: `pause-${key}`, onclick: () => run(sel.value || undefined) }, t("pause")));
  }

  // ---------------------------------------------------------------- agent console (§6-§9)
  agentView() {
    const me = this.live.me;
    const ext = this.session.extension;
    const all = async (action, reason) => {
      for (const m of me.memberships) {
        if ((action === "signin" || action === "signout") && m.type !== "dynamic") continue;
        if (action === "signin" && m.signed_in) continue;
        if (action === "signout" && !m.signed_in) continue;
        if (action === "pause" && (!m.signed_in || m.paused)) continue;
        if (action === "resume" && !m.paused) continue;
        await this.op(`/queues/${encodeURIComponent(m.queue)}/agents/${encodeURIComponent(ext)}/state`, reason ? { action, reason } : { action });
      }
    };
    const menu = h("section", { class: "sub", id: "my-status", "aria-label": t("my_status") }, h("h2", {}, t("my_status")),
      h("div", { class: "controls" }, h("span", {}, t("switch_all")),
        h("button", { id: "all-signin", onclick: () => all("signin") }, t("signin")),
        h("button", { id: "all-signin-last", title: this.lastQueuesText(), onclick: () => this.signInLast() }, t("signin_last")),
        h("button", { id: "all-signout", onclick: () => all("signout") }, t("signout")),
        this.pauseMenu((reason) => all("pause", reason), "all"),
        h("button", { id: "all-resume", onclick: () => all("resume") }, t("resume"))),
      h("p", { id: "last-queues", class: "muted" }, `${t("last_queues")}: ${this.lastQueuesText()}`),
      h("h3", {}, t("my_queues")),
      h("table", { id: "my-queues" }, h("thead", {}, h("tr", {}, [t("queue"), t("type"), t("status"), t("time"), ""].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, me.memberships.map((m) => h("tr", { dataset: { queue: m.queue } },
          h("td", {}, this.live.queues.has(m.queue) ? qLabel(this.live.queues.get(m.queue)) : m.queue), h("td", {}, t(m.type)), h("td", { class: `state ${stateKey(m)}` }, stateText(m)),
          h("td", {}, m.paused && m.paused_at ? h("span", { "data-since": m.paused_at }, "") : fmtTime(m.signed_in ? m.signed_in_at : m.signed_out_at)),
          h("td", {}, this.stateControls(m.queue, m)))))));
    const now = this.live.now();
    const calls = h("section", { class: "sub", id: "my-calls", "aria-label": t("my_calls") }, h("h2", {}, t("my_calls")),
      h("table", {}, h("tbody", {}, me.calls.map((c) => h("tr", { dataset: { call: c.id } },
        h("td", {}, `${c.contact_name || c.caller} [${c.caller}]`, recIcon(c)), h("td", {}, c.queue),
        h("td", {}, h("span", { "data-since": c.answered_at }, hms(now - c.answered_at))),
        h("td", {}, h("button", { class: "op-notes", onclick: () => this.openNotes(c.queue, c.id) }, t("call_notes"))))))),
      h("h3", {}, `${t("offered")} (${this.offered.length})`),
      h("ul", { id: "offered" }, this.offered.map((o) => h("li", {}, `${fmtTime(o.at)} ${o.queue}`))),
      h("h3", {}, `${t("handled")} (${this.handled.length})`),
      h("ul", { id: "handled" }, this.handled.map((c) => h("li", {}, `${fmtTime(c.answered_at)} ${c.queue} ${c.caller} `,
        h("button", { class: "op-notes", onclick: () => this.openNotes(c.queue, c.id) }, t("call_notes"))))));
    const parts = [menu, calls];
    if (this.logQueues().length) parts.push(this.logsSection());
    return h("div", { class: "agent-view" }, parts);
  }

  // §7.1 签入上次签入队列: the switch remembers the set (the one *78 uses) and signs in
  async loadLastQueues() {
    try {
      this.lastQueues = await this.api.call("GET", `/agents/${encodeURIComponent(this.session.extension)}/last-queues`);
    } catch { this.lastQueues = null; }
    this.scheduleRender();
  }

  lastQueuesText() {
    if (!this.lastQueues) return "-";
    return this.lastQueues.queues.map((n) => (this.live.queues.has(n) ? qLabel(this.live.queues.get(n)) : n)).join(", ") || "-";
  }

  async signInLast() {
    try {
      const reply = await this.api.call("POST", `/agents/${encodeURIComponent(this.session.extension)}/last-queues/signin`);
      this.toast(`${t("signin_last")}: ${reply.signed_in.join(", ") || "-"}`);
    } catch (err) { this.toast(`${t("error")}: ${err.message}`, "error"); }
  }

  openNotes(queue, callId) {
    const tags = h("input", { id: "note-tags", placeholder: "billing, refund", "aria-label": t("call_tags") });
    const text = h("textarea", { id: "note-text", rows: 4, "aria-label": t("notes") });
    const close = () => { this.dialog = null; this.render(); };
    this.dialog = h("div", { class: "dialog", role: "dialog", "aria-modal": "true", "aria-label": t("call_notes"), id: "notes-dialog" },
      h("h2", {}, `${t("call_notes")} — ${queue}`),
      h("label", { for: "note-tags" }, t("call_tags")), tags, h("label", { for: "note-text" }, t("notes")), text,
      h("div", { class: "controls" },
        h("button", { id: "note-save", class: "primary", onclick: async () => {
          try {
            await this.api.call("PUT", `/queues/${encodeURIComponent(queue)}/calls/${encodeURIComponent(callId)}/note`,
              { tags: tags.value.split(",").map((s) => s.trim()).filter(Boolean), text: text.value });
            this.toast(t("saved")); close();
          } catch (err) { this.toast(`${t("error")}: ${err.message}`, "error"); }
        } }, t("save")),
        h("button", { onclick: close }, t("cancel"))));
    this.render();
    tags.focus();
  }

  ask(title, run) {
    const input = h("input", { id: "ask-target", inputmode: "tel", "aria-label": t("target") });
    const close = () => { this.dialog = null; this.render(); };
    this.dialog = h("form", { class: "dialog", role: "dialog", "aria-modal": "true", "aria-label": title, onsubmit: (ev) => { ev.preventDefault(); const v = input.value.trim(); close(); if (v) run(v); } },
      h("h2", {}, title), h("label", { for: "ask-target" }, t("target")), input,
      h("div", { class: "controls" }, h("button", { type: "submit", class: "primary" }, t("ok")), h("button", { type: "button", onclick: close }, t("cancel"))));
    this.render();
    input.focus();
  }

  confirm(text, run) {
    const close = () => { this.dialog = null; this.render(); };
    const ok = h("button", { id: "confirm-ok", class: "primary", onclick: () => { close(); run(); } }, t("ok"));
    this.dialog = h("div", { class: "dialog", role: "alertdialog", "aria-modal": "true", "aria-label": text },
      h("p", {}, text), h("div", { class: "controls" }, ok, h("button", { onclick: close }, t("cancel"))));
    this.render();
    ok.focus();
  }

  // ---------------------------------------------------------------- reports (admin §8)
  reportsView() {
    this.reports = this.reports || new ReportsView(this);
    return this.reports.element(lang());
  }

  // ---------------------------------------------------------------- call logs (§5, §9)
  logsView() { return h("section", { class: "logs" }, this.logsSection()); }

  logsSection() {
    const queues = this.logQueues();
    if (!this.logsQueue || !queues.includes(this.logsQueue)) this.logsQueue = queues[0];
    this.logsKind = this.logsKind || "all";
    const key = `${this.logsQueue}:${this.logsKind}`;
    const data = this.logsCache.get(key);
    if (!data) this.loadLogs();
    const sel = h("select", { id: "logs-queue", "aria-label": t("source"), onchange: (ev) => { this.logsQueue = ev.target.value; this.render(); } },
      queues.map((q) => h("option", { value: q, selected: q === this.logsQueue }, this.live.queues.get(q) ? qLabel(this.live.queues.get(q)) : q)));
    const kind = h("select", { id: "logs-kind", "aria-label": t("type"), onchange: (ev) => { this.logsKind = ev.target.value; this.render(); } },
      [["all", t("kind_all")], ["missed", t("kind_missed")], ["inbound", t("kind_inbound")]].map(([k, l]) => h("option", { value: k, selected: k === this.logsKind }, l)));
    const rows = (data && data.records) || [];
    this.logsSelected = this.logsSelected || new Set();
    const ids = new Set(rows.map((r) => r.id));
    for (const id of [...this.logsSelected]) if (!ids.has(id)) this.logsSelected.delete(id);
    const canDelete = this.caps.has("record_delete");
    const canCall = this.caps.has("record_callback");
    const table = h("table", { id: "logs-table" },
      h("thead", {}, h("tr", {}, canDelete ? h("th", { scope: "col" }, h("input", { type: "checkbox", id: "logs-select-all", "aria-label": t("select_all"),
        checked: rows.length > 0 && rows.every((r) => this.logsSelected.has(r.id)),
        onchange: (ev) => { for (const r of rows) { if (ev.target.checked) this.logsSelected.add(r.id); else this.logsSelected.delete(r.id); } this.render(); } })) : null,
      [t("name"), t("type"), t("source"), t("time"), t("duration"), t("disposition"), t("notes"), t("operation")].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map((r) => {
        const tr = h("tr", { dataset: { record: r.id, caller: r.caller } },
          canDelete ? h("td", {}, h("input", { type: "checkbox", class: "log-select", "aria-label": `${t("select")} ${r.caller}`, checked: this.logsSelected.has(r.id),
            onchange: (ev) => { if (ev.target.checked) this.logsSelected.add(r.id); else this.logsSelected.delete(r.id); this.render(); } })) : null,
          h("td", {}, r.caller), h("td", {}, r.type === "inbound" ? t("inbound") : r.outcome === "abandoned" ? t("abandoned_t") : t("missed_t")),
          h("td", {}, r.queue), h("td", {}, fmtTime(r.time)), h("td", {}, hms(r.talk || 0)),
          h("td", {}, r.disposition ? this.dispositionControl(r) : ""),
          h("td", {}, r.note ? `${(r.note.tags || []).join(", ")} ${r.note.text || ""}` : "",
            r.type === "inbound" ? h("button", { class: "op-notes", onclick: () => this.openNotes(r.queue, r.call_id) }, t("call_notes")) : null),
          h("td", {},
            canCall ? h("button", { class: "op-callback", title: t("call_back"), "aria-label": `${t("call_back")} ${r.caller}`, onclick: () => this.callBack(r) }, icon("phone")) : null,
            canDelete ? h("button", { class: "op-delete danger", title: t("delete"), "aria-label": `${t("delete")} ${r.caller}`,
              onclick: () => this.confirm(t("confirm_delete", { n: 1 }), () => this.deleteRecords([r])) }, icon("trash")) : null));
        // §5.1: double-clicking the record calls back
        if (canCall) tr.addEventListener("dblclick", (ev) => { if (!ev.target.closest("button, select, input")) this.callBack(r); });
        return tr;
      })));
    const bulk = canDelete ? h("button", { id: "logs-delete", class: "danger", disabled: this.logsSelected.size === 0,
      onclick: () => this.confirm(t("confirm_delete", { n: this.logsSelected.size }), () => this.deleteRecords(rows.filter((r) => this.logsSelected.has(r.id)))) },
    `${t("delete")} (${this.logsSelected.size})`) : null;
    return h("section", { class: "sub", id: "call-logs", "aria-label": t("logs") }, h("h2", {}, t("logs")),
      h("div", { class: "controls" }, sel, kind, h("button", { id: "logs-refresh", onclick: () => this.loadLogs() }, t("refresh")), bulk),
      h("div", { class: "scroll" }, table));
  }

  // §5.1 call back (发起呼叫): the switch rings this user's phone, then the record's number
  async callBack(r) {
    try {
      await this.api.call("POST", `/queues/${encodeURIComponent(r.queue)}/records/${encodeURIComponent(r.id)}/callback`);
      this.toast(t("calling_back", { number: r.caller }));
    } catch (err) { this.toast(`${t("error")}: ${err.message}`, "error"); }
  }

  // §5.1 / §9.2 delete: the server decides whether for everyone or for this user only
  async deleteRecords(records) {
    for (const r of records) {
      try {
        await this.api.call("DELETE", `/queues/${encodeURIComponent(r.queue)}/records/${encodeURIComponent(r.id)}`);
        this.logsSelected.delete(r.id);
      } catch (err) { this.toast(`${t("error")}: ${err.message}`, "error"); }
    }
    this.logsCache.clear();
    this.loadLogs();
  }

  dispositionControl(r) {
    const sel = h("select", { class: "disposition", "aria-label": `${t("disposition")} ${r.caller}`, onchange: async (ev) => {
      try {
        await this.api.call("PUT", `/queues/${encodeURIComponent(r.queue)}/records/${encodeURIComponent(r.id)}/disposition`, { disposition: ev.target.value });
        this.loadLogs();
      } catch (err) { this.toast(`${t("error")}: ${err.message}`, "error"); }
    } }, ["unhandled", "processing", "handled"].map((d) => h("option", { value: d, selected: d === r.disposition }, t(d))));
    const hist = h("button", { class: "history", title: t("history"), "aria-label": t("history"), onclick: async () => {
      const reply = await this.api.call("GET", `/queues/${encodeURIComponent(r.queue)}/records/${encodeURIComponent(r.id)}/disposition`).catch(() => ({ log: [] }));
      hist.title = reply.log.map((e) => `${fmtTime(e.at)} ${e.by}: ${t(e.from)} → ${t(e.to)}`).join("\n") || "-";
      this.toast(hist.title);
    } }, t("history"));
    return h("span", {}, sel, hist);
  }

  async loadLogs() {
    if (!this.logsQueue) return;
    const key = `${this.logsQueue}:${this.logsKind}`;
    if (this.logsLoading === key) return;
    this.logsLoading = key;
    const type = this.logsKind === "all" ? "" : `&type=${this.logsKind}`;
    try {
      const reply = await this.api.call("GET", `/queues/${encodeURIComponent(this.logsQueue)}/calls?limit=200${type}`);
      reply.records.sort((a, b) => b.time - a.time);
      this.logsCache.set(key, reply);
    } catch (err) {
      this.logsCache.set(key, { records: [] });
      this.toast(`${t("error")}: ${err.message}`, "error");
    } finally { this.logsLoading = null; }
    this.scheduleRender();
  }
}

// §2.2 / §3.2 pop-out: the same view in a separate window (the log-in is per tab, so the new
// window gets a copy of this tab's session)
function popOut() {
  const w = window.open("about:blank", "_blank", "width=1366,height=768");
  if (!w) return;
  w.sessionStorage.setItem("console.session", sessionStorage.getItem("console.session"));
  w.location.href = location.href;
}

// §11 sound: a short two-tone chime made with WebAudio (no audio file to ship)
let audio = null;
function beep() {
  try {
    audio = audio || new AudioContext();
    const now = audio.currentTime;
    for (const [i, f] of [880, 660].entries()) {
      const o = audio.createOscillator(); const g = audio.createGain();
      o.frequency.value = f; g.gain.setValueAtTime(0.15, now + i * 0.18); g.gain.exponentialRampToValueAtTime(0.001, now + i * 0.18 + 0.16);
      o.connect(g).connect(audio.destination); o.start(now + i * 0.18); o.stop(now + i * 0.18 + 0.17);
    }
    window.__consoleBeeps = (window.__consoleBeeps || 0) + 1;
  } catch { /* no audio device */ }
}

const app = new Console(document.getElementById("app"));
window.consoleApp = app;
app.start();
