// The composer: Enter sends, Shift+Enter breaks the line, Up edits the last own message,
// `@` completes members, `:` completes emoji, files by button, paste or drag and drop.

import { formatBytes, h, icon, iconButton } from "../dom.js";
import { loadEmoji, rememberEmoji, searchEmoji } from "../emoji.js";

/** The server's limit (chatd/handlers/messages.py MAX_MESSAGE_CHARS). */
export const MAX_CHARS = 4000;
/** Files per upload message (docs/protocol.md, Files). */
const MAX_FILES = 10;
/** Send `typing` at most this often while keys are pressed (the server coalesces to 2 s). */
const TYPING_EVERY_MS = 2500;
const MAX_SUGGESTIONS = 8;

let composerCount = 0;

export class Composer {
  /**
   * opts: label (accessible name), placeholder(), roomId(), threadId() (null for the room),
   * files (accept attachments), onEditLast() (Up in an empty box).
   */
  constructor(ui, opts) {
    this.ui = ui;
    this.opts = opts;
    this.id = `composer-${++composerCount}`;
    this.files = [];
    this.lastTyping = 0;
    this.suggest = null; // {kind, start, items, index}
    this.input = h("textarea", {
      class: "composer-input",
      rows: "1",
      "aria-label": opts.label,
      "aria-autocomplete": "list",
      "aria-expanded": "false",
      "aria-describedby": `${this.id}-error`,
      autocomplete: "off",
      spellcheck: "true",
    });
    this.listbox = h("ul", { class: "suggestions", role: "listbox", id: `${this.id}-list`, hidden: true, "aria-label": "Suggestions" });
    this.input.setAttribute("aria-controls", this.listbox.id);
    this.tray = h("ul", { class: "attachment-tray", hidden: true, "aria-label": "Files to send" });
    this.progress = h("div", { class: "uploads", "aria-live": "polite" });
    this.error = h("p", { class: "composer-error", id: `${this.id}-error`, role: "alert" });
    this.counter = h("span", { class: "char-counter", "aria-hidden": "true" });
    this.fileInput = opts.files ? h("input", { type: "file", multiple: true, hidden: true, tabindex: "-1", "aria-hidden": "true" }) : null;
    const tools = [];
    if (opts.files) {
      tools.push(iconButton("plus", "Upload a file", () => this.fileInput.click(), { class: "icon-btn composer-attach" }));
    }
    this.emojiButton = iconButton("smile", "Choose an emoji", (e) => this.pickEmoji(e.currentTarget), { class: "icon-btn composer-emoji" });
    this.el = h(
      "form",
      { class: "composer", onsubmit: (e) => (e.preventDefault(), this.send()) },
      this.progress,
      this.tray,
      this.listbox,
      h("div", { class: "composer-box" }, ...tools, this.input, this.counter, this.emojiButton),
      this.error,
      this.fileInput,
    );
    this.input.addEventListener("keydown", (e) => this.onKey(e));
    this.input.addEventListener("input", () => this.onInput());
    this.input.addEventListener("blur", () => setTimeout(() => this.closeSuggest(), 150));
    if (opts.files) {
      this.fileInput.addEventListener("change", () => {
        this.addFiles([...this.fileInput.files]);
        this.fileInput.value = "";
      });
      this.input.addEventListener("paste", (e) => {
        const files = [...(e.clipboardData ? e.clipboardData.files : [])];
        if (files.length) {
          e.preventDefault();
          this.addFiles(files);
        }
      });
    }
  }

  refresh() {
    this.input.placeholder = this.opts.placeholder();
  }

  focus() {
    this.input.focus();
  }

  // -- text ----------------------------------------------------------------------------

