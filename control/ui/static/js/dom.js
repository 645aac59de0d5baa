// Building the page from data. Every piece of text goes in as a text node (never parsed as HTML),
// so prompt content, reasons and names from the registry are always shown, never run.
const SVG_NS = "http://www.w3.org/2000/svg";

export function h(tag, attrs, ...children) {
  const svg = tag.startsWith("svg:");
  const el = svg ? document.createElementNS(SVG_NS, tag.slice(4)) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "style") {
      Object.assign(el.style, value); // CSSOM, allowed by the CSP (no style attribute)
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "class" && !svg) {
      el.className = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export const $ = (selector, root = document) => root.querySelector(selector);

// --- formatting ---------------------------------------------------------------------------

export function pct(value, digits = 1) {
  return value === null || value === undefined ? "–" : `${(value * 100).toFixed(digits)}%`;
}

export function num(value, digits = 0) {
  if (value === null || value === undefined) return "–";
  return Number(value).toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

export function ms(value) {
  if (value === null || value === undefined) return "–";
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(value < 10 ? 2 : 0)} ms`;
}

export function usd(value) {
  if (value === null || value === undefined) return "–";
  return value < 0.01 && value > 0 ? `$${value.toExponential(2)}` : `$${value.toFixed(2)}`;
}

export function when(value) {
  if (value === null || value === undefined) return "–";
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return date.toLocaleString("en-GB", { dateStyle: "short", timeStyle: "medium" });
}

export function clock(epochS) {
  return new Date(epochS * 1000).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
}

export function ago(epochS) {
  const seconds = Math.max(0, Date.now() / 1000 - epochS);
  if (seconds < 90) return `${Math.round(seconds)} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  return `${(seconds / 3600).toFixed(1)} h ago`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

// A release's colour class: by its number, so r2 has the same colour on every chart.
export function colour(release) {
  const n = parseInt(String(release).replace(/^r/, ""), 10);
  return Number.isFinite(n) ? (n - 1 + 8) % 8 : 0;
}

export function badge(text, kind) {
  return h("span", { class: `badge ${kind || ""}` }, text);
}

export function swatch(release) {
  return h("span", { class: `swatch f${colour(release)}`, "aria-hidden": "true" });
}

export function weightsBar(weights, label) {
  const entries = Object.entries(weights).filter(([, w]) => w > 0);
  const text = entries.map(([r, w]) => `${r} ${w}%`).join(", ");
  return h(
    "div",
    { class: "weights", role: "img", "aria-label": `${label || "Weights"}: ${text}`, title: text },
    entries.map(([r, w]) =>
      h("span", { class: `f${colour(r)}`, style: { width: `${w}%` } }, w >= 8 ? `${r} ${w}%` : "")
    )
  );
}
