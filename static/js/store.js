// Client state: rooms, their loaded messages, members, presence and typing.
// Views subscribe to named change events and re-render only their part.

/** Typing indicators expire this long after the last `typing` frame (server sends <= 1/2 s). */
export const TYPING_TTL_MS = 6000;

/** The signed-in user's id: history marks their own reactions with `me`. */
let selfId = null;

export function setSelf(id) {
  selfId = id;
}

/**
 * A wire reaction list as a Map emoji -> {users: Set of ids, extra: others counted but
 * not named}. History gives `[{emoji, count, me}]`; user lists are accepted too.
 */
function normalizeReactions(raw) {
  const map = new Map();
  if (!Array.isArray(raw)) return map;
  for (const r of raw) {
    if (!r || !r.emoji) continue;
    const ids = (r.users || []).map((u) => (typeof u === "string" ? u : u.id)).filter(Boolean);
    if (r.me && selfId && !ids.includes(selfId)) ids.push(selfId);
    const count = Number.isInteger(r.count) ? r.count : ids.length;
    map.set(r.emoji, { users: new Set(ids), extra: Math.max(0, count - ids.length) });
  }
  return map;
}

/** The wire `files` list, or one built from the single-file fields. */
function normalizeFiles(frame) {
  if (Array.isArray(frame.files) && frame.files.length) return frame.files;
  if (frame.fileUrl) {
    return [{ url: frame.fileUrl, name: frame.fileName || "file", size: frame.fileSize, type: frame.fileType || "" }];
  }
  return [];
}

/** A message frame (live, replayed or from history) as the views use it. */
export function normalizeMessage(frame) {
  return {
    id: frame.id,
    seq: frame.seq,
    room: frame.room,
    user: frame.user,
    text: frame.text || "",
    ts: frame.ts,
    type: frame.messageType || "text",
    editedAt: frame.editedAt || null,
    threadId: frame.threadId || null,
    nonce: frame.nonce || null,
    files: normalizeFiles(frame),
    reactions: normalizeReactions(frame.reactions),
    replyCount: Number.isInteger(frame.threadCount) ? frame.threadCount : null,
    pending: false,
    failed: null,
  };
}

export class RoomState {
  constructor(info) {
    this.id = info.id;
    this.update(info);
    this.messages = []; // top-level messages in seq order; pending ones last
    this.byId = new Map();
    this.replies = new Map(); // parent id -> replies in seq order
    this.loaded = false;
    this.loading = false;
    this.reachedStart = false;
    this.atLatest = true;
    this.unread = 0;
    this.mentions = 0;
    this.hasUnread = false;
    this.lastRead = 0;
    this.members = new Map();
    this.membersLoaded = false;
    this.online = new Set();
    this.typing = new Map(); // user id -> {username, until}
  }

  update(info) {
    this.name = info.name ?? this.name ?? info.id;
    this.kind = info.kind ?? this.kind ?? "public";
    this.private = info.private ?? this.private ?? false;
    this.topic = info.topic ?? this.topic ?? "";
    this.voice = info.voice ?? this.voice ?? false;
    this.member = info.member ?? this.member ?? true;
    // DMs list their (fixed) members in the room itself.
    if (Array.isArray(info.members)) this.dmMembers = info.members;
    else this.dmMembers = this.dmMembers || null;
    if (Number.isInteger(info.lastSeq)) this.lastSeq = Math.max(this.lastSeq || 0, info.lastSeq);
    else this.lastSeq = this.lastSeq || 0;
  }

  get isDm() {
    return this.kind === "dm";
  }

  /** The newest stored seq we show (for "read up to"). */
  get newestSeq() {
    for (let i = this.messages.length - 1; i >= 0; i--) if (this.messages[i].seq) return this.messages[i].seq;
    return 0;
  }

  get oldestSeq() {
    for (const m of this.messages) if (m.seq) return m.seq;
    return null;
  }
}

export class Store extends EventTarget {
  constructor() {
    super();
    this.me = null;
    this.rooms = new Map();
    this.activeId = null;
    this.connection = { state: "connecting" };
    this.panel = window.matchMedia("(max-width: 1000px)").matches ? null : "members"; // members | thread | search | null
    this.thread = null; // {room, id}
    this.search = { query: "", results: null, error: null, loading: false };
    this.users = new Map(); // user id -> username (everyone we have seen)
  }

  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  on(type, fn) {
    const listener = (event) => fn(event.detail);
    this.addEventListener(type, listener);
    return () => this.removeEventListener(type, listener);
  }

  get active() {
    return this.activeId ? this.rooms.get(this.activeId) || null : null;
  }

