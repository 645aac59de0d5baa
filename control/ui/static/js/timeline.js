// The timeline page: the route's postmortem timeline as `turnout timeline` renders it (the
// server's Markdown), for a chosen period.
import { h, fill } from "./dom.js";
import { ApiError, get, enc } from "./api.js";
import { markdown } from "./markdown.js";

const PERIODS = ["1h", "2h", "6h", "24h", "2d"];

export function renderTimeline(main, name, ctx) {
  let since = "2h";
  let stopped = false;
  const body = h("div", { "data-role": "timeline" }, h("p", { class: "muted" }, "Loading…"));
  const picker = h("div", { class: "tabs", role: "group", "aria-label": "Period" });
  fill(main, h("section", { class: "panel", "aria-labelledby": "timeline-title" },
    h("div", { class: "row" }, h("h1", { id: "timeline-title" }, `Timeline of ${name}`), h("span", { class: "spacer" }), picker),
    body));

  async function load() {
    fill(picker, PERIODS.map((p) => h("button", { type: "button", "aria-pressed": String(p === since),
      onclick: () => { since = p; load(); } }, p)));
    try {
      const found = await get(`/admin/routes/${enc(name)}/timeline?since=${since}`);
      if (stopped) return;
      const text = typeof found === "string" ? found : found.markdown;
      fill(body, markdown(text || "", 1));
    } catch (failure) {
      if (stopped) return;
      const missing = failure instanceof ApiError && (failure.status === 404 || failure.status === 405) && !failure.field;
      fill(body, h("p", { class: missing ? "muted" : "error" }, missing ? "This server does not provide timelines." : failure.message));
    }
  }
  load();
  return () => { stopped = true; };
}
