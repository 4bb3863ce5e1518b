// The WebSocket: hello, re-authentication before the token expires, reconnect with
// backoff, resume from the last seq seen per room, exactly-once room events and an
// outbox that re-sends unacknowledged messages (the server dedupes them by nonce).

/** Room events carry a per-room seq; these are deduplicated and drive `resume`. */
const SEQ_EVENTS = new Set(["message", "message-update", "message-delete", "reaction"]);
/** Frames that answer a client frame's ref (besides `error`). */
const REPLIES = new Set(["ack", "joined", "left", "pong", "reauthed", "resumed", "read", "call"]);
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 15_000;
/** Application-level ping: a socket silent this long after a ping is dead (half-open). */
const PING_EVERY_MS = 25_000;
const PONG_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 15_000;
/** Rooms one resume map may name (the server refuses larger ones). */
const MAX_RESUME_ROOMS = 500;
/** Re-authenticate this long before the access token expires. */
const REAUTH_MARGIN_S = 60;

/**
 * Per-room record of applied seq'd events: every seq <= `upto` was applied, and `above`
 * holds applied seqs past a gap. Live events can arrive before a resume's replay fills
 * the gap, so "seq <= max seen" would wrongly drop the replayed ones.
 */
export class SeqTracker {
  constructor(upto) {
    this.upto = upto;
    this.above = new Set();
  }

  /** True (and recorded) the first time a seq is seen. */
  accept(seq) {
    if (seq <= this.upto || this.above.has(seq)) return false;
    this.above.add(seq);
    this.advance();
    return true;
  }

  /** The server says everything up to `seq` was delivered (`resumed`). */
  caughtUp(seq) {
    if (seq > this.upto) this.upto = seq;
    for (const s of this.above) if (s <= this.upto) this.above.delete(s);
    this.advance();
  }

  advance() {
    while (this.above.has(this.upto + 1)) {
      this.above.delete(this.upto + 1);
      this.upto += 1;
    }
  }
}

