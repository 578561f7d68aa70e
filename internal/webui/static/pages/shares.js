// Shares: what this node offers the network.
import { page, api, bind, bytes, el, toast, refresh, table, timeEl, copyText, shortID } from "../core.js";

page({
  name: "shares", title: "Shares", order: 30, events: ["share"], poll: 10000,
  html: `
  <h1>Shares</h1>
  <form id="share-form" class="row">
    <label for="share-path">Folder or file on this computer</label>
    <input id="share-path" name="path" required placeholder="/home/me/Music" autocomplete="off">
    <button type="submit">Share</button>
  </form>
  <p class="muted" data-bind="sharestatus"></p>
  <p class="row" id="publish-opts">Publish button: any <label class="sr" for="pub-k">shares needed</label><input id="pub-k" type="number" min="1" max="31" value="3">
    of <label class="sr" for="pub-n">shares made</label><input id="pub-n" type="number" min="2" max="32" value="10"> storing peers rebuild a published file.</p>
  <p data-bind="publishstatus" aria-live="polite"></p>
  <p class="muted" data-bind="sharecount"></p>
  ${table("sharerows", ["Name", "Size", "Files", "Shared", "Content id", "[Actions]"])}`,

  init(root) {
    const share = root.querySelector("#share-form");
    share.addEventListener("submit", async ev => {
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
  },

  async refresh(root) {
    const shares = await api("GET", "/shares");
    bind(root, "sharecount", shares.length ? "" : "Nothing shared yet: share a folder above and peers can find its files with Search.");
    bind(root, "sharerows", shares.map(s => el("tr", {},
      el("td", { class: "name", title: s.path }, s.name, s.downloaded ? el("span", { class: "badge", title: "You downloaded it; it is seeded back" }, "downloaded") : null),
      el("td", { class: "num", text: bytes(s.size) }),
      el("td", { class: "num", text: s.files }),
      el("td", {}, timeEl(s.added)),
      el("td", {}, el("button", { type: "button", class: "peer", title: s.cid + " (click to copy)", "aria-label": "Copy the content id of " + s.name,
        onclick: () => copyText(s.cid) }, shortID(s.cid))),
      el("td", {}, s.dir ? null : el("button", { class: "plain", type: "button", "aria-label": "Publish " + s.name, "data-publish": s.path,
        title: "Put it on storing peers: anyone with its URL can read it, with this computer off", onclick: () => publish(root, s) }, "Publish"),
      el("button", { class: "plain", type: "button", "aria-label": "Stop sharing " + s.name, onclick: async () => {
        try { await api("DELETE", "/shares?path=" + encodeURIComponent(s.path)); toast("No longer shared: " + s.name); refresh(); }
        catch (e) { toast(e.message); }
      } }, "Unshare")))));
  },
});

// publish puts a shared file on storing peers and shows its URL (the
// secret that changes it stays in this node's home).
async function publish(root, s) {
  bind(root, "publishstatus", "Publishing " + s.name + "…");
  try {
    const k = Number(root.querySelector("#pub-k").value), n = Number(root.querySelector("#pub-n").value);
    const p = await api("POST", "/publish", { path: s.path, k, n });
    bind(root, "publishstatus", [el("span", {}, "Published " + s.name + " (any " + p.k + " of " + p.n + " storing peers rebuild it). URL: ",
      el("code", { "data-bind": "publishurl", text: p.url }), " ",
      el("button", { type: "button", class: "plain", onclick: () => copyText(p.url) }, "Copy"))]);
  } catch (e) { bind(root, "publishstatus", "Publishing " + s.name + " failed: " + e.message); }
}