  autosize() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, window.innerHeight * 0.4)}px`;
  }

  onInput() {
    this.autosize();
    const length = this.input.value.length;
    this.counter.textContent = length > MAX_CHARS - 500 ? String(MAX_CHARS - length) : "";
    this.counter.classList.toggle("over", length > MAX_CHARS);
    if (length <= MAX_CHARS && this.error.dataset.kind === "length") this.setError("");
    if (this.input.value.trim() && Date.now() - this.lastTyping > TYPING_EVERY_MS) {
      this.lastTyping = Date.now();
      this.ui.chat.sendTyping(this.opts.roomId());
    }
    this.updateSuggest();
  }

  setError(text, kind = "") {
    this.error.textContent = text;
    this.error.dataset.kind = kind;
    this.input.setAttribute("aria-invalid", text ? "true" : "false");
  }

  onKey(e) {
    if (this.suggest && !this.listbox.hidden) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        const n = this.suggest.items.length;
        this.suggest.index = (this.suggest.index + (e.key === "ArrowDown" ? 1 : n - 1)) % n;
        this.renderSuggest();
        return;
      }
      if (e.key === "Enter" || e.key === "Tab") {
        e.preventDefault();
        this.applySuggest(this.suggest.index);
        return;
      }
      if (e.key === "Escape") {
        e.preventDefault();
        this.closeSuggest();
        return;
      }
    }
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      this.send();
    } else if (e.key === "ArrowUp" && !this.input.value && this.opts.onEditLast) {
      if (this.opts.onEditLast()) e.preventDefault();
    } else if (e.key === "Escape" && this.opts.onEscape) {
      this.opts.onEscape();
    }
  }

  send() {
    const text = this.input.value.trim();
    if (text.length > MAX_CHARS) {
      this.setError(`Your message is too long: ${text.length} characters, the limit is ${MAX_CHARS}.`, "length");
      return;
    }
    const roomId = this.opts.roomId();
    if (this.files.length) {
      this.upload(roomId, this.files, text);
      this.files = [];
      this.renderTray();
    } else if (text) {
      this.ui.chat.sendMessage(roomId, text, this.opts.threadId ? this.opts.threadId() : null);
    } else return;
    this.input.value = "";
    this.setError("");
    this.counter.textContent = "";
    this.autosize();
    this.closeSuggest();
  }

  insert(text) {
    const { selectionStart: start, selectionEnd: end, value } = this.input;
    this.input.value = value.slice(0, start) + text + value.slice(end);
    const caret = start + text.length;
    this.input.setSelectionRange(caret, caret);
    this.input.focus();
    this.onInput();
  }

  pickEmoji(anchor) {
    this.ui.picker.open(anchor, (emoji) => this.insert(emoji));
  }

  // -- autocomplete ------------------------------------------------------------------------

  async updateSuggest() {
    const caret = this.input.selectionStart;
    const before = this.input.value.slice(0, caret);
    const mention = /(^|\s)@([A-Za-z0-9_.\-]{0,32})$/.exec(before);
    const emoji = /(^|\s):([a-z0-9_+\-]{2,40})$/i.exec(before);
    if (mention) {
      const q = mention[2].toLowerCase();
      const names = this.ui.mentionCandidates(this.opts.roomId());
      const items = names
        .filter((n) => n.toLowerCase().startsWith(q))
        .slice(0, MAX_SUGGESTIONS)
        .map((n) => ({ label: `@${n}`, insert: `@${n} `, key: n }));
      this.openSuggest("mention", caret - q.length - 1, items);
    } else if (emoji) {
      let catalog;
      try {
        catalog = await loadEmoji();
      } catch {
        return;
      }
      if (this.input.selectionStart !== caret) return; // typed on meanwhile
      const q = emoji[2].toLowerCase();
      const items = searchEmoji(catalog, q, MAX_SUGGESTIONS).map((e) => ({
        label: `:${e.name}:`,
        glyph: e.char,
        insert: e.char,
        key: e.name,
      }));
      this.openSuggest("emoji", caret - q.length - 1, items);
    } else this.closeSuggest();
  }

  openSuggest(kind, start, items) {
    if (!items.length) {
      this.closeSuggest();
      return;
    }
    this.suggest = { kind, start, items, index: 0 };
    this.renderSuggest();
  }

  renderSuggest() {
    const { items, index, kind } = this.suggest;
    this.listbox.replaceChildren(
      ...items.map((item, i) =>
        h(
          "li",
          {
            role: "option",
            id: `${this.id}-opt-${i}`,
            class: `suggestion${i === index ? " active" : ""}`,
            "aria-selected": i === index ? "true" : "false",
            onmousedown: (e) => {
              e.preventDefault();
              this.applySuggest(i);
            },
          },
          item.glyph ? h("span", { class: "suggestion-glyph", text: item.glyph }) : null,
          h("span", { text: item.label }),
        ),
      ),
    );
    this.listbox.setAttribute("aria-label", kind === "mention" ? "Members" : "Emoji");
    this.listbox.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
    this.input.setAttribute("aria-activedescendant", `${this.id}-opt-${index}`);
  }

  applySuggest(i) {
    const { start, items, kind } = this.suggest;
    const item = items[i];
    const caret = this.input.selectionStart;
    const value = this.input.value;
    this.input.value = value.slice(0, start) + item.insert + value.slice(caret);
    const pos = start + item.insert.length;
    this.input.setSelectionRange(pos, pos);
    if (kind === "emoji") rememberEmoji(item.insert);
    this.closeSuggest();
    this.autosize();
  }

  closeSuggest() {
    this.suggest = null;
    this.listbox.hidden = true;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  }

  // -- files -------------------------------------------------------------------------------

  addFiles(files) {
    if (!this.opts.files || !files.length) return;
    const empty = files.filter((f) => f.size === 0);
    const usable = files.filter((f) => f.size > 0);
    const room = MAX_FILES - this.files.length;
    this.files.push(...usable.slice(0, Math.max(0, room)));
    const problems = [];
    if (empty.length) problems.push(`${empty.map((f) => f.name || "a folder").join(", ")}: empty, not added.`);
    if (usable.length > room) problems.push(`At most ${MAX_FILES} files per message; ${usable.length - room} not added.`);
    this.setError(problems.join(" "));
    this.renderTray();
    this.input.focus();
  }

  renderTray() {
    this.tray.hidden = this.files.length === 0;
    this.tray.replaceChildren(
      ...this.files.map((file, i) => {
        const preview = file.type.startsWith("image/")
          ? h("img", { class: "tray-thumb", src: URL.createObjectURL(file), alt: "" })
          : h("span", { class: "tray-icon" }, icon("file", 28));
        if (preview.tagName === "IMG") preview.addEventListener("load", () => URL.revokeObjectURL(preview.src), { once: true });
        return h(
          "li",
          { class: "tray-item" },
          preview,
          h("span", { class: "tray-name", text: file.name, title: file.name }),
          h("span", { class: "tray-size muted", text: formatBytes(file.size) }),
          iconButton("close", `Remove ${file.name}`, () => {
            this.files.splice(i, 1);
            this.renderTray();
            this.input.focus();
          }),
        );
      }),
    );
  }

  upload(roomId, files, text) {
    const label = files.length === 1 ? files[0].name : `${files.length} files`;
    const bar = h("progress", { max: "100", value: "0", "aria-label": `Uploading ${label}` });
    const status = h("span", { class: "upload-status", text: "0%" });
    let handle;
    const row = h(
      "div",
      { class: "upload" },
      h("span", { class: "upload-name", text: `Uploading ${label}` }),
      bar,
      status,
      iconButton("close", `Cancel upload of ${label}`, () => handle.abort()),
    );
    this.progress.append(row);
    handle = this.ui.chat.upload(roomId, files, text, (fraction) => {
      const pct = Math.round(fraction * 100);
      bar.value = pct;
      status.textContent = `${pct}%`;
    });
    handle.promise.then(
      () => row.remove(),
      (err) => {
        row.remove();
        if (err.code === "aborted") return;
        const unsupported = err.status === 404 && err.code === "http_404";
        this.setError(unsupported ? "File uploads aren't available on this server yet." : `Couldn't upload ${label}: ${err.message}`);
        if (text && !this.input.value) this.input.value = text; // keep the caption
      },
    );
  }
}
