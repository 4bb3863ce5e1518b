// The signed-in app: builds the layout from the views and holds the UI-wide actions
// (editing, reactions, user cards, drawers, theme, title) the views share.

import { CallUI } from "./call/index.js";
import { Chat } from "./chat.js";
import { h, iconButton } from "./dom.js";
import { Socket } from "./socket.js";
import { Store } from "./store.js";
import { Composer } from "./views/composer.js";
import { Dialogs } from "./views/dialogs.js";
import { RoomHeader } from "./views/header.js";
import { MemberList } from "./views/members.js";
import { renderMessage } from "./views/message.js";
import { MessageList } from "./views/messages.js";
import { Notifier } from "./views/notify.js";
import { EmojiPicker } from "./views/picker.js";
import { SearchView } from "./views/search.js";
import { Sidebar } from "./views/sidebar.js";
import { ThreadView } from "./views/thread.js";
import { createToaster } from "./views/toast.js";

const THEME_KEY = "chatd:theme";
const NARROW = window.matchMedia("(max-width: 768px)");
const MEDIUM = window.matchMedia("(max-width: 1000px)");

export function applyStoredTheme() {
  const theme = localStorage.getItem(THEME_KEY) === "light" ? "light" : "dark";
  document.documentElement.dataset.theme = theme;
}

export class App {
  constructor(root, api, { onLogout }) {
    this.root = root;
    this.api = api;
    this.onLogout = onLogout;
    this.store = new Store();
    this.socket = new Socket(api);
    const { region, toast } = createToaster();
    this.toast = toast;
    this.notifier = new Notifier(() => this.sidebar && this.sidebar.renderUser());
    const announcer = document.getElementById("announcer");
    this.chat = new Chat({
      api,
      socket: this.socket,
      store: this.store,
      toast,
      notifier: this.notifier,
      announcer: (text) => {
        // Replace, don't accumulate: the live region only needs the latest line.
        announcer.textContent = text;
      },
    });
    this.editing = null;
    this.calls = new CallUI(this);
    this.picker = new EmojiPicker();
    this.dialogs = new Dialogs(this);
    this.sidebar = new Sidebar(this);
    this.header = new RoomHeader(this);
    this.messages = new MessageList(this);
    this.composer = new Composer(this, {
      label: "Message",
      placeholder: () => {
        const room = this.store.active;
        if (!room) return "Message";
        return room.isDm ? `Message @${this.chat.roomLabel(room)}` : `Message #${room.name}`;
      },
      roomId: () => this.store.activeId,
      files: true,
      onEditLast: () => this.editLastOwn(),
    });
    this.typing = h("div", { class: "typing", "aria-hidden": "true" });
    this.members = new MemberList(this);
    this.thread = new ThreadView(this);
    this.searchView = new SearchView(this);
    this.panelTitle = h("h2", { class: "panel-title" });
    this.panelBody = h("div", { class: "panel-body" });
    this.panel = h(
      "aside",
      { class: "side-panel", id: "side-panel", "aria-labelledby": "panel-title" },
      h("div", { class: "panel-header" }, this.panelTitle, iconButton("close", "Close panel", () => this.chat.closePanel())),
      this.panelBody,
    );
    this.panelTitle.id = "panel-title";
    this.dropzone = h("div", { class: "dropzone", hidden: true, "aria-hidden": "true" }, h("p", { class: "dropzone-text" }));
    this.backdrop = h("div", { class: "backdrop", hidden: true, onclick: () => this.closeDrawers() });
    this.chatArea = h(
      "main",
      { class: "chat", "aria-labelledby": "room-title-text" },
      this.header.el,
      this.header.banner,
      this.calls.stage.el,
      this.messages.el,
      h("div", { class: "composer-wrap" }, this.composer.el, this.typing),
      this.dropzone,
    );
    const skip = h("a", {
      href: "#",
      class: "skip-link",
      text: "Skip to message box",
      onclick: (e) => {
        e.preventDefault();
        this.composer.focus();
      },
    });
    this.layout = h("div", { class: "layout" }, skip, this.sidebar.el, this.chatArea, this.panel, this.backdrop, this.picker.el, this.calls.ring.el, region);
    this.header.title.id = "room-title-text";
    this.wire();
  }

