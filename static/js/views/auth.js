// Sign up / log in: one clean form, labelled fields, inline errors, focus where it helps.

import { ApiError } from "../api.js";
import { h } from "../dom.js";

function field(id, label, attrs) {
  const input = h("input", { id, name: id, required: true, "aria-describedby": `${id}-hint ${id}-error`, ...attrs });
  const error = h("p", { class: "field-error", id: `${id}-error` });
  return { input, error, el: h("div", { class: "field" }, h("label", { for: id, text: label }), input, error) };
}

/** Render the auth page into `root`; resolves when the user is signed in. */
export function showAuth(root, api, { reason = "" } = {}) {
  return new Promise((resolve) => {
    const username = field("username", "Username", {
      type: "text",
      autocomplete: "username",
      autocapitalize: "none",
      spellcheck: "false",
      maxlength: "32",
    });
    const password = field("password", "Password", { type: "password", autocomplete: "current-password", maxlength: "1024" });
    username.el.append(h("p", { class: "field-hint muted", id: "username-hint", text: "3-32 letters, digits, '_', '.' or '-'." }));
    password.el.append(h("p", { class: "field-hint muted", id: "password-hint", text: "At least 8 characters." }));
    const formError = h("div", { class: "form-error", role: "alert" });
    const login = h("button", { type: "submit", class: "btn btn-primary", value: "login", text: "Log in" });
    const signup = h("button", { type: "submit", class: "btn btn-secondary", value: "signup", text: "Sign up" });
    const form = h(
      "form",
      { class: "auth-form", novalidate: true, "aria-labelledby": "auth-title" },
      h("h1", { id: "auth-title", text: "Welcome to chatd" }),
      h("p", { class: "muted", text: "Log in, or sign up with a new username and password." }),
      formError,
      username.el,
      password.el,
      h("div", { class: "auth-actions" }, login, signup),
    );
    if (reason) formError.textContent = reason;

    const clearErrors = () => {
      formError.textContent = "";
      for (const f of [username, password]) {
        f.error.textContent = "";
        f.input.removeAttribute("aria-invalid");
      }
    };
    const fieldError = (f, message) => {
      f.error.textContent = message;
      f.input.setAttribute("aria-invalid", "true");
    };

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const action = event.submitter && event.submitter.value === "signup" ? "signup" : "login";
      clearErrors();
      const name = username.input.value.trim();
      const pass = password.input.value;
      if (!name) fieldError(username, "Enter a username.");
      if (!pass) fieldError(password, "Enter a password.");
      if (!name || !pass) {
        (name ? password : username).input.focus();
        return;
      }
      password.input.autocomplete = action === "signup" ? "new-password" : "current-password";
      form.setAttribute("aria-busy", "true");
      login.disabled = signup.disabled = true;
      try {
        const user = action === "signup" ? await api.register(name, pass) : await api.login(name, pass);
        resolve({ user, signedUp: action === "signup" });
      } catch (err) {
        login.disabled = signup.disabled = false;
        form.removeAttribute("aria-busy");
        if (err instanceof ApiError && err.fields) {
          if (err.fields.username) fieldError(username, [].concat(err.fields.username).join(" "));
          if (err.fields.password) fieldError(password, [].concat(err.fields.password).join(" "));
          (err.fields.username ? username : password).input.focus();
        } else if (err instanceof ApiError && err.code === "username_taken") {
          fieldError(username, "That username is taken. Log in, or pick another.");
          username.input.focus();
        } else if (err instanceof ApiError && err.status === 401) {
          formError.textContent = "Wrong username or password.";
          password.input.select();
          password.input.focus();
        } else if (err instanceof ApiError && err.status === 429) {
          formError.textContent = `Too many attempts. Try again in ${err.retryAfter || "a few"} seconds.`;
        } else {
          formError.textContent = `Couldn't reach the server: ${err.message}`;
        }
      }
    });

    root.replaceChildren(h("main", { class: "auth-page" }, h("div", { class: "auth-card" }, h("div", { class: "brand", "aria-hidden": "true", text: "chatd" }), form)));
    root.removeAttribute("aria-busy");
    document.title = "Log in | chatd";
    username.input.focus();
  });
}
