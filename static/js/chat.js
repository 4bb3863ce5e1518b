// The controller: turns server frames into store changes and user actions into
// frames and REST calls. Views call these actions and listen to the store.

import { ApiError } from "./api.js";
import { mentionedNames, plainText } from "./markdown.js";
import { normalizeMessage, setSelf, TYPING_TTL_MS } from "./store.js";

const PAGE = 50;
/** At most one `read` per this long (the server allows 5/s). */
const READ_THROTTLE_MS = 1000;
const READ_KEY = (userId) => `chatd:read:${userId}`;
/** What to say when the server does not know a frame type yet (later server versions). */
const UNSUPPORTED = {
  edit: "Editing messages isn't supported by this server yet.",
  delete: "Deleting messages isn't supported by this server yet.",
  react: "Reactions aren't supported by this server yet.",
  unreact: "Reactions aren't supported by this server yet.",
};

function featureError(err, type) {
  if (err && err.code === "unknown_type") return UNSUPPORTED[type] || `This server doesn't support "${type}" yet.`;
  return (err && err.message) || "Something went wrong.";
}

/** A user on the wire is `{id, username}`; tolerate a bare id too. */
function userIdOf(user) {
  return user && typeof user === "object" ? user.id : user;
}

export class Chat {
  constructor({ api, socket, store, toast, notifier, announcer }) {
    this.api = api;
    this.socket = socket;
    this.store = store;
    this.toast = toast;
    this.notifier = notifier;
    this.announcer = announcer;
    this._membersRefetch = new Map();
    this._readTimer = null;
    this._wantedRoom = null;
    socket.addEventListener("frame", (e) => this._onFrame(e.detail));
    socket.addEventListener("ready", (e) => this._onReady(e.detail));
    socket.addEventListener("state", (e) => {
      store.connection = e.detail;
      store.emit("connection", e.detail);
    });
    setInterval(() => this._expireTyping(), 1000);
    window.addEventListener("pagehide", () => this._flushRead());
    api.addEventListener("session", () => this.store.me && this._fileSession());
  }

  start(initialRoom) {
    this._wantedRoom = initialRoom || "general";
    this.socket.connect();
  }

  // -- read state (kept locally; the server's read/unread frames win when it has them) ----

  _loadReads() {
    try {
      return JSON.parse(localStorage.getItem(READ_KEY(this.store.me.id)) || "{}");
    } catch {
      return {};
    }
  }

  _saveRead(roomId, seq) {
    const reads = this._loadReads();
    reads[roomId] = seq;
    try {
      localStorage.setItem(READ_KEY(this.store.me.id), JSON.stringify(reads));
    } catch {
      /* private mode: read state lives for this tab only */
    }
  }

  // -- frames in -----------------------------------------------------------------------

  _onReady({ frame, first, epochChanged }) {
    const { store } = this;
    if (epochChanged) {
      // A restored store: what we hold may be gone, and seqs were reused. Reload.
      for (const room of store.rooms.values()) {
        store.resetMessages(room, [], { keepNewer: false }); // pending ones stay in the outbox
        room.loaded = false;
      }
    }
    store.me = frame.user;
    setSelf(frame.user.id);
    store.rememberUser(frame.user);
    const reads = this._loadReads();
    const listed = new Set();
    for (const info of frame.rooms || []) {
      const room = store.upsertRoom({ ...info, member: true });
      listed.add(room.id);
      if (reads[room.id] === undefined) {
        // First sight of this room: history before now is not "unread".
        reads[room.id] = room.lastSeq;
        this._saveRead(room.id, room.lastSeq);
      }
      room.lastRead = Math.max(room.lastRead, reads[room.id]);
      room.hasUnread = room.lastSeq > room.lastRead && room.id !== store.activeId;
      this._applyServerUnread(room, info);
    }
    const hadActive = Boolean(store.activeId);
    for (const room of [...store.rooms.values()]) if (!listed.has(room.id)) store.removeRoom(room.id);
    store.emit("rooms");
    if (!first && hadActive && !store.activeId) this.openRoom("general"); // left it meanwhile
    this._fileSession();
    for (const room of store.rooms.values()) if (room.isDm && !room.membersLoaded) this.loadMembers(room);
    if (first) this.openRoom(this._wantedRoom);
    else if (store.active) {
      // Reconnected: replayed events arrive through resume; reload members for presence.
      this.loadMembers(store.active, true);
      if (epochChanged) this.loadLatest(store.active);
    }
  }

