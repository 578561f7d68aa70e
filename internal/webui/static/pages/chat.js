// Chat: end-to-end encrypted conversations and groups (internal/msg).
import { page, api, bind, el, peerEl, peerName, timeEl, table, act, refresh, toast } from "../core.js";

// partyName is how a conversation is named: group:NAME, or the peer's name
// (contact name, else its own name marked unverified, else a short id).
function partyName(k) {
  return k.startsWith("group:") ? k : peerName(k);
}

// The conversation a message belongs to: the other peer, or group:NAME.
function partyOf(m) {
  if (m.to.startsWith("group:")) return m.to;
  return m.out ? m.to : m.from;
}

let selected = "";

page({
  name: "chat",
  title: "Chat",
  order: 65,
  events: ["chat"],
  html: `
    <h1>Chat <span class="badge" data-bind="unread-total"></span></h1>
    <div class="chat-layout">
      <section aria-label="Conversations">
        <h2>Conversations</h2>
        ${table("convs", ["With", "Unread", "Last"])}
        <h2>Requests <span class="badge" data-bind="requests-total"></span></h2>
        <p class="hint">Messages from people who are not your contacts and whom you never wrote to. Answer or add them as a contact to move them to your conversations.</p>
        ${table("requests", ["From", "Messages", "Last", ""])}
        <form id="chat-new" class="row">
          <label for="chat-to">New conversation (name, peer ID or group:NAME)</label>
          <input id="chat-to" name="to" required autocomplete="off">
          <button type="submit">Open</button>
        </form>
        <form id="chat-group" class="row">
          <label for="group-name">New group</label>
          <input id="group-name" name="name" required autocomplete="off" placeholder="name">
          <label for="group-members">Members</label>
          <input id="group-members" name="members" required autocomplete="off" placeholder="A,B,C">
          <button type="submit">Create</button>
        </form>
      </section>
      <section aria-label="Messages">
        <h2 data-bind="title">Pick a conversation</h2>
        ${table("msgs", ["From", "When", "Message", "State"])}
        <form id="chat-form" class="row">
          <label for="chat-text">Message</label>
          <input id="chat-text" name="text" required autocomplete="off" maxlength="16384">
          <button type="submit">Send</button>
        </form>
      </section>
    </div>`,
  init(root) {
    root.querySelector("#chat-form").addEventListener("submit", ev => {
      ev.preventDefault();
      if (!selected) { toast("Pick a conversation first"); return; }
      const input = ev.target.text;
      act(async () => {
        const r = await api("POST", "/msg", { to: selected, text: input.value });
        input.value = "";
        toast("Message " + r.state);
        refresh();
      });
    });
    root.querySelector("#chat-new").addEventListener("submit", ev => {
      ev.preventDefault();
      selected = ev.target.to.value.trim();
      ev.target.to.value = "";
      refresh();
    });
    root.querySelector("#chat-group").addEventListener("submit", ev => {
      ev.preventDefault();
      const f = ev.target;
      act(async () => {
        const g = await api("POST", "/groups", {
          name: f.name.value.trim(),
          members: f.members.value.split(",").map(s => s.trim()).filter(Boolean),
        });
        selected = "group:" + g.name;
        f.name.value = f.members.value = "";
        refresh();
      });
    });
  },
  async refresh(root) {
    // Each folder is asked for on its own: the daemon keeps the newest
    // 1000 of what is asked, so requests are never crowded out by a busy
    // inbox.
    const [inbox, requests, groups] = await Promise.all([
      api("GET", "/msg?folder=inbox"), api("GET", "/msg?folder=requests"), api("GET", "/groups")]);
    const msgs = [...(inbox || []), ...(requests || [])].sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
    const convs = new Map();
    for (const g of groups || []) convs.set("group:" + g.name, { unread: 0, last: null });
    for (const m of msgs || []) {
      const k = partyOf(m);
      const c = convs.get(k) || { unread: 0, last: null, count: 0, request: true };
      if (!m.out && m.state !== "read") c.unread++;
      // A conversation is a request while every message in it is one.
      if (m.out || m.folder !== "requests") c.request = false;
      c.count++;
      c.last = m;
      convs.set(k, c);
    }
    let total = 0;
    const rows = [];
    const reqRows = [];
    const byTime = [...convs].sort((a, b) => (b[1].last?.time || "").localeCompare(a[1].last?.time || ""));
    for (const [k, c] of byTime) {
      if (!c.request || !c.last) continue;
      reqRows.push(el("tr", { class: k === selected ? "selected" : null },
        el("td", {}, el("button", { type: "button", class: "link", title: k, "aria-label": "Open request", onclick: () => { selected = k; refresh(); } }, partyName(k))),
        el("td", { text: String(c.count) }),
        el("td", { text: c.last.text.slice(0, 60) }),
        el("td", {}, el("button", { type: "button", "aria-label": "Block this sender", onclick: () => act(async () => {
          await api("POST", "/blocked", { id: k });
          if (selected === k) selected = "";
          toast("Blocked: its messages are refused from now on");
          refresh();
        }) }, "Block"))));
    }
    bind(root, "requests", reqRows);
    bind(root, "requests-total", reqRows.length ? String(reqRows.length) : "");
    for (const [k, c] of byTime) {
      if (c.request && c.last) continue;
      total += c.unread;
      rows.push(el("tr", { class: k === selected ? "selected" : null },
        el("td", {}, el("button", { type: "button", class: "link", title: k, "aria-label": "Open conversation", onclick: () => { selected = k; refresh(); } }, partyName(k))),
        el("td", { text: c.unread ? String(c.unread) : "" }),
        el("td", { text: c.last ? c.last.text.slice(0, 60) : "" })));
    }
    bind(root, "convs", rows);
    bind(root, "unread-total", total ? String(total) : "");
    bind(root, "title", selected ? "With " + partyName(selected) : "Pick a conversation");
    const mine = (msgs || []).filter(m => partyOf(m) === selected);
    bind(root, "msgs", mine.map(m => el("tr", {},
      el("td", {}, m.out ? el("span", { text: "me" }) : peerEl(m.from)),
      el("td", {}, timeEl(m.time)),
      el("td", { text: m.text }),
      el("td", { text: m.out ? m.state : (m.folder === "requests" ? "request" : "") }))));
    // A request is not marked read (that would tell a stranger) until answered.
    if (selected && !convs.get(selected)?.request && mine.some(m => !m.out && m.state !== "read")) {
      await api("POST", "/msg/read", { with: selected });
    }
  },
});
