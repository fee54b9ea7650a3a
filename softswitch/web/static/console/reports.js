// The console's Reports page (issue 19; queue-admin.md §8): the 12 queue call reports of the
// report API (softswitch/reports/web.py), for the users it allows (admins, queue managers).
//
// Decisions:
// - The filters shown for a report type are those GET /api/v1/reports says that type takes
//   (the server's list, not a copy kept here); the queue choice offers the queues the user
//   may report on (every queue for an admin, the managed ones for a manager).
// - The period is two dates (the API's from/to, whole days, "to" inclusive) in the queues'
//   time zone (the API's default); the time-series reports take the same from/to.
// - The table is the API's JSON as returned: its column labels and its "shown" cells, the
//   total row marked; the browser computes no figure. Column labels are the server's
//   (English), as in the CSV and the printable page; the rest of the page is translated.
// - CSV and the printable page need the log-in token, which a plain link cannot carry: the
//   links point at the real endpoints (format=csv / format=html), and a click fetches that
//   URL with the token and hands the reply to the browser (a download, a new tab).
// - The call-by-call drill-down (details=1) is a checkbox where the report type takes it.
import { t } from "./i18n.js";

// the manual's order (§8.3-§8.14)
export const REPORT_TYPES = ["queue_wait_talk", "queue_performance", "queue_performance_activity",
  "callback_summary", "callback_report", "satisfaction", "satisfaction_details", "agent_login",
  "agent_pause", "agent_missed", "agent_performance", "agent_call_summary"];

function today() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

export class ReportsView {
  constructor(app) {
    this.app = app; // the Console: api, roles, live, h()
    this.catalog = null; // type -> {filters, time_series}
    this.form = { type: "queue_performance", from: today(), to: today(), granularity: "day",
      queues: [], agents: "", exclude_abandoned_within: "", exclude_talk_within: "",
      result: "all", pause_reason: "" };
    this.data = null;
    this.error = "";
    this.busy = false;
    this.el = null;
    this.builtLang = null;
  }

  queues() {
    const { roles, live } = this.app;
    const numbers = roles.admin ? [...live.queues.keys()] : [...roles.manager_of];
    return numbers.map((n) => ({ number: n, name: live.queues.get(n)?.name }));
  }

  filters() { return new Set(this.catalog?.[this.form.type]?.filters || []); }

  query(format) {
    const f = this.form;
    const has = this.filters();
    const q = new URLSearchParams({ from: f.from, to: f.to });
    if (f.queues.length) q.set("queue", f.queues.join(","));
    if (has.has("granularity")) q.set("granularity", f.granularity);
    if (has.has("agent") && f.agents.trim()) q.set("agent", f.agents.trim());
    for (const k of ["exclude_abandoned_within", "exclude_talk_within"]) {
      if (has.has(k) && String(f[k]).trim() !== "") q.set(k, String(f[k]).trim());
    }
    if (has.has("result")) q.set("result", f.result);
    if (has.has("pause_reason") && f.pause_reason.trim()) q.set("pause_reason", f.pause_reason.trim());
    if (has.has("details") && f.details) q.set("details", "1");
    if (format) q.set("format", format);
    return `/reports/${encodeURIComponent(f.type)}?${q}`;
  }

  // The page keeps its own element across the console's live re-renders (typing in a date or
  // a number field must not be interrupted); it is rebuilt when its own state changes.
  element(lang) {
    if (!this.catalog && !this.loading) this.loadCatalog();
    // an admin's queues arrive with the live snapshot: rebuild when they change
    const queues = JSON.stringify(this.queues());
    if (!this.el || this.builtLang !== lang || this.builtQueues !== queues) this.rebuild(lang);
    return this.el;
  }

