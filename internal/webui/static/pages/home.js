// Home: the node at a glance.
import { page, api, bind, bytes, rate, plural, el, shortID, table } from "../core.js";

const bw = { in: [], out: [] };

page({
  name: "home", title: "Home", order: 10, poll: 2000,
  html: `
  <h1>Home</h1>
  <section class="cards">
    <div class="card"><h2>Peers</h2><p class="big" data-bind="peers">–</p><p class="muted" data-bind="lanpeers"></p></div>
    <div class="card"><h2>Credits</h2><p class="big" data-bind="balance">–</p><p class="muted" data-bind="balancenote"></p></div>
    <div class="card"><h2>Network</h2><p data-bind="network">–</p><p class="muted" data-bind="reach"></p></div>
    <div class="card"><h2>Shared</h2><p class="big" data-bind="shared">–</p><p class="muted" data-bind="announced"></p></div>
  </section>
  <section>
    <h2>Bandwidth</h2>
    <canvas id="bw" width="720" height="160" role="img" aria-label="Bandwidth in and out over the last minutes"></canvas>
    <p class="legend"><span class="in">■</span> in <span data-bind="ratein"></span> &nbsp; <span class="out">■</span> out <span data-bind="rateout"></span></p>
  </section>
  <section>
    <h2>Connected peers</h2>
    ${table("peerrows", ["Peer", "Latency", "LAN"])}
  </section>`,

  async refresh(root) {
    const [st, peers, shares] = await Promise.all([api("GET", "/status"), api("GET", "/peers"), api("GET", "/shares")]);
    bind(root, "peers", st.peers);
    bind(root, "lanpeers", peers.filter(p => p.lan).length + " on the local network");
    bind(root, "network", st.private ? "Private network (swarm key)" : "Public peerpath network");
    bind(root, "reach", "Reachability: " + st.reachability + " · DHT " + plural(st.routing_table, "peer"));
    bind(root, "shared", shares.length);
    bind(root, "announced", st.announced + " of " + st.to_announce + " announced");
    bind(root, "ratein", rate(st.rate_in));
    bind(root, "rateout", rate(st.rate_out));
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
});

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
