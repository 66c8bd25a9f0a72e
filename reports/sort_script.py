"""The report's only script: click a leaderboard header to sort its rows (numbers by ``data-v``, empty
cells last). Kept tiny and free of network access; the page's Content-Security-Policy allows exactly this
text (by hash), and without JavaScript the tables stay in their server-side order."""

SORT_SCRIPT = """(function () {
  "use strict";
  function key(cell) {
    if (!cell) { return null; }
    var v = cell.getAttribute("data-v");
    if (v === null) { return cell.textContent.trim().toLowerCase(); }
    return v === "" ? null : parseFloat(v);
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    var body = table.tBodies[0];
    var heads = table.querySelectorAll("th[data-col]");
    Array.prototype.forEach.call(heads, function (th) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      while (th.firstChild) { button.appendChild(th.firstChild); }
      th.appendChild(button);
      button.addEventListener("click", function () {
        var col = parseInt(th.getAttribute("data-col"), 10);
        var desc = th.getAttribute("aria-sort") !== "descending";
        Array.prototype.forEach.call(heads, function (o) { o.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", desc ? "descending" : "ascending");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]);
          if (x === null || y === null) { return x === y ? 0 : (x === null ? 1 : -1); }
          var c = x < y ? -1 : (x > y ? 1 : 0);
          return desc ? -c : c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();
"""
