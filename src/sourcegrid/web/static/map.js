/* The cell map: Leaflet without any tile layer (closed networks), cells coloured by the
   HJ 633 PM2.5 levels, hotspot cells outlined, a time slider over the fused hours. */
(function () {
  "use strict";
  var root = document.getElementById("map");
  if (!root) { return; }
  var pollutant = root.dataset.pollutant || "PM2.5";
  // Colour levels come with each layer from /api/map ("scale": HJ 633 breakpoints of the
  // pollutant and of the edition in force at the hour, from sourcegrid.standards.hj633).
  var scale = null;
  var NO_DATA = "#c8d0d6", NO_SCALE = "#6c8ebf";
  function colour(value) {
    if (value === null || value === undefined) { return NO_DATA; }
    if (!scale || !scale.levels.length) { return NO_SCALE; }
    for (var i = 0; i < scale.levels.length; i++) {
      var upper = scale.levels[i].upper;
      if (upper === null || value <= upper) { return scale.levels[i].colour; }
    }
    return scale.levels[scale.levels.length - 1].colour;
  }
  var map = L.map(root, { zoomSnap: 0.25, attributionControl: false, preferCanvas: false });
  map.setView([38.3, 116.8], 9);
  var layer = null, selected = null, fitted = false;
  var slider = document.getElementById("time-slider");
  var label = document.getElementById("time-label");
  var panel = document.getElementById("cell-panel");
  var times = [];

  function style(feature) {
    var p = feature.properties;
    var isSelected = selected === p.cell_id;
    return {
      fillColor: colour(p.value), fillOpacity: p.value === null ? 0.35 : 0.72,
      color: isSelected ? "#1c7ed6" : (p.hotspot ? "#111" : "#ffffff"),
      weight: isSelected ? 4 : (p.hotspot ? 3 : 0.6), opacity: 1
    };
  }
  function fmt(v, digits) { return (v === null || v === undefined) ? "—" : Number(v).toFixed(digits); }
  function esc(text) {
    return String(text === null || text === undefined ? "" : text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function showCell(p) {
    selected = p.cell_id;
    if (layer) { layer.setStyle(style); }
    if (!panel) { return; }
    panel.innerHTML =
      '<h3>' + esc(p.cell_id) + (p.hotspot ? ' <span class="badge">热点 hotspot</span>' : '') + '</h3>' +
      '<dl class="kv">' +
      '<dt>' + esc(pollutant) + '</dt><dd>' + fmt(p.value, 1) + ' µg/m³ ± ' + fmt(p.uncertainty, 1) + '</dd>' +
      '<dt>来源 inputs</dt><dd>' + esc(p.method || "—") + ' (' + esc(p.n_readings === null ? "0" : p.n_readings) + ')</dd>' +
      '<dt>乡镇 township</dt><dd>' + esc(p.township_code || "—") + '</dd>' +
      '<dt>等级 grade</dt><dd>' + esc(p.grade || "—") + '</dd>' +
      '<dt>类型 type</dt><dd>' + esc(p.type || "—") + '</dd></dl>' +
      '<p><a class="button" id="open-dossier" href="/cells/' + encodeURIComponent(p.cell_id) +
      '">一格一档 Open dossier</a></p>';
  }
  function load(index) {
    var url = "/api/map?pollutant=" + encodeURIComponent(pollutant);
    if (times.length) { url += "&time=" + encodeURIComponent(times[index]); }
    label.textContent = times.length ? new Date(times[index]).toLocaleString("zh-CN",
      { timeZone: "Asia/Shanghai", hour12: false }) + " 北京时间" : "—";
    fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (data) {
      scale = data.scale || null;
      drawLegend();
      if (layer) { map.removeLayer(layer); }
      layer = L.geoJSON(data, {
        style: style,
        pointToLayer: function (f, latlng) { return L.circleMarker(latlng, { radius: 8 }); },
        onEachFeature: function (f, l) {
          l.on("click", function () { showCell(f.properties); });
          l.bindTooltip(f.properties.cell_id + ": " + fmt(f.properties.value, 1) + " µg/m³" +
                        (f.properties.hotspot ? " · 热点 hotspot" : ""), { sticky: true });
        }
      }).addTo(map);
      if (!fitted && data.features.length) { map.fitBounds(layer.getBounds(), { padding: [10, 10], animate: false }); fitted = true; }
      root.dataset.loaded = "1";
      root.dataset.features = String(data.features.length);
      var counter = document.getElementById("hotspot-count");
      if (counter) {
        counter.textContent = String(data.features.filter(function (f) { return f.properties.hotspot; }).length);
      }
    });
  }
  var legend = L.control({ position: "bottomright" });
  var legendDiv = null;
  function drawLegend() {
    if (!legendDiv) { return; }
    var html;
    if (scale) {
      html = "<b>" + esc(pollutant) + " " + esc(scale.unit === "mg/m3" ? "mg/m³" : "µg/m³") +
             "</b> (HJ 633-" + esc(scale.edition) + ", " + esc(scale.period) + ")<br>";
      var low = 0;
      scale.levels.forEach(function (level) {
        html += '<i style="background:' + esc(level.colour) + '"></i>' + low +
                (level.upper === null ? "+" : "–" + level.upper) + " " + esc(level.category) +
                " " + esc(level.category_en) + "<br>";
        if (level.upper !== null) { low = level.upper; }
      });
    } else {
      html = "<b>" + esc(pollutant) + "</b>: 无 HJ 633 分级 no AQI levels<br>" +
             '<i style="background:' + NO_SCALE + '"></i>有数据 value<br>';
    }
    html += '<i style="background:' + NO_DATA + '"></i>无数据 no data<br><i class="hot"></i>热点网格 hotspot cell';
    legendDiv.innerHTML = html;
    legendDiv.dataset.edition = scale ? scale.edition : "";
  }
  legend.onAdd = function () {
    legendDiv = L.DomUtil.create("div", "legend");
    drawLegend();
    return legendDiv;
  };
  legend.addTo(map);
  fetch("/api/map/times?pollutant=" + encodeURIComponent(pollutant), { credentials: "same-origin" })
    .then(function (r) { return r.json(); })
    .then(function (data) {
      times = data.times || [];
      slider.max = Math.max(times.length - 1, 0);
      slider.value = slider.max;
      slider.disabled = times.length < 2;
      load(times.length ? times.length - 1 : 0);
    });
  var pending = null;
  slider.addEventListener("input", function () {
    if (pending) { clearTimeout(pending); }
    pending = setTimeout(function () { load(Number(slider.value)); }, 120);
  });
  var step = function (delta) {
    var next = Math.min(Math.max(Number(slider.value) + delta, 0), Number(slider.max));
    slider.value = next; load(next);
  };
  var prev = document.getElementById("time-prev"), next = document.getElementById("time-next");
  if (prev) { prev.addEventListener("click", function () { step(-1); }); }
  if (next) { next.addEventListener("click", function () { step(1); }); }
})();
