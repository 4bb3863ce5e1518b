// Generated avatars: initials on a color picked from the username, no external service.
import { h } from "./dom.js";

/** Background colors in app.css (.av-0 ... .av-9), each >= 4.5:1 against white text. */
export const AVATAR_COLORS = 10;

/** FNV-1a: a stable, well-spread hash of the username (same color in every tab and browser). */
export function colorIndex(username) {
  let hash = 0x811c9dc5;
  for (const ch of username.toLowerCase()) {
    hash ^= ch.codePointAt(0);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % AVATAR_COLORS;
}

/** "alice" -> "AL", "bob_smith" -> "BS", "x.y-z" -> "XY". */
export function initials(username) {
  const parts = username.split(/[_.\-\s]+/).filter(Boolean);
  if (parts.length > 1) return (parts[0][0] + parts[1][0]).toUpperCase();
  return Array.from(username).slice(0, 2).join("").toUpperCase();
}

/** The avatar element; `presence` ("online"/"offline"/null) adds a status dot. */
export function avatar(username, { size = "md", presence = null } = {}) {
  const el = h(
    "span",
    { class: `avatar avatar-${size} av-${colorIndex(username)}`, "aria-hidden": "true" },
    h("span", { class: "avatar-initials", text: initials(username) }),
  );
  if (presence) el.append(h("span", { class: `presence-dot ${presence}` }));
  return el;
}
