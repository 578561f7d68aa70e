// Search: results stream in as the user types; a result downloads in place.
import { page, api, API, bind, bytes, plural, el, toast, table, on } from "../core.js";

let searchAbort = null;
const searchDownloads = {}; // cid -> download id

page({
  name: "search", title: "Search", order: 20, poll: 2000, live: true,
  html: `
  <h1>Search</h1>
  <form id="search-form" class="row" role="search">
    <label for="search-q">Search the network</label>
    <input id="search-q" name="q" type="search" placeholder="beatles hey jude   type:audio   size>3MB   (or a peerpath://doc/ URL)" autocomplete="off">
  </form>
  <p class="muted" data-bind="searchstatus" aria-live="polite"></p>
  <div class="table-wrap"><table><thead><tr><th scope="col">Name</th><th scope="col" class="num">Size</th><th scope="col">Type</th><th scope="col" class="num">Peers</th><th scope="col"><span class="sr">Download</span></th></tr></thead><tbody id="results"></tbody></table></div>`,

  init(root) {
    const sf = root.querySelector("#search-form");
    let t = null;
    sf.q.addEventListener("input", () => { clearTimeout(t); t = setTimeout(() => runSearch(root, sf.q.value), 300); });
    sf.addEventListener("submit", ev => { ev.preventDefault(); runSearch(root, sf.q.value); });
    sf.q.focus();
    // Downloads started here show their progress live from the
    // "download.changed" events, which carry every download.
    return on("download", ev => updateSearchDownloads(root, Array.isArray(ev.data) ? ev.data : null));
  },

  // Results stream in as the user types; refresh only updates the
  // downloads started from here (polled only while the event stream is
  // down).
  refresh: root => updateSearchDownloads(root, null),
});

async function runSearch(root, q) {
  if (searchAbort) searchAbort.abort();
  const tbody = root.querySelector("#results");
  tbody.replaceChildren();
  if (!q.trim()) { bind(root, "searchstatus", ""); return; }
  if (q.trim().startsWith("peerpath://doc/")) { documentRow(root, tbody, q.trim()); return; }
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
      updateSearchDownloads(document.getElementById("main"), null);
    } catch (e) { toast(e.message); }
  } }, "Download"));
  return el("tr", {},
    el("td", { class: "name", title: r.cid, text: r.name }),
    el("td", { class: "num", text: bytes(r.size) }),
    el("td", { text: r.type }),
    el("td", { class: "num", text: plural(r.providers.length, "peer") }),
    cell);
}

// updateSearchDownloads shows the downloads started here: from dls (an
// event's list of every download), else fetched.
async function updateSearchDownloads(root, dls) {
  if (!Object.keys(searchDownloads).length) return;
  if (!dls) dls = await api("GET", "/downloads");
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

// documentRow offers to fetch a published document by its URL (saved in
// this node's downloads folder under its published name).
function documentRow(root, tbody, url) {
  bind(root, "searchstatus", "A published document: fetch it by its URL.");
  const cell = el("td", { "data-doc": "" });
  const name = el("td", { class: "name", text: "Published document" });
  const size = el("td", { class: "num" });
  cell.append(el("button", { type: "button", "aria-label": "Fetch the published document", onclick: async () => {
    cell.replaceChildren("fetching…");
    try {
      const d = await api("POST", "/publish/get", { url });
      name.textContent = d.name || d.cid;
      size.textContent = bytes(d.size);
      cell.replaceChildren("saved to " + d.path);
    } catch (e) { cell.replaceChildren("failed: " + e.message); }
  } }, "Fetch"));
  tbody.replaceChildren(el("tr", {}, name, size, el("td", { text: "document" }), el("td", {}), cell));
}
