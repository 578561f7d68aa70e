// peerpath web app, shared module: the API client, live events, the page
// registry and router, and the helpers every page uses to show names,
// sizes, rates and times the same way. Pages live in pages/NAME.js and
// call page({...}); see internal/webui/README.md.
"use strict";

export const API = "/api/v1";

// ---- the API ------------------------------------------------------------

// api calls the node's API with the session cookie; requests that change
// state carry the CSRF header. It resolves to the decoded JSON answer and
// rejects with an Error whose message is the daemon's plain-words error
// (with its next step, when the daemon gives one).
export async function api(method, path, body) {
  const opts = { method, credentials: "same-origin", headers: {} };
  if (method !== "GET") opts.headers["X-Peerpath-CSRF"] = "1";
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(API + path, opts);
  if (resp.status === 401) {
    location.reload();
    throw new Error("logged out");
  }
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!resp.ok) throw apiError(resp, data);
  return data;
}

// apiError makes an Error of an error answer: its message, then its hint.
export function apiError(resp, data) {
  const msg = (data && data.error) || resp.statusText || ("HTTP " + resp.status);
  const e = new Error(data && data.hint ? msg + "; " + data.hint : msg);
  e.status = resp.status;
  e.code = data && data.code;
  return e;
}

// ---- live events (server-sent events) -------------------------------------

let source = null;
const listeners = new Map(); // type -> Set of functions

// on calls fn(event) for every live event whose type is type, or begins
// with type and a dot ("download" gets "download.changed"); "*" gets all.
// It returns a function that stops it. The one EventSource of the tab opens
// on the first call and reconnects by itself; after a reconnect or lost
// events, listeners get a {type: "lost"} event: reload what you show.
export function on(type, fn) {
  if (!listeners.has(type)) listeners.set(type, new Set());
  listeners.get(type).add(fn);
  openEvents();
  return () => listeners.get(type).delete(fn);
}

// live is true while the event stream is open (after its hello): pages
// marked live then rely on events and poll only while it is down.
let live = false;
let everOpened = false;

// eventsLive reports whether the event stream is open now.
export function eventsLive() { return live; }

function openEvents() {
  if (source || typeof EventSource === "undefined") return;
  const es = new EventSource(API + "/events", { withCredentials: true });
  source = es;
  es.onmessage = m => {
    let ev;
    try { ev = JSON.parse(m.data); } catch (e) { return; }
    if (ev.type === "hello") {
      live = true;
      if (everOpened) dispatch({ type: "lost" }); // a reconnect: events were missed
      everOpened = true;
      return;
    }
    dispatch(ev);
  };
  es.onerror = () => {
    live = false;
    // The browser reconnects by itself unless the answer was an error
    // (too many tabs open, the daemon restarting): then try again later.
    if (es.readyState === EventSource.CLOSED) {
      es.close();
      if (source === es) source = null;
      setTimeout(() => { if (listeners.size) openEvents(); }, 10000);
    }
  };
}

// emit delivers ev ({type, data}) to this tab's listeners as if it had
// come from the event stream (pages telling each other; tests).
export function emit(ev) { dispatch(ev); }

function dispatch(ev) {
  for (const [type, fns] of listeners) {
    if (type === "*" || ev.type === "lost" || ev.type === type || ev.type.startsWith(type + ".")) {
      for (const fn of fns) {
        try { fn(ev); } catch (e) { console.warn(e); }
      }
    }
  }
}

// ---- what every page shows the same way ---------------------------------

export function toast(msg) {
  const t = document.getElementById("toast");
  t.textContent = msg;
  t.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove("show"), 5000);
}

// bytes shows a size in binary units (KiB, MiB: the CLI's units too).
export function bytes(n) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  n = Number(n) || 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n.toFixed(0)) + " " + u[i];
}

// rate shows a rate in bytes/s.
export function rate(n) { return bytes(n) + "/s"; }

// limitText shows a bandwidth limit in bytes/s (0: unlimited).
export function limitText(n) { return n ? rate(n) : "unlimited"; }

// plural says "1 result", "2 results".
export function plural(n, word, many) { return n + " " + (n === 1 ? word : (many || word + "s")); }

// toDate takes a Date, Unix nanoseconds (the API's times), milliseconds or
// an RFC 3339 string.
export function toDate(t) {
  if (t instanceof Date) return t;
  if (typeof t === "string") return new Date(t);
  if (t > 1e15) return new Date(t / 1e6);
  return new Date(t);
}

// relTime says how long ago t was ("just now", "5 min ago", "3 days ago").
export function relTime(t, now) {
  const d = toDate(t);
  const s = Math.round(((now || Date.now()) - d.getTime()) / 1000);
  if (s < 0) return "in " + span(-s);
  if (s < 10) return "just now";
  return span(s) + " ago";
}

function span(s) {
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min";
  if (s < 86400) return plural(Math.floor(s / 3600), "hour");
  return plural(Math.floor(s / 86400), "day");
}

// timeEl is a <time> showing relTime, with the full date as its title.
export function timeEl(t) {
  const d = toDate(t);
  return el("time", { datetime: d.toISOString(), title: d.toLocaleString() }, relTime(d));
}

export function shortID(id) { return id && id.length > 16 ? id.slice(0, 8) + "…" + id.slice(-6) : (id || ""); }

// Peer names. Every page shows a peer through peerName/peerEl, so names
// come from one place: setNameSource(fn) plugs in a function id -> name
// (a contact's petname, the peer's display name) or "" for none.
let nameSource = () => "";
export function setNameSource(fn) { nameSource = fn; }

// peerName is the name to show for a peer id: its name, else a short id.
export function peerName(id) {
  if (!id) return "";
  return nameSource(id) || shortID(id);
}

