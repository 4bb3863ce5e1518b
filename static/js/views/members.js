// The member list with presence, grouped online/offline.

import { avatar } from "../avatar.js";
import { h } from "../dom.js";

export class MemberList {
  constructor(ui) {
    this.ui = ui;
    this.el = h("div", { class: "member-list" });
    const s = ui.store;
    for (const ev of ["members", "presence", "active"]) s.on(ev, ({ room } = {}) => (!room || room === s.activeId) && this.render());
  }

  render() {
    const room = this.ui.store.active;
    if (!room) return;
    if (!room.membersLoaded) {
      this.el.replaceChildren(h("p", { class: "muted panel-note", text: "Loading members…" }));
      return;
    }
    const members = [...room.members.values()];
    const online = members.filter((m) => room.online.has(m.id));
    const offline = members.filter((m) => !room.online.has(m.id));
    const byName = (a, b) => a.username.localeCompare(b.username);
    const group = (title, list, state) =>
      list.length
        ? h(
            "section",
            { class: "member-group" },
            h("h3", { class: "member-group-title", text: `${title} — ${list.length}` }),
            h(
              "ul",
              { class: "members", "aria-label": title },
              list.sort(byName).map((m) =>
                h(
                  "li",
                  { class: `member ${state}`, dataset: { username: m.username } },
                  h(
                    "button",
                    {
                      type: "button",
                      class: "member-btn",
                      "aria-label": `${m.username}, ${state}${m.role === "owner" ? ", owner" : ""}`,
                      onclick: (e) => this.ui.showUser(e.currentTarget, m),
                    },
                    avatar(m.username, { size: "sm", presence: state }),
                    h("span", { class: "member-name", text: m.username }),
                    m.role === "owner" ? h("span", { class: "role muted", text: "owner" }) : null,
                  ),
                ),
              ),
            ),
          )
        : null;
    this.el.replaceChildren(...[group("Online", online, "online"), group("Offline", offline, "offline")].filter(Boolean));
  }
}
