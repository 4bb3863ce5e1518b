// The call stage above the messages: a tile per participant (camera or avatar, name,
// muted mark, speaking ring, connection hint), a tile per shared screen, the controls and
// the device pickers. Tiles are updated in place: a video element keeps its stream.

import { avatar } from "../avatar.js";
import { h } from "../dom.js";
import { callIcon } from "./icons.js";
import { LevelMeter, LocalMedia } from "./media.js";

/** RMS level above which someone counts as speaking (fake and real mics: ~0.02-0.3). */
const SPEAKING = 0.015;
/** The ring stays this long after the last loud sample: speech has short pauses. */
const SPEAKING_HOLD_MS = 400;

function controlButton(iconName, label, onclick, extra = "") {
  return h("button", { type: "button", class: `call-btn ${extra}`.trim(), "aria-label": label, title: label, onclick }, callIcon(iconName, 22));
}

function setButton(button, iconName, label, pressed) {
  button.replaceChildren(callIcon(iconName, 22));
  button.setAttribute("aria-label", label);
  button.title = label;
  if (pressed !== undefined) button.setAttribute("aria-pressed", pressed ? "true" : "false");
}

/** Make `stream` hold exactly `tracks` (nulls skipped), keeping the same object. */
function syncStream(stream, tracks) {
  const want = tracks.filter(Boolean);
  for (const t of stream.getTracks()) if (!want.includes(t)) stream.removeTrack(t);
  for (const t of want) if (!stream.getTracks().includes(t)) stream.addTrack(t);
  return stream;
}

export class CallStage {
  constructor(calls) {
    this.calls = calls;
    this.session = null;
    this.tiles = new Map(); // key ("<session>" or "<session>:screen") -> tile
    this.meter = new LevelMeter();
    this.grid = h("ul", { class: "call-grid", "aria-label": "Participants" });
    this.title = h("h2", { class: "call-title" });
    this.status = h("span", { class: "call-status muted" });
    this.muteButton = controlButton("mic", "Mute", () => this._toggleMute());
    this.cameraButton = controlButton("video", "Turn camera on", () => this._toggleCamera());
    this.screenButton = controlButton("screen", "Share screen", () => this._toggleScreen());
    this.devicesButton = controlButton("settings", "Devices", () => this._toggleDevices());
    this.devicesButton.setAttribute("aria-expanded", "false");
    this.devicesButton.setAttribute("aria-controls", "call-devices");
    this.leaveButton = controlButton("phone-off", "Leave call", () => this.calls.leave(), "call-btn-leave");
    this.devices = h("div", { class: "call-devices", id: "call-devices", hidden: true });
    this.el = h(
      "section",
      { class: "call-stage", hidden: true, "aria-labelledby": "call-title" },
      h("div", { class: "call-head" }, this.title, this.status),
      this.grid,
      h(
        "div",
        { class: "call-controls", role: "toolbar", "aria-label": "Call controls" },
        this.muteButton,
        this.cameraButton,
        this.screenButton,
        this.devicesButton,
        this.leaveButton,
      ),
      this.devices,
    );
    this.title.id = "call-title";
  }

  attach(session) {
    this.detach();
    this.session = session;
    // Our own previews: one stream each, whose tracks follow the camera and screen.
    this.localStream = new MediaStream();
    this.localScreen = new MediaStream();
    this._onChange = () => this.render();
    this._onQuality = () => this.renderQuality();
    session.addEventListener("change", this._onChange);
    session.addEventListener("quality", this._onQuality);
    this.el.hidden = false;
    this.render();
  }

  detach() {
    if (this.session) {
      this.session.removeEventListener("change", this._onChange);
      this.session.removeEventListener("quality", this._onQuality);
    }
    this.session = null;
    for (const key of [...this.tiles.keys()]) this._dropTile(key);
    this.devices.hidden = true;
    this.devicesButton.setAttribute("aria-expanded", "false");
    this.el.hidden = true;
  }

