// A thread in the side panel: the parent message, its replies and a reply composer.

import { h } from "../dom.js";
import { Composer } from "./composer.js";
import { continues, renderMessage } from "./message.js";
import { reconcile } from "./messages.js";

export class ThreadView {
  constructor(ui) {
    this.ui = ui;
    this.list = h("ol", { class: "messages thread-messages", "aria-label": "Thread replies" });
    this.status = h("p", { class: "muted panel-note", role: "status" });
    this.composer = new Composer(ui, {
      label: "Reply to thread",
      placeholder: () => "Reply to thread",
      roomId: () => ui.store.thread && ui.store.thread.room,
      threadId: () => ui.store.thread && ui.store.thread.id,
      files: false,
      onEscape: () => ui.chat.closePanel(),
    });
    this.scroller = h("div", { class: "thread-scroller" }, this.list, this.status);
    this.el = h("div", { class: "thread-view" }, this.scroller, this.composer.el);
    this.cache = new WeakMap();
    const s = ui.store;
    const rerender = ({ room } = {}) => s.thread && (!room || room === s.thread.room) && s.panel === "thread" && this.render();
    for (const ev of ["thread", "message", "message-changed", "message-removed", "panel"]) s.on(ev, rerender);
  }

  render() {
    const t = this.ui.store.thread;
    if (!t) return;
    const room = this.ui.store.room(t.room);
    const parent = room && this.ui.store.findMessage(room, t.id);
    const replies = (room && room.replies.get(t.id)) || [];
    const nodes = [];
    if (parent) nodes.push(this.node(parent, room, false));
    nodes.push(this.divider(replies.length));
    let prev = null;
    for (const r of replies) {
      nodes.push(this.node(r, room, continues(prev, r)));
      prev = r;
    }
    reconcile(this.list, nodes);
    this.status.textContent = t.loading ? "Loading replies…" : parent ? "" : "The original message isn't loaded.";
    this.composer.refresh();
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  divider(count) {
    if (!this._divider) this._divider = h("li", { class: "thread-divider", role: "separator" }, h("span"));
    this._divider.firstChild.textContent = `${count} ${count === 1 ? "reply" : "replies"}`;
    return this._divider;
  }

  node(msg, room, continuation) {
    const editing = this.ui.editing && this.ui.editing.id === msg.id;
    const sig = `${msg._v || 0}|${continuation}|${editing}|${msg.pending}|${msg.failed}`;
    let cached = this.cache.get(msg);
    if (!cached || cached.sig !== sig) {
      cached = { el: renderMessage(msg, this.ui, room.id, { continuation, inThread: true, editing }), sig };
      for (const b of cached.el.querySelectorAll(".message-actions button, .reaction-add")) b.tabIndex = 0;
      this.cache.set(msg, cached);
    }
    return cached.el;
  }

  focus() {
    this.composer.focus();
  }
}
