// An incoming DM call: "alice is calling" with Accept (voice or video) and Decline.

import { avatar } from "../avatar.js";
import { h } from "../dom.js";
import { callIcon } from "./icons.js";

export class RingPrompt {
  constructor(calls) {
    this.calls = calls;
    this.room = null;
    this.text = h("p", { class: "ring-text", id: "ring-text" });
    this.who = h("div", { class: "ring-who" });
    this.el = h(
      "div",
      { class: "ring", role: "alertdialog", "aria-labelledby": "ring-text", hidden: true },
      this.who,
      this.text,
      h(
        "div",
        { class: "ring-actions" },
        h("button", { type: "button", class: "btn ring-accept", onclick: () => this._accept(false) }, callIcon("phone", 18), " Accept"),
        h("button", { type: "button", class: "btn ring-accept", onclick: () => this._accept(true) }, callIcon("video", 18), " Video"),
        h("button", { type: "button", class: "btn ring-decline", onclick: () => this._decline() }, callIcon("phone-off", 18), " Decline"),
      ),
    );
  }

  show(frame) {
    this.room = frame.room;
    this.who.replaceChildren(avatar(frame.from.username, { size: "lg" }));
    this.text.textContent = `${frame.from.username} is calling you`;
    this.el.hidden = false;
    this.el.querySelector(".ring-accept").focus();
  }

  hide(room = null) {
    if (room && room !== this.room) return;
    this.room = null;
    this.el.hidden = true;
  }

  _accept(video) {
    const room = this.room;
    this.hide();
    if (!room) return;
    this.calls.ui.chat.openRoom(room);
    this.calls.start(room, { video });
  }

  _decline() {
    const room = this.room;
    this.hide();
    if (room) this.calls.ui.socket.send({ type: "call-decline", room, ref: this.calls.ui.socket.nextRef() });
  }
}
