// Self-check questions of The Softmax Book (_ext/selfcheck.py): kernel-free, offline, no libraries.
// The page holds each question, its options and, hidden, the explanation of every answer
// (rendered by Sphinx, links included) and a JSON block with the correct option or the
// number and its tolerance. This script turns the options into radio buttons (or adds a
// number field), adds a Check button (Enter works too) and a feedback region that is
// announced politely: "Correct." with the reason, or "Not quite." with the explanation of
// the chosen answer. Tested by tests/browser/test_selfcheck.py.
(function () {
  "use strict";
  var LETTERS = "ABCDEFGHIJ";

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  // "0.25", "0,25", "-1e-3", "2/3", " 1 / 3 " -> number; anything else -> NaN.
  function parseNumber(text) {
    var s = String(text).trim().replace(/\u2212/g, "-").replace(/(\d),(\d)/g, "$1.$2");
    var num = "[-+]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][-+]?\\d+)?";
    var m = s.match(new RegExp("^(" + num + ")\\s*(?:/\\s*(" + num + "))?$"));
    if (!m) { return NaN; }
    var value = Number(m[1]);
    return m[2] === undefined ? value : value / Number(m[2]);
  }

  function setFeedback(region, verdict, source, extra) {
    region.textContent = "";
    var head = el("p", {"class": "sbk-sc-verdict"});
    head.appendChild(el("strong", {}, verdict));
    if (extra) { head.appendChild(document.createTextNode(" " + extra)); }
    region.appendChild(head);
    if (source) {
      Array.prototype.forEach.call(source.childNodes, function (n) { region.appendChild(n.cloneNode(true)); });
    }
  }

  function init(root, index) {
    var dataEl = root.querySelector("script.sbk-sc-data");
    if (!dataEl || root.dataset.ready === "true") { return; }
    var data = JSON.parse(dataEl.textContent);
    var base = "sbk-sc-" + data.id.replace(/[^A-Za-z0-9_-]/g, "-");
    var question = root.querySelector(".sbk-sc-question");
    if (question && !question.id) { question.id = base + "-q"; }
    var why = root.querySelector(".sbk-sc-why");
    var explains = root.querySelectorAll(".sbk-sc-explain");

    var form = el("form", {"class": "sbk-sc-form", "novalidate": "novalidate"});
    var feedback = el("div", {"class": "sbk-sc-feedback", "id": base + "-feedback", "aria-live": "polite"});
    var check = el("button", {type: "submit", "class": "sbk-sc-check"}, "Check");
    var getVerdict;

    if (data.kind === "choice") {
      var list = root.querySelector("ol.sbk-sc-options");
      var fieldset = el("fieldset", {"class": "sbk-sc-choices"});
      var legend = el("legend", {"class": "sbk-sc-legend"}, "Choose one answer");
      fieldset.appendChild(legend);
      if (question) { fieldset.setAttribute("aria-describedby", question.id); }
      var items = list ? list.querySelectorAll(":scope > li") : [];
      Array.prototype.forEach.call(items, function (li, i) {
        var id = base + "-opt-" + i;
        var row = el("div", {"class": "sbk-sc-choice"});
        var input = el("input", {type: "radio", name: base, id: id, value: String(i)});
        var lab = el("label", {"for": id});
        lab.appendChild(el("span", {"class": "sbk-sc-letter"}, LETTERS[i] + ". "));
        var para = li.querySelector(":scope > p");
        Array.prototype.slice.call((para || li).childNodes).forEach(function (n) { lab.appendChild(n); });
        row.appendChild(input); row.appendChild(lab);
        fieldset.appendChild(row);
        input.addEventListener("change", function () { feedback.textContent = ""; root.classList.remove("sbk-sc-right", "sbk-sc-wrong"); });
        // Enter on an option checks the answer, as it does in the number field.
        input.addEventListener("keydown", function (event) {
          if (event.key === "Enter") { event.preventDefault(); input.checked = true; submit(); }
        });
      });
      if (list) { list.parentNode.removeChild(list); }
      form.appendChild(fieldset);
      getVerdict = function () {
        var chosen = form.querySelector("input[type=radio]:checked");
        if (!chosen) { return {verdict: "Choose an answer first.", ok: null}; }
        var i = Number(chosen.value);
        if (i === data.correct) { return {verdict: "Correct.", ok: true, source: why}; }
        return {verdict: "Not quite.", ok: false, source: explains[i]};
      };
    } else {
      var row = el("div", {"class": "sbk-sc-number"});
      var inputId = base + "-input";
      var lab = el("label", {"for": inputId}, "Your answer");
      var input = el("input", {type: "text", id: inputId, inputmode: "decimal", autocomplete: "off",
                               spellcheck: "false", "class": "sbk-sc-input"});
      if (question) { input.setAttribute("aria-describedby", question.id); }
      row.appendChild(lab); row.appendChild(input);
      form.appendChild(row);
      input.addEventListener("input", function () { root.classList.remove("sbk-sc-right", "sbk-sc-wrong"); });
      getVerdict = function () {
        var value = parseNumber(input.value);
        if (!isFinite(value)) { return {verdict: "Enter a number, for example 0.25 or 2/3.", ok: null}; }
        if (Math.abs(value - data.answer) <= data.tolerance * (1 + 1e-9)) {
          return {verdict: "Correct.", ok: true, source: why,
                  extra: "The answer is " + data.display + " (within \u00b1" + data.tolerance + ")."};
        }
        return {verdict: "Not quite.", ok: false, source: explains[0]};
      };
    }
    form.appendChild(check);
    function submit() {
      var v = getVerdict();
      root.classList.toggle("sbk-sc-right", v.ok === true);
      root.classList.toggle("sbk-sc-wrong", v.ok === false);
      setFeedback(feedback, v.verdict, v.source, v.extra);
    }
    form.addEventListener("submit", function (event) { event.preventDefault(); submit(); });
    var anchor = root.querySelector(".sbk-sc-explanations");
    root.insertBefore(form, anchor);
    root.insertBefore(feedback, anchor);
    root.dataset.ready = "true";
  }

  function start() { document.querySelectorAll(".sbk-selfcheck").forEach(init); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