  /**
   * The file cookie lets <img src=fileUrl> load; renewed with every new access token.
   * Servers without file support answer 404, and then it is not asked for again.
   */
  _fileSession() {
    if (this._noFileSession) return;
    this.api.fileSession().catch((err) => {
      if (err instanceof ApiError && err.status === 404) this._noFileSession = true;
    });
  }

  _onFrame(frame) {
    const handler = {
      message: () => this._onMessage(frame),
      "message-update": () => this._onUpdate(frame),
      "message-delete": () => this._onDelete(frame),
      reaction: () => this._onReaction(frame),
      read: () => this._onRead(frame),
      unread: () => this._onUnread(frame),
      presence: () => this._onPresence(frame),
      typing: () => this._onTyping(frame),
      joined: () => this._onJoined(frame),
      left: () => this._onLeft(frame),
      error: () => {
        if (frame.ref === undefined) this.toast(frame.message || frame.code, "error");
      },
    }[frame.type];
    if (handler) handler();
  }

  _onMessage(frame) {
    const { store } = this;
    const room = store.room(frame.room);
    if (!room) return;
    const msg = normalizeMessage(frame);
    const mine = store.me && msg.user.id === store.me.id;
    const isActive = room.id === store.activeId;
    const seen = isActive && document.visibilityState === "visible" && this._atBottom();
    if (isActive && !seen && !mine && !msg.threadId && (room.dividerSeq === null || room.dividerSeq === undefined)) {
      room.dividerSeq = room.lastRead; // the reader is away: mark where they left off
    }
    room.typing.delete(msg.user.id);
    store.emit("typing", { room: room.id });
    // Kept even before the room's first page loads: resetMessages merges what is newer.
    if (msg.threadId || room.atLatest) {
      const result = store.putMessage(room, msg, { live: true });
      store.emit("message", { room: room.id, msg, result });
    } else if (msg.seq > room.lastSeq) room.lastSeq = msg.seq;
    if (mine || msg.threadId) return;
    const me = store.me.username.toLowerCase();
    // The server resolves mentions (members only, @room); older servers: the text.
    const mentioned =
      room.isDm ||
      frame.mentionsRoom === true ||
      (Array.isArray(frame.mentions) ? frame.mentions.some((u) => u.id === store.me.id) : mentionedNames(msg.text).has(me));
    if (!seen) {
      room.unread += 1;
      room.hasUnread = true;
      if (mentioned) room.mentions += 1;
      store.emit("rooms");
    } else this.scheduleRead(room);
    if (isActive) this.announcer(`${msg.user.username}: ${plainText(msg.text) || msg.files.map((f) => f.name).join(", ")}`);
    if (mentioned && document.visibilityState === "hidden") {
      const where = room.isDm ? "Direct message" : `#${room.name}`;
      this.notifier.notify(`${msg.user.username} (${where})`, plainText(msg.text).slice(0, 200), room.id, () =>
        this.openRoom(room.id),
      );
    }
  }

  /** Whether the active room's message list is scrolled to the bottom (set by the view). */
  _atBottom() {
    return this.store.atBottom !== false;
  }

  _onUpdate(frame) {
    const room = this.store.room(frame.room);
    const msg = room && this.store.findMessage(room, frame.id);
    if (!msg) return;
    msg.text = frame.text;
    msg.editedAt = frame.editedAt || Date.now();
    this.store.emit("message-changed", { room: room.id, msg });
  }

  _onDelete(frame) {
    const room = this.store.room(frame.room);
    if (!room) return;
    const msg = this.store.findMessage(room, frame.id);
    const countedUnread =
      msg && !msg.threadId && msg.seq > room.lastRead && this.store.me && msg.user.id !== this.store.me.id;
    if (countedUnread && room.unread > 0) {
      room.unread -= 1;
      room.hasUnread = room.unread > 0;
      this.store.emit("rooms");
    }
    if (this.store.removeMessage(room, frame.id)) this.store.emit("message-removed", { room: room.id, id: frame.id, msg });
    if (this.store.thread && this.store.thread.id === frame.id) this.closePanel();
  }