  render() {
    const s = this.session;
    if (!s) return;
    const room = this.calls.ui.store.room(s.room);
    const label = room ? (room.isDm ? this.calls.ui.chat.roomLabel(room) : `#${room.name}`) : s.room;
    this.title.textContent = `Call in ${label}`;
    const count = s.participants.length;
    this.status.textContent = `${count} participant${count === 1 ? "" : "s"}`;

    const wanted = new Set();
    for (const p of s.participants) {
      const local = p.session === s.me;
      const link = local ? null : s.links.get(p.session);
      wanted.add(p.session);
      const stream = local ? syncStream(this.localStream, [s.media.camera]) : link && link.remoteStream;
      const tile = this._tile(p.session, p, stream, { local, screen: false });
      const state = local ? { ...p, muted: s.media.muted, camera: Boolean(s.media.camera), screen: Boolean(s.media.screen) } : p;
      this._updateTile(tile, state, link);
      if (state.screen) {
        const key = `${p.session}:screen`;
        wanted.add(key);
        const screenStream = local ? syncStream(this.localScreen, [s.media.screen]) : link && link.screenStream;
        this._tile(key, p, screenStream, { local, screen: true });
      }
    }
    for (const key of [...this.tiles.keys()]) if (!wanted.has(key)) this._dropTile(key);
    this.grid.dataset.count = String(this.tiles.size);

    const muted = s.media.muted;
    setButton(this.muteButton, muted ? "mic-off" : "mic", muted ? "Unmute" : "Mute", muted);
    const cam = Boolean(s.media.camera);
    setButton(this.cameraButton, cam ? "video" : "video-off", cam ? "Turn camera off" : "Turn camera on", cam);
    // Voice channels: no camera, no screen.
    const audioOnly = Boolean((room && room.voice) || s.audioOnly);
    this.cameraButton.hidden = audioOnly;
    this.screenButton.hidden = audioOnly;
    const sharing = Boolean(s.media.screen);
    setButton(this.screenButton, "screen", sharing ? "Stop sharing" : "Share screen", sharing);
    this.renderQuality();
  }

  renderQuality() {
    const s = this.session;
    if (!s) return;
    for (const [key, tile] of this.tiles) {
      if (tile.local || tile.screen) continue;
      const q = s.quality.get(key);
      const link = s.links.get(key);
      const state = link ? link.state : "new";
      const level = state === "failed" || state === "disconnected" ? "poor" : q ? q.level : "connecting";
      const text = state === "failed" ? "Connection failed; retrying" : q ? q.text : "Connecting…";
      tile.quality.className = `call-quality q-${level}`;
      tile.quality.title = text;
      tile.quality.setAttribute("aria-label", text);
    }
  }

  _tile(key, participant, stream, { local, screen }) {
    let tile = this.tiles.get(key);
    if (!tile) {
      const video = h("video", { autoplay: true, playsinline: true, class: "call-video" });
      // Our own tile never plays our voice back; remote tiles play the peer's audio.
      video.muted = local;
      const name = screen ? `${participant.user.username}'s screen` : local ? `${participant.user.username} (you)` : participant.user.username;
      const quality = h("span", { class: "call-quality q-connecting", role: "img" }, callIcon("signal", 14));
      const mutedMark = h("span", { class: "call-muted", role: "img", "aria-label": "Muted", hidden: true }, callIcon("mic-off", 14));
      const label = h("span", { class: "call-name" }, mutedMark, h("span", { text: name }));
      const el = h(
        "li",
        { class: `call-tile${screen ? " call-tile-screen" : ""}${local ? " call-tile-local" : ""}`, dataset: { session: key }, "aria-label": name },
        video,
        screen ? null : h("div", { class: "call-avatar" }, avatar(participant.user.username, { size: "lg" })),
        label,
        local || screen ? null : quality,
      );
      tile = { el, video, mutedMark, quality, local, screen, audioTrack: null };
      this.tiles.set(key, tile);
      this.grid.append(el);
      if (this.calls.speaker && video.setSinkId) video.setSinkId(this.calls.speaker).catch(() => {});
    }
    if (stream && tile.video.srcObject !== stream) {
      tile.video.srcObject = stream;
      tile.video.play().catch(() => {}); // autoplay needs the join click; it had one
    }
    return tile;
  }

