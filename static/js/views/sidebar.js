// The rooms and DMs list with unread and mention badges, and the user panel.

import { avatar } from "../avatar.js";
import { callIcon } from "../call/icons.js";
import { h, icon, iconButton } from "../dom.js";

export class Sidebar {
  constructor(ui) {
    this.ui = ui;
    this.rooms = h("ul", { class: "room-list", "aria-label": "Rooms" });
    this.dms = h("ul", { class: "room-list", "aria-label": "Direct messages" });
    this.userPanel = h("div", { class: "user-panel" });
    this.el = h(
      "nav",
      { class: "sidebar", id: "sidebar", "aria-label": "Rooms and direct messages" },
      h("div", { class: "sidebar-header" }, h("span", { class: "brand-mark", "aria-hidden": "true", text: "c" }), h("span", { class: "brand-name", text: "chatd" })),
      h(
        "div",
        { class: "sidebar-scroll" },
        h(
          "section",
          { class: "room-section" },
          h("div", { class: "section-title" }, h("h2", { text: "Rooms" }), iconButton("plus", "Create or join a room", () => ui.dialogs.rooms())),
          this.rooms,
        ),
        h(
          "section",
          { class: "room-section" },
          h("div", { class: "section-title" }, h("h2", { text: "Direct messages" }), iconButton("plus", "New direct message", () => ui.dialogs.newDm())),
          this.dms,
        ),
      ),
      this.userPanel,
    );
    const s = ui.store;
    for (const ev of ["rooms", "active", "members", "presence", "calls"]) s.on(ev, () => this.render());
    s.on("connection", () => this.renderUser());
    s.on("rooms", () => this.renderUser());
    ui.onThemeChange = () => this.renderUser();
  }

  item(room) {
    const active = room.id === this.ui.store.activeId;
    const label = this.ui.chat.roomLabel(room);
    const parts = [label];
    if (room.unread) parts.push(`${room.unread} unread`);
    else if (room.hasUnread) parts.push("unread");
    if (room.mentions) parts.push(`${room.mentions} mention${room.mentions === 1 ? "" : "s"}`);
    let lead;
    if (room.isDm) {
      const me = this.ui.store.me && this.ui.store.me.id;
      const people = room.membersLoaded ? [...room.members.values()] : room.dmMembers || [];
      const other = people.find((m) => m.id !== me);
      const online = other ? room.online.has(other.id) : false;
      lead = avatar(other ? other.username : label, { size: "sm", presence: online ? "online" : "offline" });
    } else lead = room.voice ? callIcon("speaker", 18) : icon(room.private ? "lock" : "hash", 18);
    return h(
      "li",
      {},
      h(
        "a",
        {
          href: `#/room/${encodeURIComponent(room.id)}`,
          class: `room-link${active ? " active" : ""}${room.hasUnread || room.unread ? " unread" : ""}`,
          "aria-current": active ? "page" : null,
          "aria-label": parts.join(", "),
          dataset: { room: room.id },
          onclick: (e) => {
            e.preventDefault();
            this.ui.closeDrawers();
            this.ui.chat.openRoom(room.id);
          },
        },
        lead,
        h("span", { class: "room-name", text: label }),
        room.mentions ? h("span", { class: "badge badge-mention", "aria-hidden": "true", text: String(room.mentions) }) : null,
        room.unread && !room.mentions ? h("span", { class: "badge", "aria-hidden": "true", text: room.unread > 99 ? "99+" : String(room.unread) }) : null,
      ),
      this.ui.calls.sidebarExtras(room),
    );
  }

  render() {
    const all = [...this.ui.store.rooms.values()].filter((r) => r.member);
    const byName = (a, b) => this.ui.chat.roomLabel(a).localeCompare(this.ui.chat.roomLabel(b));
    this.rooms.replaceChildren(...all.filter((r) => !r.isDm).sort(byName).map((r) => this.item(r)));
    const dms = all.filter((r) => r.isDm).sort(byName);
    this.dms.replaceChildren(...(dms.length ? dms.map((r) => this.item(r)) : [h("li", { class: "empty muted", text: "No conversations yet." })]));
    this.ui.updateTitle();
  }

  renderUser() {
    const me = this.ui.store.me;
    if (!me) return;
    const conn = this.ui.store.connection.state;
    const status = conn === "open" ? "Online" : conn === "offline" ? "Offline" : "Reconnecting...";
    const theme = document.documentElement.dataset.theme;
    this.userPanel.replaceChildren(
      avatar(me.username, { size: "sm", presence: conn === "open" ? "online" : "offline" }),
      h("div", { class: "user-meta" }, h("span", { class: "user-name", text: me.username }), h("span", { class: "user-status muted", text: status })),
      this.ui.notifier.button(),
      iconButton(theme === "dark" ? "sun" : "moon", theme === "dark" ? "Switch to light theme" : "Switch to dark theme", () => this.ui.toggleTheme()),
      iconButton("logout", "Log out", () => this.ui.logout()),
    );
  }
}
