// Neighbours: the peers on the LAN and the contacts, by name, with a Send
// button and drag and drop onto a row to offer them files. This module
// also plugs names into every page (setNameSource): a contact's name, else
// the peer's own name marked unverified, else its short id, from
// GET /labels, fetched in batches as pages ask. Offers waiting for your
// answer (a stranger's files, under the contacts policy) show at the top
// with Accept and Decline, live through the receive.* events, and as a
// count on the Neighbours link in the header.
import { page, api, API, apiError, bind, el, table, act, toast, refresh, setNameSource, shortID, peerEl, on, bytes, button } from "../core.js";

const labels = new Map(); // id -> label text
const wanted = new Set();
let fetching = null;

function fetchLabels() {
  if (fetching) return;
  fetching = setTimeout(async () => {
    const ids = [...wanted].slice(0, 500);
    ids.forEach(id => wanted.delete(id));
    try {
      const q = ids.map(id => "id=" + encodeURIComponent(id)).join("&");
      const got = await api("GET", "/labels?" + q);
      for (const l of got) labels.set(l.id, l.kind === "id" ? "" : l.text);
      renameInPlace(got);
    } catch (e) { /* names stay short ids */ }
    fetching = null;
    if (wanted.size) fetchLabels();
  }, 50);
}

// renameInPlace shows the names just learnt on the peers the page shows
// (peerEl's buttons), without reloading the page's data.
function renameInPlace(got) {
  for (const l of got) {
    if (l.kind === "id") continue;
    for (const b of document.querySelectorAll(`button.peer[data-peer="${CSS.escape(l.id)}"]`)) {
      if (b.textContent !== shortID(l.id)) continue; // "you", or named already
      b.textContent = l.text;
      b.setAttribute("aria-label", l.text + ", copy peer id");
    }
  }
}

setNameSource(id => {
  if (labels.has(id)) return labels.get(id);
  wanted.add(id);
  fetchLabels();
  return "";
});

// ---- offers waiting for an answer ----------------------------------------

let pendingCount = 0;

function showBadge() {
  const a = document.querySelector('nav a[href="#/neighbours"]');
  if (!a) return;
  let b = a.querySelector(".badge");
  if (!pendingCount) { if (b) b.remove(); return; }
  if (!b) { b = el("span", { class: "badge", "data-pending-badge": "" }); a.append(b); }
  b.textContent = String(pendingCount);
  b.setAttribute("aria-label", pendingCount + " offers waiting for your answer");
}

async function countPending() {
  try { pendingCount = (await api("GET", "/receive/pending")).length; } catch (e) { return; }
  showBadge();
}

on("receive", ev => {
  if (ev.type === "receive.pending" && ev.data) {
    const from = ev.data.from;
    toast("Files offered by " + (peerNameOf(from)) + ": " + (ev.data.files || []).join(", ") + " (Neighbours: Accept or Decline)");
  }
  countPending();
});
window.addEventListener("DOMContentLoaded", () => countPending());

function peerNameOf(id) {
  const l = labels.get(id);
  return l || shortID(id);
}

function pendingRow(p) {
  const who = p.from_label || shortID(p.from);
  const size = p.files.reduce((n, f) => n + f.size, 0);
  const answer = verb => act(async () => {
    await api("POST", "/receive/pending/" + encodeURIComponent(p.id) + "/" + verb);
    toast((verb === "accept" ? "Accepted " : "Declined ") + p.files.map(f => f.name).join(", ") + " from " + who);
    countPending();
    refresh();
  });
  return el("tr", { "data-pending": p.id },
    el("td", { text: who }),
    el("td", { text: p.files.map(f => f.name).join(", ") }),
    el("td", { class: "num", text: bytes(size) }),
    el("td", { text: new Date(p.expires).toLocaleTimeString() }),
    el("td", {},
      el("button", { type: "button", "aria-label": "Accept the files from " + who, onclick: () => answer("accept") }, "Accept"), " ",
      button("Decline", "Decline the files from " + who, () => answer("decline"))));
}

// upload sends one dropped or chosen file to a peer (a name or an id).
async function upload(to, file) {
  const resp = await fetch(API + "/send/upload?to=" + encodeURIComponent(to) + "&name=" + encodeURIComponent(file.name), {
    method: "POST", credentials: "same-origin", headers: { "X-Peerpath-CSRF": "1" }, body: file,
  });
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!resp.ok) throw apiError(resp, data);
  return data;
}

