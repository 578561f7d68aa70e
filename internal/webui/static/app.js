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

// limitText shows a bandwidth limit in bytes/s (0: unlimited).
function limitText(n) { return n ? bytes(n) + "/s" : "unlimited"; }

// plural says "1 result", "2 results".
function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }

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
  if (!Array.isArray(value)) { e.textContent = value; return; }
  // Pages redraw their tables every 2 s: a keyboard user's focus on a
  // button in one moves to the same button in the new rows.
  const active = document.activeElement;
  const key = active && active !== document.body && e.contains(active) ? focusKey(active) : null;
  e.replaceChildren(...value);
  if (key) {
    const again = e.querySelector(key);
    if (again) again.focus();
  }
}

// focusKey is a selector that finds an element like el in redrawn rows.
function focusKey(el) {
  const label = el.getAttribute("aria-label");
  if (label) return `${el.tagName.toLowerCase()}[aria-label="${CSS.escape(label)}"]`;
  if (el.id) return "#" + CSS.escape(el.id);
  return null;
}

// ---- pages --------------------------------------------------------------

const bw = { in: [], out: [] };

const pages = {
  async home(root) {
    const [st, peers, shares] = await Promise.all([api("GET", "/status"), api("GET", "/peers"), api("GET", "/shares")]);
    bind(root, "peers", st.peers);
    bind(root, "lanpeers", peers.filter(p => p.lan).length + " on the local network");
    bind(root, "network", st.private ? "Private network (swarm key)" : "Public peerpath network");
    bind(root, "reach", "Reachability: " + st.reachability + " · DHT " + plural(st.routing_table, "peer"));
    bind(root, "shared", shares.length);
    bind(root, "announced", st.announced + " of " + st.to_announce + " announced");
    bind(root, "ratein", bytes(st.rate_in) + "/s");
    bind(root, "rateout", bytes(st.rate_out) + "/s");
    bind(root, "peerrows", peers.map(p => el("tr", {},
      el("td", { class: "id", title: p.id, text: shortID(p.id) }),
      el("td", { text: p.latency_ms ? p.latency_ms.toFixed(1) + " ms" : "–" }),
      el("td", { text: p.lan ? "yes" : "" }))));
    try {
      // A node outside any ledger has no balance to ask for.
      const l = await api("GET", "/ledger/status");
      if (l.voters.length === 0) throw new Error("no ledger");
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

  async search(root) {
    // Results stream in as the user types; refresh() only updates the
    // downloads started from here.
    updateSearchDownloads(root);
  },

  async compute(root) {
    const [w, jobs] = await Promise.all([api("GET", "/worker"), api("GET", "/jobs")]);
    const form = root.querySelector("#worker-form");
    if (form && !form.dataset.touched) {
      form.enabled.checked = w.enabled;
      form.cpus.value = Math.max(1, w.cpus);
      form.idle.checked = w.idle_only;
    }
    bind(root, "workerstatus", (w.enabled ? (w.paused ? "On, paused while the machine is busy" : "On") : "Off") +
      ` · ${w.running} running · ${w.completed} completed · ${w.failed} failed · ${w.jobs} jobs known`);
    bind(root, "jobrows", jobs.map(j => {
      const pct = j.units ? Math.floor(100 * j.validated / j.units) : 0;
      const actions = el("td", {});
      actions.append(el("button", { class: "plain", type: "button", "aria-label": "Results of job " + j.id, onclick: () => { selectedJob = j.id; refresh(); } }, "Results"));
      if (j.state === "queued" || j.state === "running") actions.append(el("button", { class: "plain", type: "button", "aria-label": "Cancel job " + j.id, onclick: async () => {
        try { await api("POST", `/jobs/${j.id}/cancel`); refresh(); } catch (e) { toast(e.message); }
      } }, "Cancel"));
      return el("tr", {},
        el("td", { class: "id", text: j.id }),
        el("td", { text: j.state + (j.reasons && j.reasons.length ? ": " + j.reasons[0] : "") }),
        el("td", {}, el("progress", { max: "100", value: String(pct), "aria-label": pct + "% validated" }), ` ${j.validated}/${j.units}`),
        el("td", { text: j.workers.length }),
        actions);
    }));
    if (selectedJob) await showResults(root, selectedJob);
  },

  async market(root) {
    const [mine, orders] = await Promise.all([api("GET", "/market/listings"), api("GET", "/market/orders")]);
    bind(root, "mylistings", mine.filter(l => !l.withdrawn).map(l => el("tr", {},
      el("td", { text: l.title }),
      el("td", { text: l.price }),
      el("td", { class: "id", text: l.cid }),
      el("td", {}, el("button", { class: "plain", type: "button", "aria-label": "Withdraw " + l.title, onclick: async () => {
        try { await api("DELETE", "/market/listings/" + encodeURIComponent(l.id)); toast("Withdrawn: " + l.title); refresh(); }
        catch (e) { toast(e.message); }
      } }, "Withdraw")))));
    // Refreshing must not take a half-written rating away from its writer.
    const ordersBody = root.querySelector('[data-bind="orders"]');
    const editing = document.activeElement;
    if (ordersBody && ordersBody.contains(editing) && (editing.tagName === "INPUT" || editing.tagName === "SELECT")) return;
    bind(root, "orders", orders.map(o => {
      const rate = el("td", {});
      if (o.role === "buy" && o.state === "released" && !o.rated) {
        const name = o.title || o.listing;
        const draft = rateDrafts[o.id] || (rateDrafts[o.id] = { stars: "5", comment: "" });
        const stars = el("select", { "aria-label": "Stars for " + name });
        for (let i = 5; i >= 1; i--) stars.append(el("option", { value: String(i) }, "★".repeat(i)));
        stars.value = draft.stars;
        stars.addEventListener("change", () => { draft.stars = stars.value; });
        const comment = el("input", { type: "text", maxlength: "500", placeholder: "comment (optional)", "aria-label": "Comment for " + name });
        comment.value = draft.comment;
        comment.addEventListener("input", () => { draft.comment = comment.value; });
        rate.append(stars, comment, el("button", { class: "plain", type: "button", "aria-label": "Rate " + name, onclick: async () => {
          try {
            await api("POST", `/market/orders/${o.id}/rate`, { stars: Number(stars.value), comment: comment.value.trim() });
            delete rateDrafts[o.id];
            toast("Thanks for rating");
            refresh();
          }
          catch (e) { toast(e.message); }
        } }, "Rate"));
      }
      const title = el("td", { text: o.title || o.listing });
      if (o.role === "buy" && o.state === "released" && o.path) {
        title.append(" · ", el("a", { href: `${API}/market/orders/${encodeURIComponent(o.id)}/file`, target: "_blank", rel: "noopener",
          "aria-label": "Open " + (o.title || o.listing) }, "Open"));
      }
      return el("tr", {},
        title,
        el("td", { text: o.role === "buy" ? "bought" : "sold" }),
        el("td", { text: o.price }),
        el("td", { text: o.state + (o.reason ? ": " + o.reason : "") }),
        rate);
    }));
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
      const name = d.output.split("/").pop();
      const act = (a, label) => actions.append(el("button", { class: "plain", type: "button", "aria-label": label + " " + name, onclick: async () => {
        try { await api("POST", `/downloads/${d.id}/${a}`); refresh(); } catch (e) { toast(e.message); }
      } }, label));
      if (d.state === "running") act("pause", "Pause");
      if (d.state === "paused" || d.state === "failed") act("resume", "Resume");
      if (d.state !== "done") act("cancel", "Cancel");
      if (d.state === "done" && !d.dir) {
        actions.append(el("a", { href: `${API}/downloads/${d.id}/file`, target: "_blank", rel: "noopener", "aria-label": "Open " + name }, "Open"));
      }
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
      const l = await api("GET", "/ledger/status");
      if (l.voters.length === 0) throw new Error("This node belongs to no ledger: " + (l.note || "no voter known"));
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
    try {
      const m = await api("GET", "/meter");
      const r = m.receipts;
      bind(root, "mbilling", (m.price_per_gib === 0 || m.price_per_gib === "0" ? "Traffic billing off" :
        "Traffic billing: " + m.price_per_gib + " credits/GiB") +
        ` · receipts received: ${r.settled} settled, ${r.pending} pending, ${r.failed} failed`);
      const cls = { pays: "pays", reciprocates: "gives back", other: "—" };
      bind(root, "meterrows", m.peers.map(u => el("tr", {},
        el("td", { class: "id", title: u.peer, text: shortID(u.peer) }),
        el("td", { text: bytes(u.uploaded) }),
        el("td", { text: bytes(u.downloaded) }),
        el("td", { text: String(u.units_run) }),
        el("td", { text: String(u.units_used) }),
        el("td", { text: String(u.paid_in) }),
        el("td", { text: String(u.billed_out) }),
        el("td", { text: cls[u.class] || u.class }))));
    } catch (e) {
      bind(root, "mbilling", e.message);
    }
  },

  async settings(root) {
    const [id, st] = await Promise.all([api("GET", "/id"), api("GET", "/status")]);
    bind(root, "sid", id.id);
    bind(root, "sversion", st.version);
    bind(root, "snet", st.private ? "Private network (swarm key)" : "Public peerpath network");
    bind(root, "saddrs", id.addrs.join("\n"));
    bind(root, "slimits", "upload " + limitText(st.max_upload) + ", download " + limitText(st.max_download) +
      (st.seeding ? "; downloads are served in turn" : "; downloads are not served (no-seed)"));
    const lf = root.querySelector("#limits-form");
    if (lf && !lf.dataset.touched) {
      lf.up.value = Math.round(st.max_upload / 1024);
      lf.down.value = Math.round(st.max_download / 1024);
    }
    try {
      const l = await api("GET", "/ledger/status");
      if (l.voters.length === 0) { bind(root, "sledger", "no ledger: " + (l.note || "no voter known")); return; }
      bind(root, "sledger", "leader " + shortID(l.leader) + ", " + plural(l.voters.length, "voter") + ", commit index " + l.commit_index);
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

// ---- search -----------------------------------------------------------------

let searchAbort = null;
const searchDownloads = {}; // cid -> download id

async function runSearch(root, q) {
  if (searchAbort) searchAbort.abort();
  const tbody = root.querySelector("#results");
  tbody.replaceChildren();
  if (!q.trim()) { bind(root, "searchstatus", ""); return; }
  const ctrl = new AbortController();
  searchAbort = ctrl;
  bind(root, "searchstatus", "Searching…");
  const rows = {};
  let count = 0;
  try {
    const resp = await fetch(API + "/search?timeout=4s&q=" + encodeURIComponent(q), { credentials: "same-origin", signal: ctrl.signal });
    if (!resp.ok) {
      const data = await resp.json().catch(() => ({}));
      throw new Error(data.error || resp.statusText);
    }
    const reader = resp.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i); buf = buf.slice(i + 1);
        if (!line.trim()) continue;
        const r = JSON.parse(line);
        if (!rows[r.cid]) count++;
        const row = resultRow(r);
        if (rows[r.cid]) rows[r.cid].replaceWith(row); else tbody.append(row);
        rows[r.cid] = row;
        bind(root, "searchstatus", plural(count, "result") + " so far…");
      }
    }
    bind(root, "searchstatus", count ? plural(count, "result") : "No results");
  } catch (e) {
    if (e.name !== "AbortError") bind(root, "searchstatus", e.message);
  }
}

function resultRow(r) {
  const cell = el("td", { "data-cid": r.cid });
  cell.append(el("button", { type: "button", "aria-label": "Download " + r.name, onclick: async () => {
    try {
      const d = await api("POST", "/downloads", { cid: r.cid, name: r.name });
      searchDownloads[r.cid] = d.id;
      updateSearchDownloads(document.getElementById("main"));
    } catch (e) { toast(e.message); }
  } }, "Download"));
  return el("tr", {},
    el("td", { title: r.cid, text: r.name }),
    el("td", { text: bytes(r.size) }),
    el("td", { text: r.type }),
    el("td", { text: r.providers.length }),
    cell);
}

async function updateSearchDownloads(root) {
  if (!Object.keys(searchDownloads).length) return;
  const dls = await api("GET", "/downloads");
  for (const [cid, id] of Object.entries(searchDownloads)) {
    const d = dls.find(x => x.id === id);
    const cell = root.querySelector(`td[data-cid="${cid}"]`);
    if (!d || !cell) continue;
    const pct = d.total ? Math.floor(100 * d.done / d.total) : 0;
    if (d.state === "done") {
      cell.replaceChildren(...(d.dir ? [] : [el("a", { href: `${API}/downloads/${d.id}/file`, target: "_blank", rel: "noopener", class: "done-link" }, "Open"), " "]),
        "saved to " + d.output);
    } else if (d.state === "failed") {
      cell.replaceChildren("failed: " + d.error);
    } else {
      cell.replaceChildren(el("progress", { max: "100", value: String(pct), "aria-label": "Downloading " + pct + "%" }), " " + pct + "%");
    }
  }
}

// ---- market -------------------------------------------------------------------

function safeName(s) {
  return (s.replace(/[\/\\\x00-\x1f]/g, " ").replace(/^\.+/, "").trim() || "purchase").slice(0, 120);
}

async function marketSearch(root, q) {
  const tbody = root.querySelector("#market-results");
  bind(root, "marketstatus", "Searching…");
  try {
    const res = await api("GET", "/market/search?timeout=4s&q=" + encodeURIComponent(q));
    const st = await api("GET", "/status");
    tbody.replaceChildren(...res.results.map(r => el("tr", {},
      el("td", { title: r.description || "", text: r.title + (r.sponsored ? "  (sponsored)" : "") }),
      el("td", { text: r.price }),
      el("td", { class: "id" }, el("button", { class: "plain", type: "button", title: r.seller,
        "aria-label": "Seller page of " + r.title, onclick: () => showSeller(root, r.seller) }, shortID(r.seller))),
      el("td", { text: r.ratings ? r.rating.toFixed(1) + " ★ (" + r.ratings + ")" : "new" }),
      el("td", { "data-listing": r.id }, el("button", { type: "button", "aria-label": "Buy " + r.title, onclick: async ev => {
        const cell = ev.target.parentElement;
        cell.replaceChildren("Buying…");
        try {
          const b = await api("POST", "/market/buy", { listing: r.id, output: st.downloads_dir + "/" + safeName(r.title) });
          cell.replaceChildren(el("span", { class: "bought" }, "Bought: ",
            el("a", { href: `${API}/market/orders/${encodeURIComponent(b.order)}/file`, target: "_blank", rel: "noopener" }, "Open"),
            " · saved to " + b.path));
          refresh();
        } catch (e) { cell.replaceChildren("failed: " + e.message); }
      } }, "Buy " + r.price)))));
    bind(root, "marketstatus", res.results.length ? plural(res.results.length, "listing") : "No listings found");
  } catch (e) { bind(root, "marketstatus", e.message); }
}

// rateDrafts keeps the stars and comment being written for each order, so
// the page's refresh does not reset them.
const rateDrafts = {};

// showSeller shows a seller's page: mean rating and every rating, newest
// first.
async function showSeller(root, id) {
  const sec = root.querySelector("#seller-page");
  try {
    const s = await api("GET", "/market/sellers/" + encodeURIComponent(id));
    bind(root, "sellerid", s.seller);
    bind(root, "sellerrating", s.count ? `${s.rating.toFixed(1)} ★ from ${plural(s.count, "rating")}` : "No ratings yet");
    bind(root, "sellerratings", (s.ratings || []).map(r => el("li", {},
      el("span", { class: "stars", "aria-label": plural(r.stars, "star") }, "★".repeat(r.stars)),
      r.comment ? " " + r.comment : "",
      el("span", { class: "muted" }, ` · buyer ${shortID(r.buyer)} · ${new Date(r.time / 1e6).toLocaleDateString()}`))));
    sec.hidden = false;
    sec.scrollIntoView({ block: "nearest" });
  } catch (e) { toast(e.message); }
}

// ---- compute ------------------------------------------------------------------

let selectedJob = null;

async function showResults(root, id) {
  const sec = root.querySelector("#job-results");
  if (!sec) return;
  const res = await api("GET", `/jobs/${id}/results`);
  sec.hidden = false;
  bind(root, "resultjob", id);
  const imgs = root.querySelector("#result-images");
  const text = root.querySelector("#result-text");
  const idx = Object.keys(res.outputs).map(Number).sort((a, b) => a - b);
  // PNG tiles (the Mandelbrot example) fill in as they arrive; other
  // outputs show as text.
  const lines = [];
  for (const i of idx) {
    const b64 = res.outputs[i];
    if (b64.startsWith("iVBORw0KGgo")) {
      let img = imgs.querySelector(`img[data-unit="${i}"]`);
      if (!img) {
        img = el("img", { "data-unit": String(i), alt: "tile " + i, src: "data:image/png;base64," + b64 });
        const next = [...imgs.children].find(c => Number(c.dataset.unit) > i);
        imgs.insertBefore(img, next || null);
      }
    } else {
      lines.push(i + ": " + atob(b64).slice(0, 200).trim());
    }
  }
  text.textContent = lines.join("\n");
  text.hidden = !lines.length;
}

function toBase64(buf) {
  const bytes = new Uint8Array(buf);
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

// ---- forms ----------------------------------------------------------------

function wireForms(root) {
  const sf = root.querySelector("#search-form");
  if (sf) {
    let t = null;
    sf.q.addEventListener("input", () => { clearTimeout(t); t = setTimeout(() => runSearch(root, sf.q.value), 300); });
    sf.addEventListener("submit", ev => { ev.preventDefault(); runSearch(root, sf.q.value); });
    sf.q.focus();
  }
  const mf = root.querySelector("#market-search-form");
  if (mf) mf.addEventListener("submit", ev => { ev.preventDefault(); marketSearch(root, mf.q.value.trim()); });
  const sell = root.querySelector("#sell-form");
  if (sell) sell.addEventListener("submit", async ev => {
    ev.preventDefault();
    const tags = sell.tags.value.split(",").map(t => t.trim()).filter(Boolean);
    try {
      const r = await api("POST", "/market/sell", { path: sell.path.value.trim(), title: sell.title.value.trim(),
        price: sell.price.value.trim(), description: sell.description.value, tags });
      toast("Listed: " + r.id);
      sell.reset();
      refresh();
    } catch (e) { toast(e.message); }
  });
  const wf = root.querySelector("#worker-form");
  if (wf) {
    wf.addEventListener("input", () => { wf.dataset.touched = "1"; });
    wf.addEventListener("submit", async ev => {
      ev.preventDefault();
      try {
        await api("POST", "/worker", { enabled: wf.enabled.checked, cpus: Number(wf.cpus.value) || 1, idle_only: wf.idle.checked, max_memory: 0 });
        delete wf.dataset.touched;
        toast(wf.enabled.checked ? "Worker on" : "Worker off");
        refresh();
      } catch (e) { toast(e.message); }
    });
  }
  const lf = root.querySelector("#limits-form");
  if (lf) {
    lf.addEventListener("input", () => { lf.dataset.touched = "1"; });
    lf.addEventListener("submit", async ev => {
      ev.preventDefault();
      const kib = v => Math.max(0, Math.round(Number(v) || 0)) * 1024;
      try {
        const l = await api("POST", "/limits", { max_upload: kib(lf.up.value), max_download: kib(lf.down.value) });
        delete lf.dataset.touched;
        toast("Limits saved: upload " + limitText(l.max_upload) + ", download " + limitText(l.max_download));
        refresh();
      } catch (e) { toast(e.message); }
    });
  }
  const jf = root.querySelector("#job-form");
  if (jf) jf.addEventListener("submit", async ev => {
    ev.preventDefault();
    const file = jf.module.files[0];
    if (!file) return;
    try {
      const module = toBase64(await file.arrayBuffer());
      const r = await api("POST", "/jobs", { module, count: Number(jf.count.value), reward: jf.reward.value || "0" });
      selectedJob = r.id;
      toast("Job " + r.id + " submitted");
      refresh();
    } catch (e) { toast(e.message); }
  });
  const share = root.querySelector("#share-form");
  if (share) share.addEventListener("submit", async ev => {
    ev.preventDefault();
    const path = share.path.value.trim();
    bind(root, "sharestatus", "Indexing " + path + "…");
    const poll = setInterval(async () => {
      try {
        const p = await api("GET", "/shares/indexing");
        if (p.path) bind(root, "sharestatus", `Indexing ${p.path}: ${p.files} files, ${bytes(p.bytes)} so far…`);
      } catch (e) { /* the final answer says what happened */ }
    }, 500);
    try {
      const s = await api("POST", "/shares", { path });
      clearInterval(poll);
      bind(root, "sharestatus", "Shared " + s.name + ": " + s.files + " files, " + bytes(s.size));
      share.reset();
      refresh();
    } catch (e) { clearInterval(poll); bind(root, "sharestatus", e.message); }
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
