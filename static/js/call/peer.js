// One RTCPeerConnection to one other participant, negotiated with the perfect-negotiation
// pattern (https://w3c.github.io/webrtc-pc/#perfect-negotiation-example).
//
// Media layout: three transceivers in a fixed order - microphone, camera, screen - created
// by the initiator only (the side whose session id sorts lower), so the first offer never
// collides. The responder takes them over when the offer arrives and answers with its own
// tracks on them. After that every media change (mute, camera off, screen share, another
// device) is a `replaceTrack` on an existing sender: no renegotiation, no glitch. If a
// renegotiation ever happens from both sides at once (an ICE restart), the polite side
// (the responder) rolls its offer back and the impolite side's wins.

export const SLOTS = ["audio", "camera", "screen"];
const KINDS = { audio: "audio", camera: "video", screen: "video" };

export class PeerLink {
  /**
   * @param {object} o
   * @param {string} o.local, o.remote   session ids
   * @param {RTCConfiguration} o.config
   * @param {(kind: string, payload: object) => void} o.signal   sends webrtc-<kind> to the peer
   * @param {() => Record<string, MediaStreamTrack|null>} o.tracks   what we send per slot now
   * @param {MediaStream} o.stream   our stream (sent as the msid so tracks arrive grouped)
   */
  constructor({ local, remote, config, signal, tracks, stream, onChange }) {
    this.remote = remote;
    this.initiator = local < remote;
    this.polite = !this.initiator;
    this.signal = signal;
    this.tracks = tracks;
    this.stream = stream;
    this.onChange = onChange || (() => {});
    this.pc = new RTCPeerConnection(config);
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.settingAnswer = false;
    this.slots = {}; // slot -> RTCRtpTransceiver
    this.remoteStream = new MediaStream();
    this.screenStream = new MediaStream();
    this.closed = false;
    // Signals are applied one at a time, in arrival order: a candidate must not race
    // the setRemoteDescription of the offer it belongs to.
    this._inbox = Promise.resolve();

    this.pc.onnegotiationneeded = () => this._offer();
    this.pc.onicecandidate = ({ candidate }) => {
      // The end-of-candidates null is not sent: trickle ICE works without it.
      if (candidate && candidate.candidate) this.signal("ice", { candidate: candidate.toJSON() });
    };
    this.pc.oniceconnectionstatechange = () => {
      if (this.pc.iceConnectionState === "failed") this.pc.restartIce();
      this.onChange();
    };
    this.pc.onconnectionstatechange = () => this.onChange();
    this.pc.ontrack = ({ transceiver }) => this._adopt(transceiver);

    if (this.initiator) {
      const now = this.tracks();
      for (const slot of SLOTS) {
        const t = this.pc.addTransceiver(now[slot] || KINDS[slot], { direction: "sendrecv", streams: [this.stream] });
        this.slots[slot] = t;
      }
    }
  }

  get state() {
    return this.pc.connectionState;
  }

  async _offer() {
    if (this.closed) return;
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      this.signal("offer", { sdp: this.pc.localDescription.sdp });
    } catch (err) {
      console.warn("chatd call: offer failed", err);
    } finally {
      this.makingOffer = false;
    }
  }

  /** Apply a relayed `webrtc-*` frame (in order with the ones before it). */
  receive(frame) {
    const step = frame.type === "webrtc-ice" ? () => this.onCandidate(frame.candidate) : () => this.onDescription(frame.type.slice(7), frame.sdp);
    this._inbox = this._inbox.then(step).catch((err) => console.warn("chatd call: signal failed", err));
    return this._inbox;
  }

  /** A remote offer or answer. */
  async onDescription(type, sdp) {
    if (this.closed) return;
    const pc = this.pc;
    const readyForOffer = !this.makingOffer && (pc.signalingState === "stable" || this.settingAnswer);
    const collision = type === "offer" && !readyForOffer;
    this.ignoreOffer = !this.polite && collision;
    if (this.ignoreOffer) return;
    this.settingAnswer = type === "answer";
    try {
      await pc.setRemoteDescription({ type, sdp }); // rolls back our own offer if polite
    } finally {
      this.settingAnswer = false;
    }
    if (type === "offer") {
      this._takeOverTransceivers();
      await pc.setLocalDescription();
      this.signal("answer", { sdp: pc.localDescription.sdp });
    }
    this.onChange();
  }

  async onCandidate(candidate) {
    if (this.closed) return;
    try {
      await this.pc.addIceCandidate(candidate);
    } catch (err) {
      if (!this.ignoreOffer) console.warn("chatd call: bad ICE candidate", err);
    }
  }

  /** Responder: the offer created the three transceivers; send our tracks on them. */
  _takeOverTransceivers() {
    if (this.slots.audio) return;
    const byMid = [...this.pc.getTransceivers()].filter((t) => t.mid !== null).sort((a, b) => Number(a.mid) - Number(b.mid));
    const now = this.tracks();
    SLOTS.forEach((slot, i) => {
      const t = byMid[i];
      if (!t) return;
      this.slots[slot] = t;
      t.direction = "sendrecv";
      t.sender.setStreams(this.stream);
      t.sender.replaceTrack(now[slot] || null);
      this._adopt(t);
    });
  }

  _adopt(transceiver) {
    const slot = Object.keys(this.slots).find((s) => this.slots[s] === transceiver);
    const track = transceiver.receiver.track;
    if (!slot || !track) return;
    const stream = slot === "screen" ? this.screenStream : this.remoteStream;
    if (!stream.getTracks().includes(track)) stream.addTrack(track);
    this.onChange();
  }

  /** Send `track` (or nothing) in a slot: no renegotiation. */
  async setTrack(slot, track) {
    const t = this.slots[slot];
    if (t) await t.sender.replaceTrack(track || null);
  }

  close() {
    this.closed = true;
    this.pc.close();
  }
}
