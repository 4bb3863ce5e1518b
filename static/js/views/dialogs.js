// Modal dialogs (native <dialog>: focus trap, Escape, inert background for free).

import { avatar } from "../avatar.js";
import { h } from "../dom.js";

function modal(title, body, { onClose } = {}) {
  const dialog = h(
    "dialog",
    { class: "modal", "aria-labelledby": "modal-title" },
    h("h2", { id: "modal-title", text: title }),
    body,
  );
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (onClose) onClose();
  });
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

function errorLine() {
  return h("p", { class: "field-error", role: "alert" });
}

export class Dialogs {
  constructor(ui) {
    this.ui = ui;
  }

  /** Create a room, or browse public rooms and join one. */
  async rooms() {
    const name = h("input", { id: "room-name", required: true, maxlength: "64", autocomplete: "off" });
    const topic = h("input", { id: "room-topic", maxlength: "256", autocomplete: "off" });
    const priv = h("input", { id: "room-private", type: "checkbox" });
    const voice = h("input", { id: "room-voice", type: "checkbox" });
    const error = errorLine();
    const browse = h("ul", { class: "browse-list", "aria-label": "Public rooms" }, h("li", { class: "muted", text: "Loading rooms…" }));
    const form = h(
      "form",
      { class: "modal-form", method: "dialog" },
      h("div", { class: "field" }, h("label", { for: "room-name", text: "Room name" }), name),
      h("div", { class: "field" }, h("label", { for: "room-topic", text: "Topic (optional)" }), topic),
      h("div", { class: "field field-inline" }, priv, h("label", { for: "room-private", text: "Private (invite only)" })),
      h("div", { class: "field field-inline" }, voice, h("label", { for: "room-voice", text: "Voice channel (calls are audio-only)" })),
      error,
      h(
        "div",
        { class: "modal-actions" },
        h("button", { type: "button", class: "btn btn-secondary", text: "Cancel", onclick: () => dialog.close() }),
        h("button", { type: "submit", class: "btn btn-primary", text: "Create room" }),
      ),
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      error.textContent = "";
      try {
        await this.ui.chat.createRoom(name.value.trim(), priv.checked, topic.value.trim(), voice.checked);
        dialog.close();
      } catch (err) {
        error.textContent = err.fields && err.fields.name ? [].concat(err.fields.name).join(" ") : err.message;
        name.focus();
      }
    });
    const dialog = modal("Create or join a room", [form, h("h3", { class: "modal-subtitle", text: "Public rooms" }), browse]);
    name.focus();
    try {
      const rooms = (await this.ui.chat.listRooms()).filter((r) => !r.private);
      browse.replaceChildren(
        ...rooms.map((r) =>
          h(
            "li",
            { class: "browse-item" },
            h("span", { class: "browse-name", text: `#${r.name}` }),
            r.topic ? h("span", { class: "muted browse-topic", text: r.topic }) : null,
            r.member
              ? h("span", { class: "muted", text: "Joined" })
              : h("button", {
                  type: "button",
                  class: "btn btn-small",
                  text: "Join",
                  "aria-label": `Join ${r.name}`,
                  onclick: () => {
                    dialog.close();
                    this.ui.chat.openRoom(r.id);
                  },
                }),
          ),
        ),
      );
    } catch (err) {
      browse.replaceChildren(h("li", { class: "field-error", text: `Couldn't list rooms: ${err.message}` }));
    }
  }

  newDm() {
    const input = h("input", { id: "dm-user", required: true, maxlength: "32", autocomplete: "off", list: "dm-users" });
    const known = [...new Set(this.ui.store.users.values())].filter((n) => !this.ui.store.me || n !== this.ui.store.me.username);
    const datalist = h("datalist", { id: "dm-users" }, known.map((n) => h("option", { value: n })));
    const form = h(
      "form",
      { class: "modal-form" },
      h("div", { class: "field" }, h("label", { for: "dm-user", text: "Username" }), input, datalist),
      h(
        "div",
        { class: "modal-actions" },
        h("button", { type: "button", class: "btn btn-secondary", text: "Cancel", onclick: () => dialog.close() }),
        h("button", { type: "submit", class: "btn btn-primary", text: "Open conversation" }),
      ),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const name = input.value.trim();
      if (!name) return;
      dialog.close();
      this.ui.chat.openDm(name);
    });
    const dialog = modal("New direct message", form);
    input.focus();
  }

  invite(roomId) {
    const input = h("input", { id: "invite-user", required: true, maxlength: "32", autocomplete: "off" });
    const error = errorLine();
    const form = h(
      "form",
      { class: "modal-form" },
      h("div", { class: "field" }, h("label", { for: "invite-user", text: "Username" }), input),
      error,
      h(
        "div",
        { class: "modal-actions" },
        h("button", { type: "button", class: "btn btn-secondary", text: "Cancel", onclick: () => dialog.close() }),
        h("button", { type: "submit", class: "btn btn-primary", text: "Invite" }),
      ),
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await this.ui.chat.invite(roomId, input.value.trim());
        dialog.close();
      } catch (err) {
        error.textContent = err.message;
        input.focus();
      }
    });
    const dialog = modal("Invite people", form);
    input.focus();
  }

  /** Resolves true when the user confirms. */
  confirm(title, text, confirmLabel, preview = null) {
    return new Promise((resolve) => {
      let answer = false;
      const ok = h("button", { type: "button", class: "btn btn-danger", text: confirmLabel, onclick: () => ((answer = true), dialog.close()) });
      const dialog = modal(
        title,
        [
          h("p", { text }),
          preview,
          h("div", { class: "modal-actions" }, h("button", { type: "button", class: "btn btn-secondary", text: "Cancel", onclick: () => dialog.close() }), ok),
        ],
        { onClose: () => resolve(answer) },
      );
      ok.focus();
    });
  }

  /** A small card for a user: message them, mention them. */
  user(anchor, user, { onDm, onMention }) {
    const store = this.ui.store;
    const me = store.me && user.id === store.me.id;
    const online = [...store.rooms.values()].some((r) => r.online.has(user.id));
    const dialog = modal(user.username, [
      h("div", { class: "user-card" }, avatar(user.username, { size: "lg", presence: online ? "online" : "offline" }), h("span", { class: "muted", text: online ? "Online" : "Offline" })),
      h(
        "div",
        { class: "modal-actions" },
        h("button", { type: "button", class: "btn btn-secondary", text: "Close", onclick: () => dialog.close() }),
        me ? null : h("button", { type: "button", class: "btn btn-secondary", text: "Mention", onclick: () => (dialog.close(), onMention()) }),
        me ? null : h("button", { type: "button", class: "btn btn-primary", text: "Send message", onclick: () => (dialog.close(), onDm()) }),
      ),
    ]);
    dialog.classList.add("modal-small");
    const primary = dialog.querySelector(".btn-primary") || dialog.querySelector(".btn");
    primary.focus();
    dialog.addEventListener("close", () => anchor && anchor.isConnected && anchor.focus());
  }
}
