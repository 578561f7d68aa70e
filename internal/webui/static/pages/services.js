// Services: local TCP services shared with chosen peers (what I expose,
// with allow and deny), what a peer offers me, and my forwards to them.
import { page, api, bind, bytes, el, button, act, copyText, peerEl, table, toast, refresh } from "../core.js";

// forwardRow shows one forward with a copyable local address.
function forwardRow(f) {
  return el("tr", {},
    el("td", {}, el("button", { type: "button", class: "peer", "data-listen": f.listen, title: "Copy " + f.listen,
      "aria-label": "Copy local address " + f.listen, onclick: () => copyText(f.listen) }, f.listen)),
    el("td", {}, peerEl(f.peer)),
    el("td", { text: f.service }),
    el("td", { text: f.conns }),
    el("td", { text: bytes(f.bytes_in) }),
    el("td", { text: bytes(f.bytes_out) }),
    el("td", { class: "muted", text: f.last_error || "" }),
    el("td", {}, button("Disconnect", "Disconnect " + f.listen, () => act(async () => {
      await api("POST", "/forwards/close", { target: f.listen });
      toast("Closed " + f.listen);
      refresh();
    }))));
}

page({
  name: "services", title: "Services", order: 35, poll: 2000,
  html: `
  <h1>Services</h1>
  <p class="muted">Share a TCP service of this computer (a printer, a game server, SSH, a web app) with the peers you choose, or use one a peer shares with you.</p>
  <h2>What I expose</h2>
  <form id="expose-form" class="row">
    <label for="svc-name">Name</label>
    <input id="svc-name" name="name" required placeholder="printer" autocomplete="off">
    <label for="svc-addr">Address (loopback or LAN)</label>
    <input id="svc-addr" name="addr" required placeholder="127.0.0.1:631" autocomplete="off">
    <label for="svc-allow">Allowed peers (ids or contact names, comma-separated)</label>
    <input id="svc-allow" name="allow" required autocomplete="off">
    <label for="svc-price">Price per GiB (credits, empty = free)</label>
    <input id="svc-price" name="price" autocomplete="off" inputmode="decimal">
    <button type="submit">Expose</button>
  </form>
  <form id="allow-form" class="row">
    <label for="allow-svc">Service</label>
    <input id="allow-svc" name="service" required autocomplete="off">
    <label for="allow-peer">Peer to allow</label>
    <input id="allow-peer" name="peer" required autocomplete="off">
    <button type="submit">Allow</button>
  </form>
  ${table("svcrows", ["Service", "Address", "Peer", "Allowed", "Connections", "In", "Out", "[Actions]"])}
  <h2>What a peer offers me</h2>
  <form id="offers-form" class="row">
    <label for="offers-peer">Peer (id or contact name)</label>
    <input id="offers-peer" name="peer" required autocomplete="off">
    <button type="submit">Ask</button>
  </form>
  <p class="muted" data-bind="offerstatus"></p>
  ${table("offerrows", ["Service", "Price per GiB", "[Actions]"])}
  <h2>My connections</h2>
  ${table("fwdrows", ["Local address", "Peer", "Service", "Connections", "In", "Out", "Last error", "[Actions]"])}`,

  init(root) {
    const ex = root.querySelector("#expose-form");
    ex.addEventListener("submit", ev => {
      ev.preventDefault();
      act(async () => {
        const allow = ex.allow.value.split(",").map(s => s.trim()).filter(Boolean);
        const s = await api("POST", "/services", { name: ex.name.value.trim(), addr: ex.addr.value.trim(), allow, price_per_gib: ex.price.value.trim() });
        toast("Exposing " + s.name + " to " + allow.length + " peer(s)");
        ex.reset();
        refresh();
      });
    });
    const al = root.querySelector("#allow-form");
    al.addEventListener("submit", ev => {
      ev.preventDefault();
      act(async () => {
        const s = await api("POST", "/services/" + encodeURIComponent(al.service.value.trim()) + "/allow", { peer: al.peer.value.trim() });
        toast("Allowed on " + s.name);
        al.reset();
        refresh();
      });
    });
    const of = root.querySelector("#offers-form");
    of.addEventListener("submit", async ev => {
      ev.preventDefault();
      const who = of.peer.value.trim();
      bind(root, "offerstatus", "Asking…");
      bind(root, "offerrows", []);
      try {
        const o = await api("GET", "/services/offered/" + encodeURIComponent(who));
        bind(root, "offerstatus", o.services.length ? "" : "This peer offers no service to you.");
        bind(root, "offerrows", o.services.map(s => el("tr", {},
          el("td", { text: s.name }),
          el("td", { text: s.price_per_gib === "0" ? "free" : s.price_per_gib }),
          el("td", {}, button("Connect", "Connect to " + s.name, () => act(async () => {
            const f = await api("POST", "/forwards", { peer: o.peer, service: s.name });
            toast(s.name + " is at " + f.listen);
            refresh();
          }), "")))));
      } catch (e) { bind(root, "offerstatus", e.message); }
    });
  },

  async refresh(root) {
    const [svcs, fwds] = await Promise.all([api("GET", "/services"), api("GET", "/forwards")]);
    const rows = [];
    for (const s of svcs) {
      const remove = button("Remove", "Remove service " + s.name, () => act(async () => {
        await api("DELETE", "/services/" + encodeURIComponent(s.name));
        toast("Removed " + s.name);
        refresh();
      }));
      if (!s.peers.length) rows.push(el("tr", {}, el("td", { text: s.name }), el("td", { text: s.addr }),
        el("td", { class: "muted" }, "–"), el("td", {}), el("td", {}), el("td", {}), el("td", {}), el("td", {}, remove)));
      s.peers.forEach((p, i) => rows.push(el("tr", {},
        el("td", { text: i === 0 ? s.name : "" }),
        el("td", { text: i === 0 ? s.addr : "" }),
        el("td", {}, peerEl(p.peer)),
        el("td", { text: p.allowed ? "yes" : "no" }),
        el("td", { text: p.conns }),
        el("td", { text: bytes(p.bytes_in) }),
        el("td", { text: bytes(p.bytes_out) }),
        el("td", {},
          p.allowed
            ? button("Deny", `Deny ${p.peer} on ${s.name}`, () => act(async () => {
                const d = await api("POST", "/services/" + encodeURIComponent(s.name) + "/deny", { peer: p.peer });
                toast("Denied; " + d.closed + " connection(s) closed");
                refresh();
              }))
            : button("Allow", `Allow ${p.peer} on ${s.name}`, () => act(async () => {
                await api("POST", "/services/" + encodeURIComponent(s.name) + "/allow", { peer: p.peer });
                refresh();
              })),
          i === 0 ? remove : null))));
    }
    bind(root, "svcrows", rows);
    bind(root, "fwdrows", fwds.map(forwardRow));
  },
});
