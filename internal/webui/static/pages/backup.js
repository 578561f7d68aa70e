// Backup: snapshots on other peers (health, restore, forget), and the
// storage this node lends to others.
import { page, api, act, bind, bytes, button, copyText, el, peerEl, plural, refresh, timeEl, toast, table } from "../core.js";

page({
  name: "backup", title: "Backup", order: 45, poll: 10000,
  html: `
  <h1>Backup</h1>
  <p class="muted">Folders are encrypted here, cut into shares of which any k rebuild them, and
  spread over n other peers. Keep each snapshot's capability string safe: it alone restores it, on any node.</p>
  <form id="bk-create" class="row">
    <label for="bk-path">Folder or file (path on this machine)</label>
    <input id="bk-path" name="path" required autocomplete="off">
    <label for="bk-k">k</label>
    <input id="bk-k" name="k" type="number" min="1" max="31" value="10">
    <label for="bk-n">n</label>
    <input id="bk-n" name="n" type="number" min="2" max="32" value="16">
    <button type="submit">Back up</button>
  </form>
  <h2>Snapshots</h2>
  ${table("bkrows", ["Snapshot", "Name", "Created", "Files", "Size", "[Actions]"])}
  <div id="bk-health" aria-live="polite"></div>
  <h2>Restore</h2>
  <form id="bk-restore" class="row">
    <label for="bk-what">Snapshot id or capability</label>
    <input id="bk-what" name="what" required autocomplete="off">
    <label for="bk-out">Into folder</label>
    <input id="bk-out" name="out" required autocomplete="off">
    <button type="submit">Restore</button>
  </form>
  <h2>Storage lent to others</h2>
  <p data-bind="stsummary">–</p>
  <form id="st-offer" class="row">
    <label for="st-size">Offer (bytes, 0 to stop)</label>
    <input id="st-size" name="size" type="number" min="0" required>
    <label for="st-price">Credits per GiB-month</label>
    <input id="st-price" name="price" inputmode="decimal" pattern="[0-9]+(\\.[0-9]{1,6})?" placeholder="0">
    <button type="submit">Set offer</button>
  </form>
  ${table("stclients", ["Client", "Shares", "Stored", "Paid"])}`,

  init(root) {
    const create = root.querySelector("#bk-create");
    create.addEventListener("submit", ev => {
      ev.preventDefault();
      act(async () => {
        toast("Backing up…");
        const r = await api("POST", "/backup", { paths: [create.path.value.trim()], k: +create.k.value, n: +create.n.value });
        toast("Snapshot " + r.snapshot + ": " + plural(r.files, "file") + ", " + bytes(r.bytes) + " (" + bytes(r.stored) + " new)");
        refresh();
      });
    });
    const restore = root.querySelector("#bk-restore");
    restore.addEventListener("submit", ev => {
      ev.preventDefault();
      act(async () => {
        toast("Restoring…");
        const r = await api("POST", "/backup/restore", { snapshot: restore.what.value.trim(), output: restore.out.value.trim() });
        toast("Restored " + plural(r.files, "file") + " (" + bytes(r.bytes) + ") into " + r.output);
      });
    });
    const offer = root.querySelector("#st-offer");
    offer.addEventListener("submit", ev => {
      ev.preventDefault();
      act(async () => {
        await api("POST", "/storage/offer", { size: +offer.size.value, price_per_gib_month: offer.price.value.trim() });
        toast("Offer saved");
        refresh();
      });
    });
  },

  async refresh(root) {
    const snaps = await api("GET", "/backup");
    const health = root.querySelector("#bk-health");
    bind(root, "bkrows", snaps.map(s => el("tr", {},
      el("td", { class: "id", text: s.snapshot }),
      el("td", { text: s.name }),
      el("td", {}, timeEl(s.created)),
      el("td", { text: String(s.files) }),
      el("td", { text: bytes(s.bytes) }),
      el("td", {},
        button("Health", "Check the health of snapshot " + s.snapshot, () => act(async () => {
          health.replaceChildren(el("p", { class: "muted", text: "Challenging every holder…" }));
          const st = await api("GET", "/backup/" + encodeURIComponent(s.snapshot));
          health.replaceChildren(
            el("h3", { text: "Health of " + st.snapshot }),
            el("p", { text: "Manifest: " + st.manifest_healthy + " shares alive; " + plural(st.repairs, "share") + " repaired in all" }),
            el("ul", {}, ...st.files.map(f => el("li", { text: f.path + ": " + f.healthy + "/" + f.n + " shares alive (" + plural(f.chunks, "chunk") + ")" }))));
        })),
        button("Copy capability", "Copy the capability of snapshot " + s.snapshot, () => { copyText(s.cap); toast("Capability copied: keep it secret"); }),
        button("Forget", "Forget snapshot " + s.snapshot, () => act(async () => {
          if (!confirm("Forget snapshot " + s.snapshot + " and delete its shares?")) return;
          await api("DELETE", "/backup/" + encodeURIComponent(s.snapshot));
          refresh();
        }))))));
    const st = await api("GET", "/storage");
    bind(root, "stsummary", st.offered ?
      "Offering " + bytes(st.offered) + ", " + bytes(st.used) + " used in " + plural(st.shares, "share") +
      ", " + (st.price_per_gib_month === "0" ? "free" : st.price_per_gib_month + " credits per GiB-month") + ", earned " + st.earned + " credits." :
      "Offering no storage to other peers.");
    bind(root, "stclients", st.clients.map(c => el("tr", {},
      el("td", {}, peerEl(c.peer)),
      el("td", { text: String(c.shares) }),
      el("td", { text: bytes(c.bytes) }),
      el("td", { text: String(c.paid) }))));
  },
});
