// Interactive figures of The Softmax Book (_ext/interactive.py). Every value
// shown was computed by softmax_nb when the book was built and is embedded as
// JSON; this script only picks the values for the current setting. Offline,
// no libraries. Tested by tests/browser/test_interactive.py.
(function () {
  "use strict";
  function fmt(v) { return v === null ? "nan" : v.toFixed(4); }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function bar(p) {
    var b = el("span", {"class": p === null ? "sbk-bar sbk-nan" : "sbk-bar", "aria-hidden": "true"});
    if (p !== null) { b.style.width = (100 * p).toFixed(2) + "%"; }
    return b;
  }
  function table(headers) {
    var t = el("table"), head = el("thead"), row = el("tr");
    headers.forEach(function (h) { row.appendChild(el("th", {scope: "col"}, h)); });
    head.appendChild(row); t.appendChild(head); t.appendChild(el("tbody"));
    return t;
  }

  function temperature(root, data) {
    var labels = data.z.map(function (_, i) { return String.fromCharCode(65 + i); });
    var mid = data.temperatures.indexOf(1) >= 0 ? data.temperatures.indexOf(1) : Math.floor(data.temperatures.length / 2);
    var controls = el("fieldset");
    controls.appendChild(el("legend", {"class": "visually-hidden"}, "Settings"));
    var tLabel = el("label", {"for": "sbk-temperature-t"}, "Temperature T = ");
    var tOut = el("output", {"class": "sbk-t", "for": "sbk-temperature-t"});
    tLabel.appendChild(tOut);
    var slider = el("input", {type: "range", id: "sbk-temperature-t", "class": "sbk-slider", min: "0",
                              max: String(data.temperatures.length - 1), step: "1", value: String(mid)});
    var scaleLabel = el("label"), scale = el("input", {type: "checkbox", "class": "sbk-scale"});
    scaleLabel.appendChild(scale); scaleLabel.appendChild(document.createTextNode(" logits \u00d7 " + data.scales[1]));
    var naiveLabel = el("label"), naive = el("input", {type: "checkbox", "class": "sbk-naive"});
    naiveLabel.appendChild(naive); naiveLabel.appendChild(document.createTextNode(" naive formula (no max subtraction)"));
    [tLabel, slider, scaleLabel, naiveLabel].forEach(function (c) { controls.appendChild(c); });
    var t = table(["class", "z / T", "p", "probability"]);
    t.setAttribute("class", "sbk-table");
    var status = el("p", {"class": "sbk-status", "aria-live": "polite"});
    root.appendChild(controls); root.appendChild(t); root.appendChild(status);

    function draw() {
      var i = Number(slider.value), s = scale.checked ? 1 : 0, T = data.temperatures[i];
      var probs = (naive.checked ? data.naive : data.stable)[s][i];
      tOut.textContent = String(T);
      slider.setAttribute("aria-valuetext", "T = " + T);
      var body = t.querySelector("tbody");
      body.textContent = "";
      probs.forEach(function (p, k) {
        var row = el("tr");
        row.appendChild(el("th", {scope: "row"}, labels[k]));
        row.appendChild(el("td", {}, (data.scales[s] * data.z[k] / T).toFixed(2)));
        row.appendChild(el("td", {"class": "sbk-p"}, fmt(p)));
        var cell = el("td", {"class": "sbk-barcell"}); cell.appendChild(bar(p)); row.appendChild(cell);
        body.appendChild(row);
      });
      var nan = probs.some(function (p) { return p === null; });
      status.textContent = (naive.checked ? "Naive formula" : "Stable formula (max subtracted)") +
        (nan ? ": exp overflows to inf and inf/inf gives nan." : ".");
    }
    [slider, scale, naive].forEach(function (c) { c.addEventListener("input", draw); c.addEventListener("change", draw); });
    draw();
  }

  function online(root, data) {
    var k = 0, n = data.steps.length;
    var controls = el("div", {"class": "sbk-controls"});
    var prev = el("button", {type: "button", "class": "sbk-prev"}, "Previous block");
    var next = el("button", {type: "button", "class": "sbk-next"}, "Next block");
    var stepOut = el("output", {"class": "sbk-step", "aria-live": "polite"});
    [prev, next, stepOut].forEach(function (c) { controls.appendChild(c); });
    var state = el("div", {"class": "sbk-state"});
    var mOut = el("span"), fOut = el("span"), dOut = el("span");
    [mOut, fOut, dOut].forEach(function (c) { state.appendChild(c); });
    var t = table(["j", "x_j", "e^(x_j \u2212 m) / d", "share of the sum so far"]);
    root.appendChild(controls); root.appendChild(state); root.appendChild(t);

    function draw() {
      var s = data.steps[k];
      stepOut.textContent = "Block " + (k + 1) + " of " + n + (k === n - 1 ? ": final probabilities" : "");
      mOut.innerHTML = ""; mOut.appendChild(document.createTextNode("running max m = "));
      mOut.appendChild(el("strong", {"class": "sbk-m"}, fmt(s.m)));
      fOut.innerHTML = ""; fOut.appendChild(document.createTextNode("rescale factor e^(m_old \u2212 m) = "));
      fOut.appendChild(el("strong", {"class": "sbk-factor"}, fmt(s.factor)));
      dOut.innerHTML = ""; dOut.appendChild(document.createTextNode("running sum d = "));
      dOut.appendChild(el("strong", {"class": "sbk-d"}, fmt(s.d)));
      var body = t.querySelector("tbody");
      body.textContent = "";
      data.x.forEach(function (x, j) {
        var seen = j < s.p_seen.length, p = seen ? s.p_seen[j] : null;
        var row = el("tr", {"class": s.block.indexOf(j) >= 0 ? "sbk-new" : ""});
        row.appendChild(el("th", {scope: "row"}, String(j)));
        row.appendChild(el("td", {}, x.toFixed(2)));
        row.appendChild(el("td", {"class": "sbk-p"}, seen ? fmt(p) : "not read yet"));
        var cell = el("td", {"class": "sbk-barcell"}); if (seen) { cell.appendChild(bar(p)); } row.appendChild(cell);
        body.appendChild(row);
      });
      prev.disabled = k === 0; next.disabled = k === n - 1;
    }
    prev.addEventListener("click", function () { if (k > 0) { k -= 1; draw(); } });
    next.addEventListener("click", function () { if (k < n - 1) { k += 1; draw(); } });
    draw();
  }

  function calibration(root, data) {
    var start = data.temperatures.indexOf(1) >= 0 ? data.temperatures.indexOf(1) : 0;
    var controls = el("fieldset");
    controls.appendChild(el("legend", {"class": "visually-hidden"}, "Settings"));
    var tLabel = el("label", {"for": "sbk-calibration-t"}, "Temperature T = ");
    var tOut = el("output", {"class": "sbk-t", "for": "sbk-calibration-t"});
    tLabel.appendChild(tOut);
    var slider = el("input", {type: "range", id: "sbk-calibration-t", "class": "sbk-slider", min: "0",
                              max: String(data.temperatures.length - 1), step: "1", value: String(start)});
    var fit = el("button", {type: "button", "class": "sbk-fit"}, "Fitted T = " + data.fitted);
    [tLabel, slider, fit].forEach(function (c) { controls.appendChild(c); });
    var state = el("div", {"class": "sbk-state", "aria-live": "polite"});
    var outs = {};
    [["ece", "ECE"], ["nll", "NLL"], ["brier", "Brier score"]].forEach(function (m) {
      var span = el("span"); span.appendChild(document.createTextNode(m[1] + " = "));
      outs[m[0]] = el("strong", {"class": "sbk-" + m[0]}); span.appendChild(outs[m[0]]); state.appendChild(span);
    });
    var t = table(["confidence bin", "examples", "mean confidence", "accuracy", "accuracy (bar) vs confidence (line)"]);
    root.appendChild(controls); root.appendChild(state); root.appendChild(t);

    function draw() {
      var i = Number(slider.value), f = data.frames[i], T = data.temperatures[i];
      tOut.textContent = String(T);
      slider.setAttribute("aria-valuetext", "T = " + T);
      ["ece", "nll", "brier"].forEach(function (k) { outs[k].textContent = fmt(f[k]); });
      var body = t.querySelector("tbody");
      body.textContent = "";
      f.bins.forEach(function (b, k) {
        var row = el("tr");
        row.appendChild(el("th", {scope: "row"}, data.edges[k].toFixed(1) + "\u2013" + data.edges[k + 1].toFixed(1)));
        row.appendChild(el("td", {}, String(b[0])));
        row.appendChild(el("td", {"class": "sbk-conf"}, b[0] ? fmt(b[1]) : "\u2014"));
        row.appendChild(el("td", {"class": "sbk-acc"}, b[0] ? fmt(b[2]) : "\u2014"));
        var cell = el("td", {"class": "sbk-barcell sbk-rel"});
        if (b[0]) {
          cell.appendChild(bar(b[2]));
          var mark = el("span", {"class": "sbk-conf-mark", "aria-hidden": "true"});
          mark.style.left = (100 * b[1]).toFixed(2) + "%";
          cell.appendChild(mark);
        }
        row.appendChild(cell);
        body.appendChild(row);
      });
    }
    slider.addEventListener("input", draw); slider.addEventListener("change", draw);
    fit.addEventListener("click", function () { slider.value = String(data.temperatures.indexOf(data.fitted)); draw(); });
    draw();
  }

  function init() {
    document.querySelectorAll(".sbk-widget").forEach(function (root) {
      var data = JSON.parse(root.querySelector("script.sbk-data").textContent);
      if (root.dataset.kind === "temperature") { temperature(root, data); }
      else if (root.dataset.kind === "online-softmax") { online(root, data); }
      else if (root.dataset.kind === "calibration") { calibration(root, data); }
      root.dataset.ready = "true";
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
