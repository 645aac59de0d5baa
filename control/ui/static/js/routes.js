// The routes page: every route with its weights, stable release, revision, rollout state,
// windows, pin, open review items, and the last hour's error and thumbs-down rates per release.
import { h, fill, badge, weightsBar, colour, pct, when } from "./dom.js";
import { get, optional, enc } from "./api.js";
import { watch } from "./live.js";
import { sparkline } from "./charts.js";

const SPARK_EVERY_MS = 30000;

const sum = (values) => values.reduce((a, b) => a + b, 0);
const TOTAL = {
  error_rate: (s) => (sum(s.requests) ? sum(s.errors) / sum(s.requests) : null),
  thumbs_down_rate: (s) => {
    const rated = sum(s.thumbs_up) + sum(s.thumbs_down);
    return rated ? sum(s.thumbs_down) / rated : null;
  },
};

function sparks(series, metric, label) {
  if (!series) return h("span", { class: "muted" }, "–");
  const names = Object.keys(series.releases).filter((n) => series.releases[n].requests.some((v) => v > 0));
  if (!names.length) return h("span", { class: "muted small" }, "no calls");
  const text = names.map((n) => `${n} ${pct(TOTAL[metric](series.releases[n]))}`).join(", ");
  return sparkline(names.map((n) => ({ values: series.releases[n][metric], cls: `s${colour(n)}` })), `${label}, last hour: ${text}`);
}

function rolloutCell(rollout) {
  if (!rollout) return h("span", { class: "muted" }, "–");
  const step = rollout.step;
  return h("span", {}, badge(rollout.status.replace("_", " "), rollout.status),
    ` ${rollout.release}`, rollout.status === "running" || rollout.status === "holding" || rollout.status === "paused"
      ? ` at ${rollout.steps[step.index]}% (step ${step.index + 1}/${rollout.steps.length})` : "");
}

export function renderRoutes(main, ctx) {
  const body = h("tbody", {});
  const rows = new Map(); // route -> {row, data}
  let stopped = false;
  let windows = null;
  const status = h("p", { class: "muted", role: "status" }, "Loading…");
  fill(main, h("section", { class: "panel", "aria-labelledby": "routes-title" },
    h("h1", { id: "routes-title" }, "Routes"), status,
    h("div", { class: "table-wrap" }, h("table", { "data-role": "routes" },
      h("thead", {}, h("tr", {}, ["Route", "Weights", "Stable", "Revision", "Rollout", "Windows", "Pinned", "Needs review",
        "Error rate (1 h)", "Thumbs-down (1 h)"].map((t) => h("th", { scope: "col" }, t)))),
      body))));

  function draw(name) {
    const entry = rows.get(name);
    if (!entry || !entry.route) return;
    const { route, rollout, series, reviews } = entry;
    const open = (windows || []).filter((w) => w.open && (!w.window.route || w.window.route === name));
    fill(entry.row,
      h("th", { scope: "row" }, h("a", { href: `#/routes/${enc(name)}` }, name)),
      h("td", {}, weightsBar(route.weights, `Weights of ${name}`)),
      h("td", {}, route.stable),
      h("td", { class: "num" }, String(route.revision)),
      h("td", { "data-role": "rollout" }, rolloutCell(rollout)),
      h("td", { class: "small" }, windows === null ? "–" : open.length ? open.map((w) => h("div", {},
        badge(w.window.kind === "freeze" ? "frozen" : "release window", w.window.kind === "freeze" ? "bad" : "ok"), " ",
        w.window.reason, w.until ? ` (until ${when(w.until)})` : "")) : "none open"),
      h("td", {}, route.pinned ? badge("pinned", "pinned") : "no"),
      h("td", {}, reviews === null ? "–" : reviews.length ? badge(`${reviews.length} open`, "warn") : "none"),
      h("td", {}, sparks(series, "error_rate", `Error rate of ${name}`)),
      h("td", {}, sparks(series, "thumbs_down_rate", `Thumbs-down rate of ${name}`)));
  }

  async function loadRow(name, withSeries) {
    const base = `/admin/routes/${enc(name)}`;
    const entry = rows.get(name);
    const [route, reviews, series] = await Promise.all([
      get(base).catch(() => null),
      optional(`${base}/reviews?status=open`).catch(() => null),
      withSeries ? get(`${base}/series?window=1h`).catch(() => null) : Promise.resolve(entry.series),
    ]);
    if (stopped || !route) return;
    Object.assign(entry, { route, rollout: route.rollout || null, reviews, series });
    draw(name);
  }

  async function loadAll() {
    const [summaries, found] = await Promise.all([get("/admin/routes"), optional("/admin/windows").catch(() => null)]);
    if (stopped) return;
    windows = found;
    fill(status, summaries.length ? `${summaries.length} route${summaries.length === 1 ? "" : "s"}` : "No routes yet.");
    const names = summaries.map((s) => s.name);
    for (const [name, entry] of rows) if (!names.includes(name)) { entry.row.remove(); rows.delete(name); }
    for (const name of names) {
      if (!rows.has(name)) {
        const row = h("tr", { "data-route": name }, h("th", { scope: "row" }, name));
        rows.set(name, { row, route: null, rollout: null, series: null, reviews: null });
        body.appendChild(row);
      }
      loadRow(name, true);
    }
  }

  const due = new Set();
  let timer = null;
  const refresh = (name) => {
    due.add(name);
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      for (const n of due) (rows.has(n) ? loadRow(n, false) : loadAll());
      due.clear();
    }, 300);
  };

  loadAll().catch((failure) => fill(status, failure.message));
  const stopWatching = watch(null, (event, data) => {
    if (event === "route" || event === "route_deleted") refresh(data.route);
    else if (event === "rollout" && rows.has(data.route)) {
      const entry = rows.get(data.route);
      entry.rollout = data.rollout;
      draw(data.route);
    } else if (event === "resync") loadAll();
  }, ctx.setLive);
  const sparkTimer = setInterval(() => {
    if (document.visibilityState === "visible") for (const name of rows.keys()) loadRow(name, true);
  }, SPARK_EVERY_MS);
  return () => {
    stopped = true;
    stopWatching();
    clearInterval(sparkTimer);
    if (timer) clearTimeout(timer);
    ctx.setLive("");
  };
}
