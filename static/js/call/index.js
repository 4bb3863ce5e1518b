// Calls in the web client: the glue between the socket, the app's views and one active
// CallSession. Keeps every room's latest `call` snapshot (the sidebar shows who is in
// each call, the header's buttons start, join or leave), shows the call stage, rings.
//
// Hooks into the app: App creates `new CallUI(app)` and places `stage.el` and `ring.el`;
// the room header takes `headerButtons` and calls `renderHeader(room)`; the sidebar calls
// `sidebarExtras(room)` and re-renders on the store's "calls" event.

import { h } from "../dom.js";
import { callIcon } from "./icons.js";
import { RingPrompt } from "./ring.js";
import { CallSession } from "./session.js";
import { CallStage } from "./view.js";

export class CallUI {
  constructor(ui) {
    this.ui = ui;
    this.snapshots = new Map(); // room -> latest `call` frame
    this.session = null;
    this.speaker = null;
    this.stage = new CallStage(this);
    this.ring = new RingPrompt(this);
    this.voiceButton = h("button", { type: "button", class: "header-btn call-start", onclick: () => this.toggle(this.ui.store.activeId, { video: false }) }, callIcon("phone", 20));
    this.videoButton = h("button", { type: "button", class: "header-btn call-start", onclick: () => this.toggle(this.ui.store.activeId, { video: true }) }, callIcon("video", 20));
    this.headerButtons = [this.voiceButton, this.videoButton];
    this._starting = false;

    ui.socket.addEventListener("frame", (e) => this._onFrame(e.detail));
    ui.socket.addEventListener("ready", (e) => this._onReady(e.detail));
    // Leaving the page leaves the call at once (the server would also notice the socket go).
    window.addEventListener("pagehide", () => this.leave({ quiet: true }));
    ui.store.on("active", () => this.renderHeader(ui.store.active));
  }

  // -- frames ---------------------------------------------------------------------

  _onFrame(frame) {
    switch (frame.type) {
      case "call":
        this._onSnapshot(frame);
        break;
      case "webrtc-offer":
      case "webrtc-answer":
      case "webrtc-ice":
        if (this.session) this.session.onSignal(frame);
        break;
      case "call-ring":
        if (!this.session || this.session.room !== frame.room) this.ring.show(frame);
        break;
      case "call-ring-end":
        this._onRingEnd(frame);
        break;
      default:
    }
  }

  _onSnapshot(frame) {
    const seen = this.snapshots.get(frame.room);
    if (seen && frame.rev < seen.rev) return; // an older snapshot that crossed a newer one
    if (frame.participants.length) this.snapshots.set(frame.room, frame);
    else this.snapshots.delete(frame.room);
    if (this.session && this.session.room === frame.room) this.session.applySnapshot(frame);
    this.ui.store.emit("calls", { room: frame.room });
    if (frame.room === this.ui.store.activeId) this.renderHeader(this.ui.store.active);
  }

  _onReady({ first }) {
    // Snapshots of ongoing calls follow `ready`; ours must be rebuilt from them.
    this.snapshots.clear();
    this.ui.store.emit("calls", {});
    if (!first && this.session) {
      this.session.rejoin().catch((err) => {
        this.ui.toast(`Lost the call: ${err.message}`, "error");
        this.leave({ quiet: true });
      });
    }
  }

  _onRingEnd(frame) {
    this.ring.hide(frame.room);
    const me = this.ui.store.me && this.ui.store.me.id;
    const caller = frame.from.id === me;
    if (frame.reason === "missed") {
      this.ui.toast(caller ? "No answer." : `Missed call from ${frame.from.username}.`, "info");
    } else if (frame.reason === "declined" && caller) {
      this.ui.toast(`${frame.user.username} declined the call.`, "info");
    }
  }

  // -- actions --------------------------------------------------------------------

  /** The header buttons: start or join the room's call, or leave it when in it. */
  async toggle(roomId, { video }) {
    if (!roomId) return;
    if (this.session && this.session.room === roomId) {
      this.leave();
      return;
    }
    await this.start(roomId, { video });
  }

  async start(roomId, { video }) {
    if (this._starting) return;
    const room = this.ui.store.room(roomId);
    if (room && room.voice) video = false; // a voice channel's call is audio-only
    this._starting = true;
    if (this.session) this.leave({ quiet: true });
    const session = new CallSession({ room: roomId, socket: this.ui.socket, api: this.ui.api });
    this.session = session;
    session.addEventListener("dropped", () => session.rejoin().catch(() => this.leave()));
    this.stage.attach(session);
    this.renderHeader(this.ui.store.active);
    try {
      const problems = await session.start({ video });
      for (const problem of problems) this.ui.toast(problem, "error");
    } catch (err) {
      this.ui.toast(err.code === "call_full" ? err.message : `Could not join the call: ${err.message}`, "error");
      this.leave({ quiet: true });
    } finally {
      this._starting = false;
      this.renderHeader(this.ui.store.active);
    }
  }

  leave({ quiet = false } = {}) {
    const session = this.session;
    if (!session) return;
    this.session = null;
    session.leave();
    this.stage.detach();
    this.renderHeader(this.ui.store.active);
    this.ui.store.emit("calls", { room: session.room });
    if (!quiet) this.ui.chat.announcer("You left the call.");
  }

  // -- view helpers ------------------------------------------------------------------

  renderHeader(room) {
    if (!room) return;
    const inThis = this.session && this.session.room === room.id;
    const ongoing = this.snapshots.get(room.id);
    const n = ongoing ? ongoing.participants.length : 0;
    const label = (kind) => {
      if (inThis) return "Leave call";
      if (room.voice) return n ? `Join voice channel (${n} connected)` : "Join voice channel";
      if (n) return `Join ${kind} call (${n} in call)`;
      return `Start ${kind} call`;
    };
    for (const [button, kind] of [
      [this.voiceButton, "voice"],
      [this.videoButton, "video"],
    ]) {
      button.setAttribute("aria-label", label(kind));
      button.title = label(kind);
      button.classList.toggle("in-call", Boolean(inThis));
      button.classList.toggle("call-live", Boolean(n) && !inThis);
    }
    this.videoButton.hidden = Boolean(inThis) || Boolean(room.voice);
    this.voiceButton.replaceChildren(callIcon(inThis ? "phone-off" : "phone", 20));
  }

  /** Who is in the room's call, under its sidebar entry (Discord style); null if nobody. */
  sidebarExtras(room) {
    const snap = this.snapshots.get(room.id);
    if (!snap || !snap.participants.length) return null;
    const names = snap.participants.map((p) => p.user.username);
    return h(
      "ul",
      { class: "call-roster", "aria-label": `In the call: ${names.join(", ")}` },
      snap.participants.map((p) =>
        h(
          "li",
          { class: "call-roster-item" },
          callIcon(p.muted ? "mic-off" : "speaker", 14),
          h("span", { text: p.user.username }),
          p.camera ? callIcon("video", 14) : null,
          p.screen ? callIcon("screen", 14) : null,
        ),
      ),
    );
  }
}
