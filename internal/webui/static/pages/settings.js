// Settings: identity, limits, ledger, log out.
import { page, api, bind, limitText, plural, peerEl, el, toast, refresh } from "../core.js";

page({
  name: "settings", title: "Settings", order: 90, poll: 5000,
  html: `
  <h1>Settings</h1>
  <dl class="facts">
    <dt>Peer ID</dt><dd data-bind="sid"></dd>
    <dt>Version</dt><dd data-bind="sversion"></dd>
    <dt>Network</dt><dd data-bind="snet"></dd>
    <dt>Bandwidth limits</dt><dd data-bind="slimits"></dd>
    <dt>Addresses</dt><dd data-bind="saddrs"></dd>
    <dt>Ledger</dt><dd data-bind="sledger"></dd>
  </dl>
  <h2>Bandwidth limits</h2>
  <form id="limits-form" class="row">
    <label for="limit-up">Upload (KiB/s, 0 = unlimited)</label>
    <input id="limit-up" name="up" type="number" min="0" step="1" value="0">
    <label for="limit-down">Download (KiB/s, 0 = unlimited)</label>
    <input id="limit-down" name="down" type="number" min="0" step="1" value="0">
    <button type="submit">Apply</button>
  </form>
  <p class="muted">Limits apply at once and are saved in the node's config.toml. Network settings (bootstrap peers, swarm key, allowed peers) live there too; restart the daemon after changing them.</p>
  <button id="logout" type="button">Log out</button>`,

  init(root) {
    const lf = root.querySelector("#limits-form");
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
    root.querySelector("#logout").addEventListener("click", async () => {
      await fetch("/ui/logout", { method: "POST", credentials: "same-origin", headers: { "X-Peerpath-CSRF": "1" } });
      location.reload();
    });
  },

  async refresh(root) {
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
      bind(root, "sledger", ["leader ", peerEl(l.leader), ", " + plural(l.voters.length, "voter") + ", commit index " + l.commit_index]);
    } catch (e) { bind(root, "sledger", e.message); }
  },
});
