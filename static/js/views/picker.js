// The emoji picker: a popover with search, "Frequently used" and the full catalog.

import { h } from "../dom.js";
import { loadEmoji, recentEmoji, rememberEmoji, searchEmoji } from "../emoji.js";

const COLUMNS = 8;

export class EmojiPicker {
  constructor() {
    this.search = h("input", { type: "search", class: "picker-search", "aria-label": "Search emoji", placeholder: "Search emoji", autocomplete: "off" });
    this.grid = h("div", { class: "picker-grid" });
    this.status = h("p", { class: "picker-status muted", role: "status" });
    this.el = h(
      "div",
      { class: "picker", role: "dialog", "aria-label": "Emoji picker", hidden: true },
      this.search,
      this.status,
      this.grid,
    );
    this.onPick = null;
    this.anchor = null;
    this.catalog = null;
    this.search.addEventListener("input", () => this.render());
    this.search.addEventListener("keydown", (e) => {
      if (e.key === "ArrowDown" || e.key === "Enter") {
        const first = this.grid.querySelector("button");
        if (first && e.key === "Enter") {
          e.preventDefault();
          this.pick(first.dataset.emoji);
        } else if (first) {
          e.preventDefault();
          first.focus();
        }
      }
    });
    this.el.addEventListener("keydown", (e) => this.onKey(e));
    document.addEventListener("mousedown", (e) => {
      if (!this.el.hidden && !this.el.contains(e.target) && e.target !== this.anchor && !(this.anchor && this.anchor.contains(e.target))) this.close(false);
    });
  }

  async open(anchor, onPick) {
    if (!this.el.hidden && this.anchor === anchor) {
      this.close();
      return;
    }
    this.anchor = anchor;
    this.onPick = onPick;
    this.el.hidden = false;
    this.search.value = "";
    this.position();
    this.search.focus();
    try {
      this.catalog = await loadEmoji();
      this.status.textContent = "";
    } catch (err) {
      this.status.textContent = `Couldn't load emoji: ${err.message}`;
      return;
    }
    this.render();
  }

  position() {
    const r = this.anchor.getBoundingClientRect();
    const width = Math.min(352, window.innerWidth - 16);
    const height = Math.min(400, window.innerHeight - 16);
    let left = Math.min(window.innerWidth - width - 8, Math.max(8, r.right - width));
    let top = r.top - height - 8;
    if (top < 8) top = Math.min(window.innerHeight - height - 8, r.bottom + 8);
    Object.assign(this.el.style, { left: `${left}px`, top: `${top}px`, width: `${width}px`, height: `${height}px` });
  }

  button(char, label) {
    return h("button", {
      type: "button",
      class: "picker-emoji",
      "aria-label": label,
      title: `:${label.replace(/ /g, "_")}:`,
      text: char,
      dataset: { emoji: char },
      onclick: () => this.pick(char),
    });
  }

  render() {
    if (!this.catalog) return;
    const q = this.search.value;
    const sections = [];
    if (q.trim()) {
      const found = searchEmoji(this.catalog, q, 200);
      this.status.textContent = found.length ? `${found.length} found` : "No emoji match.";
      sections.push(["Results", found.map((e) => this.button(e.char, e.label))]);
    } else {
      this.status.textContent = "";
      const byChar = new Map(this.catalog.map((e) => [e.char, e]));
      sections.push([
        "Frequently used",
        recentEmoji().map((c) => this.button(c, byChar.has(c) ? byChar.get(c).label : c)),
      ]);
      sections.push(["All emoji", this.catalog.map((e) => this.button(e.char, e.label))]);
    }
    this.grid.replaceChildren(
      ...sections.map(([title, buttons]) =>
        h("section", { class: "picker-section", "aria-label": title }, h("h3", { class: "picker-heading", text: title }), h("div", { class: "picker-cells" }, buttons)),
      ),
    );
  }

  onKey(e) {
    if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      this.close();
      return;
    }
    const btn = e.target.closest(".picker-emoji");
    if (!btn) return;
    const all = [...this.grid.querySelectorAll(".picker-emoji")];
    const i = all.indexOf(btn);
    const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: COLUMNS, ArrowUp: -COLUMNS };
    if (e.key in moves) {
      e.preventDefault();
      const j = i + moves[e.key];
      if (j < 0) this.search.focus();
      else if (all[Math.min(j, all.length - 1)]) all[Math.min(j, all.length - 1)].focus();
    }
  }

  pick(char) {
    rememberEmoji(char);
    const cb = this.onPick;
    this.close();
    if (cb) cb(char);
  }

  close(restoreFocus = true) {
    if (this.el.hidden) return;
    this.el.hidden = true;
    this.grid.replaceChildren();
    if (restoreFocus && this.anchor && this.anchor.isConnected) this.anchor.focus();
    this.onPick = null;
  }
}
