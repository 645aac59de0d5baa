// The rollout panel: state, progress to the next decision, each guard's evidence with the
// bounds the controller judged on, their history as charts, and the operator's verbs.
import { h, fill, badge, pct, num, duration, when } from "./dom.js";
import { can } from "./api.js";
import { lineChart } from "./charts.js";
import { verbDialog, startRolloutDialog } from "./actions.js";

const ACTIVE = new Set(["running", "holding", "paused"]);
const VERBS_BY_STATUS = {
  running: ["pause", "promote", "abort"],
  holding: ["pause", "resume", "promote", "abort"],
  paused: ["resume", "promote", "abort"],
};

// Rates in percentage points, the score in its own unit, latency as a fractional slow-down.
function fmtMetric(metric, value, unit = true) {
  if (value === null || value === undefined) return "–";
  if (metric === "score") return value.toFixed(3);
  const text = (value * 100).toFixed(1);
  return unit ? `${text}${metric === "latency" ? "%" : " pp"}` : text;
}

function guardsTable(rollout) {
  const margins = Object.fromEntries(rollout.guards.map((g) => [g.metric, g]));
  if (!rollout.evidence.length) return h("p", { class: "empty" }, "No look yet: the controller judges from the next tick.");
  return h("div", { class: "table-wrap" }, h("table", { "data-role": "guards" },
    h("caption", { class: "sr-only" }, "Per-guard evidence at the latest look"),
    h("thead", {}, h("tr", {}, ["Guard", "Verdict", "n canary / baseline", "Estimate", "Bounds", "Margin"].map(
      (t, i) => h("th", { scope: "col", class: i > 1 ? "num" : null }, t)))),
    h("tbody", {}, rollout.evidence.flatMap((e) => [h("tr", { "data-guard": e.metric, class: "guard" },
      h("th", { scope: "row" }, e.metric),
      h("td", {}, badge(e.verdict, e.verdict)),
      h("td", { class: "num" }, `${num(e.n_canary)} / ${num(e.n_baseline)}`),
      h("td", { class: "num" }, fmtMetric(e.metric, e.estimate)),
      h("td", { class: "num" }, `${fmtMetric(e.metric, e.lower, false)} … ${fmtMetric(e.metric, e.upper)}`),
      h("td", { class: "num" }, margins[e.metric] ? fmtMetric(e.metric, margins[e.metric].margin) : "–")),
    h("tr", { class: "detail" }, h("td", { colspan: 6, class: "small muted" }, e.detail, ` (α ${e.alpha.toPrecision(2)})`))]))));
}

function evidenceCharts(rollout, history) {
  if (!history.length) return null;
  const charts = rollout.guards.map((guard) => {
    const t = [];
    const est = [];
    const lo = [];
    const hi = [];
    for (const point of history) {
      const found = point[2].find((g) => g[0] === guard.metric);
      if (!found) continue;
      t.push(point[0]);
      est.push(found[2]);
      lo.push(found[3]);
      hi.push(found[4]);
    }
    if (!t.length) return null;
    return lineChart({
      id: `evidence-${guard.metric}`,
      title: `${guard.metric}: canary − baseline (regression > 0)`,
      t,
      series: [{ name: "estimate", values: est, lower: lo, upper: hi, cls: "s0" }],
      refs: [{ y: guard.margin, cls: "margin", label: `margin ${guard.margin}` }, { y: 0, cls: "zero", label: "no difference" }],
      format: (v) => fmtMetric(guard.metric, v),
      note: "Band: the confidence bounds the controller judges on; dashed red: the margin.",
    });
  }).filter(Boolean);
  return h("div", {}, h("h3", {}, "Evidence over time"), h("div", { class: "grid" }, charts));
}

function progressBlock(view) {
  const { rollout, progress } = view;
  const step = rollout.step;
  const steps = rollout.steps.map((p, i) => h("span", { class: `badge ${i === step.index ? "info" : ""}`,
    "aria-current": i === step.index ? "step" : null }, `${p}%`));
  const parts = [h("div", { class: "row" }, h("span", {}, `Step ${step.index + 1} of ${rollout.steps.length}:`), steps)];
  if (progress) {
    const fraction = Math.max(0, Math.min(1, progress.fraction));
    parts.push(h("div", { class: "progress", role: "progressbar", "aria-label": "Progress to the next decision",
      "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": Math.round(fraction * 100) },
      h("span", { style: { width: `${fraction * 100}%` } })));
    parts.push(h("div", { class: "small muted" },
      `bake ${duration(progress.bake_remaining_s)} left · ${num(progress.requests_remaining)} canary calls to go · ` +
      `step deadline in ${duration(progress.until_deadline_s)} · ${num(rollout.canary_requests)} canary / ` +
      `${num(rollout.baseline_requests)} baseline calls this step`));
  }
  return parts;
}

