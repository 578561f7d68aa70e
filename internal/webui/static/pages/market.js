// Market: find and buy goods, sell a file, my listings and orders.
import { page, api, API, bind, plural, el, toast, refresh, peerEl, peerName, bytes, timeEl, table } from "../core.js";

// The last results shown and the tag filter chosen.
let results = [];
let tagFilter = "";

// rateDrafts keeps the stars and comment being written for each order, so
// the page's refresh does not reset them.
const rateDrafts = {};

page({
  name: "market", title: "Market", order: 60, events: ["market"], poll: 5000,
  html: `
  <h1>Market</h1>
  <form id="market-search-form" class="row" role="search">
    <label for="market-q">Find goods</label>
    <input id="market-q" name="q" type="search" placeholder="cookbook (empty: everything)" autocomplete="off">
    <button type="submit">Search</button>
  </form>
  <p class="muted" data-bind="marketstatus" aria-live="polite"></p>
  <div class="chips" id="market-tags" role="group" aria-label="Filter by tag"></div>
  <div class="table-wrap"><table><thead><tr><th scope="col">Title</th><th scope="col" class="num">Price</th><th scope="col">Seller</th><th scope="col">Rating</th><th scope="col"><span class="sr">Buy</span></th></tr></thead><tbody id="market-results"></tbody></table></div>
  <section id="seller-page" hidden aria-live="polite">
    <h2>Seller <span data-bind="sellerid"></span></h2>
    <p data-bind="sellerrating"></p>
    <ul class="ratings" data-bind="sellerratings"></ul>
  </section>

  <h2>Sell</h2>
  <form id="sell-form" class="row">
    <label for="sell-path">File on this computer</label>
    <input id="sell-path" name="path" required placeholder="/home/me/book.pdf" autocomplete="off">
    <label for="sell-title">Title</label>
    <input id="sell-title" name="title" required autocomplete="off">
    <label for="sell-price">Price (credits)</label>
    <input id="sell-price" name="price" required inputmode="decimal">
    <label for="sell-desc">Description</label>
    <input id="sell-desc" name="description" autocomplete="off">
    <label for="sell-tags">Tags</label>
    <input id="sell-tags" name="tags" placeholder="books, recipes" autocomplete="off">
    <button type="submit">Sell</button>
  </form>

  <h2>My listings</h2>
  ${table("mylistings", ["Title", "Price", "Tags", "[Actions]"])}

  <h2>Orders</h2>
  ${table("orders", ["Title", "Role", "Price", "State", "[Rate]"])}`,

  init(root) {
    const mf = root.querySelector("#market-search-form");
    mf.addEventListener("submit", ev => { ev.preventDefault(); marketSearch(root, mf.q.value.trim()); });
    // The market opens on what is for sale: sponsored listings first, then
    // the newest, the best-rated sellers' first within a day.
    tagFilter = "";
    marketSearch(root, "");
    const sell = root.querySelector("#sell-form");
    sell.addEventListener("submit", async ev => {
      ev.preventDefault();
      const tags = sell.tags.value.split(",").map(t => t.trim()).filter(Boolean);
      try {
        const r = await api("POST", "/market/sell", { path: sell.path.value.trim(), title: sell.title.value.trim(),
          price: sell.price.value.trim(), description: sell.description.value, tags });
        toast("Listed: " + sell.title.value.trim());
        sell.reset();
        refresh();
        // The node indexed its new listing before answering: show it.
        marketSearch(root, mf.q.value.trim());
      } catch (e) { toast(e.message); }
    });
  },

  async refresh(root) {
    const [mine, orders] = await Promise.all([api("GET", "/market/listings"), api("GET", "/market/orders")]);
    bind(root, "mylistings", mine.filter(l => !l.withdrawn).map(l => el("tr", {},
      el("td", { text: l.title }),
      el("td", { text: l.price }),
      el("td", { class: "muted", text: l.tags && l.tags.length ? l.tags.join(", ") : "" }),
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
        el("td", {}, o.role === "buy" ? "bought from " : "sold to ", peerEl(o.role === "buy" ? o.seller : o.buyer)),
        el("td", { text: o.price }),
        el("td", { text: o.state + (o.reason ? ": " + o.reason : "") }),
        rate);
    }));
  },
});

function safeName(s) {
  return (s.replace(/[\/\\\x00-\x1f]/g, " ").replace(/^\.+/, "").trim() || "purchase").slice(0, 120);
}

let searchSeq = 0; // the latest search wins over slower earlier ones

async function marketSearch(root, q) {
  const my = ++searchSeq;
  bind(root, "marketstatus", q ? "Searching…" : "Looking for listings across the network…");
  try {
    const res = await api("GET", "/market/search?timeout=4s&q=" + encodeURIComponent(q));
    if (my !== searchSeq) return;
    results = res.results;
    showResults(root, q);
  } catch (e) { if (my === searchSeq) bind(root, "marketstatus", e.message); }
}

