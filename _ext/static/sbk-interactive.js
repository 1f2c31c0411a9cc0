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


  // The probability simplex: a 2-D pad and two sliders for a = z1 - z3 and
  // b = z2 - z3 (z = (a, b, 0) stands for every logit vector with those
  // differences), a temperature slider, and the three distributions as points
  // on the triangle with their coordinates in a table.
  var SVGNS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function sub(v) { return String(v).replace("-", "\u2212"); }
  var MARKS = [
    {key: "softmax", name: "softmax(z)", cls: "sbk-m-softmax"},
    {key: "sparsemax", name: "sparsemax(z)", cls: "sbk-m-sparsemax"},
    {key: "tempered", name: "softmax(z / T)", cls: "sbk-m-tempered"}
  ];
  function marker(kind, x, y) {
    if (kind === "softmax") { return svg("circle", {cx: x, cy: y, r: 7}); }
    if (kind === "sparsemax") { return svg("rect", {x: x - 6, y: y - 6, width: 12, height: 12}); }
    return svg("path", {d: "M" + x + "," + (y - 8) + " l7,12 l-14,0 z"});
  }

  function simplex(root, data) {
    var d = data.diffs, n = d.length, temps = data.temperatures;
    function near(v) { var best = 0; d.forEach(function (x, i) { if (Math.abs(x - v) < Math.abs(d[best] - v)) { best = i; } }); return best; }
    var controls = el("fieldset");
    controls.appendChild(el("legend", {"class": "visually-hidden"}, "Settings"));
    function slider(id, text, max, value) {
      var label = el("label", {"for": id}, text), out = el("output", {"for": id});
      label.appendChild(out);
      var s = el("input", {type: "range", id: id, min: "0", max: String(max), step: "1", value: String(value)});
      var pair = el("div", {"class": "sbk-pair"});
      pair.appendChild(label); pair.appendChild(s); controls.appendChild(pair);
      return {input: s, out: out};
    }
    var sa = slider("sbk-simplex-a", "z\u2081 \u2212 z\u2083 = ", n - 1, near(1.5));
    var sb = slider("sbk-simplex-b", "z\u2082 \u2212 z\u2083 = ", n - 1, near(1.0));
    var st = slider("sbk-simplex-t", "Temperature T = ", temps.length - 1,
                    temps.indexOf(0.5) >= 0 ? temps.indexOf(0.5) : Math.floor(temps.length / 2));
    sa.input.classList.add("sbk-a"); sb.input.classList.add("sbk-b"); st.input.classList.add("sbk-slider");
    sa.out.classList.add("sbk-a-out"); sb.out.classList.add("sbk-b-out"); st.out.classList.add("sbk-t");
    var zOut = el("p", {"class": "sbk-z"});

    // The pad: a pointer shortcut for the two sliders above (which are the
    // keyboard route), so it is hidden from assistive technology.
    var P = 200, cell = P / n;
    var pad = svg("svg", {viewBox: "-28 -6 234 234", "class": "sbk-pad", "aria-hidden": "true", focusable: "false"});
    pad.appendChild(svg("rect", {x: 0, y: 0, width: P, height: P, "class": "sbk-pad-bg"}));
    var zero = d.indexOf(0);
    if (zero >= 0) {
      var c0 = (zero + 0.5) * cell;
      pad.appendChild(svg("line", {x1: c0, y1: 0, x2: c0, y2: P, "class": "sbk-pad-axis"}));
      pad.appendChild(svg("line", {x1: 0, y1: P - c0, x2: P, y2: P - c0, "class": "sbk-pad-axis"}));
    }
    pad.appendChild(svg("line", {x1: 0, y1: P, x2: P, y2: 0, "class": "sbk-pad-diag"}));  // z1 = z2
    pad.appendChild(svg("text", {x: P / 2, y: P + 16, "text-anchor": "middle"}, "z\u2081 \u2212 z\u2083"));
    pad.appendChild(svg("text", {x: -8, y: P / 2, "text-anchor": "middle", transform: "rotate(-90 -8 " + P / 2 + ")"}, "z\u2082 \u2212 z\u2083"));
    pad.appendChild(svg("text", {x: 0, y: P + 16, "text-anchor": "start", "class": "sbk-small"}, sub(d[0])));
    pad.appendChild(svg("text", {x: P, y: P + 16, "text-anchor": "end", "class": "sbk-small"}, sub(d[n - 1])));
    var handle = svg("circle", {r: Math.max(4, cell / 2), "class": "sbk-pad-handle"});
    pad.appendChild(handle);

    // The triangle: class 1 bottom left, class 2 bottom right, class 3 on top.
    var W = 260, H = W * Math.sqrt(3) / 2, ox = 40, oy = 24;
    function xy(p) { return [ox + W * (p[1] + p[2] / 2), oy + H - H * p[2]]; }
    var tri = svg("svg", {viewBox: "0 0 340 " + (H + 56), "class": "sbk-triangle", role: "img",
                          "aria-label": "Probability triangle: the corners are classes 1, 2 and 3; the points are " +
                          "softmax(z), sparsemax(z) and softmax(z / T), with their coordinates in the table."});
    var corners = [[1, 0, 0], [0, 1, 0], [0, 0, 1]].map(xy);
    tri.appendChild(svg("path", {d: "M" + corners.map(function (c) { return c.join(","); }).join(" L") + " Z", "class": "sbk-tri"}));
    var u = xy([1 / 3, 1 / 3, 1 / 3]);
    tri.appendChild(svg("path", {d: "M" + (u[0] - 5) + "," + u[1] + " h10 M" + u[0] + "," + (u[1] - 5) + " v10", "class": "sbk-tri-centre"}));
    [["class 1", corners[0][0] - 4, corners[0][1] + 18, "start"], ["class 2", corners[1][0] + 4, corners[1][1] + 18, "end"],
     ["class 3", corners[2][0], corners[2][1] - 8, "middle"]].forEach(function (c) {
      tri.appendChild(svg("text", {x: c[1], y: c[2], "text-anchor": c[3]}, c[0]));
    });
    var points = svg("g");
    tri.appendChild(points);
    var figs = el("div", {"class": "sbk-simplex-figs"});
    figs.appendChild(pad); figs.appendChild(tri);

    var t = table(["distribution", "p\u2081", "p\u2082", "p\u2083"]);
    t.setAttribute("class", "sbk-table");
    var status = el("p", {"class": "sbk-status", "aria-live": "polite"});
    root.appendChild(controls); root.appendChild(zOut); root.appendChild(figs); root.appendChild(t); root.appendChild(status);

    function where(p) {
      var zeros = p.filter(function (v) { return v === 0; }).length;
      return zeros === 2 ? "on a corner" : zeros === 1 ? "on an edge (class " + (p.indexOf(0) + 1) + " gets exactly 0)" : "inside the triangle";
    }
    function draw() {
      var i = Number(sa.input.value), j = Number(sb.input.value), k = Number(st.input.value);
      var a = d[i], b = d[j], T = temps[k];
      sa.out.textContent = sub(a); sb.out.textContent = sub(b); st.out.textContent = String(T);
      sa.input.setAttribute("aria-valuetext", "z1 \u2212 z3 = " + a);
      sb.input.setAttribute("aria-valuetext", "z2 \u2212 z3 = " + b);
      st.input.setAttribute("aria-valuetext", "T = " + T);
      zOut.textContent = "Logits z = (" + sub(a) + ", " + sub(b) + ", 0), or any vector with the same differences.";
      handle.setAttribute("cx", (i + 0.5) * cell); handle.setAttribute("cy", P - (j + 0.5) * cell);
      var probs = {softmax: data.softmax[i][j], sparsemax: data.sparsemax[i][j], tempered: data.tempered[k][i][j]};
      var body = t.querySelector("tbody");
      body.textContent = ""; points.textContent = "";
      MARKS.forEach(function (m) {
        var p = probs[m.key], row = el("tr", {"class": "sbk-row-" + m.key});
        var head = el("th", {scope: "row"});
        var key = svg("svg", {viewBox: "0 0 20 20", "class": "sbk-key", "aria-hidden": "true", focusable: "false"});
        var km = marker(m.key, 10, 11); km.setAttribute("class", "sbk-mark " + m.cls); key.appendChild(km);
        head.appendChild(key);
        head.appendChild(document.createTextNode(m.key === "tempered" ? "softmax(z / T), T = " + T : m.name));
        row.appendChild(head);
        p.forEach(function (v) { row.appendChild(el("td", {"class": "sbk-p"}, fmt(v))); });
        body.appendChild(row);
        var c = xy(p), mk = marker(m.key, c[0], c[1]);
        mk.setAttribute("class", "sbk-mark " + m.cls);
        points.appendChild(mk);
      });
      status.textContent = "sparsemax is " + where(probs.sparsemax) + "; softmax is inside the triangle" +
        (probs.softmax.indexOf(0) >= 0 || probs.tempered.indexOf(0) >= 0 ? " (a coordinate below 0.0000005 shows as 0)." : ".");
    }
    [sa.input, sb.input, st.input].forEach(function (c) { c.addEventListener("input", draw); c.addEventListener("change", draw); });
    var dragging = false;
    function fromPointer(ev) {
      var pt = pad.createSVGPoint(); pt.x = ev.clientX; pt.y = ev.clientY;
      var q = pt.matrixTransform(pad.getScreenCTM().inverse());
      var i = Math.floor(q.x / cell), j = Math.floor((P - q.y) / cell);
      sa.input.value = String(Math.min(n - 1, Math.max(0, i)));
      sb.input.value = String(Math.min(n - 1, Math.max(0, j)));
      draw();
    }
    pad.addEventListener("pointerdown", function (ev) { dragging = true; if (pad.setPointerCapture) { pad.setPointerCapture(ev.pointerId); } fromPointer(ev); ev.preventDefault(); });
    pad.addEventListener("pointermove", function (ev) { if (dragging) { fromPointer(ev); } });
    pad.addEventListener("pointerup", function () { dragging = false; });
    pad.addEventListener("pointercancel", function () { dragging = false; });
    draw();
  }

  function init() {
    document.querySelectorAll(".sbk-widget").forEach(function (root) {
      var data = JSON.parse(root.querySelector("script.sbk-data").textContent);
      if (root.dataset.kind === "temperature") { temperature(root, data); }
      else if (root.dataset.kind === "online-softmax") { online(root, data); }
      else if (root.dataset.kind === "calibration") { calibration(root, data); }
      else if (root.dataset.kind === "simplex") { simplex(root, data); }
      root.dataset.ready = "true";
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
