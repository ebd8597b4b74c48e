// The fleet table: sort by a clicked header, filter by text and health. No library.
(function () {
  "use strict";
  var table = document.getElementById("fleet");
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var text = document.getElementById("fleet-filter");
  var health = document.getElementById("fleet-health");
  var count = document.getElementById("fleet-count");
  var HEALTH_RANK = { critical: 0, failed: 1, warning: 2, unknown: 3, healthy: 4, "no baseline": 5 };

  function cellValue(row, index, kind) {
    var raw = row.cells[index].getAttribute("data-value") || "";
    if (kind === "number") { var n = parseFloat(raw); return isNaN(n) ? -Infinity : n; }
    if (kind === "health") { return raw in HEALTH_RANK ? HEALTH_RANK[raw] : 9; }
    return raw.toLowerCase();
  }

  function sortBy(header) {
    var index = header.cellIndex;
    var kind = header.getAttribute("data-sort") || "text";
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.removeAttribute("aria-sort");
    });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var sign = ascending ? 1 : -1;
    rows.sort(function (a, b) {
      var x = cellValue(a, index, kind), y = cellValue(b, index, kind);
      if (x < y) { return -sign; }
      if (x > y) { return sign; }
      return (+a.getAttribute("data-rank")) - (+b.getAttribute("data-rank"));
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }

  function applyFilter() {
    var needle = (text.value || "").trim().toLowerCase();
    var wanted = health.value;
    var shown = 0;
    rows.forEach(function (row) {
      var ok = (!wanted || row.getAttribute("data-health") === wanted) &&
        (!needle || row.textContent.toLowerCase().indexOf(needle) !== -1);
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = shown === rows.length ? "" : shown + " of " + rows.length + " shown";
  }

  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
    th.tabIndex = 0;
    th.addEventListener("click", function () { sortBy(th); });
    th.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(th); }
    });
  });
  text.addEventListener("input", applyFilter);
  health.addEventListener("change", applyFilter);
  applyFilter();
}());
