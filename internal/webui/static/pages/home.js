// Home: the node's story at a glance: peers and bandwidth over the last
// hour (kept by the daemon, so the chart is full on arrival), what is
// shared, credits, the worker.
import { page, api, bind, bytes, rate, plural, el, peerEl, table } from "../core.js";

page({
  name: "home", title: "Home", order: 10, events: ["stats", "share", "download"], poll: 15000,
  html: `
  <h1>Home</h1>
  <section class="cards">
    <div class="card"><h2>Peers</h2><p class="big" data-bind="peers">–</p><p class="muted" data-bind="lanpeers"></p></div>
    <div class="card"><h2>Credits</h2><p class="big" data-bind="balance">–</p><p class="muted" data-bind="balancenote"></p></div>
    <div class="card"><h2>Shared</h2><p class="big" data-bind="shared">–</p><p class="muted" data-bind="announced"></p></div>
    <div class="card"><h2>Worker</h2><p class="big" data-bind="worker">–</p><p class="muted" data-bind="workernote"></p></div>
    <div class="card"><h2>Network</h2><p data-bind="network">–</p><p class="muted" data-bind="reach"></p></div>
  </section>
  <section>
    <h2>Bandwidth</h2>
    <div class="chart"><canvas id="bw" role="img" aria-label="Bandwidth in and out over the last hour"></canvas></div>
    <p class="legend"><span class="in">■</span> in <span data-bind="ratein"></span> &nbsp; <span class="out">■</span> out <span data-bind="rateout"></span> <span class="muted" data-bind="bwspan"></span></p>
    <h2>Peers over time</h2>
    <div class="chart"><canvas id="peerchart" role="img" aria-label="Connected peers over the last hour"></canvas></div>
  </section>
  <section>
    <h2>Connected peers</h2>
    ${table("peerrows", ["Peer", "Latency", "LAN"])}
  </section>`,

  async refresh(root) {
    const [st, peers, shares, hist] = await Promise.all([api("GET", "/status"), api("GET", "/peers"), api("GET", "/shares"),
      api("GET", "/history").catch(() => ({ samples: [], interval_s: 5 }))]);
    bind(root, "peers", st.peers);
    bind(root, "lanpeers", peers.filter(p => p.lan).length + " on the local network");
    bind(root, "network", st.private ? "Private network (swarm key)" : "Public peerpath network");
    bind(root, "reach", "Reachability: " + st.reachability + " · DHT " + plural(st.routing_table, "peer"));
    const size = shares.reduce((n, s) => n + (s.size || 0), 0);
    bind(root, "shared", shares.length ? plural(shares.length, "item") : "nothing");
    bind(root, "announced", shares.length ? bytes(size) + " · " + (st.announced >= st.to_announce ? "announced to the network" : "announcing to the network…")
      : "Share a folder on the Shares page");
    bind(root, "ratein", rate(st.rate_in));
    bind(root, "rateout", rate(st.rate_out));
    bind(root, "peerrows", peers.map(p => el("tr", {},
      el("td", {}, peerEl(p.id)),
      el("td", { class: "num", text: p.latency_ms ? p.latency_ms.toFixed(1) + " ms" : "–" }),
      el("td", { text: p.lan ? "yes" : "" }))));
    const samples = hist.samples || [];
    const span = samples.length > 1 ? (samples[samples.length - 1].t - samples[0].t) / 60000 : 0;
    bind(root, "bwspan", samples.length > 1 ? "· last " + (span < 1 ? Math.round(span * 60) + " s" : Math.round(span) + " min") : "");
    drawChart(root.querySelector("#bw"), samples, [["rate_in", "--in"], ["rate_out", "--out"]], v => rate(v));
    drawChart(root.querySelector("#peerchart"), samples, [["peers", "--accent"]], v => String(Math.round(v)), true);
    try {
      const w = await api("GET", "/worker");
      bind(root, "worker", w.enabled ? (w.paused ? "paused" : "on") : "off");
      bind(root, "workernote", w.enabled ? `${w.running} running · ${w.completed} units done` : "Lend your CPU on the Compute page");
    } catch (e) {
      bind(root, "worker", "–");
      bind(root, "workernote", e.message);
    }
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
  },
});

// drawChart draws series of samples (keys of each sample, with a CSS
// colour variable) on canvas with a y axis (fmt labels its ticks) and a
// time axis.
function drawChart(canvas, samples, series, fmt, integer) {
  if (!canvas) return;
  const dpr = window.devicePixelRatio || 1;
  const cssW = canvas.clientWidth || 600, cssH = canvas.clientHeight || 180;
  canvas.width = Math.round(cssW * dpr);
  canvas.height = Math.round(cssH * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cssW, cssH);
  const css = getComputedStyle(document.documentElement);
  const muted = css.getPropertyValue("--muted").trim(), line = css.getPropertyValue("--line").trim();
  ctx.font = "11px system-ui, sans-serif";
  let max = 0;
  for (const s of samples) for (const [k] of series) max = Math.max(max, s[k] || 0);
  max = niceMax(max, integer);
  const left = Math.max(...[0, 0.5, 1].map(f => ctx.measureText(fmt(max * f)).width)) + 10, right = 8, top = 8, bottom = 20;
  const w = cssW - left - right, h = cssH - top - bottom;
  // Grid and y labels.
  ctx.strokeStyle = line; ctx.fillStyle = muted; ctx.lineWidth = 1;
  ctx.textAlign = "right"; ctx.textBaseline = "middle";
  for (const f of [0, 0.5, 1]) {
    const y = top + h - h * f;
    ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(left + w, y); ctx.stroke();
    ctx.fillText(fmt(max * f), left - 6, y);
  }
  // Time labels: minutes before now.
  const now = samples.length ? samples[samples.length - 1].t : Date.now();
  const first = samples.length ? samples[0].t : now - 60000;
  const spanMin = Math.max(1, (now - first) / 60000);
  ctx.textAlign = "center"; ctx.textBaseline = "top";
  const step = spanMin > 30 ? 15 : spanMin > 10 ? 5 : spanMin > 4 ? 2 : 1;
  const x = t => left + w - (now - t) / (spanMin * 60000) * w;
  for (let m = 0; m <= spanMin; m += step) ctx.fillText(m ? "−" + m + " min" : "now", Math.min(Math.max(x(now - m * 60000), left + 20), left + w - 12), top + h + 5);
  if (samples.length < 2) {
    ctx.textAlign = "center"; ctx.textBaseline = "middle";
    ctx.fillText("collecting…", left + w / 2, top + h / 2);
    return;
  }
  for (const [k, color] of series) {
    ctx.strokeStyle = css.getPropertyValue(color).trim(); ctx.lineWidth = 2; ctx.beginPath();
    samples.forEach((s, i) => {
      const px = x(s.t), py = top + h - h * (s[k] || 0) / max;
      i ? ctx.lineTo(px, py) : ctx.moveTo(px, py);
    });
    ctx.stroke();
  }
}

// niceMax rounds a chart's top up to 1, 2 or 5 times a power of ten (of
// 1024 for bytes).
function niceMax(v, integer) {
  if (v <= 0) return integer ? 4 : 1024;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return integer ? Math.max(4, Math.ceil(m * p)) : m * p;
  return v;
}