export class Socket extends EventTarget {
  constructor(api, url = null) {
    super();
    this.api = api;
    this.url = url || `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
    this.ws = null;
    this.state = "connecting";
    this.ready = false;
    this.attempt = 0;
    this.session = null;
    this.seqs = new Map();
    this.epoch = null; // the store epoch `seqs` belong to (ready.epoch)
    this.pending = new Map(); // ref -> {resolve, reject, timer}
    this.outbox = new Map(); // nonce -> {frame, resolve, reject, ref}
    this.unsupported = new Set(); // frame types the server answered with unknown_type
    this._refCounter = 0;
    this._helloResume = null; // the watermarks the last hello carried
    this._timers = { reconnect: null, ping: null, pong: null, reauth: null };
    this._stopped = false;
    this._onOnline = () => this.reconnectNow();
    this._onOffline = () => this._goOffline();
    this._onVisible = () => {
      if (document.visibilityState === "visible" && !this.ready && !this._stopped) this.reconnectNow();
    };
    this._onSession = () => this._sendReauth();
    window.addEventListener("online", this._onOnline);
    window.addEventListener("offline", this._onOffline);
    document.addEventListener("visibilitychange", this._onVisible);
    api.addEventListener("session", this._onSession);
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _setState(state, extra = {}) {
    this.state = state;
    this._emit("state", { state, attempt: this.attempt, ...extra });
  }

  connect() {
    if (this._stopped) return;
    if (!navigator.onLine) {
      this._setState("offline");
      return;
    }
    clearTimeout(this._timers.reconnect);
    this._setState(this.attempt === 0 && !this.session ? "connecting" : "reconnecting");
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this._scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = async () => {
      if (this.api.secondsLeft < 30) await this.api.refresh().catch(() => false);
      if (this.ws !== ws) return;
      // The rooms we know go in hello: the server replays each before any of its
      // live events, so nothing arrives twice or out of order (see _resume).
      this._helloResume = Object.fromEntries(Object.entries(this._watermarks()).slice(0, MAX_RESUME_ROOMS));
      const hello = { type: "hello", token: this.api.token, resume: this._helloResume };
      if (this.epoch !== null) hello.epoch = this.epoch;
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (event) => {
      if (this.ws !== ws) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        console.warn("chatd: ignoring a non-JSON frame");
        return;
      }
      this._lastFrameAt = Date.now();
      clearTimeout(this._timers.pong);
      this._handle(frame);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this._closed(event.code);
    };
  }

  /** Stop for good (log out). */
  stop() {
    this._stopped = true;
    for (const t of Object.values(this._timers)) clearTimeout(t);
    window.removeEventListener("online", this._onOnline);
    window.removeEventListener("offline", this._onOffline);
    document.removeEventListener("visibilitychange", this._onVisible);
    this.api.removeEventListener("session", this._onSession);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000, "logout");
    }
    this.ready = false;
    this._setState("closed");
  }

  reconnectNow() {
    if (this._stopped || this.ready) return;
    if (this.ws && this.ws.readyState === WebSocket.CONNECTING) return;
    this.attempt = 0;
    this.connect();
  }

  _goOffline() {
    // The socket is dead or about to be; close it now so the UI says so immediately
    // and the reconnect starts the moment the network is back ("online").
    this._drop();
    this._setState("offline");
  }

  _drop() {
    const ws = this.ws;
    this.ws = null;
    this.ready = false;
    clearTimeout(this._timers.ping);
    clearTimeout(this._timers.pong);
    clearTimeout(this._timers.reauth);
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, "client reconnecting");
    for (const [ref, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(Object.assign(new Error("disconnected"), { code: "disconnected" }));
      this.pending.delete(ref);
    }
  }

  async _closed(code) {
    this._drop();
    if (this._stopped) return;
    if (code === 4001) {
      // Unauthorized or expired: a fresh token, or back to the log-in page.
      const ok = await this.api.refresh().catch(() => null);
      if (ok === false) {
        this._emit("unauthorized", {});
        return;
      }
    }
    this._scheduleReconnect();
  }

  _scheduleReconnect() {
    if (this._stopped) return;
    if (!navigator.onLine) {
      this._setState("offline");
      return;
    }
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.attempt) * (0.75 + Math.random() * 0.5);
    this.attempt += 1;
    this._setState("reconnecting", { retryAt: Date.now() + delay });
    clearTimeout(this._timers.reconnect);
    this._timers.reconnect = setTimeout(() => this.connect(), delay);
  }

  _schedulePing() {
    clearTimeout(this._timers.ping);
    this._timers.ping = setTimeout(() => {
      if (!this.ready) return;
      this.send({ type: "ping" });
      this._timers.pong = setTimeout(() => {
        console.warn("chatd: no answer to ping; reconnecting");
        this._closed(1006);
      }, PONG_TIMEOUT_MS);
      this._schedulePing();
    }, PING_EVERY_MS);
  }

  _scheduleReauth() {
    clearTimeout(this._timers.reauth);
    const inSeconds = Math.max(5, this.api.secondsLeft - REAUTH_MARGIN_S);
    // api.refresh() emits "session", which sends `reauth` (see _sendReauth).
    this._timers.reauth = setTimeout(() => this.api.refresh().catch(() => null), inSeconds * 1000);
  }

  _sendReauth() {
    if (!this.ready || !this.api.token) return;
    this.request({ type: "reauth", token: this.api.token }).catch((err) => {
      console.warn("chatd: reauth refused", err);
    });
    this._scheduleReauth();
  }

  // -- frames in ---------------------------------------------------------------------

  _handle(frame) {
    const { type } = frame;
    if (type === "ready") {
      this.ready = true;
      this.attempt = 0;
      const first = this.session === null;
      this.session = frame.session;
      // Another epoch: the store was restored from a backup, and its seqs went back.
      // Ours belong to the old history, and would drop new messages as seen: start
      // over from ready's lastSeq (hello's resume was ignored by the server).
      const epochChanged = this.epoch !== null && typeof frame.epoch === "string" && frame.epoch !== this.epoch;
      if (typeof frame.epoch === "string") this.epoch = frame.epoch;
      if (epochChanged) {
        this.seqs.clear();
        this._helloResume = {};
      }
      const listed = new Set((frame.rooms || []).map((room) => room.id));
      for (const room of this.seqs.keys()) if (!listed.has(room)) this.seqs.delete(room); // left meanwhile
      for (const room of frame.rooms || []) this.track(room.id, room.lastSeq ?? 0);
      this._setState("open");
      this._emit("ready", { frame, first, epochChanged });
      this._schedulePing();
      this._scheduleReauth();
      this._resume();
      return;
    }
    if (type === "joined" && frame.room && typeof frame.room === "object") {
      this.track(frame.room.id, frame.room.lastSeq ?? 0);
    }
    if (type === "left") this.seqs.delete(frame.room);
    if (type === "resumed") {
      for (const [room, seq] of Object.entries(frame.rooms || {})) {
        const tracker = this.seqs.get(room);
        if (tracker) tracker.caughtUp(seq);
      }
      this._flushOutbox();
    }
    if (SEQ_EVENTS.has(type) && frame.room && Number.isInteger(frame.seq)) {
      const tracker = this.seqs.get(frame.room);
      if (tracker && !tracker.accept(frame.seq)) return; // duplicate (replay overlap)
    }
    if (frame.ref !== undefined && (REPLIES.has(type) || type === "error")) this._settle(frame);
    if (type === "message" && frame.nonce && frame.user && this.api.user && frame.user.id === this.api.user.id) {
      this._outboxDelivered(frame.nonce);
    }
    this._emit("frame", frame);
  }

  _settle(frame) {
    const p = this.pending.get(frame.ref);
    if (!p) return;
    this.pending.delete(frame.ref);
    clearTimeout(p.timer);
    if (frame.type === "error") {
      if (frame.code === "unknown_type" && p.type) this.unsupported.add(p.type);
      p.reject(Object.assign(new Error(frame.message || frame.code), { code: frame.code, frame }));
    } else p.resolve(frame);
  }

  /** Start tracking a room's seq (first sight only: our own watermark wins after that). */
  track(room, lastSeq) {
    if (!this.seqs.has(room)) this.seqs.set(room, new SeqTracker(lastSeq));
  }

  /** Every tracked room's watermark: `{room: seq}` (own keys even for "__proto__"). */
  _watermarks() {
    return Object.fromEntries([...this.seqs].map(([room, tracker]) => [room, tracker.upto]));
  }

  /**
   * Rooms `ready` listed that hello did not resume (the first connect, joined
   * elsewhere meanwhile, or past the 500 one map may name): ask for every event after `ready`'s lastSeq, which closes
   * the window between that snapshot and live delivery. Events that came live in
   * between may precede the replayed ones; the trackers put both in place.
   */
  _resume() {
    const hello = this._helloResume || {};
    const left = Object.entries(this._watermarks()).filter(([room]) => !Object.hasOwn(hello, room));
    // None left: hello's `resumed` flushes the outbox.
    for (let i = 0; i < left.length; i += MAX_RESUME_ROOMS) {
      const rooms = Object.fromEntries(left.slice(i, i + MAX_RESUME_ROOMS));
      this.request({ type: "resume", rooms }).catch((err) => {
        if (err.code !== "disconnected") console.warn("chatd: resume failed", err);
        // The outbox still goes out: the server dedupes by nonce.
        this._flushOutbox();
      });
    }
  }

  // -- frames out --------------------------------------------------------------------

  nextRef() {
    this._refCounter += 1;
    return `c${this._refCounter}`;
  }

  /** Fire and forget; false when not connected. */
  send(frame) {
    if (!this.ready || !this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Send a frame with a ref; resolves with the answering frame, rejects with the error. */
  request(frame) {
    const ref = frame.ref || this.nextRef();
    const message = { ...frame, ref };
    return new Promise((resolve, reject) => {
      if (!this.send(message)) {
        reject(Object.assign(new Error("not connected"), { code: "disconnected" }));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(Object.assign(new Error("no answer from the server"), { code: "timeout" }));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(ref, { resolve, reject, timer, type: frame.type });
    });
  }

  /**
   * Send a chat message exactly once: it stays in the outbox (and is re-sent after a
   * reconnect with the same nonce) until acked. Resolves with the ack.
   */
  sendMessage(frame) {
    return new Promise((resolve, reject) => {
      this.outbox.set(frame.nonce, { frame, resolve, reject, inflight: false });
      this._sendFromOutbox(frame.nonce);
    });
  }

  cancelMessage(nonce) {
    const entry = this.outbox.get(nonce);
    if (entry) {
      this.outbox.delete(nonce);
      entry.reject(Object.assign(new Error("cancelled"), { code: "cancelled" }));
    }
  }

  _sendFromOutbox(nonce) {
    const entry = this.outbox.get(nonce);
    if (!entry || entry.inflight || !this.ready) return;
    entry.inflight = true;
    this.request({ ...entry.frame, type: "message" }).then(
      (ack) => {
        this.outbox.delete(nonce);
        entry.resolve(ack);
      },
      (err) => {
        entry.inflight = false;
        if (err.code === "disconnected" || err.code === "timeout") return; // re-sent after reconnect
        if (err.code === "rate_limited") {
          const wait = (err.frame && err.frame.retryAfter) || 1;
          setTimeout(() => this._sendFromOutbox(nonce), wait * 1000);
          return;
        }
        this.outbox.delete(nonce);
        entry.reject(err);
      },
    );
  }

  _flushOutbox() {
    for (const nonce of this.outbox.keys()) this._sendFromOutbox(nonce);
  }

  /** The message came back (live or replayed): its ack may have been lost with the socket. */
  _outboxDelivered(nonce) {
    const entry = this.outbox.get(nonce);
    if (entry && !entry.inflight) {
      this.outbox.delete(nonce);
      entry.resolve(null);
    }
  }
}
