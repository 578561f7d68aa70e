// Compute: the local worker, job submission, jobs and their results, live
// from the "compute.changed" events (polled only while the event stream is
// down).
import { page, api, bind, el, plural, toast, refresh, table } from "../core.js";

let selectedJob = null;

page({
  name: "compute", title: "Compute", order: 50, events: ["compute"], poll: 2000, live: true,
  html: `
  <h1>Compute</h1>
  <section>
    <h2>Your worker</h2>
    <form id="worker-form" class="row">
      <label class="check"><input type="checkbox" name="enabled" id="worker-enabled"> Lend my CPU</label>
      <label for="worker-cpus">CPU cap (units at once)</label>
      <input id="worker-cpus" name="cpus" type="number" min="1" max="64" value="1">
      <label class="check"><input type="checkbox" name="idle" id="worker-idle"> Only when idle</label>
      <button type="submit">Apply</button>
    </form>
    <p class="muted" data-bind="workerstatus"></p>
  </section>
  <section>
    <h2>Submit a job</h2>
    <form id="job-form" class="row">
      <label for="job-module">WebAssembly module (.wasm)</label>
      <input id="job-module" name="module" type="file" accept=".wasm" required>
      <label for="job-count">Units</label>
      <input id="job-count" name="count" type="number" min="1" max="100000" value="16" required>
      <label for="job-reward">Reward per unit (credits)</label>
      <input id="job-reward" name="reward" inputmode="decimal" value="0">
      <button type="submit">Submit</button>
    </form>
  </section>
  <section>
    <h2>Jobs</h2>
    ${table("jobrows", ["Job", "State", "Progress", "Workers", "[Actions]"])}
  </section>
  <section id="job-results" hidden>
    <h2>Results of <span data-bind="resultjob"></span></h2>
    <div id="result-images" class="tiles" aria-live="polite"></div>
    <pre id="result-text"></pre>
  </section>`,

  init(root) {
    const wf = root.querySelector("#worker-form");
    wf.addEventListener("input", () => { wf.dataset.touched = "1"; });
    wf.addEventListener("submit", async ev => {
      ev.preventDefault();
      try {
        await api("POST", "/worker", { enabled: wf.enabled.checked, cpus: Number(wf.cpus.value) || 1, idle_only: wf.idle.checked, max_memory: 0 });
        delete wf.dataset.touched;
        toast(wf.enabled.checked ? "Worker on" : "Worker off");
        refresh();
      } catch (e) { toast(e.message); }
    });
    const jf = root.querySelector("#job-form");
    jf.addEventListener("submit", async ev => {
      ev.preventDefault();
      const file = jf.module.files[0];
      if (!file) return;
      try {
        const module = toBase64(await file.arrayBuffer());
        const r = await api("POST", "/jobs", { module, count: Number(jf.count.value), reward: jf.reward.value || "0" });
        selectedJob = r.id;
        toast("Job " + r.id + " submitted");
        refresh();
      } catch (e) { toast(e.message); }
    });
  },

  async refresh(root) {
    const [w, jobs] = await Promise.all([api("GET", "/worker"), api("GET", "/jobs")]);
    const form = root.querySelector("#worker-form");
    if (form && !form.dataset.touched) {
      form.enabled.checked = w.enabled;
      form.cpus.value = Math.max(1, w.cpus);
      form.idle.checked = w.idle_only;
    }
    const done = `${plural(w.completed, "unit")} done for others` + (w.failed ? `, ${w.failed} failed` : "");
    bind(root, "workerstatus", w.enabled
      ? (w.paused ? "On, paused while this machine is busy" : "On") + ` · up to ${plural(w.cpus, "unit")} at once · ${w.running} running now · ${done}`
      : "Off: this machine runs no one else's jobs · " + done);
    bind(root, "jobrows", jobs.map(j => {
      const pct = j.units ? Math.floor(100 * j.validated / j.units) : 0;
      const actions = el("td", {});
      actions.append(el("button", { class: "plain", type: "button", "aria-label": "Results of job " + j.id, onclick: () => { selectedJob = j.id; refresh(); } }, "Results"));
      if (j.state === "queued" || j.state === "running") actions.append(el("button", { class: "plain", type: "button", "aria-label": "Cancel job " + j.id, onclick: async () => {
        try { await api("POST", `/jobs/${j.id}/cancel`); refresh(); } catch (e) { toast(e.message); }
      } }, "Cancel"));
      return el("tr", {},
        el("td", { class: "id", text: j.id }),
        el("td", { text: j.state + (j.reasons && j.reasons.length ? ": " + j.reasons[0] : "") }),
        el("td", {}, el("progress", { max: "100", value: String(pct), "aria-label": pct + "% validated" }), ` ${j.validated}/${j.units}`),
        el("td", { text: j.workers.length }),
        actions);
    }));
    if (selectedJob) await showResults(root, selectedJob);
  },
});

async function showResults(root, id) {
  const sec = root.querySelector("#job-results");
  if (!sec) return;
  const res = await api("GET", `/jobs/${id}/results`);
  if (id !== selectedJob) return; // another job was chosen meanwhile
  sec.hidden = false;
  bind(root, "resultjob", id);
  const imgs = root.querySelector("#result-images");
  const text = root.querySelector("#result-text");
  // The tiles shown are this job's only: another job's go first.
  if (imgs.dataset.job !== id) {
    imgs.replaceChildren();
    imgs.dataset.job = id;
  }
  const idx = Object.keys(res.outputs).map(Number).sort((a, b) => a - b);
  // PNG tiles (the Mandelbrot example) fill in as they arrive; other
  // outputs show as text.
  const lines = [];
  for (const i of idx) {
    const b64 = res.outputs[i];
    if (b64.startsWith("iVBORw0KGgo")) {
      let img = imgs.querySelector(`img[data-unit="${i}"]`);
      if (!img) {
        img = el("img", { "data-unit": String(i), alt: "tile " + i, src: "data:image/png;base64," + b64 });
        const next = [...imgs.children].find(c => Number(c.dataset.unit) > i);
        imgs.insertBefore(img, next || null);
      }
    } else {
      lines.push(i + ": " + atob(b64).slice(0, 200).trim());
    }
  }
  text.textContent = lines.join("\n");
  text.hidden = !lines.length;
}

function toBase64(buf) {
  const bytes = new Uint8Array(buf);
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