  _onReaction(frame) {
    const room = this.store.room(frame.room);
    const msg = room && this.store.findMessage(room, frame.id);
    if (!msg) return;
    const userId = userIdOf(frame.user);
    if (typeof frame.user === "object") this.store.rememberUser(frame.user);
    const entry = msg.reactions.get(frame.emoji) || { users: new Set(), extra: 0 };
    if (frame.op === "remove") {
      if (entry.users.has(userId)) entry.users.delete(userId);
      else if (entry.extra > 0) entry.extra -= 1; // counted in history without a name
    } else entry.users.add(userId);
    if (entry.users.size + entry.extra > 0) msg.reactions.set(frame.emoji, entry);
    else msg.reactions.delete(frame.emoji);
    this.store.emit("message-changed", { room: room.id, msg });
  }

  _onRead(frame) {
    const room = this.store.room(frame.room);
    if (!room || !this.store.me || userIdOf(frame.user) !== this.store.me.id) return;
    if (frame.seq > room.lastRead) {
      room.lastRead = frame.seq;
      this._saveRead(room.id, frame.seq);
    }
    if (room.lastRead >= room.lastSeq) {
      room.unread = 0;
      room.mentions = 0;
      room.hasUnread = false;
    }
    this.store.emit("rooms");
  }

  _onUnread(frame) {
    const room = this.store.room(frame.room);
    if (!room) return;
    if (Number.isInteger(frame.lastRead) && frame.lastRead > room.lastRead) {
      room.lastRead = frame.lastRead;
      this._saveRead(room.id, frame.lastRead);
    }
    room.unread = frame.count;
    room.mentions = frame.mentions;
    room.hasUnread = frame.count > 0;
    this.store.emit("rooms");
  }

  _onPresence(frame) {
    const room = this.store.room(frame.room);
    if (!room) return;
    room.online = new Set(frame.users.map((u) => u.id));
    for (const user of frame.users) this.store.rememberUser(user);
    // Someone new is here (joined since the list loaded, or while it was loading).
    if (frame.users.some((u) => !room.members.has(u.id)) && (room.membersLoaded || room.membersLoading)) {
      this.loadMembers(room, true);
    }
    this.store.emit("presence", { room: room.id });
  }

  _onTyping(frame) {
    const room = this.store.room(frame.room);
    if (!room || (this.store.me && frame.user.id === this.store.me.id)) return;
    room.typing.set(frame.user.id, { username: frame.user.username, until: Date.now() + TYPING_TTL_MS });
    this.store.emit("typing", { room: room.id });
  }

  _expireTyping() {
    for (const room of this.store.rooms.values()) {
      const before = room.typing.size;
      this.store.typingUsers(room);
      if (room.typing.size !== before) this.store.emit("typing", { room: room.id });
    }
  }

  _onJoined(frame) {
    const info = frame.room;
    const room = this.store.upsertRoom({ ...info, member: true });
    if (room.isDm && !room.membersLoaded) this.loadMembers(room);
    const reads = this._loadReads();
    if (reads[room.id] === undefined) this._saveRead(room.id, room.lastSeq);
    room.lastRead = Math.max(room.lastRead, reads[room.id] ?? room.lastSeq);
    this._applyServerUnread(room, info);
    this.store.emit("rooms");
  }

  /** Servers with read state send `lastRead`, `unread` and `mentions` with each room. */
  _applyServerUnread(room, info) {
    if (Number.isInteger(info.lastRead)) room.lastRead = info.lastRead;
    if (Number.isInteger(info.unread)) {
      room.unread = room.id === this.store.activeId ? 0 : info.unread;
      room.mentions = room.id === this.store.activeId ? 0 : info.mentions || 0;
      room.hasUnread = room.unread > 0;
    }
  }

  _onLeft(frame) {
    const wasActive = this.store.activeId === frame.room;
    this.store.removeRoom(frame.room);
    this.store.emit("rooms");
    if (wasActive) this.openRoom("general");
  }

  // -- actions ---------------------------------------------------------------------------

