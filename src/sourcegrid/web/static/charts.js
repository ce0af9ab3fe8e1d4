/* Charts from JSON embedded in the page, drawn with the plotly bundle served by this app. */
(function () {
  "use strict";
  function data(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }
  var layoutBase = { margin: { l: 60, r: 20, t: 30, b: 60 }, font: { family: "Noto Sans CJK SC, WenQuanYi Micro Hei, sans-serif", size: 12 },
                     legend: { orientation: "h" }, paper_bgcolor: "#fff", plot_bgcolor: "#fff" };
  var config = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["sendDataToCloud"] };
  var trend = data("trend-data");
  if (trend && document.getElementById("trend")) {
    var keys = Object.keys(trend);
    var x = trend[keys[0]];
    var traces = keys.slice(1).filter(function (k) {
      return trend[k].some(function (v) { return typeof v === "number"; });
    }).map(function (k) {
      var names = { cell: "本网格 this cell", city: "全市 city mean" };
      return { x: x, y: trend[k], name: names[k] || k, mode: "lines+markers", type: "scatter" };
    });
    Plotly.newPlot("trend", traces, Object.assign({}, layoutBase, { yaxis: { title: "µg/m³" } }), config);
  }
  var inventory = data("inventory-data");
  if (inventory && document.getElementById("inventory-chart")) {
    Plotly.newPlot("inventory-chart", [{ type: "bar", x: inventory.labels, y: inventory.values,
      marker: { color: "#0f5e6e" } }], Object.assign({}, layoutBase, { xaxis: { type: "category" }, yaxis: { title: "t 吨" } }), config);
  }
  var aqi = data("aqi-data");
  if (aqi && document.getElementById("aqi-chart")) {
    var bands = [[0, 50, "#00e400"], [50, 100, "#ffff00"], [100, 150, "#ff7e00"], [150, 200, "#ff0000"],
                 [200, 300, "#99004c"], [300, 500, "#7e0023"]];
    var shapes = bands.map(function (b) {
      return { type: "rect", xref: "paper", x0: 0, x1: 1, y0: b[0], y1: b[1], fillcolor: b[2], opacity: 0.12, line: { width: 0 }, layer: "below" };
    });
    var traces2 = [{ x: aqi.dates, y: aqi.mean, name: "网格均值 cell mean", type: "scatter", mode: "lines+markers" },
                   { x: aqi.dates, y: aqi.max, name: "网格最大 cell max", type: "scatter", mode: "lines", line: { dash: "dot" } }];
    var stations = data("station-data") || {};
    Object.keys(stations).forEach(function (site) {
      traces2.push({ x: stations[site].dates, y: stations[site].aqi, name: site, type: "scatter", mode: "lines" });
    });
    var top = 0;
    traces2.forEach(function (t) { t.y.forEach(function (v) { if (typeof v === "number" && v > top) { top = v; } }); });
    Plotly.newPlot("aqi-chart", traces2, Object.assign({}, layoutBase, { shapes: shapes,
      yaxis: { title: "AQI", range: [0, Math.min(500, Math.max(150, top * 1.15))] } }), config);
  }
})();
