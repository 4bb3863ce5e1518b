// Entry point: restore the session from the refresh cookie, or show the log-in page;
// then mount the app. Signing in never reloads the page; logging out does (clean state).

import { Api } from "./api.js";
import { App, applyStoredTheme } from "./app.js";
import { showAuth } from "./views/auth.js";

const REASON_KEY = "chatd:logout-reason";

async function boot() {
  applyStoredTheme();
  const root = document.getElementById("root");
  const api = new Api();
  const reason = sessionStorage.getItem(REASON_KEY) || "";
  sessionStorage.removeItem(REASON_KEY);
  let signedIn = false;
  try {
    signedIn = await api.refresh();
  } catch {
    signedIn = false; // server unreachable: the form says so when used
  }
  if (!signedIn) {
    const { signedUp } = await showAuth(root, api, { reason });
    if (signedUp || !location.hash) history.replaceState(null, "", "#/room/general");
  }
  const app = new App(root, api, {
    onLogout: (why) => {
      if (why && why !== "logged out") sessionStorage.setItem(REASON_KEY, why);
      location.replace("/");
    },
  });
  app.mount();
}

boot();
