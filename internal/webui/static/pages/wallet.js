// Wallet: balance, sending credits, history, traffic and compute by peer.
import { page, api, bind, bytes, el, toast, refresh, shortID, table } from "../core.js";

page({
  name: "wallet", title: "Wallet", order: 70, poll: 2000,
  html: `
  <h1>Wallet</h1>
  <p class="big" data-bind="wbalance">–</p>
  <p class="muted" data-bind="waccount"></p>
  <form id="send-form" class="row">
    <label for="send-to">Pay to (peer ID)</label>
    <input id="send-to" name="to" required autocomplete="off">
    <label for="send-amount">Credits</label>
    <input id="send-amount" name="amount" required inputmode="decimal" pattern="[0-9]+(\\.[0-9]{1,6})?">
    <label for="send-memo">Memo</label>
    <input id="send-memo" name="memo" autocomplete="off">
    <button type="submit">Send</button>
  </form>
  <h2>History</h2>
  ${table("histrows", ["Time", "From", "To", "Credits", "Memo"])}
  <h2>Traffic and compute by peer</h2>
  <p class="muted" data-bind="mbilling"></p>
  ${table("meterrows", ["Peer", "Uploaded", "Downloaded", "Units run", "Units used", "Paid in", "Billed out", "Priority"])}`,

  init(root) {
    const send = root.querySelector("#send-form");
    send.addEventListener("submit", async ev => {
      ev.preventDefault();
      try {
        const r = await api("POST", "/wallet/send", { to: send.to.value.trim(), amount: send.amount.value.trim(), memo: send.memo.value });
        toast("Sent " + r.amount + " credits (fee " + r.fee + ")");
        send.reset();
        refresh();
      } catch (e) { toast(e.message); }
    });
  },

  async refresh(root) {
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
});
