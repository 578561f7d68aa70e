// Downloads: the background downloads and their controls.
import { page, api, API, bind, bytes, el, toast, refresh, table } from "../core.js";

page({
  name: "downloads", title: "Downloads", order: 40, poll: 2000,
  html: `
  <h1>Downloads</h1>
  <form id="get-form" class="row">
    <label for="get-cid">Content id</label>
    <input id="get-cid" name="cid" required placeholder="bag…" autocomplete="off">
    <label for="get-name">Save as</label>
    <input id="get-name" name="name" placeholder="(optional name)" autocomplete="off">
    <button type="submit">Download</button>
  </form>
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
  },

  async refresh(root) {
    const dls = await api("GET", "/downloads");
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
      return el("tr", {},
        el("td", { title: d.cid, text: d.output }),
        el("td", {}, el("progress", { max: "100", value: String(pct), "aria-label": pct + "%" }), " " + pct + "%"),
        el("td", { text: d.state === "running" ? bytes(d.rate) + "/s" : "" }),
        el("td", { text: d.state === "running" ? d.sources : "" }),
        el("td", { text: d.state + (d.error ? ": " + d.error : "") }),
        actions);
    }));
  },
});
