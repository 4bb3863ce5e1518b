// Short notices at the bottom of the screen; errors are announced assertively.

import { h, iconButton } from "../dom.js";

export function createToaster() {
  const region = h("div", { class: "toasts", role: "region", "aria-label": "Notifications" });
  const toast = (text, kind = "info") => {
    const item = h(
      "div",
      { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" },
      h("span", { text }),
      iconButton("close", "Dismiss", () => item.remove()),
    );
    region.append(item);
    setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
  };
  return { region, toast };
}
