// Small SVG charts: sparklines and time-series lines with an optional confidence band.
// Hand-written instead of a chart library: the dashboard needs only these two shapes, SVG takes
// its colours from the CSS theme (dark and light) and carries a text alternative, and there is
// no third-party code to vendor, audit and keep up to date (about 3 KB instead of ~50 KB).
import { h, clock } from "./dom.js";

const clockFine = (epochS) => new Date(epochS * 1000).toLocaleTimeString("en-GB");

const finite = (v) => v !== null && v !== undefined && Number.isFinite(v);

function segments(xs, ys) {
  // Runs of consecutive defined points: a gap (no calls in a minute) breaks the line.
  const runs = [];
  let run = [];
  xs.forEach((x, i) => {
    if (finite(ys[i])) run.push([x, ys[i]]);
    else if (run.length) { runs.push(run); run = []; }
  });
  if (run.length) runs.push(run);
  return runs;
}

function pathOf(run, sx, sy) {
  return run.map(([x, y], i) => `${i ? "L" : "M"}${sx(x).toFixed(1)} ${sy(y).toFixed(1)}`).join("");
}

function extent(values, fallback) {
  const defined = values.filter(finite);
  if (!defined.length) return fallback;
  let lo = Math.min(...defined);
  let hi = Math.max(...defined);
  if (lo === hi) return lo === 0 ? [0, 1] : [lo - Math.abs(lo) * 0.1, hi + Math.abs(hi) * 0.1];
  return [lo, hi];
}

// series: [{values, cls}] over the same x positions; label: the text alternative.
export function sparkline(series, label, width = 96, height = 24) {
  const n = Math.max(0, ...series.map((s) => s.values.length));
  const xs = Array.from({ length: n }, (_, i) => i);
  const all = series.flatMap((s) => s.values);
  const [lo, hi] = extent(all.concat([0]), [0, 1]);
  const sx = (x) => (n > 1 ? (x / (n - 1)) * (width - 2) + 1 : width / 2);
  const sy = (y) => height - 2 - ((y - lo) / (hi - lo || 1)) * (height - 4);
  const svg = h("svg:svg", { viewBox: `0 0 ${width} ${height}`, width, height, "aria-hidden": "true" },
    h("svg:line", { class: "base", x1: 0, x2: width, y1: height - 1, y2: height - 1 }),
    series.flatMap((s) => segments(xs, s.values).map((run) =>
      run.length > 1
        ? h("svg:path", { class: `line ${s.cls}`, d: pathOf(run, sx, sy) })
        : h("svg:circle", { class: s.cls, cx: sx(run[0][0]), cy: sy(run[0][1]), r: 1.5, fill: "currentColor" }))));
  return h("span", { class: "spark", role: "img", "aria-label": label, title: label }, svg);
}

// opts: {title, t: [epoch s], series: [{name, values, cls, lower?, upper?}], format,
//        yMin?, refs: [{y, cls, label}], note?}
export function lineChart(opts) {
  const W = 380, H = 150, L = 50, R = 8, T = 8, B = 20;
  const xs = opts.t;
  const ys = opts.series.flatMap((s) => [...s.values, ...(s.lower || []), ...(s.upper || [])]);
  const refs = opts.refs || [];
  let [lo, hi] = extent(ys.concat(refs.map((r) => r.y)), [0, 1]);
  if (opts.yMin !== undefined) lo = Math.min(lo, opts.yMin); // rates and counts start at 0
  const pad = (hi - lo) * 0.06;
  hi += pad;
  if (opts.yMin === undefined) lo -= pad;
  const x0 = xs.length ? Math.min(...xs) : 0;
  const x1 = xs.length ? Math.max(...xs) : 1;
  const sx = (x) => L + ((x - x0) / (x1 - x0 || 1)) * (W - L - R);
  const sy = (y) => T + (1 - (y - lo) / (hi - lo || 1)) * (H - T - B);
  const fmt = opts.format || ((v) => v.toFixed(2));
  const parts = [];
  for (const y of [opts.yMin === undefined ? lo + pad : lo, (lo + hi) / 2, hi - pad]) {
    parts.push(h("svg:line", { class: "axis", x1: L, x2: W - R, y1: sy(y), y2: sy(y) }));
    parts.push(h("svg:text", { class: "tick", x: L - 4, y: sy(y) + 3, "text-anchor": "end" }, fmt(y)));
  }
  if (xs.length) {
    const label = x1 - x0 < 600 ? clockFine : clock; // seconds when the span is short
    const ticks = x1 > x0 ? [[x0, "start"], [(x0 + x1) / 2, "middle"], [x1, "end"]] : [[x0, "middle"]];
    for (const [x, anchor] of ticks) {
      parts.push(h("svg:text", { class: "tick", x: sx(x), y: H - 4, "text-anchor": anchor }, label(x)));
    }
  }
  for (const s of opts.series) {
    if (s.lower && s.upper) {
      for (const run of segments(xs, xs.map((_, i) => (finite(s.lower[i]) && finite(s.upper[i]) ? 0 : null)))) {
        const idx = run.map(([x]) => xs.indexOf(x));
        const top = idx.map((i) => `${sx(xs[i]).toFixed(1)},${sy(s.upper[i]).toFixed(1)}`);
        const bottom = idx.slice().reverse().map((i) => `${sx(xs[i]).toFixed(1)},${sy(s.lower[i]).toFixed(1)}`);
        parts.push(h("svg:polygon", { class: "band", points: top.concat(bottom).join(" ") }));
      }
    }
  }
  for (const r of refs) {
    parts.push(h("svg:line", { class: r.cls, x1: L, x2: W - R, y1: sy(r.y), y2: sy(r.y) },
      h("svg:title", {}, r.label || "")));
  }
  for (const s of opts.series) {
    for (const run of segments(xs, s.values)) {
      parts.push(run.length > 1
        ? h("svg:path", { class: `line ${s.cls}`, d: pathOf(run, sx, sy) })
        : h("svg:circle", { class: `line ${s.cls}`, cx: sx(run[0][0]), cy: sy(run[0][1]), r: 2.5 }));
    }
  }
  const latest = opts.series.map((s) => {
    const last = [...s.values].reverse().find(finite);
    return `${s.name} ${last === undefined ? "no data" : fmt(last)}`;
  });
  const label = `${opts.title}: latest ${latest.join(", ")}`;
  return h("figure", { class: "chart", "data-chart": opts.id || opts.title },
    h("h3", {}, opts.title),
    h("svg:svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label }, h("svg:title", {}, label), parts),
    opts.note ? h("figcaption", { class: "small muted" }, opts.note) : null);
}

export function legend(names) {
  return h("div", { class: "legend" }, names.map((name) =>
    h("span", {}, h("span", { class: `swatch f${name.cls}`, "aria-hidden": "true" }), name.label)));
}
