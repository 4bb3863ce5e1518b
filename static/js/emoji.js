// The emoji catalog (served by chatd from the PyPI `emoji` package), search and recents.

const RECENT_KEY = "chatd:recent-emoji";
const RECENT_MAX = 24;
/** Shown under "Frequently used" before the user has picked anything. */
const DEFAULT_RECENT = ["👍", "❤️", "😂", "🎉", "😮", "😢", "🙏", "🔥", "✅", "👀", "🚀", "💯"];

let catalogPromise = null;

/** Load the catalog once: [{char, name, aliases, label}] (label: "thumbs up"). */
export function loadEmoji() {
  if (!catalogPromise) {
    const url = document.body.dataset.emojiUrl || "/emoji.json";
    catalogPromise = fetch(url)
      .then((r) => {
        if (!r.ok) throw new Error(`emoji catalog: HTTP ${r.status}`);
        return r.json();
      })
      .then((data) =>
        data.emoji.map(([char, name, aliases]) => ({ char, name, aliases, label: name.replace(/_/g, " ") })),
      )
      .catch((err) => {
        catalogPromise = null; // retry on next use
        throw err;
      });
  }
  return catalogPromise;
}

/**
 * Emoji whose name or alias matches `query`: prefix matches of a name or alias first,
 * then word-prefix matches, then substring matches.
 */
export function searchEmoji(catalog, query, limit = 60) {
  const q = query.trim().toLowerCase().replace(/\s+/g, "_");
  if (!q) return catalog.slice(0, limit);
  const ranked = [[], [], []];
  for (const e of catalog) {
    const names = [e.name, ...e.aliases];
    if (names.some((n) => n.startsWith(q))) ranked[0].push(e);
    else if (names.some((n) => n.includes(`_${q}`))) ranked[1].push(e);
    else if (names.some((n) => n.includes(q))) ranked[2].push(e);
    if (ranked[0].length >= limit) break;
  }
  return ranked.flat().slice(0, limit);
}

export function recentEmoji() {
  try {
    const saved = JSON.parse(localStorage.getItem(RECENT_KEY) || "[]");
    if (Array.isArray(saved) && saved.length) return saved.filter((c) => typeof c === "string");
  } catch {
    /* a corrupt entry just means no recents */
  }
  return DEFAULT_RECENT;
}

export function rememberEmoji(char) {
  const list = [char, ...recentEmoji().filter((c) => c !== char)].slice(0, RECENT_MAX);
  try {
    localStorage.setItem(RECENT_KEY, JSON.stringify(list));
  } catch {
    /* storage full or disabled: recents are a nicety */
  }
}
