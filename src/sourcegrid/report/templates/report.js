/* The report's map: cells as GeoJSON polygons (no tile layer), hotspots outlined,
   sources, stations and suspected unregistered sources marked, a popup per cell. */
(function () {
  "use strict";
  var holder = document.getElementById("map");
  var source = document.getElementById("map-data");
  if (!holder || !source || typeof L === "undefined") { return; }
  var data = JSON.parse(source.textContent || "{}");
  if (!data.cells || !data.cells.features || !data.cells.features.length) {
    holder.textContent = "No grid in the workspace.";
    return;
  }
  var breaks = data.breaks, colours = data.colours;

  function colour(value) {
    if (value === "" || value === null || value === undefined) { return "#e0e0e0"; }
    for (var i = 1; i < breaks.length; i++) {
      if (value <= breaks[i]) { return colours[i - 1]; }
    }
    return colours[colours.length - 1];
  }
  function escape(text) {
    return String(text === undefined || text === null ? "" : text)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  }
  function rows(pairs) {
    var html = "<table class='popup-table'>";
    pairs.forEach(function (pair) {
      if (pair[1] !== "" && pair[1] !== undefined && pair[1] !== null) {
        html += "<tr><td>" + escape(pair[0]) + "</td><td>" + escape(pair[1]) + "</td></tr>";
      }
    });
    return html + "</table>";
  }

  var map = L.map(holder, { zoomSnap: 0.25, attributionControl: false });
  var cells = L.geoJSON(data.cells, {
    style: function (feature) {
      var p = feature.properties;
      var hot = p.hotspot === true;
      return { fillColor: colour(p.mean), fillOpacity: 0.82,
               color: hot ? "#000000" : "#ffffff", weight: hot ? (p.rank !== "" && p.rank <= 3 ? 3.5 : 2.2) : 0.5,
               opacity: hot ? 1 : 0.7 };
    },
    onEachFeature: function (feature, layer) {
      var p = feature.properties;
      layer.bindPopup("<b>" + escape(p.cell_id) + "</b>" + (p.hotspot === true ? " · hotspot 热点" : "") + rows([
        ["PM2.5 mean 均值 [µg/m³]", p.mean],
        ["ratio to city 与城市均值比", p.ratio_to_city_mean],
        ["hotspot rank 排名", p.rank],
        ["grade 等级", p.concentration_category],
        ["excess 超标等级", p.excess_name],
        ["type 类型", p.type],
        ["county 县区", p.county_code],
        ["township 乡镇", p.township_code],
        ["top traced source 首要溯源", p.top_source]
      ]));
      layer.bindTooltip(escape(p.cell_id) + (p.mean !== "" ? ": " + escape(p.mean) + " µg/m³" : ""),
                        { sticky: true });
    }
  }).addTo(map);

  var overlays = L.layerGroup().addTo(map);
  (data.sources || []).forEach(function (s) {
    var tint = data.sector_colours[s.sector] || "#555555";
    var popup = "<b>" + escape(s.id) + "</b> " + escape(s.name) + rows([
      ["kind 类型", s.kind], ["sector 部门", s.sector], ["industry 行业", s.industry],
      ["stack height 烟囱高度 [m]", s.stack], ["in a top 3 of a trace 溯源前三", s.traced ? "yes 是" : ""]]);
    if (s.geometry && s.geometry.type && s.geometry.type !== "Point") {
      L.geoJSON(s.geometry, { style: { color: tint, weight: s.kind === "line" ? 2 : 1,
                                       fillOpacity: 0.15, opacity: 0.8 } })
        .bindPopup(popup).addTo(overlays);
      return;
    }
    if (s.lon === "" || s.lat === "") { return; }
    if (s.traced) {
      L.circleMarker([s.lat, s.lon], { radius: 8, color: "#d7191c", weight: 2.5, fill: false })
        .addTo(overlays);
    }
    L.circleMarker([s.lat, s.lon], { radius: 3.2, color: "#ffffff", weight: 0.8,
                                     fillColor: tint, fillOpacity: 1 })
      .bindPopup(popup).addTo(overlays);
  });
  var CROSS = "<svg width='18' height='18' viewBox='0 0 18 18'><path d='M3 3L15 15M15 3L3 15' " +
    "stroke='#ffffff' stroke-width='6' stroke-linecap='round'/><path d='M3 3L15 15M15 3L3 15' " +
    "stroke='#d7191c' stroke-width='3.2' stroke-linecap='round'/></svg>";
  function icon(kind, text) {
    return L.divIcon({ className: "marker-" + kind, html: text || "", iconSize: null });
  }
  (data.stations || []).forEach(function (s) {
    if (s.lon === "" || s.lat === "") { return; }
    L.marker([s.lat, s.lon], { icon: icon(s.kind === "reference" ? "reference" : "micro"),
                               keyboard: false })
      .bindPopup("<b>" + escape(s.id) + "</b>" + rows([["station 站点", s.kind]])).addTo(overlays);
  });
  (data.suspects || []).forEach(function (s) {
    if (s.lon === "" || s.lat === "") { return; }
    var popup = "<b>" + escape(s.id) + "</b> suspected unregistered source 疑似未登记源" +
      rows([["cell 网格", s.cell], ["evidence 依据", s.evidence]]);
    L.marker([s.lat, s.lon], { icon: icon("suspect", CROSS), keyboard: false })
      .bindPopup(popup).addTo(overlays);
  });

  map.fitBounds(cells.getBounds(), { padding: [8, 8] });
  L.control.scale({ imperial: false }).addTo(map);

  var legend = L.control({ position: "bottomright" });
  legend.onAdd = function () {
    var div = L.DomUtil.create("div", "legend");
    var html = "<b>PM2.5 µg/m³</b><br>";
    for (var i = colours.length - 1; i >= 0; i--) {
      html += "<i style='background:" + colours[i] + "'></i>" + breaks[i] + "–" + breaks[i + 1] + "<br>";
    }
    html += "<i style='background:#fff;border:2px solid #000'></i>hotspot 热点<br>";
    Object.keys(data.sector_colours).forEach(function (key) {
      html += "<i class='dot' style='background:" + data.sector_colours[key] + "'></i>" + escape(key) + "<br>";
    });
    html += "<i class='dot' style='background:#fff;border:2px solid #d7191c'></i>traced top 3 溯源前三<br>";
    html += "<span style='display:inline-block;width:16px;margin-right:6px;vertical-align:-3px'>" + CROSS.replace("width='18' height='18'", "width='14' height='14'") + "</span>suspected unregistered 疑似未登记<br>";
    html += "<i style='background:#00a6d6'></i>reference 国控站 <i style='background:#9be7ff;width:9px;height:9px'></i>micro 微站";
    div.innerHTML = html;
    return div;
  };
  legend.addTo(map);
  document.body.setAttribute("data-map-ready", "true");
})();