  async openRoom(id, { messageId = null } = {}) {
    const { store } = this;
    let room = store.room(id);
    if (!room) {
      try {
        const joined = await this.socket.request({ type: "join", room: id });
        room = store.upsertRoom({ ...joined.room, member: true });
        store.emit("rooms");
      } catch (err) {
        this.toast(`Can't open ${id}: ${err.message}`, "error");
        if (id !== "general" && !store.active) this.openRoom("general");
        return;
      }
    }
    const changed = store.activeId !== room.id;
    // Leaving a room the reader was looking at: what they saw is read.
    if (changed && store.active) this.markRead(store.active);
    store.activeId = room.id;
    if (changed && store.thread && store.thread.room !== room.id) {
      // A thread belongs to its room: back to the member list (or nothing on small screens).
      store.thread = null;
      store.panel = window.matchMedia("(max-width: 1000px)").matches ? null : "members";
      store.emit("panel");
    }
    if (changed) {
      // The "new messages" divider marks what arrived since the last visit.
      room.dividerSeq = room.hasUnread ? room.lastRead : null;
      // The reader is looking at it now: the badge goes at once (the `read` follows).
      if (room.unread || room.mentions || room.hasUnread) {
        room.unread = 0;
        room.mentions = 0;
        room.hasUnread = false;
        store.emit("rooms");
      }
      if (location.hash !== `#/room/${room.id}`) history.replaceState(null, "", `#/room/${room.id}`);
      store.atBottom = true;
    }
    store.emit("active", { room: room.id });
    if (!room.loaded && !room.loading) await this.loadLatest(room);
    if (!room.membersLoaded) this.loadMembers(room);
    if (messageId) this.jumpTo(room.id, messageId);
    else this.scheduleRead(room);
  }

  async loadLatest(room) {
    room.loading = true;
    try {
      const { messages } = await this.api.history(room.id, { limit: PAGE });
      this.store.resetMessages(room, messages);
      room.loaded = true;
      room.atLatest = true;
      room.reachedStart = messages.length < PAGE;
    } catch (err) {
      this.toast(`Couldn't load messages: ${err.message}`, "error");
    } finally {
      room.loading = false;
    }
    this.store.emit("messages", { room: room.id, kind: "reset" });
  }

  /** Infinite scroll upward: the page before the oldest loaded message. */
  async loadOlder(room) {
    if (room.loading || room.reachedStart || !room.loaded) return;
    const before = room.oldestSeq;
    if (!before) return;
    room.loading = true;
    try {
      const { messages } = await this.api.history(room.id, { before, limit: PAGE });
      for (const frame of messages) this.store.putMessage(room, normalizeMessage(frame));
      if (messages.length < PAGE) room.reachedStart = true;
    } catch (err) {
      this.toast(`Couldn't load older messages: ${err.message}`, "error");
    } finally {
      room.loading = false;
    }
    this.store.emit("messages", { room: room.id, kind: "prepend" });
  }

  /** After jumping into the past: the next page toward the present. */
  async loadNewer(room) {
    if (room.loading || room.atLatest || !room.loaded) return;
    room.loading = true;
    try {
      const { messages } = await this.api.history(room.id, { after: room.newestSeq, limit: PAGE });
      for (const frame of messages) this.store.putMessage(room, normalizeMessage(frame));
      if (messages.length < PAGE) room.atLatest = true;
    } catch (err) {
      this.toast(`Couldn't load newer messages: ${err.message}`, "error");
    } finally {
      room.loading = false;
    }
    this.store.emit("messages", { room: room.id, kind: "append-page" });
  }

  async jumpTo(roomId, messageId, seq = null) {
    const room = this.store.room(roomId);
    if (!room) return;
    if (!room.byId.has(messageId) && seq) {
      room.loading = true;
      try {
        const { messages } = await this.api.history(room.id, { before: seq + Math.floor(PAGE / 2), limit: PAGE });
        this.store.resetMessages(room, messages, { keepNewer: false });
        room.loaded = true;
        room.reachedStart = false;
        room.atLatest = room.newestSeq >= room.lastSeq;
      } catch (err) {
        this.toast(`Couldn't load that message: ${err.message}`, "error");
      } finally {
        room.loading = false;
      }
      this.store.emit("messages", { room: room.id, kind: "reset" });
    }
    this.store.emit("focus-message", { room: room.id, id: messageId });
  }

  async jumpToPresent(room) {
    await this.loadLatest(room);
    this.store.emit("scroll-bottom", { room: room.id });
  }

