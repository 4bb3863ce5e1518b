// The message list of the active room: grouping, day separators, the "new messages"
// divider, infinite scroll up (and down after a jump), jump-to-latest, keyboard moves.

import { h, icon, prefersReducedMotion, rafThrottle } from "../dom.js";
import { dayLabel, refreshTimes, startOfDay } from "../time.js";
import { continues, renderMessage, touch } from "./message.js";

/** Within this many px of the bottom counts as "at the bottom" (new messages follow). */
const STICKY_PX = 80;
/** Start loading the next page this far before the edge. */
const PREFETCH_PX = 600;

export class MessageList {
  constructor(ui) {
    this.ui = ui;
    this.store = ui.store;
    this.chat = ui.chat;
    this.roomId = null;
    this.cache = new WeakMap(); // msg -> {el, sig}
    this.keyed = new Map(); // separator key -> element
    this.newBelow = 0;
    this.list = h("ol", { class: "messages", "aria-label": "Messages" });
    this.startMarker = h("div", { class: "history-start" });
    this.loader = h("div", { class: "history-loader muted", role: "status", "aria-live": "polite" });
    this.scroller = h(
      "div",
      { class: "message-scroller", tabindex: "-1" },
      this.startMarker,
      this.loader,
      this.list,
    );
    this.jumpButton = h(
      "button",
      { type: "button", class: "jump-latest", hidden: true, onclick: () => this.jumpToLatest() },
      icon("down", 16),
      h("span", { class: "jump-text", text: "Jump to latest" }),
    );
    this.pastBanner = h(
      "div",
      { class: "past-banner", hidden: true },
      h("span", { text: "You're viewing older messages." }),
      h("button", { type: "button", class: "linklike", text: "Jump to present", onclick: () => this.jumpToLatest() }),
    );
    this.el = h("div", { class: "message-pane" }, this.pastBanner, this.scroller, this.jumpButton);
    this.scroller.addEventListener("scroll", rafThrottle(() => this.onScroll()));
    // Stay pinned to the newest message while the pane resizes (file tray, thread panel,
    // images loading, the keyboard on phones) if the reader was at the bottom.
    const pin = new ResizeObserver(() => {
      if (this.store.atBottom !== false && this.room) this.scroller.scrollTop = this.scroller.scrollHeight;
    });
    pin.observe(this.scroller);
    pin.observe(this.list);
    this.list.addEventListener("keydown", (e) => this.onKey(e));
    this.list.addEventListener("focusin", (e) => this.onFocus(e));
    this.list.addEventListener("focusout", (e) => this.onBlur(e));
    const s = this.store;
    s.on("active", ({ room }) => this.show(room));
    s.on("messages", ({ room, kind }) => room === this.roomId && this.render(kind));
    s.on("message", ({ room, msg, result }) => {
      if (room !== this.roomId) return;
      if (msg.threadId) {
        const parent = this.store.room(room).byId.get(msg.threadId);
        if (parent) touch(parent);
      }
      this.render(result === "added" ? "append" : "update", msg);
    });
    s.on("message-changed", ({ room, msg }) => {
      touch(msg);
      if (room === this.roomId) this.render("update");
    });
    s.on("message-removed", ({ room, msg }) => {
      if (msg && msg.threadId) {
        const parent = this.store.room(room) && this.store.room(room).byId.get(msg.threadId);
        if (parent) touch(parent);
      }
      if (room === this.roomId) this.render("update");
    });
    // Roles decide who may delete others' messages: re-render toolbars when they load.
    this.generation = 0;
    s.on("members", ({ room }) => {
      if (room !== this.roomId) return;
      this.generation += 1;
      this.render("update");
    });
    s.on("focus-message", ({ room, id }) => room === this.roomId && this.focusMessage(id));
    s.on("scroll-bottom", ({ room }) => room === this.roomId && this.scrollToBottom());
    setInterval(() => refreshTimes(this.list), 60_000);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && this.room) this.chat.scheduleRead(this.room);
    });
  }

  get room() {
    return this.roomId ? this.store.room(this.roomId) : null;
  }

  show(roomId) {
    if (roomId === this.roomId) return;
    this.roomId = roomId;
    this.newBelow = 0;
    this.list.replaceChildren();
    this.keyed.clear();
    const room = this.room;
    this.list.setAttribute("aria-label", `Messages in ${room ? this.chat.roomLabel(room) : ""}`);
    this.render("reset");
  }

  /** Reconcile the list with the room's messages, keeping the reader's scroll position. */
  render(kind, msg = null) {
    const room = this.room;
    if (!room) return;
    const wasAtBottom = this.isAtBottom();
    const anchor = kind === "prepend" ? this.scroller.scrollHeight - this.scroller.scrollTop : null;
    this.loader.textContent = room.loading ? "Loading messages…" : "";
    this.startMarker.replaceChildren();
    if (room.loaded && room.reachedStart) {
      this.startMarker.append(
        h("h2", { class: "history-title", text: room.isDm ? this.chat.roomLabel(room) : `Welcome to #${room.name}` }),
        h("p", { class: "muted", text: room.isDm ? "This is the beginning of your direct message history." : `This is the start of #${room.name}.${room.topic ? ` ${room.topic}` : ""}` }),
      );
    }
    const desired = [];
    let prev = null;
    let lastDay = null;
    let dividerDone = room.dividerSeq === null || room.dividerSeq === undefined;
    const me = this.store.me && this.store.me.id;
    const editing = this.ui.editing;
    for (const m of room.messages) {
      const day = startOfDay(m.ts);
      if (day !== lastDay) {
        desired.push(this.separator(`day-${day}`, () => this.daySeparator(m.ts)));
        lastDay = day;
        prev = null;
      }
      if (!dividerDone && m.seq && m.seq > room.dividerSeq && m.user.id !== me) {
        desired.push(this.separator("divider", () => this.newDivider()));
        dividerDone = true;
        prev = null;
      }
      const isEditing = editing && editing.id === m.id;
      const continuation = continues(prev, m);
      const sig = `${this.generation}|${m._v || 0}|${continuation}|${isEditing}|${m.pending}|${m.failed}`;
      let cached = this.cache.get(m);
      if (!cached || cached.sig !== sig) {
        cached = { el: renderMessage(m, this.ui, room.id, { continuation, editing: isEditing }), sig };
        if (!isEditing) this.setActionsTabbable(cached.el, false);
        this.cache.set(m, cached);
      }
      desired.push(cached.el);
      prev = m;
    }
    reconcile(this.list, desired);
    this.updateRoving();
    this.pastBanner.hidden = room.atLatest;
    if (kind === "reset") {
      this.scrollToBottom(false);
      // A short first page may not fill the screen: keep loading until it does.
      requestAnimationFrame(() => this.maybeLoad());
    } else if (anchor !== null) {
      this.scroller.scrollTop = this.scroller.scrollHeight - anchor;
    } else if (kind === "append" && msg) {
      const mine = msg.user.id === me;
      if (wasAtBottom || mine) this.scrollToBottom();
      else if (!msg.threadId) {
        this.newBelow += 1;
        this.updateJump();
      }
    } else if (wasAtBottom) this.scrollToBottom(false);
  }

  separator(key, make) {
    let el = this.keyed.get(key);
    if (!el) {
      el = make();
      this.keyed.set(key, el);
    }
    return el;
  }

  daySeparator(ts) {
    const label = dayLabel(ts);
    return h("li", { class: "day-separator", role: "separator", "aria-label": label }, h("span", { text: label }));
  }

  newDivider() {
    return h("li", { class: "new-divider", role: "separator", "aria-label": "New messages" }, h("span", { text: "New messages" }));
  }

  isAtBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < STICKY_PX;
  }

  scrollToBottom(smooth = true) {
    const s = this.scroller;
    s.scrollTo({ top: s.scrollHeight, behavior: smooth && !prefersReducedMotion() ? "smooth" : "auto" });
    this.newBelow = 0;
    this.store.atBottom = true;
    this.updateJump();
  }

  async jumpToLatest() {
    const room = this.room;
    if (!room) return;
    if (!room.atLatest) await this.chat.jumpToPresent(room);
    this.scrollToBottom();
    if (room) this.chat.scheduleRead(room);
    this.ui.focusComposer();
  }

  updateJump() {
    const room = this.room;
    const show = (!this.store.atBottom || (room && !room.atLatest)) && this.list.childElementCount > 0;
    this.jumpButton.hidden = !show;
    const text = this.jumpButton.querySelector(".jump-text");
    text.textContent = this.newBelow ? `${this.newBelow} new message${this.newBelow === 1 ? "" : "s"} · Jump to latest` : "Jump to latest";
  }

  onScroll() {
    const atBottom = this.isAtBottom();
    if (atBottom !== this.store.atBottom) {
      this.store.atBottom = atBottom;
      if (atBottom) this.newBelow = 0;
      this.updateJump();
    }
    if (atBottom && this.room) this.chat.scheduleRead(this.room);
    this.maybeLoad();
  }

  maybeLoad() {
    const room = this.room;
    if (!room || room.loading) return;
    const s = this.scroller;
    if (s.scrollTop < PREFETCH_PX && !room.reachedStart) this.chat.loadOlder(room);
    else if (!room.atLatest && s.scrollHeight - s.scrollTop - s.clientHeight < PREFETCH_PX) this.chat.loadNewer(room);
  }

  focusMessage(id) {
    const el = this.list.querySelector(`li.message[data-id="${CSS.escape(id)}"]`);
    if (!el) {
      this.ui.toast("That message isn't available.", "error");
      return;
    }
    el.scrollIntoView({ block: "center", behavior: prefersReducedMotion() ? "auto" : "smooth" });
    el.classList.add("highlight");
    setTimeout(() => el.classList.remove("highlight"), 2500);
    this.setRoving(el);
    el.focus({ preventScroll: true });
  }

  // -- keyboard: one tab stop for the list, arrows move between messages -------------------

  messages() {
    return [...this.list.querySelectorAll(":scope > li.message")];
  }

  /** One message is the list's tab stop; its action buttons join the tab order only
   * while focus is inside it, so Shift+Tab from the composer lands on the message. */
  setRoving(target) {
    for (const el of this.list.querySelectorAll(':scope > li.message[tabindex="0"]')) {
      if (el !== target) el.tabIndex = -1;
    }
    if (target) target.tabIndex = 0;
  }

  /** Buttons and links inside a message are tab stops only while it has focus. */
  setActionsTabbable(item, on) {
    for (const el of item.querySelectorAll("button, a[href]")) {
      if (!on || !el.classList.contains("reaction-add")) el.tabIndex = on ? 0 : -1;
    }
  }

  updateRoving() {
    const current = this.list.querySelector(':scope > li.message[tabindex="0"]');
    if (!current) {
      const all = this.messages();
      if (all.length) this.setRoving(all[all.length - 1]);
    }
  }

  onFocus(e) {
    const item = e.target.closest("li.message");
    if (item && item.parentElement === this.list) {
      this.setRoving(item);
      this.setActionsTabbable(item, true);
    }
  }

  onBlur(e) {
    const item = e.target.closest("li.message");
    if (item && !item.contains(e.relatedTarget)) this.setActionsTabbable(item, false);
  }

  onKey(e) {
    const item = e.target.closest("li.message");
    if (!item || (e.target !== item && !["Escape"].includes(e.key))) return;
    const all = this.messages();
    const i = all.indexOf(item);
    let next = null;
    if (e.key === "ArrowUp") next = all[Math.max(0, i - 1)];
    else if (e.key === "ArrowDown") next = all[Math.min(all.length - 1, i + 1)];
    else if (e.key === "Home") next = all[0];
    else if (e.key === "End") next = all[all.length - 1];
    else if (e.key === "Escape") {
      e.preventDefault();
      this.ui.focusComposer();
      return;
    }
    if (next) {
      e.preventDefault();
      this.setRoving(next);
      next.focus();
      if (e.key === "ArrowUp" && i <= 1) this.maybeLoad();
    }
  }
}

/** Make `parent`'s children exactly `desired`, moving existing nodes instead of rebuilding. */
export function reconcile(parent, desired) {
  const wanted = new Set(desired);
  for (const child of [...parent.children]) if (!wanted.has(child)) child.remove();
  let cursor = parent.firstElementChild;
  for (const node of desired) {
    if (node === cursor) cursor = cursor.nextElementSibling;
    else parent.insertBefore(node, cursor);
  }
}
