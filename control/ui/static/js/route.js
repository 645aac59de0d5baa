// The route page: summary and actions, rollout with its evidence, per-release charts and
// totals, releases, review items, windows and the audit trail; kept live by the event stream.
import { h, fill, badge, weightsBar } from "./dom.js";
import { ApiError, can, get, optional, enc } from "./api.js";
import { watch } from "./live.js";
import { editing, hasOperations, killDialog, weightsDialog, rollbackDialog, pinDialog } from "./actions.js";
import { renderRollout, mergeRolloutEvent } from "./rollout.js";
import { renderReleases } from "./releases.js";
import { renderCharts, renderTotals, windowPicker } from "./metrics.js";
import { renderAudit } from "./audit.js";
import { renderWindows, renderReviews } from "./ops.js";

const STATS_EVERY_MS = 10000;

function section(id, label) {
  return h("section", { class: "panel", id, "aria-label": label });
}

export function renderRoute(main, name, ctx) {
  const base = `/admin/routes/${enc(name)}`;
  const state = { route: null, rollout: null, gates: {}, window: "15m", stats: null, series: null };
  const el = {
    summary: section("summary", "Route"),
    rollout: section("rollout", "Rollout"),
    metrics: section("metrics", "Quality and traffic"),
    releases: section("releases", "Releases"),
    reviews: section("reviews", "Needs review"),
    windows: section("windows", "Windows"),
    audit: section("audit", "Audit trail"),
  };
  const charts = h("div", { "data-role": "charts" });
  const totals = h("div", { "data-role": "totals-wrap" });
  fill(main, el.summary, h("div", { class: "cols" },
    h("div", {}, el.rollout, el.metrics),
    h("div", {}, el.releases, el.reviews, el.windows, el.audit)));

  let stopped = false;
  let pending = null;
  const reloadSoon = () => {
    if (pending) return;
    pending = setTimeout(() => { pending = null; loadRoute(); loadRollout(); loadAudit(); loadOps(); }, 200);
  };

  function renderSummary() {
    const route = state.route;
    const actions = can("operator") ? [
      h("button", { type: "button", class: "primary", "data-action": "weights", onclick: () => weightsDialog(route, reloadSoon) }, "Set weights…"),
      h("button", { type: "button", class: "danger", "data-action": "rollback", onclick: () => rollbackDialog(route, reloadSoon) }, "Roll back…"),
      h("button", { type: "button", "data-action": route.pinned ? "unpin" : "pin", onclick: () => pinDialog(route, reloadSoon) }, route.pinned ? "Unpin…" : "Pin…"),
      hasOperations(route)
        ? h("button", { type: "button", class: route.kill_switch ? "" : "danger", "data-action": route.kill_switch ? "unkill" : "kill",
          onclick: () => killDialog(route, reloadSoon) }, route.kill_switch ? "Lift kill switch…" : "Kill switch…")
        : null,
    ] : [];
    fill(el.summary,
      h("div", { class: "row" }, h("h1", {}, route.name),
        badge(`revision ${route.revision}`, "info"), h("span", { class: "sr-only", "data-role": "revision" }, String(route.revision)),
        badge(`stable ${route.stable}`, "ok"),
        route.pinned ? badge("pinned", "pinned") : null,
        route.kill_switch ? badge(`kill switch: ${route.kill_switch}`, "bad") : null,
        route.freeze ? h("span", { title: route.freeze.reason }, badge(route.freeze.kind === "freeze"
          ? `frozen: ${route.freeze.window}` : "outside release windows", "bad")) : null,
        route.sticky ? null : badge("not sticky", ""),
        h("span", { class: "spacer" }),
        h("a", { href: `#/routes/${enc(route.name)}/timeline` }, "Timeline")),
      h("div", { "data-role": "weights" }, weightsBar(route.weights, `Weights of ${route.name}`)),
      h("div", { class: "row" }, actions));
  }

  async function loadRoute() {
    try {
      const [route, gates] = await Promise.all([get(base), optional(`${base}/gates`)]);
      if (stopped) return;
      state.route = route;
      state.gates = gates || {};
      if (editing.notify) editing.notify(route.revision);
      renderSummary();
      renderReleases(el.releases, route, state.gates, reloadSoon);
      renderRollout(el.rollout, state.rollout, route, state.gates, reloadSoon); // buttons follow the route
    } catch (failure) {
      if (failure instanceof ApiError && failure.status === 404) {
        fill(main, h("div", { class: "panel" }, h("h1", {}, "Not found"), h("p", {}, failure.message)));
        stopped = true;
      } else {
        fill(el.summary, h("p", { class: "error" }, failure.message));
      }
    }
  }

  async function loadRollout() {
    const view = await optional(`${base}/rollouts`).catch(() => null);
    if (stopped) return;
    state.rollout = view;
    if (state.route) renderRollout(el.rollout, view, state.route, state.gates, reloadSoon);
  }

  async function loadStats() {
    const window = state.window;
    const [stats, series] = await Promise.all([
      get(`${base}/stats?window=${window}`).catch(() => null),
      get(`${base}/series?window=${window}`).catch(() => null),
    ]);
    if (stopped || window !== state.window) return;
    state.stats = stats;
    state.series = series;
    renderCharts(charts, series);
    renderTotals(totals, stats);
  }

  function renderMetrics() {
    fill(el.metrics, h("div", { class: "row" }, h("h2", {}, "Quality and traffic"), h("span", { class: "spacer" }),
      windowPicker(state.window, (w) => { state.window = w; renderMetrics(); loadStats(); })), charts, totals);
  }

  async function loadAudit() {
    const entries = await get(`/admin/audit?route=${enc(name)}&limit=50`).catch(() => []);
    if (!stopped) renderAudit(el.audit, entries);
  }

  async function loadOps() {
    const [reviews, windows] = await Promise.all([
      optional(`${base}/reviews?status=open`).catch(() => null),
      optional(`/admin/windows?route=${enc(name)}`).catch(() => null),
    ]);
    if (stopped) return;
    renderReviews(el.reviews, name, reviews, reloadSoon);
    renderWindows(el.windows, windows);
  }

  renderMetrics();
  loadRoute().then(() => { if (!stopped) { loadRollout(); loadStats(); loadAudit(); loadOps(); } });

  const stopWatching = watch(name, (event, data) => {
    if (event === "route") {
      if (!state.route || data.revision !== state.route.revision) reloadSoon();
    } else if (event === "rollout") {
      state.rollout = mergeRolloutEvent(state.rollout, data);
      if (state.route) renderRollout(el.rollout, state.rollout, state.route, state.gates, reloadSoon);
    } else if (event === "resync") {
      reloadSoon();
      loadStats();
    } else if (event === "route_deleted") {
      fill(main, h("div", { class: "panel" }, h("h1", {}, "Route deleted"), h("p", {}, `${name} no longer exists.`)));
    }
  }, ctx.setLive);
  const timer = setInterval(() => { if (document.visibilityState === "visible") loadStats(); }, STATS_EVERY_MS);

  return () => {
    stopped = true;
    stopWatching();
    clearInterval(timer);
    if (pending) clearTimeout(pending);
    ctx.setLive("");
  };
}
