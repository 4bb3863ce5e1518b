// Local media for a call: microphone, camera, screen, device choice, and audio levels.

const PREFS_KEY = "chatd:call-devices";
/** Camera capture: 640x360 keeps a 6-person mesh within a home uplink (5 copies). */
const VIDEO = { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 24 } };

function loadPrefs() {
  try {
    return JSON.parse(localStorage.getItem(PREFS_KEY) || "{}");
  } catch {
    return {};
  }
}

function constraint(deviceId, base = true) {
  if (!deviceId) return base;
  return { ...(base === true ? {} : base), deviceId: { exact: deviceId } };
}

/** Why a capture failed, in words a person can act on. */
export function mediaError(err, what) {
  const name = err && err.name;
  if (name === "NotAllowedError") return `${what}: permission denied. Allow it in the browser's site settings.`;
  if (name === "NotFoundError" || name === "OverconstrainedError") return `${what}: no device found.`;
  if (name === "NotReadableError") return `${what}: the device is in use by another application.`;
  return `${what}: ${(err && err.message) || "unavailable"}.`;
}

export class LocalMedia {
  constructor({ onScreenEnded } = {}) {
    this.stream = new MediaStream(); // the msid our senders share
    this.mic = null;
    this.camera = null;
    this.screen = null;
    this.muted = false;
    this.prefs = loadPrefs();
    this.onScreenEnded = onScreenEnded || (() => {});
  }

  /** Microphone (and camera): returns the problems met, as messages (empty when fine). */
  async open({ audio, video }) {
    const problems = [];
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      return ["This browser cannot capture audio or video (a secure context is needed)."];
    }
    try {
      const got = await navigator.mediaDevices.getUserMedia({ audio: constraint(this.prefs.audioinput), video: false });
      this.mic = got.getAudioTracks()[0] || null;
    } catch (err) {
      problems.push(mediaError(err, "Microphone"));
    }
    this.muted = !audio || !this.mic;
    if (this.mic) this.mic.enabled = !this.muted;
    if (video) {
      const problem = await this.setCamera(true);
      if (problem) problems.push(problem);
    }
    return problems;
  }

  /** Camera on (a fresh capture) or off (the device is released); a message on failure. */
  async setCamera(on) {
    if (!on) {
      if (this.camera) this.camera.stop();
      this.camera = null;
      return null;
    }
    if (this.camera) return null;
    try {
      const got = await navigator.mediaDevices.getUserMedia({ video: constraint(this.prefs.videoinput, VIDEO) });
      this.camera = got.getVideoTracks()[0];
      return null;
    } catch (err) {
      return mediaError(err, "Camera");
    }
  }

  setMuted(muted) {
    this.muted = muted;
    if (this.mic) this.mic.enabled = !muted;
  }

  /** What goes out now, per slot: a muted microphone sends nothing at all. */
  tracks() {
    return { audio: this.muted ? null : this.mic, camera: this.camera, screen: this.screen };
  }

  async startScreen() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) {
      return "Screen sharing is not available in this browser.";
    }
    try {
      const got = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false });
      this.screen = got.getVideoTracks()[0];
      // The browser's own "Stop sharing" button ends the track.
      this.screen.addEventListener("ended", () => {
        this.screen = null;
        this.onScreenEnded();
      });
      if ("contentHint" in this.screen) this.screen.contentHint = "detail";
      return null;
    } catch (err) {
      return err && err.name === "NotAllowedError" ? null : mediaError(err, "Screen sharing");
    }
  }

  stopScreen() {
    if (this.screen) this.screen.stop();
    this.screen = null;
  }

  /** Switch microphone or camera; returns the new track (null if that one is off). */
  async useDevice(kind, deviceId) {
    this.prefs[kind] = deviceId;
    try {
      localStorage.setItem(PREFS_KEY, JSON.stringify(this.prefs));
    } catch {
      /* private mode: the choice lasts for this call */
    }
    if (kind === "audioinput") {
      const got = await navigator.mediaDevices.getUserMedia({ audio: constraint(deviceId) });
      if (this.mic) this.mic.stop();
      this.mic = got.getAudioTracks()[0];
      this.mic.enabled = !this.muted;
      return this.mic;
    }
    if (kind === "videoinput" && this.camera) {
      this.camera.stop();
      this.camera = null;
      await this.setCamera(true);
      return this.camera;
    }
    return null;
  }

  static async devices() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return [];
    return navigator.mediaDevices.enumerateDevices();
  }

  stop() {
    for (const track of [this.mic, this.camera, this.screen]) if (track) track.stop();
    this.mic = this.camera = this.screen = null;
  }
}

/**
 * Audio levels for speaking indicators: one AudioContext, an analyser per stream,
 * sampled every 50 ms over a ~43 ms window (2048 samples at 48 kHz), so even a short
 * sound is seen; callers hold the indicator a moment so it does not flicker.
 */
export class LevelMeter {
  constructor() {
    this.ctx = null;
    this.watched = new Map(); // key -> {analyser, source, data, onLevel, track}
    this.timer = null;
  }

  watch(key, track, onLevel) {
    this.unwatch(key);
    if (!track) return;
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    if (!this.ctx) this.ctx = new Ctx();
    if (this.ctx.state === "suspended") this.ctx.resume().catch(() => {});
    const source = this.ctx.createMediaStreamSource(new MediaStream([track]));
    const analyser = this.ctx.createAnalyser();
    analyser.fftSize = 2048;
    source.connect(analyser);
    this.watched.set(key, { analyser, source, data: new Float32Array(analyser.fftSize), onLevel, track });
    if (!this.timer) this.timer = setInterval(() => this._sample(), 50);
  }

  unwatch(key) {
    const w = this.watched.get(key);
    if (!w) return;
    w.source.disconnect();
    this.watched.delete(key);
    if (!this.watched.size) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  _sample() {
    for (const w of this.watched.values()) {
      w.analyser.getFloatTimeDomainData(w.data);
      let sum = 0;
      for (const v of w.data) sum += v * v;
      const rms = Math.sqrt(sum / w.data.length);
      w.onLevel(w.track.enabled && w.track.readyState === "live" ? rms : 0);
    }
  }

  close() {
    for (const key of [...this.watched.keys()]) this.unwatch(key);
    if (this.ctx) this.ctx.close().catch(() => {});
    this.ctx = null;
  }
}