// showResults draws the results that carry the chosen tag, and the tags.
function showResults(root, q) {
  const tags = [...new Set(results.flatMap(r => r.tags || []))].sort();
  if (tagFilter && !tags.includes(tagFilter)) tagFilter = "";
  root.querySelector("#market-tags").replaceChildren(...(tags.length ? [null, ...tags] : []).map(t =>
    el("button", { type: "button", class: "chip", "data-tag": t || "", "aria-pressed": String((t || "") === tagFilter),
      onclick: () => { tagFilter = t || ""; showResults(root, q); } }, t || "All")));
  const shown = results.filter(r => !tagFilter || (r.tags || []).includes(tagFilter));
  root.querySelector("#market-results").replaceChildren(...shown.map(r => el("tr", { class: r.sponsored ? "sponsored" : "", "data-created": String(r.created || 0) },
    el("td", { class: "name", title: r.description || "" }, r.title,
      r.sponsored ? el("span", { class: "badge sponsored", title: "The seller paid to show this listing first" }, "Sponsored") : null,
      ...(r.tags || []).map(t => el("span", { class: "badge" }, t)),
      r.size ? el("span", { class: "muted" }, " · " + bytes(r.size)) : null,
      r.created ? el("span", { class: "muted listed" }, " · listed ", timeEl(r.created)) : null),
    el("td", { class: "num", text: r.price }),
    el("td", {}, peerEl(r.seller), " ", el("button", { class: "plain", type: "button",
      "aria-label": "Seller page of " + r.title, onclick: () => showSeller(root, r.seller) }, "ratings")),
    el("td", { text: r.ratings ? r.rating.toFixed(1) + " ★ (" + r.ratings + ")" : "new seller" }),
    el("td", { "data-listing": r.id }, buyCell(root, r)))));
  const what = q ? "" : " for sale";
  bind(root, "marketstatus", results.length ? plural(results.length, "listing") + what + (tagFilter ? ", " + shown.length + " tagged " + tagFilter : "") +
    (q ? "" : " · sponsored first, then the newest (the best-rated sellers' first within a day)") : (q ? "No listings found" : "No listings on the network yet: sell something below"));
}

// buying holds each purchase started from this page, by listing id, so a
// results table drawn again while one runs (a search that answered later)
// shows it rather than a fresh Buy button.
const buying = new Map(); // id -> {state: "pending"|"done"|"failed", b, msg}

// buyCell is the Buy column of listing r: a button, or the purchase.
function buyCell(root, r) {
  const s = buying.get(r.id);
  const button = () => el("button", { type: "button", "aria-label": "Buy " + r.title, onclick: () => buy(root, r) }, "Buy " + r.price);
  if (!s) return button();
  if (s.state === "pending") return "Buying…";
  if (s.state === "failed") return el("span", {}, "failed: " + s.msg + " ", button());
  return el("span", { class: "bought" }, s.b.already_bought ? "Already yours: " : "Bought: ",
    el("a", { href: `${API}/market/orders/${encodeURIComponent(s.b.order)}/file`, target: "_blank", rel: "noopener" }, "Open"),
    " · saved to " + s.b.path);
}

async function buy(root, r) {
  const draw = () => {
    const cell = root.querySelector(`td[data-listing="${CSS.escape(r.id)}"]`);
    if (cell) cell.replaceChildren(buyCell(root, r));
  };
  buying.set(r.id, { state: "pending" });
  draw();
  try {
    const st = await api("GET", "/status");
    const b = await api("POST", "/market/buy", { listing: r.id, output: st.downloads_dir + "/" + safeName(r.title) });
    buying.set(r.id, { state: "done", b });
    refresh();
  } catch (e) { buying.set(r.id, { state: "failed", msg: e.message }); }
  draw();
}

// showSeller shows a seller's page: mean rating and every rating, newest
// first.
async function showSeller(root, id) {
  const sec = root.querySelector("#seller-page");
  try {
    const s = await api("GET", "/market/sellers/" + encodeURIComponent(id));
    bind(root, "sellerid", [peerEl(s.seller)]);
    bind(root, "sellerrating", s.count ? `${s.rating.toFixed(1)} ★ from ${plural(s.count, "rating")}` : "No ratings yet");
    bind(root, "sellerratings", (s.ratings || []).map(r => el("li", {},
      el("span", { class: "stars", "aria-label": plural(r.stars, "star") }, "★".repeat(r.stars)),
      r.comment ? " " + r.comment : "",
      el("span", { class: "muted" }, " · buyer " + peerName(r.buyer) + " · "), timeEl(r.time))));
    sec.hidden = false;
    sec.scrollIntoView({ block: "nearest" });
  } catch (e) { toast(e.message); }
}