  wire() {
    const s = this.store;
    s.on("active", () => {
      this.composer.refresh();
      this.stopEdit(false);
      this.updateTitle();
      this.renderTyping();
      if (!NARROW.matches) this.composer.focus();
    });
    s.on("rooms", () => this.updateTitle());
    s.on("typing", ({ room }) => room === s.activeId && this.renderTyping());
    s.on("panel", () => this.renderPanel());
    window.addEventListener("hashchange", () => {
      const id = roomFromHash();
      if (id && id !== s.activeId) this.chat.openRoom(id);
    });
    window.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        if (!this.picker.el.hidden) return;
        if (this.layout.classList.contains("nav-open") || (this.layout.classList.contains("panel-open") && MEDIUM.matches)) {
          this.closeDrawers();
        }
      }
    });
    this.socket.addEventListener("unauthorized", () => this.logout("Your session ended. Log in again."));
    this.api.addEventListener("logout", (e) => this.teardown(e.detail.reason));
    this.wireDragDrop();
  }

  wireDragDrop() {
    let depth = 0;
    const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes("Files");
    this.chatArea.addEventListener("dragenter", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth += 1;
      const room = this.store.active;
      this.dropzone.firstChild.textContent = `Drop files to upload to ${room ? (room.isDm ? this.chat.roomLabel(room) : `#${room.name}`) : "this room"}`;
      this.dropzone.hidden = false;
    });
    this.chatArea.addEventListener("dragover", (e) => {
      if (hasFiles(e)) e.preventDefault();
    });
    this.chatArea.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (!depth) this.dropzone.hidden = true;
    });
    this.chatArea.addEventListener("drop", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      this.dropzone.hidden = true;
      this.composer.addFiles([...e.dataTransfer.files]);
    });
  }

  mount() {
    this.root.replaceChildren(this.layout);
    this.root.removeAttribute("aria-busy");
    this.renderPanel();
    this.chat.start(roomFromHash() || "general");
  }

  teardown(reason) {
    this.socket.stop();
    this.onLogout(reason);
  }

  async logout(reason = "") {
    if (reason) {
      this.teardown(reason);
      return;
    }
    await this.api.logout().catch(() => this.teardown(""));
  }

  // -- shared UI actions -------------------------------------------------------------------

  focusComposer() {
    this.composer.focus();
  }

  /** Members of the room first (online ones first), then everyone else seen. */
  mentionCandidates(roomId) {
    const room = this.store.room(roomId);
    const byName = (a, b) => a.localeCompare(b);
    const members = room ? [...room.members.values()] : [];
    const online = members.filter((m) => room.online.has(m.id)).map((m) => m.username).sort(byName);
    const offline = members.filter((m) => !room.online.has(m.id)).map((m) => m.username).sort(byName);
    const others = [...this.store.users.values()].sort(byName);
    const names = new Set([...online, ...offline, ...others]);
    if (this.store.me) names.delete(this.store.me.username);
    return [...names];
  }

  startEdit(roomId, msg) {
    this.editing = { room: roomId, id: msg.id };
    this.store.emit("message-changed", { room: roomId, msg });
  }

  stopEdit(refocus = true) {
    if (!this.editing) return;
    const { room: roomId, id } = this.editing;
    this.editing = null;
    const room = this.store.room(roomId);
    const msg = room && this.store.findMessage(room, id);
    if (msg) this.store.emit("message-changed", { room: roomId, msg });
    if (refocus) (msg && msg.threadId ? this.thread : this.composer).focus();
  }

  /** Up in an empty composer: edit the newest own message of the room. */
  editLastOwn() {
    const room = this.store.active;
    if (!room || !this.store.me) return false;
    for (let i = room.messages.length - 1; i >= 0; i--) {
      const m = room.messages[i];
      if (m.user.id === this.store.me.id && !m.pending) {
        this.startEdit(room.id, m);
        return true;
      }
    }
    return false;
  }

  async confirmDelete(roomId, msg, skipConfirm) {
    if (!skipConfirm) {
      const preview = renderMessage(msg, this, roomId, { inThread: true });
      preview.querySelector(".message-actions")?.remove();
      const ok = await this.dialogs.confirm(
        "Delete message",
        "Are you sure you want to delete this message? (Shift+click Delete to skip this question.)",
        "Delete",
        h("ul", { class: "messages preview" }, preview),
      );
      if (!ok) return;
    }
    this.chat.deleteMessage(roomId, msg);
  }

  pickReaction(anchor, roomId, msg) {
    this.picker.open(anchor, (emoji) => this.chat.toggleReaction(roomId, msg, emoji));
  }

  showUser(anchor, user) {
    this.dialogs.user(anchor, user, {
      onDm: () => this.chat.openDm(user.username),
      onMention: () => this.composer.insert(`@${user.username} `),
    });
  }

  renderTyping() {
    const room = this.store.active;
    const names = room ? this.store.typingUsers(room) : [];
    let text = "";
    if (names.length === 1) text = `${names[0]} is typing...`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing...`;
    else if (names.length === 3) text = `${names[0]}, ${names[1]} and ${names[2]} are typing...`;
    else if (names.length > 3) text = "several people are typing...";
    this.typing.replaceChildren();
    if (text) this.typing.append(h("span", { class: "typing-dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")), h("span", { class: "typing-text", text }));
  }

  renderPanel() {
    const panel = this.store.panel;
    this.layout.classList.toggle("panel-open", Boolean(panel));
    this.panel.hidden = !panel;
    this.backdrop.hidden = !(this.layout.classList.contains("nav-open") || (panel && MEDIUM.matches));
    const titles = { members: "Members", thread: "Thread", search: "Search" };
    this.panelTitle.textContent = titles[panel] || "";
    const view = { members: this.members, thread: this.thread, search: this.searchView }[panel];
    if (!view) return;
    if (this.panelBody.firstChild !== view.el) this.panelBody.replaceChildren(view.el);
    view.render();
    if (panel === "thread") this.thread.focus();
    this.header.render();
  }

  openNav() {
    this.layout.classList.add("nav-open");
    this.backdrop.hidden = false;
    const current = this.sidebar.el.querySelector(".room-link.active") || this.sidebar.el.querySelector("a, button");
    if (current) current.focus();
  }

  closeDrawers() {
    const wasOpen = this.layout.classList.contains("nav-open");
    this.layout.classList.remove("nav-open");
    if (MEDIUM.matches && this.store.panel) this.chat.closePanel();
    this.backdrop.hidden = true;
    if (wasOpen) this.header.el.querySelector(".nav-toggle").focus();
  }

  toggleTheme() {
    const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    localStorage.setItem(THEME_KEY, next);
    if (this.onThemeChange) this.onThemeChange();
  }

  updateTitle() {
    const room = this.store.active;
    const unread = this.store.totalUnread();
    const label = room ? (room.isDm ? this.chat.roomLabel(room) : `#${room.name}`) : "chatd";
    document.title = `${unread ? `(${unread}) ` : ""}${label} | chatd`;
  }
}

function roomFromHash() {
  const m = /^#\/room\/([^/]+)/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}
