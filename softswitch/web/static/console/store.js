// Per-user preferences of the console: wallboard layouts (§2.7: one for "All", one shared by
// every single-queue view), carousel interval, language, sound.
//
// Decision: they live in the browser's localStorage, keyed by the logged-in extension. The
// live API has no per-user storage, and a layout is a property of the screen it is shown on
// as much as of the user (the same manager's TV wallboard and desk browser differ); adding
// server-side storage would need a new table and migration for a cosmetic setting.
export class Prefs {
  constructor(extension) { this.prefix = `console.${extension}.`; }

  get(key, fallback) {
    const raw = localStorage.getItem(this.prefix + key);
    if (raw === null) return fallback;
    try { return JSON.parse(raw); } catch { return fallback; }
  }

  set(key, value) { localStorage.setItem(this.prefix + key, JSON.stringify(value)); }
}
