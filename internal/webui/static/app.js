// peerpath web app: plain JavaScript over the node's /api/v1, authenticated
// by the session cookie; requests that change state carry X-Peerpath-CSRF.
"use strict";

const API = "/api/v1";

async function api(method, path, body) {
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
  const data = text ? JSON.parse(text) : null;
  if (!resp.ok) throw new Error((data && data.error) || resp.statusText);
  return data;
}

function toast(msg) {
  const t = document.getElementById("toast");
  t.textContent = msg;
  t.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove("show"), 4000);
}

function bytes(n) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  n = Number(n) || 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n.toFixed(0)) + " " + u[i];
}

function shortID(id) { return id && id.length > 16 ? id.slice(0, 8) + "…" + id.slice(-6) : (id || ""); }

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "onclick") e.addEventListener("click", v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

function bind(root, name, value) {
  const e = root.querySelector(`[data-bind="${name}"]`);
  if (!e) return;
  if (Array.isArray(value)) e.replaceChildren(...value);
  else e.textContent = value;
}

// ---- pages --------------------------------------------------------------

const bw = { in: [], out: [] };

const pages = {
  async home(root) {
    const [st, peers, shares] = await Promise.all([api("GET", "/status"), api("GET", "/peers"), api("GET", "/shares")]);
    bind(root, "peers", st.peers);
    bind(root, "lanpeers", peers.filter(p => p.lan).length + " on the local network");
    bind(root, "network", st.private ? "Private network (swarm key)" : "Public peerpath network");
    bind(root, "reach", "Reachability: " + st.reachability + " · DHT " + st.routing_table + " peers");
    bind(root, "shared", shares.length);
    bind(root, "announced", st.announced + " of " + st.to_announce + " announced");
    bind(root, "ratein", bytes(st.rate_in) + "/s");
    bind(root, "rateout", bytes(st.rate_out) + "/s");
    bind(root, "peerrows", peers.map(p => el("tr", {},
      el("td", { class: "id", title: p.id, text: shortID(p.id) }),
      el("td", { text: p.latency_ms ? p.latency_ms.toFixed(1) + " ms" : "–" }),
      el("td", { text: p.lan ? "yes" : "" }))));
    try {
      const b = await api("GET", "/wallet");
      bind(root, "balance", b.balance);
      bind(root, "balancenote", "credits");
    } catch (e) {
      bind(root, "balance", "–");
      bind(root, "balancenote", e.message);
    }
    bw.in.push(st.rate_in); bw.out.push(st.rate_out);
    if (bw.in.length > 120) { bw.in.shift(); bw.out.shift(); }
    drawChart(root.querySelector("#bw"));
  },

  async shares(root) {
    const shares = await api("GET", "/shares");
    bind(root, "sharerows", shares.map(s => el("tr", {},
      el("td", { title: s.path, text: s.name + (s.downloaded ? " (downloaded)" : "") }),
      el("td", { text: bytes(s.size) }),
      el("td", { text: s.files }),
      el("td", { class: "id", text: s.cid }),
      el("td", {}, el("button", { class: "plain", type: "button", "aria-label": "Stop sharing " + s.name, onclick: async () => {
        try { await api("DELETE", "/shares?path=" + encodeURIComponent(s.path)); toast("No longer shared: " + s.name); refresh(); }
        catch (e) { toast(e.message); }
      } }, "Unshare")))));
  },

  async downloads(root) {
    const dls = await api("GET", "/downloads");
    bind(root, "dlrows", dls.map(d => {
      const pct = d.total ? Math.floor(100 * d.done / d.total) : 0;
      const actions = el("td", {});
      const act = (a, label) => actions.append(el("button", { class: "plain", type: "button", onclick: async () => {
        try { await api("POST", `/downloads/${d.id}/${a}`); refresh(); } catch (e) { toast(e.message); }
      } }, label));
      if (d.state === "running") act("pause", "Pause");
      if (d.state === "paused" || d.state === "failed") act("resume", "Resume");
      if (d.state !== "done") act("cancel", "Cancel");
      return el("tr", {},
        el("td", { title: d.cid, text: d.output }),
        el("td", {}, el("progress", { max: "100", value: String(pct), "aria-label": pct + "%" }), " " + pct + "%"),
        el("td", { text: d.state === "running" ? bytes(d.rate) + "/s" : "" }),
        el("td", { text: d.state === "running" ? d.sources : "" }),
        el("td", { text: d.state + (d.error ? ": " + d.error : "") }),
        actions);
    }));
  },

  async wallet(root) {
    try {
      const b = await api("GET", "/wallet");
      bind(root, "wbalance", b.balance + " credits");
      bind(root, "waccount", "Account " + b.account);
      const hist = await api("GET", "/wallet/history?limit=50");
      bind(root, "histrows", hist.map(t => el("tr", {},
        el("td", { text: new Date(t.time / 1e6).toLocaleString() }),
        el("td", { class: "id", title: t.from || "", text: t.kind === "grant" ? "(grant)" : shortID(t.from) }),
        el("td", { class: "id", title: t.to, text: shortID(t.to) }),
        el("td", { text: t.amount }),
        el("td", { text: t.memo || "" }))));
    } catch (e) {
      bind(root, "wbalance", "–");
      bind(root, "waccount", e.message);
    }
  },

  async settings(root) {
    const [id, st] = await Promise.all([api("GET", "/id"), api("GET", "/status")]);
    bind(root, "sid", id.id);
    bind(root, "sversion", st.version);
    bind(root, "snet", st.private ? "Private network (swarm key)" : "Public peerpath network");
    bind(root, "saddrs", id.addrs.join("\n"));
    try {
      const l = await api("GET", "/ledger/status");
      bind(root, "sledger", "leader " + shortID(l.leader) + ", " + l.voters.length + " voters, commit index " + l.commit_index);
    } catch (e) { bind(root, "sledger", e.message); }
  },
};

function drawChart(canvas) {
  if (!canvas) return;
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  const max = Math.max(1, ...bw.in, ...bw.out);
  const line = (data, color) => {
    ctx.strokeStyle = color; ctx.lineWidth = 2; ctx.beginPath();
    data.forEach((v, i) => {
      const x = w - (data.length - 1 - i) * (w / 120), y = h - 4 - (h - 8) * v / max;
      i ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
    });
    ctx.stroke();
  };
  line(bw.in, "#2e8b57");
  line(bw.out, "#2457a6");
}

// ---- forms ----------------------------------------------------------------

function wireForms(root) {
  const share = root.querySelector("#share-form");
  if (share) share.addEventListener("submit", async ev => {
    ev.preventDefault();
    const path = share.path.value.trim();
    bind(root, "sharestatus", "Indexing " + path + "…");
    try {
      const s = await api("POST", "/shares", { path });
      bind(root, "sharestatus", "Shared " + s.name + ": " + s.files + " files, " + bytes(s.size));
      share.reset();
      refresh();
    } catch (e) { bind(root, "sharestatus", e.message); }
  });
  const get = root.querySelector("#get-form");
  if (get) get.addEventListener("submit", async ev => {
    ev.preventDefault();
    try {
      await api("POST", "/downloads", { cid: get.cid.value.trim(), name: get.name.value.trim() });
      get.reset();
      refresh();
    } catch (e) { toast(e.message); }
  });
  const send = root.querySelector("#send-form");
  if (send) send.addEventListener("submit", async ev => {
    ev.preventDefault();
    try {
      const r = await api("POST", "/wallet/send", { to: send.to.value.trim(), amount: send.amount.value.trim(), memo: send.memo.value });
      toast("Sent " + r.amount + " credits (fee " + r.fee + ")");
      send.reset();
      refresh();
    } catch (e) { toast(e.message); }
  });
  const logout = root.querySelector("#logout");
  if (logout) logout.addEventListener("click", async () => {
    await fetch("/ui/logout", { method: "POST", credentials: "same-origin", headers: { "X-Peerpath-CSRF": "1" } });
    location.reload();
  });
}

// ---- router -----------------------------------------------------------------

let current = null;
let timer = null;

function route() {
  const name = (location.hash.replace(/^#\//, "") || "home").split("?")[0];
  const tpl = document.getElementById("page-" + name) || document.getElementById("page-home");
  const main = document.getElementById("main");
  main.replaceChildren(tpl.content.cloneNode(true));
  current = pages[name] ? name : "home";
  for (const a of document.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === "#/" + current) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.title = "peerpath · " + current[0].toUpperCase() + current.slice(1);
  wireForms(main);
  refresh();
  clearInterval(timer);
  timer = setInterval(refresh, 2000);
}

async function refresh() {
  const main = document.getElementById("main");
  try { await pages[current](main); }
  catch (e) { if (e.message !== "logged out") toast(e.message); }
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", route);
