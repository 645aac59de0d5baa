// WCAG contrast of every visible text against its effective background (run in the page by
// the dashboard's browser tests). arguments[0] scales the thresholds (4.5, or 3 for large text).
function rgb(text) { const m = text.match(/[\d.]+/g).map(Number); return m.length > 3 ? m : [...m, 1]; }
function lum([r, g, b]) {
  const c = [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}
function background(el) {
  for (; el; el = el.parentElement) {
    const c = rgb(getComputedStyle(el).backgroundColor);
    if (c[3] > 0.5) return c;
  }
  return rgb(getComputedStyle(document.body).backgroundColor);
}
const worst = [];
let checked = 0;
for (const el of document.querySelectorAll('body *')) {
  const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  const style = getComputedStyle(el);
  if (!own || style.visibility === 'hidden' || el.closest('.sr-only, svg, [hidden]')) continue;
  if (!el.getClientRects().length) continue;
  const fg = rgb(style.color), bg = background(el);
  const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  const ratio = (a + 0.05) / (b + 0.05);
  checked += 1;
  const large = parseFloat(style.fontSize) >= 18.6 || (parseFloat(style.fontSize) >= 14 && +style.fontWeight >= 700);
  if (ratio < (large ? 3 : 4.5) * arguments[0]) {
    worst.push([el.tagName, el.className, el.textContent.trim().slice(0, 30), ratio.toFixed(2)]);
  }
}
return [checked, worst];
