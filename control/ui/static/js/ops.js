// Release operations shown beside a route: freeze and release windows and open needs-review
// items (with acknowledgement). Servers without these features show "not available".
import { h, fill, when, badge } from "./dom.js";
import { can } from "./api.js";
import { ackDialog } from "./actions.js";

export function windowText(out) {
  const w = out.window;
  const scope = w.route ? "this route" : "every route";
  const span = w.recurring ? "weekly" : `${when(w.start)} – ${w.end ? when(w.end) : "until removed"}`;
  return `${w.kind} ${w.name} (${scope}, ${span})${out.open ? " — open now" : ""}: `;
}

export function renderWindows(panel, windows) {
  if (windows === null) return fill(panel, h("h2", {}, "Windows"), h("p", { class: "muted" }, "Not available on this server."));
  return fill(panel, h("h2", {}, "Windows"),
    windows.length
      ? h("ul", { "data-role": "windows" }, windows.map((out) => h("li", {},
        out.open ? badge(out.window.kind === "freeze" ? "frozen" : "open", out.window.kind === "freeze" ? "bad" : "ok") : null, " ",
        windowText(out), out.window.reason)))
      : h("p", { class: "empty" }, "No freeze or release windows."));
}

export function renderReviews(panel, route, reviews, reload) {
  if (reviews === null) return fill(panel, h("h2", {}, "Needs review"), h("p", { class: "muted" }, "Not available on this server."));
  return fill(panel, h("h2", {}, "Needs review"),
    reviews.length
      ? h("ul", { "data-role": "reviews" }, reviews.map((r) => h("li", { "data-review": r.id },
        badge("open", "warn"), ` ${when(r.opened_at)} · ${r.action} by `, r.actor, ": ", r.reason, " ",
        can("operator") ? h("button", { type: "button", "data-action": "ack", onclick: () => ackDialog(route, r, reload) }, "Acknowledge…") : null)))
      : h("p", { class: "empty" }, "No open items."));
}