  _updateTile(tile, state, link) {
    tile.el.classList.toggle("no-video", !state.camera);
    tile.mutedMark.hidden = !state.muted;
    const audio = tile.local ? this.session.media.mic : link && link.remoteStream.getAudioTracks()[0];
    if (audio !== tile.audioTrack) {
      tile.audioTrack = audio || null;
      const key = tile.el.dataset.session;
      this.meter.watch(key, tile.audioTrack, (level) => {
        const now = performance.now();
        if (level > SPEAKING && tile.mutedMark.hidden) tile.loudAt = now;
        tile.el.classList.toggle("speaking", now - (tile.loudAt || -Infinity) < SPEAKING_HOLD_MS);
      });
    }
  }

  _dropTile(key) {
    const tile = this.tiles.get(key);
    if (!tile) return;
    this.meter.unwatch(key);
    tile.video.srcObject = null;
    tile.el.remove();
    this.tiles.delete(key);
  }

  // -- controls --------------------------------------------------------------------

  async _toggleMute() {
    const s = this.session;
    if (!s) return;
    if (!s.media.mic) {
      this.calls.ui.toast("No microphone is available.", "error");
      return;
    }
    await s.setMuted(!s.media.muted);
    this.render();
  }

  async _toggleCamera() {
    const s = this.session;
    if (!s) return;
    const problem = await s.setCamera(!s.media.camera);
    if (problem) this.calls.ui.toast(problem, "error");
  }

  async _toggleScreen() {
    const s = this.session;
    if (!s) return;
    const problem = await s.toggleScreen();
    if (problem) this.calls.ui.toast(problem, "error");
  }

  async _toggleDevices() {
    const open = this.devices.hidden;
    this.devices.hidden = !open;
    this.devicesButton.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) await this._renderDevices();
  }

  async _renderDevices() {
    const list = await LocalMedia.devices();
    const s = this.session;
    const current = {
      audioinput: s && s.media.mic ? s.media.mic.getSettings().deviceId : null,
      videoinput: s && s.media.camera ? s.media.camera.getSettings().deviceId : null,
      audiooutput: this.calls.speaker || "default",
    };
    const picker = (kind, label) => {
      const options = list.filter((d) => d.kind === kind);
      if (!options.length) return null;
      const id = `call-device-${kind}`;
      const select = h(
        "select",
        {
          id,
          onchange: (e) => this._useDevice(kind, e.target.value),
        },
        options.map((d, i) => h("option", { value: d.deviceId, selected: d.deviceId === current[kind], text: d.label || `${label} ${i + 1}` })),
      );
      return h("div", { class: "call-device" }, h("label", { for: id, text: label }), select);
    };
    const speakers = "setSinkId" in HTMLMediaElement.prototype ? picker("audiooutput", "Speaker") : null;
    this.devices.replaceChildren(picker("audioinput", "Microphone"), picker("videoinput", "Camera"), speakers);
  }

  async _useDevice(kind, deviceId) {
    if (kind === "audiooutput") {
      this.calls.speaker = deviceId;
      for (const tile of this.tiles.values()) if (tile.video.setSinkId) tile.video.setSinkId(deviceId).catch(() => {});
      return;
    }
    try {
      await this.session.useDevice(kind, deviceId);
    } catch (err) {
      this.calls.ui.toast(`Could not switch device: ${err.message || err.name}`, "error");
    }
  }
}
