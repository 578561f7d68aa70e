// Settings: identity, limits, ledger, the content policy, log out.
import { page, api, API, act, bind, button, limitText, plural, peerEl, el, table, timeEl, toast, refresh } from "../core.js";

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
  <h2>Content policy</h2>
  <p class="muted" data-bind="policysum"></p>
  ${table("policyrows", ["List", "Reason", "Rules", "Added", "[Actions]"])}
  <form id="policy-form" class="row">
    <label for="policy-cid">Content id to refuse</label>
    <input id="policy-cid" name="cid" required autocomplete="off" placeholder="bafkr4i…">
    <label for="policy-reason">Reason</label>
    <input id="policy-reason" name="reason" required maxlength="200" autocomplete="off" placeholder="e.g. copyright notice of 2026-12-01">
    <button type="submit">Refuse</button>
  </form>
  <form id="policy-url-form" class="row">
    <label for="policy-url">Or load a denylist from a URL</label>
    <input id="policy-url" name="url" type="url" required placeholder="https://badbits.dwebops.pub/badbits.deny">
    <button type="submit">Load</button>
  </form>
  <p class="muted">This node refuses to store, serve, download or list content a loaded denylist names (the compact denylist format gateways use). Removing a list lifts its rules at once.</p>
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
    const pf = root.querySelector("#policy-form");
    pf.addEventListener("submit", ev => {
      ev.preventDefault();
      act(async () => {
        const cid = pf.cid.value.trim(), reason = pf.reason.value.trim().replace(/[\r\n"]+/g, " ");
        if (!cid || !reason) throw new Error("Give the content id and a reason");
        // One list per refusal, so each keeps its reason and can be removed alone.
        const text = `version: 1\nname: "Refused ${cid.slice(0, 12)}…"\ndescription: "${reason}"\n---\n/ipfs/${cid}\n`;
        const l = await upload("refused " + cid, text);
        if (!l.deny) {
          await api("DELETE", "/policy/lists/" + encodeURIComponent(l.id));
          throw new Error("Not a content id: " + (l.warnings[0] || cid));
        }
        pf.cid.value = pf.reason.value = "";
        toast("Refused " + cid.slice(0, 12) + "…: " + reason);
        refresh();
      });
    });
    const uf = root.querySelector("#policy-url-form");
    uf.addEventListener("submit", ev => {
      ev.preventDefault();
      act(async () => {
        const l = await api("POST", "/policy/url", { url: uf.url.value.trim() });
        uf.url.value = "";
        toast("Loaded " + (l.name || l.source) + ": " + plural(l.deny, "rule"));
        refresh();
      });
    });
    root.querySelector("#logout").addEventListener("click", async () => {
      await fetch("/ui/logout", { method: "POST", credentials: "same-origin", headers: { "X-Peerpath-CSRF": "1" } });
      location.reload();
    });
  },

  async refresh(root) {
    const [id, st, pol] = await Promise.all([api("GET", "/id"), api("GET", "/status"), api("GET", "/policy")]);
    bind(root, "policysum", pol.lists.length ? plural(pol.lists.length, "denylist") + " loaded: " + plural(pol.deny, "content id") + " refused" +
      (pol.allow ? ", " + pol.allow + " allowed again" : "") : "No denylist loaded: this node serves whatever is asked of it.");
    bind(root, "policyrows", pol.lists.map(l => {
      const name = l.name || l.source || l.id;
      return el("tr", { "data-list": l.id },
        el("td", { class: "name", title: l.source + " (" + l.id + ")", text: name }),
        el("td", { text: l.description || "" }),
        el("td", { class: "num", title: l.ignored ? plural(l.ignored, "line") + " ignored: " + l.warnings.join("; ") : null,
          text: String(l.deny) + (l.allow ? " / !" + l.allow : "") }),
        el("td", {}, timeEl(l.added)),
        el("td", {}, button("Remove", "Remove denylist " + name, () => act(async () => {
          if (!confirm("Remove the denylist " + name + "? Its content is served again.")) return;
          await api("DELETE", "/policy/lists/" + encodeURIComponent(l.id));
          toast("Removed " + name);
          refresh();
        }))));
    }));
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

// upload loads a denylist's text (POST /policy/lists, text/plain body).
async function upload(source, text) {
  const resp = await fetch(API + "/policy/lists?source=" + encodeURIComponent(source), {
    method: "POST", credentials: "same-origin", body: text,
    headers: { "Content-Type": "text/plain", "X-Peerpath-CSRF": "1" } });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(data.error ? data.error + (data.hint ? "; " + data.hint : "") : resp.statusText);
  return data;
}