  /** Load the member list; a forced reload during a load runs once that load is done. */
  async loadMembers(room, force = false) {
    if (room.membersLoading) {
      if (force) room.membersReload = true;
      return;
    }
    room.membersLoading = true;
    room.membersReload = false;
    try {
      const { members } = await this.api.members(room.id);
      room.members = new Map(members.map((m) => [m.id, m]));
      for (const m of members) {
        this.store.rememberUser(m);
        if (m.online) room.online.add(m.id);
      }
      room.membersLoaded = true;
      this.store.emit("members", { room: room.id });
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) this.toast(`Couldn't load members: ${err.message}`, "error");
    } finally {
      room.membersLoading = false;
    }
    if (room.membersReload) this.loadMembers(room, true);
  }

  /**
   * Mark the room read: now if nothing was marked in the last second, else once that
   * second is over (a burst of messages sends one `read`, not one each). Leading-edge,
   * because background tabs throttle timers and a read that waits may never be sent
   * before the tab goes away; `pagehide` flushes a pending one too.
   */
  scheduleRead(room, delay = null) {
    clearTimeout(this._readTimer);
    const wait = delay ?? Math.max(0, READ_THROTTLE_MS - (Date.now() - (this._lastReadAt || 0)));
    this._pendingRead = room;
    if (wait === 0) this._flushRead();
    else this._readTimer = setTimeout(() => this._flushRead(), wait);
  }

  _flushRead() {
    clearTimeout(this._readTimer);
    const room = this._pendingRead;
    this._pendingRead = null;
    if (!room) return;
    this._lastReadAt = Date.now();
    this.markRead(room);
  }

  markRead(room) {
    if (room.id !== this.store.activeId || document.visibilityState !== "visible" || !this._atBottom()) return;
    const seq = Math.max(room.newestSeq, room.atLatest ? room.lastSeq : 0);
    const changed = room.unread || room.mentions || room.hasUnread;
    room.unread = 0;
    room.mentions = 0;
    room.hasUnread = false;
    if (seq > room.lastRead) {
      room.lastRead = seq;
      this._saveRead(room.id, seq);
      if (!this.socket.unsupported.has("read")) {
        this.socket.request({ type: "read", room: room.id, seq }).catch(() => {
          /* older servers: unknown_type marks the feature unsupported; local state stands */
        });
      }
    }
    if (changed) this.store.emit("rooms");
  }

  sendMessage(roomId, text, threadId = null) {
    const { store } = this;
    const room = store.room(roomId);
    if (!room) return;
    const nonce = crypto.randomUUID();
    const pending = {
      ...normalizeMessage({ id: `pending-${nonce}`, room: roomId, user: store.me, text, ts: Date.now(), nonce, threadId }),
      seq: null,
      pending: true,
    };
    store.putPending(room, pending);
    store.emit("message", { room: roomId, msg: pending, result: threadId ? null : "added" });
    const frame = { room: roomId, text, nonce };
    if (threadId) frame.threadId = threadId;
    this.socket.sendMessage(frame).catch((err) => {
      pending.failed = err.message || "not sent";
      store.emit("message-changed", { room: roomId, msg: pending });
    });
    if (!threadId) store.emit("scroll-bottom", { room: roomId });
  }

  retryMessage(roomId, msg) {
    this.discardMessage(roomId, msg);
    this.sendMessage(roomId, msg.text, msg.threadId);
  }

  discardMessage(roomId, msg) {
    const room = this.store.room(roomId);
    if (!room) return;
    this.socket.cancelMessage(msg.nonce);
    if (msg.threadId) {
      const list = room.replies.get(msg.threadId) || [];
      room.replies.set(msg.threadId, list.filter((m) => m !== msg));
    } else room.messages = room.messages.filter((m) => m !== msg);
    this.store.emit("message-removed", { room: roomId, id: msg.id, msg });
  }

  sendTyping(roomId) {
    this.socket.send({ type: "typing", room: roomId });
  }

  async editMessage(roomId, msg, text) {
    const before = { text: msg.text, editedAt: msg.editedAt };
    msg.text = text;
    msg.editedAt = msg.editedAt || Date.now();
    this.store.emit("message-changed", { room: roomId, msg });
    try {
      await this.socket.request({ type: "edit", room: roomId, id: msg.id, text });
    } catch (err) {
      Object.assign(msg, before);
      this.store.emit("message-changed", { room: roomId, msg });
      this.toast(featureError(err, "edit"), "error");
    }
  }

  async deleteMessage(roomId, msg) {
    try {
      await this.socket.request({ type: "delete", room: roomId, id: msg.id });
    } catch (err) {
      this.toast(featureError(err, "delete"), "error");
    }
  }

  async toggleReaction(roomId, msg, emoji) {
    const entry = msg.reactions.get(emoji);
    const mine = entry && entry.users.has(this.store.me.id);
    const type = mine ? "unreact" : "react";
    try {
      await this.socket.request({ type, room: roomId, id: msg.id, emoji });
    } catch (err) {
      this.toast(featureError(err, type), "error");
    }
  }

  // -- panels: members, thread, search ------------------------------------------------------

  setPanel(panel) {
    this.store.panel = this.store.panel === panel ? null : panel;
    this.store.emit("panel");
  }

  closePanel() {
    this.store.panel = null;
    this.store.thread = null;
    this.store.emit("panel");
  }

  async openThread(roomId, parentId) {
    const { store } = this;
    store.thread = { room: roomId, id: parentId, loading: true };
    store.panel = "thread";
    store.emit("panel");
    const room = store.room(roomId);
    try {
      const { parent, messages } = await this.api.thread(roomId, parentId);
      if (parent) store.putMessage(room, { ...normalizeMessage(parent), threadId: null });
      for (const frame of messages) {
        const msg = normalizeMessage(frame);
        if (msg.id === parentId) store.putMessage(room, { ...msg, threadId: null });
        else store.putMessage(room, { ...msg, threadId: msg.threadId || parentId });
      }
    } catch (err) {
      // Servers without the thread endpoint: the replies loaded with the room still show.
      if (!(err instanceof ApiError && err.status === 404)) this.toast(`Couldn't load the thread: ${err.message}`, "error");
    }
    if (store.thread && store.thread.id === parentId) {
      store.thread.loading = false;
      store.emit("thread", { room: roomId, id: parentId });
    }
  }

  async search(query) {
    const { store } = this;
    store.search = { query, results: null, error: null, loading: true };
    store.panel = "search";
    store.emit("panel");
    try {
      const { messages } = await this.api.search(query);
      store.search = { query, results: messages.map(normalizeMessage), error: null, loading: false };
    } catch (err) {
      const message =
        err instanceof ApiError && err.status === 404 ? "Search isn't available on this server yet." : err.message;
      store.search = { query, results: null, error: message, loading: false };
    }
    store.emit("search");
  }

  // -- rooms and DMs ---------------------------------------------------------------------

  async createRoom(name, isPrivate, topic, voice = false) {
    const { room } = await this.api.createRoom(name, isPrivate, topic, voice);
    this.store.upsertRoom({ ...room, member: true });
    this.store.emit("rooms");
    await this.openRoom(room.id);
    return room;
  }

  async listRooms() {
    const { rooms } = await this.api.rooms();
    return rooms;
  }

  async leaveRoom(roomId) {
    try {
      await this.socket.request({ type: "leave", room: roomId });
    } catch (err) {
      this.toast(`Couldn't leave: ${err.message}`, "error");
    }
  }

  async invite(roomId, username) {
    await this.api.invite(roomId, username);
    this.toast(`Added ${username}.`, "info");
    this.loadMembers(this.store.room(roomId), true);
  }

  async openDm(username) {
    if (this.store.me && username.toLowerCase() === this.store.me.username.toLowerCase()) return;
    try {
      const { room } = await this.api.openDm([username]);
      this.store.upsertRoom({ ...room, member: true });
      this.store.emit("rooms");
      await this.openRoom(room.id);
    } catch (err) {
      const message =
        err instanceof ApiError && err.status === 404 && err.code === "http_404"
          ? "Direct messages aren't available on this server yet."
          : `Couldn't open a DM with ${username}: ${err.message}`;
      this.toast(message, "error");
    }
  }

  /** A display name for a room: DMs show the other people in them. */
  roomLabel(room) {
    if (!room.isDm) return room.name;
    const me = this.store.me && this.store.me.id;
    const people = room.membersLoaded ? [...room.members.values()] : room.dmMembers || [];
    const others = people.filter((m) => m.id !== me).map((m) => m.username);
    return others.length ? others.join(", ") : room.name;
  }

  /**
   * Upload files (with an optional caption) as one message. The answer's message is
   * shown at once; the same message also arrives live and is deduplicated by id.
   */
  upload(roomId, files, text, onProgress, threadId = null) {
    const handle = this.api.upload(roomId, files, { text, nonce: crypto.randomUUID(), threadId }, onProgress);
    handle.promise = handle.promise.then((body) => {
      if (body && body.message) this._onMessage(body.message);
      return body;
    });
    return handle;
  }
}
