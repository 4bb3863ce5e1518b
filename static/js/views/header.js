// The room header: name, topic, member count, call button, search; and the connection bar.

import { h, icon, iconButton } from "../dom.js";

export class RoomHeader {
  constructor(ui) {
    this.ui = ui;
    this.title = h("h1", { class: "room-title" });
    this.topic = h("p", { class: "room-topic muted" });
    this.membersButton = h(
      "button",
      { type: "button", class: "header-btn", "aria-controls": "side-panel", onclick: () => ui.chat.setPanel("members") },
      icon("users", 20),
      h("span", { class: "member-count" }),
    );
    this.inviteButton = iconButton("plus", "Invite people", () => ui.dialogs.invite(ui.store.activeId));
    this.leaveButton = iconButton("logout", "Leave room", async () => {
      const room = ui.store.active;
      if (room && (await ui.dialogs.confirm("Leave room", `Leave #${room.name}? You can join a public room again at any time.`, "Leave room"))) {
        ui.chat.leaveRoom(room.id);
      }
    });
    this.searchInput = h("input", { type: "search", class: "search-input", "aria-label": "Search messages", placeholder: "Search", enterkeyhint: "search" });
    const search = h(
      "form",
      {
        class: "search-form",
        role: "search",
        onsubmit: (e) => {
          e.preventDefault();
          const q = this.searchInput.value.trim();
          if (q) ui.chat.search(q);
        },
      },
      icon("search", 16),
      this.searchInput,
    );
    this.el = h(
      "header",
      { class: "room-header" },
      iconButton("menu", "Open rooms", () => ui.openNav(), { class: "icon-btn nav-toggle", "aria-controls": "sidebar" }),
      h("div", { class: "room-heading" }, this.title, this.topic),
      h("div", { class: "header-tools" }, this.inviteButton, this.leaveButton, ...ui.calls.headerButtons, this.membersButton, search),
    );
    this.banner = h("div", { class: "conn-banner", role: "status", "aria-live": "polite", hidden: true });
    const s = ui.store;
    for (const ev of ["active", "members", "rooms", "panel"]) s.on(ev, () => this.render());
    s.on("connection", (state) => this.renderConnection(state));
  }

  render() {
    const room = this.ui.store.active;
    if (!room) return;
    const label = this.ui.chat.roomLabel(room);
    this.title.replaceChildren(icon(room.isDm ? "at" : room.private ? "lock" : "hash", 22), h("span", { text: label }));
    this.topic.textContent = room.topic || "";
    this.topic.hidden = !room.topic;
    const count = room.membersLoaded ? room.members.size : null;
    const countText = count === null ? "" : String(count);
    this.membersButton.querySelector(".member-count").textContent = countText;
    const name = count === null ? "Members" : `${count} member${count === 1 ? "" : "s"}`;
    this.membersButton.setAttribute("aria-label", `${name}: show member list`);
    this.membersButton.title = name;
    this.membersButton.setAttribute("aria-pressed", this.ui.store.panel === "members" ? "true" : "false");
    this.inviteButton.hidden = !room.private || room.isDm;
    this.leaveButton.hidden = room.isDm || room.id === "general";
    this.ui.calls.renderHeader(room);
  }

  renderConnection({ state, retryAt }) {
    const b = this.banner;
    clearInterval(this._tick);
    if (state === "open" || state === "closed") {
      const wasDown = ["reconnecting", "offline"].includes(this._lastState);
      this._lastState = state;
      if (wasDown && state === "open") {
        b.textContent = "Connected.";
        b.className = "conn-banner ok";
        setTimeout(() => {
          if (this.ui.store.connection.state === "open") b.hidden = true;
        }, 1500);
      } else b.hidden = true;
      return;
    }
    this._lastState = state;
    b.hidden = false;
    b.className = `conn-banner ${state}`;
    const text = () => {
      if (state === "offline") return "You're offline. Reconnecting when the network is back...";
      if (state === "connecting") return "Connecting...";
      const secs = retryAt ? Math.max(0, Math.ceil((retryAt - Date.now()) / 1000)) : 0;
      return secs > 1 ? `Reconnecting in ${secs} s...` : "Reconnecting...";
    };
    b.replaceChildren(h("span", { text: text() }));
    if (state === "reconnecting") {
      b.append(h("button", { type: "button", class: "linklike", text: "Retry now", onclick: () => this.ui.socket.reconnectNow() }));
      this._tick = setInterval(() => {
        const span = b.querySelector("span");
        if (span) span.textContent = text();
      }, 1000);
    }
  }
}
