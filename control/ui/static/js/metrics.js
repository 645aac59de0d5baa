// Per-release charts over a chosen window (from /series) and the window's totals (from /stats).
import { h, fill, colour, pct, num, ms, usd } from "./dom.js";
import { lineChart, legend } from "./charts.js";

export const WINDOWS = ["15m", "1h", "6h", "24h"];

const perMinute = (values, periodS) => values.map((v) => (v === null ? null : (v * 60) / periodS));

const CHARTS = [
  ["requests", "Requests / min", (v) => num(v, 1), (s, p) => perMinute(s.requests, p), 0],
  ["error_rate", "Error rate", (v) => pct(v), (s) => s.error_rate, 0],
  ["thumbs_down_rate", "Thumbs-down rate", (v) => pct(v), (s) => s.thumbs_down_rate, 0],
  ["mean_score", "Mean feedback score", (v) => v.toFixed(2), (s) => s.mean_score, undefined],
  ["latency_p50", "Latency p50", ms, (s) => s.latency_p50_ms, 0],
  ["latency_p95", "Latency p95", ms, (s) => s.latency_p95_ms, 0],
  ["latency_p99", "Latency p99", ms, (s) => s.latency_p99_ms, 0],
  ["ttft_p50", "Time to first token p50", ms, (s) => s.ttft_p50_ms, 0],
  ["tokens", "Tokens / min (in + out)", (v) => num(v), (s, p) => perMinute(s.tokens_in.map((v, i) => v + s.tokens_out[i]), p), 0],
  ["cost", "Cost / min", usd, (s, p) => perMinute(s.cost_usd, p), 0],
];

export function renderCharts(container, series) {
  if (!series) return fill(container, h("p", { class: "muted" }, "Loading…"));
  const names = Object.keys(series.releases);
  const any = names.some((n) => series.releases[n].requests.some((v) => v > 0));
  if (!any) return fill(container, h("p", { class: "empty" }, `No calls in the last ${series.window}.`));
  return fill(container,
    legend(names.map((n) => ({ label: n, cls: colour(n) }))),
    h("div", { class: "grid" }, CHARTS.map(([id, title, format, pick, yMin]) => lineChart({
      id,
      title,
      t: series.t,
      format,
      yMin,
      series: names.map((n) => ({ name: n, values: pick(series.releases[n], series.period_s), cls: `s${colour(n)}` })),
    }))));
}

export function renderTotals(container, stats) {
  if (!stats) return fill(container);
  const p = (v) => (v === null || v === undefined ? "–" : v.toPrecision(2));
  return fill(container, h("div", { class: "table-wrap" }, h("table", { "data-role": "totals" },
    h("caption", { class: "small muted" }, `Totals over ${stats.window}. Sample-ratio check of the current split: requests p = ${p(stats.srm_p_value)}, distinct users p = ${p(stats.srm_keys_p_value)}.`),
    h("thead", {}, h("tr", {}, ["Release", "Weight", "Observed", "Requests", "Users", "Error rate", "Thumbs-down", "Mean score",
      "p50", "p95", "p99", "TTFT p50", "Tokens in/out", "Cost"].map((t, i) => h("th", { scope: "col", class: i ? "num" : null }, t)))),
    h("tbody", {}, stats.releases.map((r) => h("tr", { "data-release": r.release },
      h("th", { scope: "row" }, r.release),
      h("td", { class: "num" }, `${r.weight_percent}%`),
      h("td", { class: "num" }, r.observed_share_percent === null ? "–" : `${r.observed_share_percent}%`),
      h("td", { class: "num" }, num(r.requests)),
      h("td", { class: "num" }, num(r.distinct_keys)),
      h("td", { class: "num" }, pct(r.error_rate)),
      h("td", { class: "num" }, pct(r.feedback.thumbs_down_rate)),
      h("td", { class: "num" }, r.feedback.mean_score === null ? "–" : r.feedback.mean_score.toFixed(3)),
      h("td", { class: "num" }, r.latency_ms ? ms(r.latency_ms.p50) : "–"),
      h("td", { class: "num" }, r.latency_ms ? ms(r.latency_ms.p95) : "–"),
      h("td", { class: "num" }, r.latency_ms ? ms(r.latency_ms.p99) : "–"),
      h("td", { class: "num" }, r.ttft_ms ? ms(r.ttft_ms.p50) : "–"),
      h("td", { class: "num" }, `${num(r.tokens_in)} / ${num(r.tokens_out)}`),
      h("td", { class: "num" }, usd(r.cost_usd))))))));
}

export function windowPicker(current, onPick) {
  return h("div", { class: "tabs", role: "group", "aria-label": "Chart window" }, WINDOWS.map((w) =>
    h("button", { type: "button", "aria-pressed": String(w === current), "data-window": w, onclick: () => onPick(w) }, w)));
}