// peerEl shows a peer: its name (or short id) on a button that copies the
// full id, which is also its tooltip. self names this node's own id "you".
export function peerEl(id, self) {
  if (!id) return el("span", { class: "muted" }, "–");
  const label = self && id === self ? "you" : peerName(id);
  return el("button", { type: "button", class: "peer", title: id + " (click to copy)", "data-peer": id,
    "aria-label": label + ", copy peer id", onclick: () => copyText(id) }, label);
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast("Copied " + shortID(text));
  } catch (e) {
    // No clipboard (an insecure context): select the text for Ctrl+C.
    toast(text);
  }
}

export function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "onclick") e.addEventListener("click", v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids) {
    if (k === undefined || k === null || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

// bind fills the element data-bind=name in root: text, or (an array) its
// children. A keyboard user's focus on a button in redrawn rows moves to
// the same button in the new rows.
export function bind(root, name, value) {
  const e = root.querySelector(`[data-bind="${name}"]`);
  if (!e) return;
  if (!Array.isArray(value)) { e.textContent = value; return; }
  const active = document.activeElement;
  const key = active && active !== document.body && e.contains(active) ? focusKey(active) : null;
  e.replaceChildren(...value);
  if (key) {
    const again = e.querySelector(key);
    if (again) again.focus();
  }
}

function focusKey(el) {
  const label = el.getAttribute("aria-label");
  if (label) return `${el.tagName.toLowerCase()}[aria-label="${CSS.escape(label)}"]`;
  if (el.id) return "#" + CSS.escape(el.id);
  return null;
}

// table returns the markup of a table whose body is data-bind=body, for a
// page's html: cols are header labels; a label in [brackets] is for
// screen readers only (a column of buttons).
export function table(body, cols, cls) {
  const th = cols.map(c => c.startsWith("[") ? `<th scope="col"><span class="sr">${c.slice(1, -1)}</span></th>` : `<th scope="col">${c}</th>`).join("");
  return `<div class="table-wrap"><table${cls ? ` class="${cls}"` : ""}><thead><tr>${th}</tr></thead><tbody data-bind="${body}"></tbody></table></div>`;
}

// button is a small action button; label names it for screen readers.
export function button(text, label, onclick, cls) {
  return el("button", { class: cls || "plain", type: "button", "aria-label": label, onclick }, text);
}

// act runs an API call for a button or form, toasting its error.
export async function act(fn) {
  try { return await fn(); } catch (e) { if (e.message !== "logged out") toast(e.message); }
}

// ---- pages and the router -----------------------------------------------

const pages = new Map();

// page registers a page: {name, title, order, html, init(root),
// refresh(root), events: [types], poll: ms, live: false, nav: true}. A
// live page's events cover all it shows: it polls only while the event
// stream is down. See README.md.
export function page(p) {
  if (pages.has(p.name)) throw new Error("page " + p.name + " registered twice");
  pages.set(p.name, { order: 100, nav: true, events: [], ...p });
}

let current = null; // {p, root, stops: [], timer}

// redrawGap is the least time between two redraws a page's events cause.
export const redrawGap = 250;

// coalesce returns a trigger that runs fn (async) for a stream of calls at
// most once every gap ms, never two at once, and always once more after
// the last call (so the last state is drawn): a call while fn runs or
// within gap of its start is folded into one run that follows. The
// trigger's cancel() drops a pending run.
export function coalesce(fn, gap) {
  let timer = null, running = false, again = false, last = -Infinity, dead = false;
  const run = async () => {
    timer = null;
    if (dead) return;
    running = true;
    last = performance.now();
    try { await fn(); } catch (e) { console.warn(e); }
    running = false;
    if (again) { again = false; trigger(); }
  };
  const trigger = () => {
    if (dead || timer) return;
    if (running) { again = true; return; }
    timer = setTimeout(run, Math.max(0, last + gap - performance.now()));
  };
  trigger.cancel = () => { dead = true; clearTimeout(timer); timer = null; };
  return trigger;
}

// refresh redraws the current page now.
export async function refresh() {
  const c = current;
  if (!c || !c.p.refresh) return;
  try { await c.p.refresh(c.root); }
  catch (e) { if (c === current && e.message !== "logged out") toast(e.message); }
}

function route() {
  const want = (location.hash.replace(/^#\//, "") || "home").split("?")[0];
  const p = pages.get(want) || pages.get("home") || [...pages.values()][0];
  if (current) {
    current.stops.forEach(s => s());
    clearInterval(current.timer);
    if (current.p.leave) current.p.leave(current.root);
  }
  const root = document.getElementById("main");
  root.innerHTML = p.html || "";
  current = { p, root, stops: [], timer: null };
  for (const a of document.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === "#/" + p.name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.title = "peerpath · " + p.title;
  const stop = p.init ? p.init(root) : null;
  if (typeof stop === "function") current.stops.push(stop);
  // Events come in bursts and streams (a busy download): redraw at most
  // once every redrawGap, one at a time, and once after the last event.
  const redraw = coalesce(refresh, redrawGap);
  current.stops.push(redraw.cancel);
  for (const t of p.events) current.stops.push(on(t, redraw));
  if (p.poll) current.timer = setInterval(() => { if (!p.live || !live) refresh(); }, p.poll);
  refresh();
}

function start() {
  const nav = document.querySelector("nav");
  const list = [...pages.values()].filter(p => p.nav).sort((a, b) => a.order - b.order || a.name.localeCompare(b.name));
  nav.replaceChildren(...list.map(p => el("a", { href: "#/" + p.name }, p.title)));
  window.addEventListener("hashchange", route);
  route();
}

window.addEventListener("DOMContentLoaded", start);
