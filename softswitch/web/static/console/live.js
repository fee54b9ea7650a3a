// The live state of the console: REST calls with the log-in token, and the websocket feed of
// softswitch/web/PROTOCOL.md (snapshot, then ordered deltas; resume with the last seq after a
// reconnect). The console shows the server's figures: KPIs are taken as sent (queue.stats, and
// the "All" row re-read from GET /api/v1/queues), never recomputed here.

export class Api {
  constructor(token) { this.token = token; }

  async call(method, path, body) {
    const opts = { method, headers: { Authorization: `Bearer ${this.token}` } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const reply = await fetch(`/api/v1${path}`, opts);
    const data = await reply.json().catch(() => ({}));
    if (!reply.ok) {
      const err = new Error(data.message || `${reply.status}`);
      err.status = reply.status; err.code = data.error; err.field = data.field;
      throw err;
    }
    return data;
  }
}

export async function login(extension, password) {
  const reply = await fetch("/api/v1/login", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ extension, password }),
  });
  const data = await reply.json().catch(() => ({}));
  if (!reply.ok) throw new Error(data.message || `${reply.status}`);
  return data;
}

// The call operations the running switch offers, found in its OpenAPI document: a button is
// shown only for an operation whose route exists (operations still being added elsewhere are
// simply absent, never faked).
export async function capabilities() {
  const doc = await (await fetch("/api/v1/openapi.json")).json();
  const caps = new Set();
  for (const [path, methods] of Object.entries(doc.paths || {})) {
    const m = path.match(/^\/api\/v1\/queues\/\{queue\}\/calls\/\{call\}\/([a-z_]+)$/);
    if (m && methods.post) caps.add(m[1]);
    const a = path.match(/^\/api\/v1\/queues\/\{queue\}\/agents\/\{agent\}\/([a-z_]+)$/);
    if (a && methods.post && a[1] !== "state") caps.add(`agent_${a[1]}`);
    if (path === "/api/v1/queues/{queue}/records/{record}" && methods.delete) caps.add("record_delete");
    if (path === "/api/v1/queues/{queue}/records/{record}/callback" && methods.post) caps.add("record_callback");
    if (path === "/api/v1/messaging/sessions" && methods.get) caps.add("messaging");
  }
  return caps;
}

export class Live extends EventTarget {
  constructor(token) {
    super();
    this.token = token;
    this.queues = new Map(); // number -> queue state (PROTOCOL.md §2)
    this.all = null;
    this.me = { memberships: [], calls: [] };
    this.seq = null;
    this.serverOffset = 0; // server_time - Date.now()/1000
    this.online = false;
    this.ws = null;
    this.retry = 0;
    this.closed = false;
  }

  now() { return Date.now() / 1000 + this.serverOffset; }

  start() { this._connect(); }

  stop() { this.closed = true; if (this.ws) this.ws.close(1000); }

