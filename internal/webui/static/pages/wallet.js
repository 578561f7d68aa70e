// Wallet: balance, sending credits, and the history as a statement: signed
// amounts, who with, what each entry was, repeated compute payments grouped
// per job, and the running balance; entries that move no money (listing an
// item, a rating, a release) are shown as events, without an amount.
import { page, api, bind, bytes, el, toast, refresh, peerEl, timeEl, table } from "../core.js";

page({
  name: "wallet", title: "Wallet", order: 70, events: ["wallet", "ledger", "market"], poll: 10000,
  html: `
  <h1>Wallet</h1>
  <p class="big" data-bind="wbalance">–</p>
  <p class="muted" data-bind="waccount"></p>
  <form id="send-form" class="row">
    <label for="send-to">Pay to (peer ID)</label>
    <input id="send-to" name="to" required autocomplete="off">
    <label for="send-amount">Credits</label>
    <input id="send-amount" name="amount" required inputmode="decimal" pattern="[0-9]+(\\.[0-9]{1,6})?" title="A number with at most 6 decimals, such as 2.5">
    <label for="send-memo">Memo</label>
    <input id="send-memo" name="memo" autocomplete="off">
    <button type="submit">Send</button>
  </form>
  <h2>Statement</h2>
  <div class="table-wrap"><table class="statement"><thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">With</th><th scope="col" class="num">Credits</th><th scope="col" class="num">Balance</th></tr></thead><tbody data-bind="histrows"></tbody></table></div>
  <p class="muted" data-bind="histnote"></p>
  <h2>Storage you offer</h2>
  <dl class="facts" id="wallet-storage">
    <dt>Offered</dt><dd data-bind="stoffered">–</dd>
    <dt>Used by others</dt><dd data-bind="stused">–</dd>
    <dt>Earned</dt><dd data-bind="stearned">–</dd>
  </dl>
  <p class="muted" data-bind="stnote"></p>
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
      // The running balance is counted back from the balance, so the
      // balance and the history must be of one moment: read the balance on
      // both sides of the history and again while an entry came in between
      // (a compute payment, a sale).
      let b = await api("GET", "/wallet"), hist;
      for (let i = 0; ; i++) {
        hist = await api("GET", "/wallet/history?limit=200");
        const after = await api("GET", "/wallet");
        if (after.balance === b.balance || i === 4) { b = after; break; }
        b = after;
      }
      bind(root, "wbalance", b.balance + " credits");
      bind(root, "waccount", "Your account is your peer ID " + b.account);
      const [mine, orders] = await Promise.all([
        api("GET", "/market/listings").catch(() => []), api("GET", "/market/orders").catch(() => [])]);
      const rows = statement(hist, b.account, toMicro(b.balance), mine, orders);
      bind(root, "histrows", rows.map(r => el("tr", { class: r.event ? "event" : "" },
        el("td", {}, timeEl(r.time)),
        el("td", { class: "name" }, r.what),
        el("td", {}, r.with === "ledger" ? el("span", { class: "muted" }, "the ledger")
          : r.with === "operator" ? el("span", { class: "muted" }, "the ledger's operator") : peerEl(r.with, b.account)),
        el("td", { class: "num " + (r.event ? "" : r.micro > 0 ? "pos" : r.micro < 0 ? "neg" : "") },
          r.event ? el("span", { class: "muted", title: "No money moved" }, "event") : r.opening ? "" : signed(r.micro)),
        el("td", { class: "num", text: r.event ? "" : fmtMicro(r.balance) }))));
      bind(root, "histnote", hist.length ? "Newest first. Amounts are what your balance gained (+) or lost (−); the operator's fee on a payment is its own row, below the payment." : "No entries yet.");
    } catch (e) {
      bind(root, "wbalance", "–");
      bind(root, "waccount", e.message);
    }
    try {
      const st = await api("GET", "/storage");
      bind(root, "stoffered", st.offered ? bytes(st.offered) : "nothing");
      bind(root, "stused", bytes(st.used) + (st.offered ? " (" + Math.round(100 * st.used / st.offered) + "%)" : ""));
      bind(root, "stearned", st.earned + " credits");
      bind(root, "stnote", st.offered ? (Number(st.price_per_gib_month) ? "You charge " + st.price_per_gib_month + " credits per GiB a month." : "You store for free.")
        : "You offer no space to other peers: peerpath storage offer SIZE (or the Backup page) offers some, for credits.");
    } catch (e) {
      bind(root, "stnote", e.message);
    }
    try {
      const m = await api("GET", "/meter");
      const r = m.receipts;
      bind(root, "mbilling", (m.price_per_gib === 0 || m.price_per_gib === "0" ? "Traffic billing off" :
        "Traffic billing: " + m.price_per_gib + " credits/GiB") +
        ` · receipts received: ${r.settled} settled, ${r.pending} pending, ${r.failed} failed`);
      const cls = { pays: "pays", reciprocates: "gives back", other: "—" };
      bind(root, "meterrows", m.peers.map(u => el("tr", {},
        el("td", {}, peerEl(u.peer)),
        el("td", { class: "num", text: bytes(u.uploaded) }),
        el("td", { class: "num", text: bytes(u.downloaded) }),
        el("td", { class: "num", text: String(u.units_run) }),
        el("td", { class: "num", text: String(u.units_used) }),
        el("td", { class: "num", text: String(u.paid_in) }),
        el("td", { class: "num", text: String(u.billed_out) }),
        el("td", { text: cls[u.class] || u.class }))));
    } catch (e) {
      bind(root, "mbilling", e.message);
    }
  },
});

// Credits are decimal strings with at most 6 decimals; the statement
// counts in micro-credits.
export function toMicro(s) { return Math.round(Number(s || 0) * 1e6); }
export function fmtMicro(m) {
  const neg = m < 0; m = Math.abs(m);
  const whole = Math.floor(m / 1e6), frac = String(m % 1e6).padStart(6, "0").replace(/0+$/, "");
  return (neg ? "−" : "") + whole + (frac ? "." + frac : "");
}
function signed(m) { return (m > 0 ? "+" : "") + fmtMicro(m); }

// statement turns the ledger's history of account (newest first) into rows
// {time, what, with, micro, balance, event}: micro is the signed change of
// the balance, balance the balance after the entry, counted back from now.
// The operator's fee on a payment or purchase follows it as a row of its
// own (with: "operator").
export function statement(hist, me, balanceNow, mine, orders) {
  const listingTitle = {}, orderOf = {};
  for (const l of mine || []) listingTitle[l.id] = l.title;
  for (const o of orders || []) {
    orderOf[o.id] = o;
    if (o.title) listingTitle[o.listing] = o.title;
  }
  const titled = (ref, fallback) => {
    const o = orderOf[ref];
    const t = (o && o.title) || listingTitle[ref];
    return t ? "“" + t + "”" : fallback;
  };
  const rows = [];
  for (const t of hist) {
    const a = toMicro(t.amount);
    const fee = toMicro(t.fee);
    const out = t.from === me && t.to !== me, inn = t.to === me && t.from !== me;
    const other = out ? t.to : t.from;
    let r = { time: t.time, with: other, micro: 0, event: false, what: "" };
    switch (t.kind) {
      case "grant":
        r = { ...r, with: "ledger", micro: t.to === me ? a : 0, what: "Grant of new credits" + (t.memo ? ": " + t.memo : "") };
        break;
      case "transfer": {
        const unit = /^compute unit ([^/\s]+)\/(\d+)/.exec(t.memo || "");
        const traffic = /^traffic: (\d+) bytes/.exec(t.memo || "");
        r.micro = out ? -a : inn ? a : 0;
        if (out) r.fee = -fee;
        if (unit) { r.job = unit[1]; r.what = (out ? "Paid for compute, job " : "Paid for computing, job ") + unit[1].slice(0, 12); r.units = 1; }
        else if (traffic) r.what = (out ? "Paid for traffic: " : "Paid for your traffic: ") + bytes(Number(traffic[1]));
        else r.what = (out ? "Payment sent" : "Payment received") + (t.memo ? ": " + t.memo : "");
        break;
      }
      case "buy": {
        const o = orderOf[t.id];
        if (out) { r.micro = -a; r.fee = -(fee || (o ? toMicro(o.fee) : 0)); r.what = "Bought " + titled(t.id, "a listing") + " (paid into escrow)"; }
        else { r.event = true; r.what = "Order for " + titled(t.id, "your listing") + ": the buyer paid into escrow"; }
        if (o && o.role === "sell") r.with = o.buyer;
        break;
      }
      case "release": {
        const o = orderOf[t.ref];
        if (o && o.role === "sell") { r.micro = toMicro(o.price); r.with = o.buyer; r.what = "Sold " + titled(t.ref, "a listing") + ": payment released"; }
        else { r.event = true; r.with = o ? o.seller : other; r.what = "Key for " + titled(t.ref, "your purchase") + " released to you"; }
        break;
      }
      case "refund": {
        const o = orderOf[t.ref];
        if (o && o.role === "buy") { r.micro = toMicro(o.price); r.fee = toMicro(o.fee); r.with = o.seller; r.what = "Refund of " + titled(t.ref, "a purchase"); }
        else { r.event = true; r.what = "Order for " + titled(t.ref, "your listing") + " refunded to the buyer"; }
        break;
      }
      case "list":
        r = { ...r, event: true, with: "ledger", what: "Listed " + titled(t.ref, "an item") + " for sale at " + t.amount + " credits" };
        break;
      case "unlist":
        r = { ...r, event: true, with: "ledger", what: "Withdrew " + titled(t.ref, "a listing") };
        break;
      case "rate":
        r = { ...r, event: true, what: (out ? "You rated " : "Rated by a buyer: ") + "★".repeat(Math.max(0, Math.min(5, toMicro(t.amount)))) + (t.memo ? " “" + t.memo + "”" : "") };
        break;
      case "sponsor":
        r = { ...r, micro: out ? -a : inn ? a : 0, what: "Sponsored " + titled(t.ref, "a listing") };
        break;
      default:
        r = { ...r, micro: out ? -a : inn ? a : 0, what: t.kind + (t.memo ? ": " + t.memo : "") };
    }
    // Repeated compute payments of one job with one peer make one row.
    const prev = rows[rows.length - 1];
    if (r.job && prev && prev.job === r.job && prev.with === r.with && Math.sign(prev.micro) === Math.sign(r.micro)) {
      prev.micro += r.micro;
      prev.fee = (prev.fee || 0) + (r.fee || 0);
      prev.units++;
      prev.what = prev.what.replace(/ \(\d+ units\)$/, "") + " (" + prev.units + " units)";
      continue;
    }
    rows.push(r);
  }
  // The operator's fee on an entry is a row of its own, signed, right
  // below it (the statement is newest first: paid with it).
  const all = [];
  for (const r of rows) {
    all.push(r);
    if (r.fee) all.push({ time: r.time, with: "operator", micro: r.fee, event: false, fee: 0,
      what: r.fee > 0 ? "Fee refunded with it" : "Operator fee on the " + (r.job ? "payments above" : "payment above") });
  }
  rows.length = 0;
  rows.push(...all);
  let bal = balanceNow;
  for (const r of rows) {
    r.balance = bal;
    bal -= r.micro;
  }
  // What the account held before the oldest entry shown (the ledger's
  // genesis gives opening balances without an entry).
  if (bal !== 0) rows.push({ time: rows.length ? rows[rows.length - 1].time : Date.now(), what: "Opening balance", with: "ledger", micro: 0, balance: bal, opening: true });
  return rows;
}
