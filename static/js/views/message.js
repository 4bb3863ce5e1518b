// One message: avatar, author, timestamps, markdown text, files, reactions, thread link,
// the hover/focus toolbar, and the inline editor.

import { avatar } from "../avatar.js";
import { formatBytes, h, icon, iconButton } from "../dom.js";
import { renderMarkdown } from "../markdown.js";
import { exactTime, timeElement } from "../time.js";

/** The server's `icon` kinds for files without a preview (docs/protocol.md, Files). */
const FILE_KINDS = {
  pdf: "PDF",
  archive: "Archive",
  audio: "Audio",
  video: "Video",
  image: "Image",
  document: "Document",
  code: "Code",
  other: "File",
};

/** Messages by the same author this close together share one header. */
export const GROUP_WINDOW_MS = 7 * 60 * 1000;

export function continues(prev, msg) {
  return (
    prev &&
    prev.user.id === msg.user.id &&
    !prev.failed &&
    msg.ts - prev.ts < GROUP_WINDOW_MS &&
    new Date(prev.ts).toDateString() === new Date(msg.ts).toDateString()
  );
}

/** Bumped whenever a message changes, so list reconciliation re-renders it. */
export function touch(msg) {
  msg._v = (msg._v || 0) + 1;
}

function renderFiles(msg) {
  if (!msg.files.length) return null;
  return h(
    "div",
    { class: "attachments" },
    msg.files.map((file) => {
      const type = file.type || "";
      // A thumbnail exists only for images the server could decode; others are downloads.
      const isImage = type.startsWith("image/") && file.url && (file.thumbUrl || !file.icon);
      if (type.startsWith("video/") && file.url) {
        return h("video", { class: "attachment-media", src: file.url, controls: true, preload: "metadata", "aria-label": file.name });
      }
      if (type.startsWith("audio/") && file.url) {
        return h(
          "div",
          { class: "attachment-file" },
          h("div", { class: "attachment-meta" }, h("span", { text: file.name }), h("audio", { src: file.url, controls: true, preload: "metadata", "aria-label": file.name })),
        );
      }
      if (isImage) {
        const img = h("img", {
          src: file.thumbUrl || file.url,
          alt: file.name,
          loading: "lazy",
          decoding: "async",
          width: file.width || null,
          height: file.height || null,
        });
        return h(
          "a",
          { class: "attachment-image", href: file.url, target: "_blank", rel: "noopener noreferrer", title: file.name },
          img,
        );
      }
      const kind = FILE_KINDS[file.icon] || "File";
      return h(
        "div",
        { class: "attachment-file" },
        icon("file", 28),
        h(
          "div",
          { class: "attachment-meta" },
          h("a", { href: file.url, download: file.name, rel: "noopener noreferrer", text: file.name }),
          h("span", { class: "muted", text: `${kind} · ${formatBytes(file.size)}` }),
        ),
      );
    }),
  );
}

function renderReactions(msg, ui, roomId) {
  if (!msg.reactions.size) return null;
  const me = ui.store.me && ui.store.me.id;
  const chips = [];
  for (const [emoji, entry] of msg.reactions) {
    const count = entry.users.size + entry.extra;
    const mine = entry.users.has(me);
    const names = [...entry.users].map((id) => ui.store.users.get(id) || "someone");
    chips.push(
      h(
        "button",
        {
          type: "button",
          class: `reaction${mine ? " mine" : ""}`,
          "aria-pressed": mine ? "true" : "false",
          "aria-label": `${emoji} ${count} reaction${count === 1 ? "" : "s"}${mine ? ", including you" : ""}`,
          title: names.join(", "),
          onclick: () => ui.chat.toggleReaction(roomId, msg, emoji),
        },
        h("span", { class: "reaction-emoji", text: emoji }),
        h("span", { class: "reaction-count", text: String(count) }),
      ),
    );
  }
  chips.push(
    h(
      "button",
      {
        type: "button",
        class: "reaction reaction-add",
        tabindex: "-1", // hidden until hover/focus; the toolbar's button is the keyboard path
        "aria-label": "Add reaction",
        title: "Add reaction",
        onclick: (e) => ui.pickReaction(e.currentTarget, roomId, msg),
      },
      icon("smile", 16),
    ),
  );
  return h("div", { class: "reactions" }, chips);
}

function renderThreadLink(msg, ui, roomId, room) {
  const known = (room.replies.get(msg.id) || []).length;
  const count = msg.replyCount !== null ? Math.max(msg.replyCount, known) : known;
  if (!count) return null;
  return h(
    "button",
    { type: "button", class: "thread-link", onclick: () => ui.chat.openThread(roomId, msg.id) },
    icon("thread", 16),
    `${count} ${count === 1 ? "reply" : "replies"}`,
  );
}