function srmLine(rollout) {
  if (!rollout.srm) return null;
  const s = rollout.srm;
  const p = (v) => (v === null || v === undefined ? "–" : v.toPrecision(2));
  return h("p", { class: "small" }, s.mismatch ? badge("sample-ratio mismatch", "bad") : badge("split ok", "ok"),
    ` requests p = ${p(s.requests_p)}, distinct users p = ${p(s.keys_p)}`);
}

function decisions(rollout, open) {
  const items = rollout.decisions.slice().reverse().slice(0, 12);
  return h("details", { "data-key": "decisions", open }, h("summary", {}, `Decisions (${rollout.decisions.length})`),
    h("ul", { class: "small" }, items.map((d) => h("li", {},
      `${when(d.at)} · ${d.action} by ${d.actor}${d.revision ? ` (rev ${d.revision})` : ""}: `, d.reason))));
}

// Redrawn on every look of the controller: keep what the reader opened and where the keyboard
// focus was.
export function renderRollout(panel, view, route, gates, reload) {
  const opened = Boolean(panel.querySelector("details[data-key=decisions][open]"));
  const focused = panel.contains(document.activeElement) ? document.activeElement.dataset.action : null;
  draw(panel, view, route, gates, reload, opened);
  if (focused) {
    const again = panel.querySelector(`[data-action="${focused}"]`);
    if (again) again.focus();
  }
}

function draw(panel, view, route, gates, reload, opened) {
  const heading = h("h2", { id: "rollout-title" }, "Rollout");
  if (!view) {
    const start = can("operator") && route.weights[route.stable] === 100 && route.releases.length > 1
      ? h("button", { type: "button", class: "primary", "data-action": "start-rollout",
        onclick: () => startRolloutDialog(route, gates, reload) }, "Start rollout…")
      : null;
    fill(panel, heading, h("p", { class: "empty" }, "No rollout on this route yet."), start);
    return;
  }
  const { rollout } = view;
  const active = ACTIVE.has(rollout.status);
  const buttons = can("operator") && active
    ? (VERBS_BY_STATUS[rollout.status] || []).map((verb) => h("button", {
      type: "button", class: verb === "abort" ? "danger" : "", "data-action": `rollout-${verb}`,
      onclick: () => verbDialog(route.name, verb, reload) }, verb[0].toUpperCase() + verb.slice(1) + "…"))
    : [];
  if (can("operator") && !active && route.weights[route.stable] === 100) {
    buttons.push(h("button", { type: "button", class: "primary", "data-action": "start-rollout",
      onclick: () => startRolloutDialog(route, gates, reload) }, "Start another rollout…"));
  }
  fill(panel,
    h("div", { class: "row" }, heading, badge(rollout.status.replace("_", " "), rollout.status),
      h("span", { "data-role": "rollout-status", class: "sr-only" }, rollout.status)),
    h("p", {}, `${rollout.release} against ${rollout.stable} · change: ${rollout.change_type} · policy: `, rollout.policy,
      h("br"), h("span", { class: "small muted" }, `started ${when(rollout.started_at)} by `, rollout.actor, ": ", rollout.reason,
        rollout.skip_gate ? " · eval gate skipped" : "")),
    h("p", { "data-role": "status-reason" }, rollout.status_reason),
    active ? progressBlock(view) : null,
    h("div", { class: "row" }, buttons),
    h("h3", {}, "Guards"),
    guardsTable(rollout),
    srmLine(rollout),
    evidenceCharts(rollout, view.history),
    decisions(rollout, opened),
    h("p", { class: "small muted" }, `α ${rollout.alpha} split across ${rollout.guards.length} guards (${pct(rollout.guard_alpha, 2)} each); ` +
      `min bake ${duration(rollout.min_bake_s)}, min ${num(rollout.min_requests)} canary calls, max ${duration(rollout.max_step_s)} a step`));
}

// A live event: the new record and the evidence points since the last one.
export function mergeRolloutEvent(view, event) {
  const history = view && view.rollout.started_at === event.rollout.started_at ? view.history.slice() : [];
  const last = history.length ? history[history.length - 1][0] : 0;
  for (const point of event.points) if (point[0] > last) history.push(point);
  return { rollout: event.rollout, progress: event.progress, history: history.slice(-1000) };
}