  room(id) {
    return this.rooms.get(id) || null;
  }

  upsertRoom(info) {
    let room = this.rooms.get(info.id);
    if (room) room.update(info);
    else {
      room = new RoomState(info);
      this.rooms.set(info.id, room);
    }
    return room;
  }

  removeRoom(id) {
    this.rooms.delete(id);
    if (this.activeId === id) this.activeId = null;
  }

  rememberUser(user) {
    if (user && user.id) this.users.set(user.id, user.username);
  }

  /**
   * Insert or replace a message; returns "added", "replaced" or null (thread reply).
   * `live`: a new reply adds one to its parent's thread count (history counts are
   * already the server's).
   */
  putMessage(room, msg, { live = false } = {}) {
    this.rememberUser(msg.user);
    if (msg.seq && msg.seq > room.lastSeq) room.lastSeq = msg.seq;
    if (msg.threadId) {
      const list = room.replies.get(msg.threadId) || [];
      const known = list.findIndex((m) => m.id === msg.id || (msg.nonce && m.nonce === msg.nonce && m.pending));
      const isNew = known < 0 || list[known].pending; // our own pending copy is not counted
      if (known >= 0) list[known] = msg;
      else {
        list.push(msg);
        list.sort(bySeq);
      }
      room.replies.set(msg.threadId, list);
      const parent = room.byId.get(msg.threadId);
      if (live && parent && isNew && parent.replyCount !== null) parent.replyCount += 1;
      return null;
    }
    const existing = room.byId.get(msg.id);
    if (existing) {
      // Live and replayed frames carry neither reactions nor thread counts: keep ours.
      Object.assign(existing, msg, {
        reactions: msg.reactions.size ? msg.reactions : existing.reactions,
        replyCount: msg.replyCount ?? existing.replyCount,
      });
      return "replaced";
    }
    if (msg.nonce) {
      const idx = room.messages.findIndex((m) => m.pending && m.nonce === msg.nonce);
      if (idx >= 0) {
        room.messages.splice(idx, 1);
      }
    }
    room.byId.set(msg.id, msg);
    // Common case: newer than everything stored (before the pending tail).
    let i = room.messages.length;
    while (i > 0 && (room.messages[i - 1].pending || room.messages[i - 1].seq > msg.seq)) i--;
    room.messages.splice(i, 0, msg);
    return "added";
  }

  /** A local, not yet acknowledged message (shown dimmed until the server has it). */
  putPending(room, msg) {
    if (msg.threadId) {
      const list = room.replies.get(msg.threadId) || [];
      list.push(msg);
      room.replies.set(msg.threadId, list);
      return;
    }
    room.messages.push(msg);
  }

  findMessage(room, id) {
    const top = room.byId.get(id);
    if (top) return top;
    for (const list of room.replies.values()) {
      const found = list.find((m) => m.id === id);
      if (found) return found;
    }
    return null;
  }

  removeMessage(room, id) {
    if (room.byId.has(id)) {
      room.byId.delete(id);
      room.messages = room.messages.filter((m) => m.id !== id);
      return true;
    }
    for (const [parent, list] of room.replies) {
      const idx = list.findIndex((m) => m.id === id);
      if (idx >= 0) {
        list.splice(idx, 1);
        const p = room.byId.get(parent);
        if (p && p.replyCount) p.replyCount -= 1;
        return true;
      }
    }
    return false;
  }

  /**
   * Replace the loaded window with a page of history (oldest first). `keepNewer` keeps
   * live messages newer than the page (they arrived while it loaded); a jump into the
   * past drops them to keep the window contiguous.
   */
  resetMessages(room, frames, { keepNewer = true } = {}) {
    const newest = frames.length ? frames[frames.length - 1].seq : 0;
    const kept = room.messages.filter((m) => m.pending || (keepNewer && m.seq > newest));
    room.messages = [];
    room.byId = new Map();
    for (const frame of frames) this.putMessage(room, normalizeMessage(frame));
    for (const m of kept) {
      if (m.pending) room.messages.push(m);
      else this.putMessage(room, m);
    }
  }

  typingUsers(room) {
    const now = Date.now();
    const names = [];
    for (const [id, t] of room.typing) {
      if (t.until > now) names.push(t.username);
      else room.typing.delete(id);
    }
    return names;
  }

  totalUnread() {
    let n = 0;
    for (const room of this.rooms.values()) if (room.member) n += room.unread;
    return n;
  }
}

function bySeq(a, b) {
  if (a.pending !== b.pending) return a.pending ? 1 : -1;
  return (a.seq || 0) - (b.seq || 0);
}