function renderToolbar(msg, ui, roomId, { inThread }) {
  const me = ui.store.me;
  const mine = me && msg.user.id === me.id;
  // Owners and moderators may delete anyone's message (not in DMs).
  const room = ui.store.room(roomId);
  const myRole = room && me && room.members.get(me.id) ? room.members.get(me.id).role : null;
  const canDelete = mine || (room && !room.isDm && (myRole === "owner" || myRole === "moderator"));
  const buttons = [
    iconButton("smile", "Add reaction", (e) => ui.pickReaction(e.currentTarget, roomId, msg)),
    inThread ? null : iconButton("thread", "Reply in thread", () => ui.chat.openThread(roomId, msg.id)),
    mine ? iconButton("edit", "Edit", () => ui.startEdit(roomId, msg)) : null,
    canDelete ? iconButton("trash", "Delete", (e) => ui.confirmDelete(roomId, msg, e.shiftKey)) : null,
  ].filter(Boolean);
  for (const b of buttons) b.tabIndex = -1; // reachable when the message has focus (roving)
  return h("div", { class: "message-actions", role: "toolbar", "aria-label": "Message actions" }, buttons);
}

function renderEditor(msg, ui, roomId) {
  const area = h("textarea", {
    class: "edit-input",
    "aria-label": "Edit",
    rows: Math.min(10, msg.text.split("\n").length + 1),
    maxlength: "4000",
  });
  area.value = msg.text;
  const save = () => {
    const text = area.value.trim();
    ui.stopEdit();
    if (!text) ui.confirmDelete(roomId, msg, false);
    else if (text !== msg.text) ui.chat.editMessage(roomId, msg, text);
  };
  area.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      save();
    } else if (e.key === "Escape") {
      e.preventDefault();
      ui.stopEdit();
    }
  });
  queueMicrotask(() => {
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
  });
  return h(
    "div",
    { class: "editor" },
    area,
    h(
      "p",
      { class: "editor-hint muted" },
      "Enter to ",
      h("button", { type: "button", class: "linklike", onclick: save, text: "save" }),
      " · Escape to ",
      h("button", { type: "button", class: "linklike", onclick: () => ui.stopEdit(), text: "cancel" }),
    ),
  );
}

/**
 * Render a message element. `opts.continuation` hides the header (grouped), `opts.inThread`
 * drops the thread link and button, `opts.editing` shows the inline editor.
 */
export function renderMessage(msg, ui, roomId, opts = {}) {
  const room = ui.store.room(roomId);
  const me = ui.store.me;
  const mine = me && msg.user.id === me.id;
  const mentionsMe =
    !mine && me && new RegExp(`(^|[^A-Za-z0-9_.\\-])@${me.username.replace(/[.\-]/g, "\\$&")}(?![A-Za-z0-9_])`, "i").test(msg.text);
  const classes = ["message"];
  if (opts.continuation) classes.push("continuation");
  if (msg.pending) classes.push("pending");
  if (msg.failed) classes.push("failed");
  if (mentionsMe) classes.push("mentions-me");
  const headerId = `m-${msg.id}-author`;
  const body = h("div", { class: "message-body" });
  if (!opts.continuation) {
    body.append(
      h(
        "h3",
        { class: "message-header", id: headerId },
        h("button", {
          type: "button",
          class: "author",
          text: msg.user.username,
          dataset: { username: msg.user.username },
          onclick: (e) => ui.showUser(e.currentTarget, msg.user),
        }),
        " ",
        timeElement(msg.ts),
      ),
    );
  }
  if (opts.editing) body.append(renderEditor(msg, ui, roomId));
  else {
    const text = h("div", { class: "message-text" });
    if (msg.text) text.append(renderMarkdown(msg.text, { me: me && me.username }));
    if (msg.editedAt) {
      text.append(h("span", { class: "edited muted", title: `Edited ${exactTime(msg.editedAt)}`, text: "(edited)" }));
    }
    body.append(text);
  }
  body.append(...[renderFiles(msg), renderReactions(msg, ui, roomId)].filter(Boolean));
  if (!opts.inThread && room) {
    const link = renderThreadLink(msg, ui, roomId, room);
    if (link) body.append(link);
  }
  if (msg.failed) {
    body.append(
      h(
        "p",
        { class: "send-error", role: "alert" },
        `Not sent: ${msg.failed}. `,
        h("button", { type: "button", class: "linklike", onclick: () => ui.chat.retryMessage(roomId, msg), text: "Retry" }),
        " · ",
        h("button", { type: "button", class: "linklike", onclick: () => ui.chat.discardMessage(roomId, msg), text: "Discard" }),
      ),
    );
  }
  const el = h(
    "li",
    {
      class: classes.join(" "),
      tabindex: "-1",
      dataset: { id: msg.id, seq: msg.seq ? String(msg.seq) : "", user: msg.user.username },
      "aria-labelledby": opts.continuation ? null : headerId,
      "aria-label": opts.continuation ? `${msg.user.username}` : null,
      "aria-busy": msg.pending ? "true" : null,
    },
    opts.continuation ? h("div", { class: "gutter" }, timeElement(msg.ts, { short: true })) : h("div", { class: "gutter" }, avatar(msg.user.username)),
    body,
  );
  if (!msg.pending && !opts.editing) el.append(renderToolbar(msg, ui, roomId, opts));
  return el;
}
