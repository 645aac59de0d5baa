// The dashboard's entry: theme toggle, sign-in, and a hash router over three pages.
import { h, fill, $ } from "./dom.js";
import { api, session, ApiError } from "./api.js";
import { renderRoutes } from "./routes.js";
import { renderRoute } from "./route.js";
import { renderTimeline } from "./timeline.js";

const THEMES = ["auto", "light", "dark"];
let cleanup = null;

function setTheme(theme) {
  if (theme === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  try { localStorage.setItem("turnout.theme", theme); } catch (error) { /* private mode */ }
  $("#theme").textContent = `Theme: ${theme}`;
}

function currentTheme() {
  return document.documentElement.dataset.theme || "auto";
}

export function setLive(state) {
  const el = $("#live");
  el.dataset.state = state || "";
  el.textContent = { live: "Live", reconnecting: "Reconnecting…", paused: "Paused (tab hidden)", unauthorized: "Signed out" }[state] || "";
  if (state === "unauthorized") signOut("Your token is no longer accepted. Sign in again.");
}

function crumbs(parts) {
  fill($("#crumbs"), parts.flatMap((part, i) => [
    i ? h("span", { "aria-hidden": "true" }, "/") : null,
    part.href ? h("a", { href: part.href }, part.label) : h("span", { "aria-current": "page" }, part.label),
  ]));
}

function showIdentity() {
  const who = session.identity;
  fill($("#who"), who ? `${who.name} · ${who.role}` : "");
  $("#signout").hidden = !who;
}

function signOut(message) {
  session.clear();
  session.identity = null;
  showIdentity();
  route(message);
}

function signIn(message) {
  crumbs([]);
  const error = h("div", { class: "error", role: "alert", id: "signin-error" }, message || "");
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "off", required: true,
    "aria-describedby": "token-help" });
  const form = h("form", { class: "panel signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in"),
    h("label", { for: "token" }, "Admin token"),
    input,
    h("p", { class: "field-help", id: "token-help" },
      "A token from TURNOUT_ADMIN_TOKENS (or the one `turnout up` printed). It is kept in this tab only and sent in a header."),
    error,
    h("button", { type: "submit", class: "primary" }, "Sign in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    try {
      session.identity = await api("GET", "/admin/whoami", undefined, token);
      session.save(token);
      showIdentity();
      route();
    } catch (failure) {
      fill(error, failure instanceof ApiError && failure.status === 401 ? "That token is not accepted." : failure.message);
    }
  });
  fill($("#main"), form);
  input.focus();
}

async function route(message) {
  if (cleanup) { cleanup(); cleanup = null; }
  for (const dialog of document.querySelectorAll("dialog")) dialog.close();
  if (!session.token()) return signIn(message);
  if (!session.identity) {
    try {
      session.identity = await api("GET", "/admin/whoami");
    } catch (failure) {
      session.clear();
      return signIn(failure instanceof ApiError && failure.status === 401 ? "Your token is no longer accepted." : failure.message);
    }
    showIdentity();
  }
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const main = $("#main");
  main.replaceChildren();
  const context = { setLive, crumbs };
  if (parts[0] === "routes" && parts[1] && parts[2] === "timeline") {
    crumbs([{ label: "Routes", href: "#/routes" }, { label: parts[1], href: `#/routes/${encodeURIComponent(parts[1])}` }, { label: "Timeline" }]);
    cleanup = renderTimeline(main, parts[1], context);
  } else if (parts[0] === "routes" && parts[1]) {
    crumbs([{ label: "Routes", href: "#/routes" }, { label: parts[1] }]);
    cleanup = renderRoute(main, parts[1], context);
  } else {
    crumbs([{ label: "Routes" }]);
    cleanup = renderRoutes(main, context);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("#theme").textContent = `Theme: ${currentTheme()}`;
  $("#theme").addEventListener("click", () => {
    setTheme(THEMES[(THEMES.indexOf(currentTheme()) + 1) % THEMES.length]);
  });
  $("#signout").addEventListener("click", () => signOut("Signed out."));
  window.addEventListener("hashchange", () => route());
  route();
});
