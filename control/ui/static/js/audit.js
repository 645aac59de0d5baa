// The audit trail of a route, newest first: who changed what, why, and the evidence behind
// the controller's decisions.
import { h, fill, when, badge } from "./dom.js";

function weights(state) {
  if (!state || !state.weights) return "";
  return Object.entries(state.weights).filter(([, w]) => w > 0).map(([r, w]) => `${r} ${w}%`).join(", ");
}

export function renderAudit(panel, entries) {
  const rows = entries.slice().reverse().map((e) => h("tr", { "data-audit": e.id },
    h("td", { class: "small" }, when(e.time)),
    h("td", {}, e.actor),
    h("td", {}, badge(e.action, e.action.includes("rollback") || e.action.includes("abort") ? "bad" : ""),
      h("div", { class: "small muted" }, weights(e.after))),
    h("td", { "data-role": "reason" }, e.reason,
      e.evidence ? h("details", {}, h("summary", { class: "small" }, "evidence"), h("pre", {}, JSON.stringify(e.evidence, null, 2))) : null),
    h("td", { class: "num" }, e.revision ?? "–")));
  fill(panel, h("h2", {}, "Audit trail"),
    rows.length ? h("div", { class: "table-wrap" }, h("table", { "data-role": "audit" },
      h("thead", {}, h("tr", {}, ["Time", "Actor", "Action", "Reason", "Rev"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows)))
      : h("p", { class: "empty" }, "No entries."));
}
