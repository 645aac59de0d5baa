// The releases panel: what each release changed versus stable (prompt diff, model and params,
// artifacts, change type), its eval-gate verdict, and its impact when the server reports it.
import { h, fill, badge, swatch, when, num, pct, usd } from "./dom.js";
import { can, optional, enc } from "./api.js";
import { diffLines, promptText } from "./diff.js";
import { promoteDialog } from "./actions.js";

function promptBlock(release, stable) {
  if (!release.prompt) return h("p", { class: "muted" }, "No prompt (the caller's messages only).");
  const mine = promptText(release.prompt);
  if (!stable || stable.id === release.id || !stable.prompt) {
    return h("div", {}, h("div", { class: "small muted" }, release.prompt.ref), h("pre", { "data-role": "prompt" }, mine));
  }
  const lines = diffLines(promptText(stable.prompt), mine);
  const changed = lines.some(([kind]) => kind !== "same");
  return h("div", {},
    h("div", { class: "small muted" }, `${release.prompt.ref} versus stable ${stable.prompt.ref}${changed ? "" : " (same text)"}`),
    h("div", { class: "diff", "data-role": "prompt-diff", role: "group", "aria-label": `Prompt of ${release.id} versus stable` },
      lines.map(([kind, text]) => h("span", { class: kind },
        h("span", { class: "sr-only" }, kind === "add" ? "added: " : kind === "del" ? "removed: " : ""),
        `${kind === "add" ? "+ " : kind === "del" ? "− " : "  "}${text}`))));
}

function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function json(value) {
  const entries = Object.entries(value || {});
  return entries.length ? entries.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ") : "–";
}

function impactBlock(impact) {
  const f = impact.release_figures;
  const s = impact.stable_figures;
  const cell = (a, b, fmt) => (b ? `${fmt(a)} (stable ${fmt(b)})` : fmt(a));
  return kv([
    ["Calls", cell(f.calls, s && s.calls, num)],
    ["Distinct users", `${num(f.distinct_users)} (±${pct(impact.distinct_users_standard_error, 1)})`],
    ["Error rate", cell(f.error_rate, s && s.error_rate, pct)],
    ["Thumbs-down rate", cell(f.thumbs_down_rate, s && s.thumbs_down_rate, pct)],
    ["Cost", cell(f.cost_usd, s && s.cost_usd, usd)],
    ["Served", impact.first_call ? `${when(impact.first_call)} – ${when(impact.last_call)} (${impact.minutes} min)` : "no calls"],
  ]);
}

function impactToggle(route, release) {
  const out = h("div", { "data-role": "impact" });
  const button = h("button", { type: "button", class: "ghost", "aria-expanded": "false" }, "Impact (2 h)");
  button.addEventListener("click", async () => {
    if (button.getAttribute("aria-expanded") === "true") {
      button.setAttribute("aria-expanded", "false");
      out.replaceChildren();
      return;
    }
    button.setAttribute("aria-expanded", "true");
    fill(out, h("span", { class: "muted" }, "Loading…"));
    try {
      const impact = await optional(`/admin/routes/${enc(route)}/releases/${enc(release)}/impact?since=2h`);
      fill(out, impact ? impactBlock(impact) : h("p", { class: "muted" }, "This server does not report impact."));
    } catch (failure) {
      fill(out, h("p", { class: "error" }, failure.message));
    }
  });
  return h("div", {}, button, out);
}

export function renderReleases(panel, route, gates, reload) {
  const stable = route.releases.find((r) => r.id === route.stable);
  const cards = route.releases.slice().reverse().map((release) => {
    const gate = gates[release.id];
    const isStable = release.id === route.stable;
    return h("article", { class: "release", "data-release": release.id, "aria-labelledby": `rel-${release.id}` },
      h("header", {},
        h("h3", { id: `rel-${release.id}` }, swatch(release.id), release.id),
        isStable ? badge("stable", "ok") : badge(release.change_type, "info"),
        h("span", {}, `${release.weight}%`),
        gate ? badge(`gate ${gate}`, gate) : null,
        h("span", { class: "spacer" }),
        can("operator") && !isStable
          ? h("button", { type: "button", "data-action": "promote", onclick: () => promoteDialog(route, release.id, reload) }, "Promote…")
          : null),
      release.changes.length && !isStable ? h("p", { class: "small" }, `Changes versus stable: ${release.changes.join(", ")}`) : null,
      kv([
        ["Model", `${release.model.ref} → ${release.model.provider}/${release.model.upstream_model}`],
        ["Model params", json(release.model.params)],
        ["Release params", json(release.params)],
        ["Artifacts", json(release.artifacts)],
        ["Note", release.note || "–"],
        ["Created", `${when(release.created_at)} by ${release.author || "?"}`],
      ]),
      promptBlock(release, stable),
      impactToggle(route.name, release.id));
  });
  fill(panel, h("h2", {}, "Releases"), cards);
}
