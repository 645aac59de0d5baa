// Applies the saved colour theme before the page paints (a classic script, so it runs first).
// "auto" follows prefers-color-scheme; the choice is not sensitive, so localStorage is fine.
(function () {
  var saved = null;
  try { saved = localStorage.getItem("turnout.theme"); } catch (e) { saved = null; }
  if (saved === "light" || saved === "dark") document.documentElement.dataset.theme = saved;
})();
