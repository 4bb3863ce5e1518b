// Search results in the side panel; choosing one jumps to the message in its room.

import { avatar } from "../avatar.js";
import { h } from "../dom.js";
import { plainText } from "../markdown.js";
import { timeElement } from "../time.js";

export class SearchView {
  constructor(ui) {
    this.ui = ui;
    this.el = h("div", { class: "search-view" });
    ui.store.on("search", () => this.render());
    ui.store.on("panel", () => ui.store.panel === "search" && this.render());
  }

  render() {
    const { query, results, error, loading } = this.ui.store.search;
    const head = h("p", { class: "muted panel-note", role: "status" });
    if (loading) head.textContent = `Searching for “${query}”…`;
    else if (error) head.textContent = error;
    else if (results) head.textContent = `${results.length} result${results.length === 1 ? "" : "s"} for “${query}”`;
    const items = (results || []).map((msg) => {
      const room = this.ui.store.room(msg.room);
      const where = room ? (room.isDm ? this.ui.chat.roomLabel(room) : `#${room.name}`) : msg.room;
      return h(
        "li",
        {},
        h(
          "button",
          {
            type: "button",
            class: "search-result",
            onclick: () => {
              this.ui.closeDrawers();
              this.ui.chat.openRoom(msg.room).then(() => this.ui.chat.jumpTo(msg.room, msg.threadId || msg.id, msg.seq));
            },
          },
          avatar(msg.user.username, { size: "sm" }),
          h(
            "span",
            { class: "search-result-body" },
            h("span", { class: "search-result-meta" }, h("strong", { text: msg.user.username }), ` in ${where} · `, timeElement(msg.ts)),
            h("span", { class: "search-result-text", text: plainText(msg.text).slice(0, 300) }),
          ),
        ),
      );
    });
    this.el.replaceChildren(head, h("ul", { class: "search-results", "aria-label": "Search results" }, items));
  }
}
