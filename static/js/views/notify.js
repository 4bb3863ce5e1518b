// Desktop notifications for mentions and DMs while the tab is hidden (after permission).

import { iconButton } from "../dom.js";

const PREF_KEY = "chatd:notifications";

export class Notifier {
  constructor(onChange) {
    this.onChange = onChange;
    this.supported = "Notification" in window;
  }

  get enabled() {
    return this.supported && Notification.permission === "granted" && localStorage.getItem(PREF_KEY) !== "off";
  }

  async toggle() {
    if (!this.supported) return;
    if (this.enabled) localStorage.setItem(PREF_KEY, "off");
    else {
      localStorage.setItem(PREF_KEY, "on");
      if (Notification.permission !== "granted") await Notification.requestPermission();
    }
    this.onChange();
  }

  button() {
    const label = !this.supported
      ? "Desktop notifications are not supported here"
      : this.enabled
        ? "Turn off desktop notifications"
        : Notification.permission === "denied"
          ? "Desktop notifications are blocked in this browser"
          : "Turn on desktop notifications";
    const b = iconButton("bell", label, () => this.toggle(), { "aria-pressed": this.enabled ? "true" : "false" });
    b.disabled = !this.supported || (Notification.permission === "denied" && !this.enabled);
    return b;
  }

  notify(title, body, tag, onClick) {
    if (!this.enabled) return;
    try {
      const n = new Notification(title, { body, tag });
      n.onclick = () => {
        window.focus();
        onClick();
        n.close();
      };
    } catch {
      /* some platforms only allow notifications from a service worker */
    }
  }
}
