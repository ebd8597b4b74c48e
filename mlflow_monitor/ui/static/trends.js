// Trend charts: each metric over the windows, the band applied in each window shaded, the
// windows where its check fired marked, alerts and alias moves as marks on the same time axis.
// The time axis spans the windows (plus a little room): an event outside it is only listed in
// the events table. Across versions the line breaks at each version change (each version is
// judged against its own baseline): one trace per version, in shades of one colour.
// Charts in a closed group are drawn when the group is opened.
(function () {
  "use strict";
  var holder = document.getElementById("trend-data");
  if (!holder || typeof Plotly === "undefined") { return; }
  var DATA = JSON.parse(holder.textContent);
  var FIRING = { warn: true, fail: true, error: true };
  var BAND = "rgba(46, 160, 67, 0.13)";
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

  function bandShapes(points, yr) {
    return points.filter(function (p) { return p.lower !== null || p.upper !== null; })
      .map(function (p) {
        return {
          type: "rect", layer: "below", xref: "x", yref: "y", line: { width: 0 }, fillcolor: BAND,
          x0: when(p.window_start || p.window_end), x1: when(p.window_end),
          y0: p.lower !== null ? p.lower : yr[0], y1: p.upper !== null ? p.upper : yr[1]
        };
      });
  }

  function versionMarks(points) {
    var shapes = [], notes = [];
    for (var i = 1; i < points.length; i += 1) {
      if (points[i].version !== points[i - 1].version) {
        var x = when(points[i].window_start || points[i].window_end);
        shapes.push({ type: "line", xref: "x", yref: "paper", x0: x, x1: x, y0: 0, y1: 1,
          line: { color: "#6e40c9", width: 1.5, dash: "dash" } });
        // beside the line, so an event mark at the same time (centred on it) stays readable
        notes.push({ x: x, y: 1, xref: "x", yref: "paper", yanchor: "bottom", xanchor: "left",
          xshift: 6, showarrow: false, text: "v" + points[i].version,
          font: { size: 10, color: "#6e40c9" } });
      }
    }
    return { shapes: shapes, notes: notes };
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

  function eventMarks() {
    var shapes = [], notes = [];
    (DATA.events || []).filter(function (e) {
      var t = Date.parse(e.at);
      return t >= SPAN[0] && t <= SPAN[1];
    }).forEach(function (e) {
      var x = when(e.at);
      shapes.push({ type: "line", xref: "x", yref: "paper", x0: x, x1: x, y0: 0, y1: 1,
        line: { color: e.kind === "alias" ? "#0969da" : "#bf8700", width: 1, dash: "dot" } });
      notes.push({ x: x, y: 1, xref: "x", yref: "paper", yanchor: "bottom", showarrow: false,
        text: e.kind === "alias" ? "⇄" : "⚑", hovertext: e.text, font: { size: 11 } });
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
    return "v" + p.version + " · " + (p.status || "logged") + band;
  }

  function draw(div) {
    if (div.getAttribute("data-drawn")) { return; }
    div.setAttribute("data-drawn", "1");
    var series = DATA.series[+div.getAttribute("data-index")];
    var points = series.points.filter(function (p) { return p.value !== null; });
    var yr = range(points);
    var crossed = points.filter(function (p) { return FIRING[p.status]; });
    var versions = versionMarks(points), events = eventMarks();
    var traces = versionTraces(series, points).concat([{
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
      shapes: bandShapes(points, yr).concat(versions.shapes, events.shapes),
      annotations: versions.notes.concat(events.notes), hovermode: "closest"
    };
    Plotly.newPlot(div, traces, layout, { displayModeBar: false, responsive: true });
  }

  // the metric's line, one trace per version (a version is judged against its own baseline:
  // its values do not continue the previous version's); labelled at its first point when the
  // chart holds more than one version (its last point may carry a crossing mark)
  function versionTraces(series, points) {
    var byVersion = [], current = null;
    points.forEach(function (p) {
      if (!current || current.version !== p.version) {
        current = { version: p.version, points: [] };
        byVersion.push(current);
      }
      current.points.push(p);
    });
    var several = byVersion.length > 1;
    return byVersion.map(function (part) {
      var colour = versionColour(part.version);
      return {
        x: part.points.map(function (p) { return when(p.window_end); }),
        y: part.points.map(function (p) { return p.value; }),
        customdata: part.points.map(label),
        hovertemplate: "%{x}<br><b>%{y:.4g}</b><br>%{customdata}<extra></extra>",
        text: part.points.map(function (p, i) { return several && i === 0 ? "v" + p.version : ""; }),
        textposition: "top center", textfont: { size: 10, color: colour },
        mode: several ? "lines+markers+text" : "lines+markers",
        line: { color: colour, width: 2 }, marker: { size: 6, color: colour },
        name: several ? "v" + part.version : series.metric
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
