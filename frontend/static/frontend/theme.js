// Loaded in <head> before the page paints: the chosen theme at once (no flash of the other),
// and the page-wide controls that need no other script (the tenant switcher submits on change).
// A static file rather than inline script, so the Content-Security-Policy can forbid inline code.
(function () {
  try {
    var t = localStorage.getItem("theme");
    if (t === "light" || t === "dark") document.documentElement.dataset.theme = t;
  } catch (e) {}
  document.addEventListener("DOMContentLoaded", function () {
    var select = document.getElementById("tenant-select");
    if (select) select.addEventListener("change", function () { select.form.submit(); });
  });
})();
