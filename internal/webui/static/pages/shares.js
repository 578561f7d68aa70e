// Shares: what this node offers the network.
import { page, api, bind, bytes, el, toast, refresh, table } from "../core.js";

page({
  name: "shares", title: "Shares", order: 30, poll: 2000,
  html: `
  <h1>Shares</h1>
  <form id="share-form" class="row">
    <label for="share-path">Folder or file on this computer</label>
    <input id="share-path" name="path" required placeholder="/home/me/Music" autocomplete="off">
    <button type="submit">Share</button>
  </form>
  <p class="muted" data-bind="sharestatus"></p>
  ${table("sharerows", ["Name", "Size", "Files", "Content id", "[Actions]"])}`,

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
});