  async loadCatalog() {
    this.loading = true;
    try {
      const reply = await this.app.api.call("GET", "/reports");
      this.catalog = Object.fromEntries(reply.reports.map((r) => [r.type, r]));
      this.error = "";
    } catch (err) {
      this.error = `${t("error")}: ${err.message}`;
    } finally { this.loading = false; }
    this.rebuild(this.builtLang);
  }

  async run() {
    if (this.busy) return; // one query at a time
    this.busy = true; this.error = ""; this.rebuild(this.builtLang);
    const path = this.query();
    try {
      this.data = await this.app.api.call("GET", path);
      this.dataPath = path;
    } catch (err) {
      this.data = null;
      this.error = `${t("error")}: ${err.message}`;
    } finally { this.busy = false; }
    this.rebuild(this.builtLang);
  }

  // fetch a CSV or HTML output with the log-in token
  async fetchOutput(path) {
    const reply = await fetch(`/api/v1${path}`, { headers: { Authorization: `Bearer ${this.app.api.token}` } });
    if (!reply.ok) {
      const data = await reply.json().catch(() => ({}));
      throw new Error(data.message || `${reply.status}`);
    }
    return reply;
  }

  async download(path) {
    try {
      const reply = await this.fetchOutput(path);
      const disposition = reply.headers.get("Content-Disposition") || "";
      const name = (disposition.match(/filename="([^"]+)"/) || [])[1] || "report.csv";
      const url = URL.createObjectURL(await reply.blob());
      const a = document.createElement("a");
      a.href = url; a.download = name; a.hidden = true;
      document.body.append(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (err) { this.app.toast(`${t("error")}: ${err.message}`, "error"); }
  }

  async printable(path) {
    const win = window.open("", "_blank"); // opened within the click: not a blocked pop-up
    try {
      const reply = await this.fetchOutput(path);
      const url = URL.createObjectURL(new Blob([await reply.text()], { type: "text/html" }));
      if (win) win.location.href = url; else location.href = url;
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (err) {
      if (win) win.close();
      this.app.toast(`${t("error")}: ${err.message}`, "error");
    }
  }

  rebuild(lang) {
    const h = this.app.h;
    this.builtLang = lang;
    this.builtQueues = JSON.stringify(this.queues());
    const f = this.form;
    const has = this.filters();
    const set = (key) => (ev) => { f[key] = ev.target.value; };
    const field = (id, label, input) => h("label", { class: "field", for: id }, h("span", {}, label), input);
    const type = h("select", { id: "report-type", onchange: (ev) => { f.type = ev.target.value; this.data = null; this.rebuild(lang); } },
      REPORT_TYPES.map((k) => h("option", { value: k, selected: k === f.type }, t(`report_${k}`))));
    const parts = [
      field("report-type", t("report_type"), type),
      field("report-from", t("report_from"), h("input", { id: "report-from", type: "date", value: f.from, required: true, onchange: set("from") })),
      field("report-to", t("report_to"), h("input", { id: "report-to", type: "date", value: f.to, required: true, onchange: set("to") })),
    ];
    if (has.has("granularity")) {
      parts.push(field("report-granularity", t("report_granularity"), h("select", { id: "report-granularity", onchange: set("granularity") },
        ["hour", "day", "week", "month"].map((g) => h("option", { value: g, selected: g === f.granularity }, t(`by_${g}`))))));
    }
    const queues = this.queues();
    f.queues = f.queues.filter((q) => queues.some((x) => x.number === q));
    parts.push(field("report-queues", `${t("queue")} (${t("report_queues_hint")})`, h("select", { id: "report-queues", multiple: true, size: Math.min(4, Math.max(2, queues.length)),
      onchange: (ev) => { f.queues = [...ev.target.selectedOptions].map((o) => o.value); } },
    queues.map((q) => h("option", { value: q.number, selected: f.queues.includes(q.number) }, q.name ? `${q.number}-${q.name}` : q.number)))));
    if (has.has("agent")) {
      parts.push(field("report-agents", t("agents"), h("input", { id: "report-agents", value: f.agents, placeholder: "2000, 2001", inputmode: "numeric", oninput: set("agents") })));
    }
    if (has.has("exclude_abandoned_within")) {
      parts.push(field("report-exclude-abandoned", t("exclude_abandoned"), h("input", { id: "report-exclude-abandoned", type: "number", min: 0, max: 86400, value: f.exclude_abandoned_within, oninput: set("exclude_abandoned_within") })));
    }
    if (has.has("exclude_talk_within")) {
      parts.push(field("report-exclude-talk", t("exclude_talk"), h("input", { id: "report-exclude-talk", type: "number", min: 0, max: 86400, value: f.exclude_talk_within, oninput: set("exclude_talk_within") })));
    }
    if (has.has("result")) {
      parts.push(field("report-result", t("callback_result"), h("select", { id: "report-result", onchange: set("result") },
        ["all", "success", "failed"].map((r) => h("option", { value: r, selected: r === f.result }, t(`result_${r}`))))));
    }
    if (has.has("pause_reason")) {
      parts.push(field("report-pause-reason", t("pause_reason"), h("select", { id: "report-pause-reason", onchange: set("pause_reason") },
        h("option", { value: "" }, t("all")), h("option", { value: "-", selected: f.pause_reason === "-" }, t("no_reason")),
        this.app.settings.pause_reasons.map((r) => h("option", { value: r.reason, selected: r.reason === f.pause_reason }, r.reason)))));
    }
    if (has.has("details")) {
      parts.push(h("label", { class: "field", for: "report-details" }, h("input", { id: "report-details", type: "checkbox", checked: !!f.details,
        onchange: (ev) => { f.details = ev.target.checked; } }), h("span", {}, t("report_details"))));
    }
    const form = h("form", { id: "report-form", class: "report-form", "aria-label": t("reports"),
      onsubmit: (ev) => { ev.preventDefault(); this.run(); } },
    parts, h("button", { type: "submit", id: "report-run", class: "primary", disabled: !this.catalog }, t("report_run")));
    const out = [h("h2", {}, t("reports")), form,
      h("p", { class: "error", role: "alert", id: "report-error", hidden: !this.error }, this.error)];
    if (this.data) out.push(this.result(h));
    const el = h("section", { class: "reports", id: "reports", "aria-busy": String(this.busy) }, out);
    if (this.el && this.el.isConnected) {
      const focused = document.activeElement && document.activeElement.id;
      this.el.replaceWith(el);
      if (focused) document.getElementById(focused)?.focus();
    }
    this.el = el;
  }

  result(h) {
    const d = this.data;
    const path = this.dataPath;
    const link = (id, format, label, run) => h("a", { id, href: `/api/v1${path}&format=${format}`,
      onclick: (ev) => { ev.preventDefault(); run(`${path}&format=${format}`); } }, label);
    const f = d.filters;
    return h("div", { class: "report-result" },
      h("div", { class: "controls" },
        h("h3", { id: "report-title" }, d.title),
        h("span", { class: "period", id: "report-period" }, `${f.from.slice(0, 19).replace("T", " ")} ~ ${f.to.slice(0, 19).replace("T", " ")} (${f.tz})`),
        link("report-csv", "csv", t("download_csv"), (p) => this.download(p)),
        link("report-print", "html", t("open_printable"), (p) => this.printable(p))),
      h("div", { class: "scroll" }, h("table", { id: "report-table" },
        h("thead", {}, h("tr", {}, d.columns.map((c) => h("th", { scope: "col", dataset: { key: c.key } }, c.label)))),
        h("tbody", {}, d.rows.map((r) => h("tr", { class: r.total ? "total" : null },
          d.columns.map((c) => h("td", { dataset: { key: c.key } }, r.shown[c.key] ?? ""))))))),
      d.rows.length ? null : h("p", { id: "report-empty" }, t("report_empty")));
  }
}
