// Relative and exact timestamps, and day boundaries, in the reader's locale.
import { h } from "./dom.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const dateFmt = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });
const exactFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });
const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: "long", year: "numeric", month: "long", day: "numeric" });

export function startOfDay(ts) {
  const d = new Date(ts);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

export function sameDay(a, b) {
  return startOfDay(a) === startOfDay(b);
}

/** "just now", "5 minutes ago", "Today at 14:03", "Yesterday at 09:12", "Mar 3, 2025". */
export function relativeTime(ts, now = Date.now()) {
  const diff = now - ts;
  if (diff < MINUTE) return "just now";
  if (diff < HOUR) {
    const minutes = Math.floor(diff / MINUTE);
    return `${minutes} minute${minutes === 1 ? "" : "s"} ago`;
  }
  const today = startOfDay(now);
  if (ts >= today) return `Today at ${timeFmt.format(ts)}`;
  if (ts >= today - 24 * HOUR) return `Yesterday at ${timeFmt.format(ts)}`;
  return `${dateFmt.format(ts)} ${timeFmt.format(ts)}`;
}

export function shortTime(ts) {
  return timeFmt.format(ts);
}

export function exactTime(ts) {
  return exactFmt.format(ts);
}

export function dayLabel(ts, now = Date.now()) {
  const today = startOfDay(now);
  if (ts >= today) return "Today";
  if (ts >= today - 24 * HOUR) return "Yesterday";
  return dayFmt.format(ts);
}

/**
 * A <time> element: relative text (kept fresh by refreshTimes), the exact time as its
 * tooltip and machine-readable datetime.
 */
export function timeElement(ts, { short = false } = {}) {
  const el = h("time", {
    datetime: new Date(ts).toISOString(),
    title: exactTime(ts),
    text: short ? shortTime(ts) : relativeTime(ts),
    class: short ? "ts ts-short" : "ts",
    dataset: { ts: String(ts), short: short ? "1" : "" },
  });
  return el;
}

/** Refresh relative timestamps under `root` (called once a minute). */
export function refreshTimes(root) {
  const now = Date.now();
  for (const el of root.querySelectorAll("time.ts:not(.ts-short)")) {
    el.textContent = relativeTime(Number(el.dataset.ts), now);
  }
}