async function sendFiles(to, label, files) {
  for (const f of files) {
    const res = await upload(to, f);
    if (res.state === "refused") toast(label + " refused " + f.name + ": " + res.reason);
    else if (res.state === "queued") toast(label + " is offline: " + f.name + " goes when it comes online");
    else if (res.state === "pending") toast(f.name + " waits for " + label + " to accept it");
    else toast(label + " accepted " + f.name);
  }
  refresh();
}

// sendRow is a table row that takes dropped files, with a Send button.
function sendRow(to, label, cells) {
  const input = el("input", { type: "file", multiple: "", hidden: "", "aria-label": "Files to send to " + label });
  input.addEventListener("change", () => act(() => sendFiles(to, label, [...input.files])));
  const send = el("button", { type: "button", "aria-label": "Send files to " + label, "data-send": to, onclick: () => input.click() }, "Send…");
  const tr = el("tr", { class: "droprow", "data-peer-row": to }, ...cells, el("td", {}, send, input));
  tr.addEventListener("dragover", ev => { ev.preventDefault(); tr.classList.add("dropping"); });
  tr.addEventListener("dragleave", () => tr.classList.remove("dropping"));
  tr.addEventListener("drop", ev => {
    ev.preventDefault();
    tr.classList.remove("dropping");
    const files = [...(ev.dataTransfer ? ev.dataTransfer.files : [])];
    if (files.length) act(() => sendFiles(to, label, files));
  });
  return tr;
}

page({
  name: "neighbours",
  title: "Neighbours",
  order: 35,
  poll: 3000,
  events: ["receive"],
  html: `
    <h1>Neighbours</h1>
    <section data-bind="pendingbox" hidden>
      <h2>Waiting for your answer</h2>
      <p class="muted">Someone who is not your contact offers you files. Accepted files download into your downloads folder, verified.</p>
      ${table("pendingrows", ["From", "Files", "Size", "Expires", "[Actions]"])}
    </section>
    <p class="muted">Drop files on a row, or press Send, to offer them. A peer's own name is only a suggestion (unverified); your contacts' names are yours.</p>
    <p data-bind="policy"></p>
    <h2>On this network</h2>
    ${table("nbrows", ["Name", "Device", "Contact", "Peer", "[Actions]"])}
    <h2>Contacts</h2>
    ${table("contactrows", ["Name", "Status", "Their own name (unverified)", "Peer", "[Actions]"])}
    <h2>Sent</h2>
    ${table("sentrows", ["To", "Files", "State"])}`,
  async refresh(root) {
    const [ns, cs, sends, pol, pend] = await Promise.all([
      api("GET", "/neighbours"), api("GET", "/contacts"), api("GET", "/sends"), api("GET", "/receive/policy"), api("GET", "/receive/pending")]);
    pendingCount = pend.length;
    showBadge();
    root.querySelector('[data-bind="pendingbox"]').hidden = !pend.length;
    bind(root, "pendingrows", pend.map(pendingRow));
    const polText = { contacts: "You accept files from your contacts; others' offers wait here for your answer.", nobody: "You accept no files.", everyone: "You accept files from everyone for now." };
    bind(root, "policy", polText[pol.policy] || "");
    bind(root, "nbrows", ns.length ? ns.map(n => {
      const label = n.contact_name || n.name || shortID(n.id);
      return sendRow(n.id, label, [
        el("td", {}, n.name ? n.name + " (unverified)" : el("span", { class: "muted" }, "no name")),
        el("td", { text: n.device || "" }),
        el("td", { text: n.contact ? n.contact_name : "" }),
        el("td", {}, peerEl(n.id)),
      ]);
    }) : [el("tr", {}, el("td", { colspan: "5", class: "muted" }, "No neighbours found on the LAN."))]);
    bind(root, "contactrows", cs.length ? cs.map(c => sendRow(c.id, c.name, [
      el("td", { text: c.name }),
      el("td", { text: c.online ? "online" : "offline" }),
      el("td", { text: c.suggested_name || "" }),
      el("td", {}, peerEl(c.id)),
    ])) : [el("tr", {}, el("td", { colspan: "5", class: "muted" }, "No contacts yet: peerpath contacts add PEERID --name NAME."))]);
    bind(root, "sentrows", sends.slice(0, 20).map(s => el("tr", {},
      el("td", { text: s.to_label }),
      el("td", { text: s.files.map(f => f.name).join(", ") }),
      el("td", { text: (s.state === "pending" ? "waiting for their answer" : s.state) + (s.reason ? ": " + s.reason : "") }))));
  },
});
