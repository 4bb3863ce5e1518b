// One call the user is in: local media, a PeerLink per other participant (a mesh), the
// participants' states from the server's `call` snapshots, and the user's controls.

import { LocalMedia } from "./media.js";
import { PeerLink } from "./peer.js";
import { sampleQuality } from "./quality.js";

const QUALITY_EVERY_MS = 2000;

export class CallSession extends EventTarget {
  constructor({ room, socket, api }) {
    super();
    this.room = room;
    this.socket = socket;
    this.api = api;
    this.media = new LocalMedia({ onScreenEnded: () => this._screenEnded() });
    this.links = new Map(); // remote session -> PeerLink
    this.participants = []; // from the latest snapshot
    this.rev = -1;
    this.me = null; // our session id in this call
    this.config = null;
    this.ended = false;
    this.quality = new Map(); // remote session -> {level, text}
    this._qualityTimer = null;
  }

  _emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** Capture media, fetch ICE servers, join. Returns problems worth telling the user. */
  async start({ video }) {
    const [config, problems] = await Promise.all([this._iceConfig(), this.media.open({ audio: true, video })]);
    this.config = config;
    await this._join();
    this._qualityTimer = setInterval(() => this._sampleQuality(), QUALITY_EVERY_MS);
    return problems;
  }

  async _iceConfig() {
    try {
      const body = await this.api.get("/api/ice-servers");
      return { iceServers: body.iceServers || [], iceTransportPolicy: body.iceTransportPolicy || "all" };
    } catch (err) {
      console.warn("chatd call: no ICE configuration; trying direct connections only", err);
      return { iceServers: [] };
    }
  }

  async _join() {
    this.me = this.socket.session;
    const reply = await this.socket.request({
      type: "call-join",
      room: this.room,
      audio: !this.media.muted,
      video: Boolean(this.media.camera),
    });
    this.rev = -1;
    this.applySnapshot(reply);
    if (this.media.screen) this._sendState({ screen: true });
  }

  /** The socket reconnected: we left the call with the old socket; join again. */
  async rejoin() {
    if (this.ended) return;
    for (const link of this.links.values()) link.close();
    this.links.clear();
    await this._join();
  }

  applySnapshot(frame) {
    if (frame.room !== this.room || frame.rev < this.rev) return;
    this.rev = frame.rev;
    this.participants = frame.participants;
    this.audioOnly = frame.audioOnly;
    const present = new Set(frame.participants.map((p) => p.session));
    if (this.me && !present.has(this.me) && !this.ended) {
      // Dropped by the server (e.g. our node restarted): the caller decides what next.
      this._emit("dropped");
    }
    for (const [session, link] of this.links) {
      if (!present.has(session)) {
        link.close();
        this.links.delete(session);
        this.quality.delete(session);
      }
    }
    for (const p of frame.participants) if (p.session !== this.me) this._link(p.session);
    this._emit("change");
  }

  /** A relayed signal for this call. */
  onSignal(frame) {
    if (frame.room !== this.room || this.ended) return;
    const link = this._link(frame.from);
    link.receive(frame);
  }

  _link(remote) {
    let link = this.links.get(remote);
    if (link) return link;
    link = new PeerLink({
      local: this.me,
      remote,
      config: this.config,
      stream: this.media.stream,
      tracks: () => this.media.tracks(),
      signal: (kind, payload) =>
        // A ref keeps a refusal (the peer just left) out of the global error toasts.
        this.socket.send({ type: `webrtc-${kind}`, room: this.room, to: remote, ref: this.socket.nextRef(), ...payload }),
      onChange: () => this._emit("change"),
    });
    this.links.set(remote, link);
    return link;
  }

  participant(session) {
    return this.participants.find((p) => p.session === session) || null;
  }

  get self() {
    return this.participant(this.me);
  }

  // -- controls ------------------------------------------------------------------

  async setMuted(muted) {
    this.media.setMuted(muted);
    await this._sendAll("audio");
    this._sendState({ muted });
  }

  async setCamera(on) {
    const problem = await this.media.setCamera(on);
    await this._sendAll("camera");
    this._sendState({ camera: Boolean(this.media.camera) });
    this._emit("change");
    return problem;
  }

  async toggleScreen() {
    if (this.media.screen) {
      this.media.stopScreen();
    } else {
      const problem = await this.media.startScreen();
      if (problem || !this.media.screen) return problem;
    }
    await this._sendAll("screen");
    this._sendState({ screen: Boolean(this.media.screen) });
    this._emit("change");
    return null;
  }

  async useDevice(kind, deviceId) {
    const track = await this.media.useDevice(kind, deviceId);
    if (kind === "audioinput") await this._sendAll("audio");
    if (kind === "videoinput" && track) await this._sendAll("camera");
    this._emit("change");
  }

  _screenEnded() {
    this._sendAll("screen");
    this._sendState({ screen: false });
    this._emit("change");
  }

  async _sendAll(slot) {
    const track = this.media.tracks()[slot];
    await Promise.all([...this.links.values()].map((link) => link.setTrack(slot, track)));
  }

  _sendState(state) {
    this.socket.send({ type: "call-state", room: this.room, ref: this.socket.nextRef(), ...state });
  }

  async _sampleQuality() {
    for (const [session, link] of this.links) {
      try {
        const prev = this.quality.get(session);
        this.quality.set(session, await sampleQuality(link.pc, prev && prev.sample));
      } catch {
        /* closed meanwhile */
      }
    }
    this._emit("quality");
  }

  /** Hang up: tell the server (best effort), close every connection, release devices. */
  leave() {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this._qualityTimer);
    this.socket.send({ type: "call-leave", room: this.room, ref: this.socket.nextRef() });
    for (const link of this.links.values()) link.close();
    this.links.clear();
    this.media.stop();
    this._emit("ended");
  }
}
