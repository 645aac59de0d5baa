// A small Markdown renderer for server-written reports (timelines, gate reports): headings,
// lists, tables, code blocks, paragraphs, `code` and **bold**. It builds DOM nodes with text
// only (never parsed as HTML), so whatever the text contains is shown, never run.
import { h } from "./dom.js";

function inline(text) {
  const parts = [];
  // `code`, **bold**, and _emphasis_ only where it starts a word (names like thumbs_down_rate
  // keep their underscores)
  const pattern = /(`[^`]+`|\*\*[^*]+\*\*|(?<![\w])_[^_]+_(?![\w]))/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) parts.push(text.slice(last, match.index));
    const token = match[0];
    if (token.startsWith("`")) parts.push(h("code", {}, token.slice(1, -1)));
    else if (token.startsWith("**")) parts.push(h("strong", {}, token.slice(2, -2)));
    else parts.push(h("em", {}, token.slice(1, -1)));
    last = match.index + token.length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

// A table row's cells; "\|" is a pipe inside a cell.
const cells = (line) => line.trim().replace(/^\|/, "").replace(/(?<!\\)\|$/, "")
  .split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, "|"));

// `shift` moves headings down (a report's "#" under the page's own h1 becomes h2).
export function markdown(source, shift = 0) {
  const out = [];
  const lines = source.split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.startsWith("```")) {
      const code = [];
      for (i += 1; i < lines.length && !lines[i].startsWith("```"); i++) code.push(lines[i]);
      out.push(h("pre", {}, code.join("\n")));
      i += 1;
    } else if (/^#{1,6} /.test(line)) {
      const level = Math.min(line.indexOf(" ") + shift, 6);
      out.push(h(`h${level}`, {}, inline(line.slice(line.indexOf(" ") + 1))));
      i += 1;
    } else if (/^\s*[-*] /.test(line)) {
      const items = [];
      for (; i < lines.length && /^\s*[-*] /.test(lines[i]); i++) items.push(h("li", {}, inline(lines[i].replace(/^\s*[-*] /, ""))));
      out.push(h("ul", {}, items));
    } else if (line.trim().startsWith("|")) {
      const rows = [];
      for (; i < lines.length && lines[i].trim().startsWith("|"); i++) rows.push(lines[i]);
      const head = cells(rows[0]);
      const body = rows.slice(1).filter((r) => !/^\s*\|?\s*:?-{2,}/.test(r));
      out.push(h("div", { class: "table-wrap" }, h("table", {},
        h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, inline(c))))),
        h("tbody", {}, body.map((r) => h("tr", {}, cells(r).map((c) => h("td", {}, inline(c)))))))));
    } else if (line.trim() === "") {
      i += 1;
    } else {
      const para = [];
      for (; i < lines.length && lines[i].trim() !== "" && !/^(#|```|\s*[-*] |\s*\|)/.test(lines[i]); i++) para.push(lines[i]);
      out.push(h("p", {}, inline(para.join(" "))));
    }
  }
  return h("div", { class: "md" }, out);
}
