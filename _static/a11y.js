// Accessible names that match what sighted readers see (axe-core rule
// "label-content-name-mismatch", WCAG 2.5.3 Label in Name). The theme's
// search button says "Search... Ctrl+K" but is labelled "Search"; MyST-NB's
// hidden-code toggles say "Show code cell source" but are labelled "Toggle
// hidden content". Without the aria-label their visible text is their name.
// Structure (axe "definition-list", "aria-required-children"): Sphinx writes a
// long signature's parameters as a <dl> of <dd> with no <dt>, which is a list,
// not a definition list; docutils marks bibliography entries with the
// deprecated role doc-biblioentry, whose replacement is listitem.
// Tested by tests/browser/test_accessibility.py.
(function () {
  function fix() {
    document.querySelectorAll(
      ".search-button__button[aria-label], details > summary[aria-label]"
    ).forEach(function (el) {
      if (el.textContent.trim()) { el.removeAttribute("aria-label"); }
    });
    document.querySelectorAll("dt.sig > dl:not([role])").forEach(function (dl) {
      if (dl.querySelector(":scope > dt")) { return; }
      dl.setAttribute("role", "list");
      dl.querySelectorAll(":scope > dd").forEach(function (dd) { dd.setAttribute("role", "listitem"); });
    });
    document.querySelectorAll('.citation-list > [role="doc-biblioentry"]').forEach(function (el) {
      el.setAttribute("role", "listitem");
    });
    hideThemeIcons();
  }
  // The colour-mode button is named by its aria-label ("Color mode"); its sun,
  // moon and half-circle icons are titled images ("Light", ...), which would make
  // their title the button's visible text. They are decorative: hide them from
  // assistive technology, also after Font Awesome swaps each <i> for an <svg>.
  function hideThemeIcons() {
    document.querySelectorAll(".theme-switch-button .theme-switch").forEach(function (el) {
      if (el.getAttribute("aria-hidden") !== "true") { el.setAttribute("aria-hidden", "true"); }
      if (el.hasAttribute("title")) { el.removeAttribute("title"); }
      if (el.hasAttribute("aria-labelledby")) { el.removeAttribute("aria-labelledby"); }
      if (el.getAttribute("role") === "img") { el.removeAttribute("role"); }
      el.querySelectorAll("title").forEach(function (t) { t.remove(); });
    });
  }
  function watchThemeButton() {
    document.querySelectorAll(".theme-switch-button").forEach(function (button) {
      new MutationObserver(hideThemeIcons).observe(button, { childList: true, subtree: true });
    });
  }
  function start() { fix(); watchThemeButton(); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
