// Downloads: the background downloads and their controls, live from the
// "download.changed" events (which carry every download); polled only
// while the event stream is down.
import { page, api, API, bind, bytes, rate, el, toast, refresh, table, on } from "../core.js";

page({
  name: "downloads", title: "Downloads", order: 40, poll: 2000, live: true,
  html: `
  <h1>Downloads</h1>
  <form id="get-form" class="row">
    <label for="get-cid">Content id</label>
    <input id="get-cid" name="cid" required placeholder="bag…" autocomplete="off">
    <label for="get-name">Save as</label>
    <input id="get-name" name="name" placeholder="(optional: else its name from a search)" autocomplete="off">
    <button type="submit">Download</button>
  </form>
  <p class="muted" data-bind="dldir"></p>
  ${table("dlrows", ["File", "Progress", "Speed", "Sources", "State", "[Actions]"])}`,

  init(root) {
    const get = root.querySelector("#get-form");
    get.addEventListener("submit", async ev => {
      ev.preventDefault();
      try {
        await api("POST", "/downloads", { cid: get.cid.value.trim(), name: get.name.value.trim() });
        get.reset();
        refresh();
      } catch (e) { toast(e.message); }
    });
    // Each event carries every download: draw it as it comes.
    return on("download", ev => {
      if (ev.type === "lost" || !Array.isArray(ev.data)) refresh();
      else showDownloads(root, ev.data);
    });
  },

  async refresh(root) {
    const [dls, st] = await Promise.all([api("GET", "/downloads"), api("GET", "/status")]);
    bind(root, "dldir", st.downloads_dir ? "Downloads are saved in " + st.downloads_dir : "");
    showDownloads(root, dls);
  },
});

function showDownloads(root, dls) {
  bind(root, "dlrows", dls.map(d => {
    const pct = d.total ? Math.floor(100 * d.done / d.total) : 0;
    const actions = el("td", {});
    const name = d.output.split("/").pop();
    const act = (a, label) => actions.append(el("button", { class: "plain", type: "button", "aria-label": label + " " + name, onclick: async () => {
      try { await api("POST", `/downloads/${d.id}/${a}`); refresh(); } catch (e) { toast(e.message); }
    } }, label));
    if (d.state === "running") act("pause", "Pause");
    if (d.state === "paused" || d.state === "failed") act("resume", "Resume");
    if (d.state !== "done") act("cancel", "Cancel");
    if (d.state === "done" && !d.dir) {
      actions.append(el("a", { href: `${API}/downloads/${d.id}/file`, target: "_blank", rel: "noopener", "aria-label": "Open " + name }, "Open"));
    }
    // A running download with no peer sending yet is looking for them
    // (a resumed one too: its progress is what it already has).
    const finding = d.state === "running" && !d.sources;
    // The file's name; the full path (and the content id) on hover.
    return el("tr", { "data-download": d.id, "data-state": d.state },
      el("td", { class: "name", title: d.output + "\n" + d.cid, text: name }),
      el("td", { class: "progress" }, el("progress", { max: "100", value: String(pct), "aria-label": pct + "%" }), " " + pct + "%",
        d.total ? el("span", { class: "muted" }, " of " + bytes(d.total)) : null),
      el("td", { class: "num rate", text: d.state !== "running" ? "" : finding ? "finding peers…" : rate(d.rate) }),
      el("td", { class: "num sources", text: d.state !== "running" ? "" : finding ? "–" : String(d.sources) }),
      el("td", { text: d.state + (d.error ? ": " + d.error : "") }),
      actions);
  }));
}
