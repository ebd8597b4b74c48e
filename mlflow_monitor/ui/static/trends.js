// Trend charts: each metric over the windows, the band applied in each window shaded, the
// windows where its check fired marked, alerts and alias moves as marks on the same time axis.
// The time axis spans the windows (plus a little room): an event outside it is only listed in
// the events table. Across versions the line breaks at each version change (each version is
// judged against its own baseline): one trace per version, in shades of one colour, one dashed
// marker per version at its first window, and each version's band lighter.
// Estimates are dashed and labelled; a window where the metric was not evaluated is a gap
// with a "not evaluated" mark; a refused promotion is its own mark (⊘).
// Charts in a closed group are drawn when the group is opened.
(function () {
  "use strict";
  var holder = document.getElementById("trend-data");
  if (!holder || typeof Plotly === "undefined") { return; }
  var DATA = JSON.parse(holder.textContent);
  var FIRING = { warn: true, fail: true, error: true };
  var BAND = "rgba(46, 160, 67, 0.13)";
  var BAND_LIGHT = "rgba(46, 160, 67, 0.07)";
  var CROSS = "#d1242f";
  var LATEST = "#1f6feb";  // the newest version's line; older versions in other shades of blue
  var OLDER = ["#6cb6ff", "#0a3069", "#54aeff", "#0550ae"];
  var HOUR = 3600 * 1000;

  function when(text) { return text ? text.replace("T", " ").replace("Z", "") : text; }

  function range(points) {
    var ys = [];
    points.forEach(function (p) {
      if (p.value !== null) { ys.push(p.value); }
      if (p.lower !== null) { ys.push(p.lower); }
      if (p.upper !== null) { ys.push(p.upper); }
    });
    if (!ys.length) { return [0, 1]; }
    var lo = Math.min.apply(null, ys), hi = Math.max.apply(null, ys);
    var pad = (hi - lo) * 0.15 || Math.abs(hi) * 0.1 || 0.5;
    return [lo - pad, hi + pad];
  }

  function bandShapes(points, yr, fill) {
    return points.filter(function (p) { return p.lower !== null || p.upper !== null; })
      .map(function (p) {
        return {
          type: "rect", layer: "below", xref: "x", yref: "y", line: { width: 0 }, fillcolor: fill,
          x0: when(p.window_start || p.window_end), x1: when(p.window_end),
          y0: p.lower !== null ? p.lower : yr[0], y1: p.upper !== null ? p.upper : yr[1]
        };
      });
  }

  // one dashed line per version, at its first window only (versions side by side alternate)
  // (versions starting together share one line and one label; none where the chart starts)
  function versionMarks(points) {
    var shapes = [], notes = [], seen = {}, at = {}, order = [];
    var start = points.length ? when(points[0].window_start || points[0].window_end) : null;
    points.forEach(function (p) {
      if (seen[p.version]) { return; }
      seen[p.version] = true;
      var x = when(p.window_start || p.window_end);
      if (x === start) { return; }
      if (!at[x]) { at[x] = []; order.push(x); }
      at[x].push("v" + p.version);
    });
    order.forEach(function (x) {
      shapes.push({ type: "line", xref: "x", yref: "paper", x0: x, x1: x, y0: 0, y1: 1,
        line: { color: "#6e40c9", width: 1.5, dash: "dash" } });
      // beside the line, so an event mark at the same time (centred on it) stays readable
      notes.push({ x: x, y: 1, xref: "x", yref: "paper", yanchor: "bottom", xanchor: "left",
        xshift: 6, showarrow: false, text: at[x].join(", "),
        font: { size: 10, color: "#6e40c9" } });
    });
    return { shapes: shapes, notes: notes };
  }

  // the windows of the series' versions from its first point on where it has no value: the
  // metric was not evaluated there (no labels): a gap in the line and a "not evaluated" mark
  function notEvaluated(series) {
    // an estimate is logged only while labels are missing: its absence is no gap
    if (/^(perf|fairness|segment)_est\//.test(series.metric)) { return []; }
    var valued = {}, versions = {}, first = null;
    series.points.forEach(function (p) {
      if (p.value !== null && p.status !== "not_evaluated") { valued[p.run_id] = true; }
      versions[p.version] = true;
      if (first === null || p.window_end < first) { first = p.window_end; }
    });
    return (DATA.windows || []).filter(function (w) {
      return versions[w.version] && !valued[w.run_id] && first !== null && w.window_end >= first;
    });
  }

  function estimated(series, p) {
    return p.basis === "estimated" || /^(perf|fairness|segment)_est\//.test(series.metric);
  }

  // the windows' span and a little room: an event far outside it (an alias moved today,
  // windows of last month) stays in the events table instead of squeezing every chart
  var SPAN = (function () {
    var times = [];
    (DATA.windows || []).forEach(function (w) {
      times.push(Date.parse(w.window_start || w.window_end), Date.parse(w.window_end));
    });
    var lo = Math.min.apply(null, times), hi = Math.max.apply(null, times);
    var slack = Math.max((hi - lo) * 0.05, 24 * HOUR);
    return [lo - slack, hi + slack];
  }());
  var X_RANGE = SPAN.map(function (t) { return when(new Date(t).toISOString()); });

  function versionColour(version) {
    var versions = DATA.versions || [];
    var back = versions.length - 1 - versions.indexOf(version);
    return back <= 0 ? LATEST : OLDER[(back - 1) % OLDER.length];
  }

  // an alias move ⇄, a refused promotion ⊘ (an alias event whose text starts "refused"), an
  // alert ⚑
  function eventMarks() {
    var shapes = [], notes = [];
    (DATA.events || []).filter(function (e) {
      var t = Date.parse(e.at);
      return t >= SPAN[0] && t <= SPAN[1];
    }).forEach(function (e) {
      var x = when(e.at);
      var refused = e.kind === "alias" && /^refused/i.test(e.text || "");
      var colour = refused ? "#cf222e" : (e.kind === "alias" ? "#0969da" : "#bf8700");
      shapes.push({ type: "line", xref: "x", yref: "paper", x0: x, x1: x, y0: 0, y1: 1,
        line: { color: colour, width: 1, dash: "dot" } });
      notes.push({ x: x, y: 1, xref: "x", yref: "paper", yanchor: "bottom", showarrow: false,
        text: refused ? "⊘" : (e.kind === "alias" ? "⇄" : "⚑"),
        hovertext: (refused ? "gate refused: " : "") + e.text, font: { size: 11, color: colour } });
    });
    return { shapes: shapes, notes: notes };
  }

  function label(p) {
    var band = "";
    if (p.lower !== null || p.upper !== null) {
      band = "<br>allowed " + (p.lower !== null ? "≥ " + p.lower.toPrecision(4) : "") +
        (p.lower !== null && p.upper !== null ? " and " : "") +
        (p.upper !== null ? "≤ " + p.upper.toPrecision(4) : "") + (p.source ? " (" + p.source + ")" : "");
    }
    return "v" + p.version + " · " + (p.status || "logged") +
      (p.basis === "estimated" ? " · estimated" : "") + band;
  }

  function draw(div) {
    if (div.getAttribute("data-drawn")) { return; }
    div.setAttribute("data-drawn", "1");
    var series = DATA.series[+div.getAttribute("data-index")];
    var points = series.points.filter(function (p) { return p.value !== null; });
    var yr = range(points);
    var crossed = points.filter(function (p) { return FIRING[p.status]; });
    var versions = versionMarks(points), events = eventMarks();
    var missing = notEvaluated(series);
    // several versions: each version's band lighter (side by side, two overlap as one)
    var fill = (DATA.versions || []).length > 1 ? BAND_LIGHT : BAND;
    var traces = versionTraces(series, points, missing).concat([{
      x: missing.map(function (w) { return when(w.window_end); }),
      y: missing.map(function () { return yr[0] + (yr[1] - yr[0]) * 0.08; }),
      text: missing.map(function () { return "not evaluated"; }),
      customdata: missing.map(function (w) { return "v" + w.version + " · not evaluated"; }),
      hovertemplate: "%{x}<br>%{customdata}<extra></extra>", mode: "markers+text",
      textposition: "top center", textfont: { size: 9, color: "#59636e" },
      marker: { symbol: "circle-open", size: 9, line: { width: 1.5 },
        color: missing.map(function (w) { return versionColour(w.version); }) },
      cliponaxis: false, name: "not evaluated"
    }, {
      x: crossed.map(function (p) { return when(p.window_end); }),
      y: crossed.map(function (p) { return p.value; }),
      text: crossed.map(label), hovertemplate: "%{x}<br><b>%{y:.4g}</b> fired<br>%{text}<extra></extra>",
      mode: "markers", marker: { symbol: "x", size: 12, color: CROSS, line: { width: 2, color: CROSS } },
      cliponaxis: false,
      name: "check fired"
    }]);
    var layout = {
      height: 230, margin: { l: 56, r: 16, t: 22, b: 36 }, showlegend: false,
      xaxis: { type: "date", range: X_RANGE, hoverformat: "%Y-%m-%d %H:%M" }, yaxis: { range: yr, zeroline: false },
      shapes: bandShapes(points, yr, fill).concat(versions.shapes, events.shapes),
      annotations: versions.notes.concat(events.notes), hovermode: "closest"
    };
    Plotly.newPlot(div, traces, layout, { displayModeBar: false, responsive: true });
  }

  // the metric's line, one trace per version (a version is judged against its own baseline:
  // its values do not continue the previous version's; versions side by side each keep their
  // own line); a window where the metric was not evaluated breaks the line; estimates dashed
  // and labelled; labelled at its first point when the chart holds more than one version
  function versionTraces(series, points, missing) {
    var byVersion = {}, order = [];
    points.concat(missing.map(function (w) {
      return { window_end: w.window_end, version: w.version, value: null, gap: true };
    })).forEach(function (p) {
      if (!byVersion[p.version]) { byVersion[p.version] = []; order.push(p.version); }
      byVersion[p.version].push(p);
    });
    var several = order.length > 1;
    return order.map(function (version) {
      var part = byVersion[version].sort(function (a, b) {
        return a.window_end < b.window_end ? -1 : (a.window_end > b.window_end ? 1 : 0);
      });
      var colour = versionColour(version);
      var est = part.some(function (p) { return !p.gap && estimated(series, p); });
      var shown = part.filter(function (p) { return !p.gap; });
      return {
        x: part.map(function (p) { return when(p.window_end); }),
        y: part.map(function (p) { return p.value; }),
        customdata: part.map(function (p) { return p.gap ? "not evaluated" : label(p); }),
        hovertemplate: "%{x}<br><b>%{y:.4g}</b><br>%{customdata}<extra></extra>",
        text: part.map(function (p) {
          var head = several && p === shown[0] ? "v" + p.version : "";
          return est && p === shown[0] ? (head ? head + " estimated" : "estimated") : head;
        }),
        textposition: "top center", textfont: { size: 10, color: colour },
        mode: several || est ? "lines+markers+text" : "lines+markers", connectgaps: false,
        line: { color: colour, width: 2, dash: est ? "dash" : "solid" },
        marker: { size: 6, color: colour },
        name: (several ? "v" + version : series.metric) + (est ? " (estimated)" : "")
      };
    });
  }

  function drawIn(root) {
    Array.prototype.forEach.call(root.querySelectorAll(".trend"), draw);
  }

  ["failing", "fired-before"].forEach(function (id) {
    var open = document.getElementById(id);
    if (open) { drawIn(open); }
  });
  Array.prototype.forEach.call(document.querySelectorAll("details.trend-group"), function (group) {
    if (group.open) { drawIn(group); }
    group.addEventListener("toggle", function () { if (group.open) { drawIn(group); } });
  });
}());