  _emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  _connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${proto}://${location.host}/api/v1/ws?token=${encodeURIComponent(this.token)}`);
    this.ws = ws;
    ws.onmessage = (ev) => {
      const data = JSON.parse(ev.data);
      for (const msg of Array.isArray(data) ? data : [data]) this._message(msg);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.online = false;
      this._emit("status", { online: false, code: ev.code });
      if (this.closed || ev.code === 4001) { if (ev.code === 4001) this._emit("unauthorized", {}); return; }
      const delay = Math.min(10000, 500 * 2 ** this.retry++);
      setTimeout(() => this._connect(), delay);
    };
  }

  send(msg) { if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify(msg)); }

  _message(msg) {
    if (msg.server_time) this.serverOffset = msg.server_time - Date.now() / 1000;
    switch (msg.type) {
      case "welcome": {
        this.retry = 0;
        const sub = { type: "subscribe", id: "console", queues: "all" };
        if (this.seq !== null) sub.resume = this.seq;
        this.send(sub);
        return;
      }
      case "snapshot":
        this._snapshot(msg);
        return;
      case "resumed":
        this.resumes = (this.resumes || 0) + 1; // nothing lost: the deltas follow
        this.online = true;
        this._emit("status", { online: true, resumed: true, count: msg.count });
        return;
      case "heartbeat": case "pong": case "result":
        return;
      case "error":
        this._emit("server-error", msg);
        return;
      default:
        if (typeof msg.seq === "number") {
          if (this.seq !== null && msg.seq <= this.seq) return; // already applied
          this.seq = msg.seq;
        }
        this._delta(msg);
        this._emit("delta", msg);
        this._emit("change", { type: msg.type, queue: msg.queue });
    }
  }

  _snapshot(msg) {
    this.seq = msg.seq;
    this.queues = new Map(msg.queues.map((q) => [q.number, q]));
    for (const q of this.queues.values()) q.waiting.sort((a, b) => a.position - b.position);
    this.all = msg.all;
    this.me = msg.me;
    const wasOnline = this.online;
    this.online = true;
    this._emit("status", { online: true, resumed: wasOnline === false && msg.resumed === false });
    this._emit("change", { type: "snapshot" });
  }

  _memberRows(agent) {
    const rows = [];
    for (const q of this.queues.values()) for (const a of q.agents) if (a.agent === agent) rows.push(a);
    for (const a of this.me.memberships) if (a.agent === agent) rows.push(a);
    return rows;
  }

  _delta(m) {
    const q = this.queues.get(m.queue || (m.call && m.call.queue) || (m.member && m.member.queue)
      || (m.kpis && m.kpis.queue));
    switch (m.type) {
      case "call.entered":
        if (q) { q.waiting.push(m.call); q.waiting.sort((a, b) => a.position - b.position); }
        break;
      case "call.ringing":
        if (q) for (const c of q.waiting) if (c.id === m.id) { c.status = "ringing"; c.ringing_agents = m.agents; }
        break;
      case "call.ring_stopped":
        if (q) for (const c of q.waiting) if (c.id === m.id) {
          c.ringing_agents = (c.ringing_agents || []).filter((a) => a !== m.agent);
          if (!c.ringing_agents.length) c.status = "waiting";
        }
        break;
      case "call.answered":
        if (q) {
          q.waiting = q.waiting.filter((c) => c.id !== m.call.id);
          q.active.push(m.call);
        }
        if (m.call.agent === this.me.extension) this.me.calls.push(m.call);
        break;
      case "call.left_queue":
        if (q) q.waiting = q.waiting.filter((c) => c.id !== m.id);
        break;
      case "call.updated":
        if (q) for (const c of q.active) if (c.id === m.id) c.on_hold = m.on_hold;
        for (const c of this.me.calls) if (c.id === m.id) c.on_hold = m.on_hold;
        break;
      case "call.recording": // §3.3.3 the recording icon: recording, paused, null (none)
        if (q) for (const c of q.active) if (c.id === m.id) c.recording = m.recording;
        for (const c of this.me.calls) if (c.id === m.id) c.recording = m.recording;
        break;
      case "call.ended":
        if (q) q.active = q.active.filter((c) => c.id !== m.id);
        this.me.calls = this.me.calls.filter((c) => c.id !== m.id);
        break;
      case "agent.state": {
        const row = m.member;
        if (q) {
          const i = q.agents.findIndex((a) => a.agent === row.agent);
          if (i >= 0) q.agents[i] = row; else q.agents.push(row);
        }
        if (row.agent === this.me.extension) {
          const i = this.me.memberships.findIndex((a) => a.queue === row.queue);
          if (i >= 0) this.me.memberships[i] = row; else this.me.memberships.push(row);
        }
        break;
      }
      case "agent.presence":
        for (const r of this._memberRows(m.agent)) {
          r.registered = m.registered;
          if (m.presence !== undefined) r.presence = m.presence;
        }
        break;
      case "agent.activity":
        for (const r of this._memberRows(m.agent)) if (m.queues.includes(r.queue)) r.wrap_up_until = m.wrap_up_until;
        break;
      case "agent.calls":
        for (const r of this._memberRows(m.agent)) if (r.queue === m.queue) r.period_calls = m.period_calls;
        break;
      case "agent.removed":
        if (q) q.agents = q.agents.filter((a) => a.agent !== m.agent);
        if (m.agent === this.me.extension) this.me.memberships = this.me.memberships.filter((a) => a.queue !== m.queue);
        break;
      case "queue.stats":
        if (q) { q.kpis = m.kpis; q.periods = m.periods; }
        this._emit("stats", { queue: m.kpis && m.kpis.queue });
        break;
      default:
        break;
    }
  }
}
