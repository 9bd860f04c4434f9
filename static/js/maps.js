// pb maps (Leaflet): progressive enhancement only. Every map has a list next to it on the page, and the
// location picker fills the latitude and longitude boxes of the form, which work without this file.
// Base tiles only when the site sets a tile URL (data-tile-url); otherwise the district shapes alone.
(function () {
  "use strict";

  function readJSON(id) {
    const el = id && document.getElementById(id);
    if (!el) return [];
    try { return JSON.parse(el.textContent); } catch (e) { return []; }
  }

  function popupFor(m) {
    // Built from text nodes, never HTML: titles are written by residents.
    const box = document.createElement("div");
    const link = document.createElement("a");
    link.href = m.url;
    link.textContent = m.code + " " + m.title;
    const status = document.createElement("div");
    status.textContent = m.status;
    box.append(link, status);
    return box;
  }

  function setUp(el) {
    if (typeof L === "undefined") return;
    for (const child of el.querySelectorAll(".map-nojs")) child.remove();
    const map = L.map(el, { zoomControl: false, keyboard: true, scrollWheelZoom: false });
    L.control.zoom({ zoomInTitle: el.dataset.zoomIn || "Zoom in", zoomOutTitle: el.dataset.zoomOut || "Zoom out" }).addTo(map);
    if (el.dataset.tileUrl) {
      L.tileLayer(el.dataset.tileUrl, { maxZoom: 19, attribution: el.dataset.tileAttribution || "" }).addTo(map);
    }
    let bounds = L.latLngBounds([]);
    const markers = L.featureGroup().addTo(map);
    for (const m of readJSON(el.dataset.markers)) {
      L.circleMarker([m.lat, m.lon], {
        radius: 8, weight: 2, color: "#ffffff", fillColor: m.funded ? "#1b6e2e" : "#0b5cad", fillOpacity: 1,
      }).bindPopup(popupFor(m)).bindTooltip(m.code + " " + m.title).addTo(markers);
    }
    if (markers.getLayers().length) bounds.extend(markers.getBounds());
    map.setView([0, 0], 2);

    const fit = () => { if (bounds.isValid()) map.fitBounds(bounds, { padding: [16, 16], maxZoom: 16 }); };
    fit();
    if (el.dataset.shapesUrl) {
      fetch(el.dataset.shapesUrl, { headers: { Accept: "application/geo+json" } })
        .then((r) => (r.ok ? r.json() : null))
        .then((data) => {
          if (!data || !data.features || !data.features.length) return;
          const shapes = L.geoJSON(data, {
            style: (f) => ({
              color: "#0b5cad", weight: f.properties.citywide ? 3 : 2, dashArray: f.properties.citywide ? "6 4" : null,
              fillOpacity: f.properties.citywide ? 0 : 0.12,
            }),
            onEachFeature: (f, layer) => layer.bindTooltip(f.properties.name, { sticky: true }),
          }).addTo(map);
          shapes.bringToBack();
          el.classList.add("has-shapes");
          if (!el.dataset.pickLat || !document.getElementById(el.dataset.pickLat).value) bounds = shapes.getBounds().extend(bounds);
          fit();
        })
        .catch(() => {});
    }
    if (el.dataset.pickLat) picker(el, map, (b) => { bounds = b; fit(); });
  }

  function picker(el, map, refit) {
    const lat = document.getElementById(el.dataset.pickLat);
    const lon = document.getElementById(el.dataset.pickLon);
    if (!lat || !lon) return;
    let pin = null;
    const status = document.getElementById(el.id + "-status");
    const say = (text) => { if (status) status.textContent = text; };
    const place = (ll, announce) => {
      if (!pin) pin = L.circleMarker(ll, { radius: 10, weight: 3, color: "#ffffff", fillColor: "#a3111b", fillOpacity: 1 }).addTo(map);
      pin.setLatLng(ll);
      if (announce) say((el.dataset.pinnedText || "Pinned at") + " " + ll.lat.toFixed(6) + ", " + ll.lng.toFixed(6));
    };
    const fill = (ll) => {
      lat.value = ll.lat.toFixed(6);
      lon.value = L.Util.wrapNum(ll.lng, [-180, 180], true).toFixed(6);
      place(ll, true);
    };
    const fromInputs = () => {
      const a = parseFloat(lat.value), b = parseFloat(lon.value);
      if (Number.isFinite(a) && Number.isFinite(b) && Math.abs(a) <= 90 && Math.abs(b) <= 180) {
        place(L.latLng(a, b), false);
        return L.latLng(a, b);
      }
      return null;
    };
    map.on("click", (e) => fill(e.latlng));
    lat.addEventListener("change", fromInputs);
    lon.addEventListener("change", fromInputs);
    const initial = fromInputs();
    if (initial) refit(L.latLngBounds([initial, initial]));
    for (const button of document.querySelectorAll("[data-pin-centre='" + el.id + "']")) {
      button.hidden = false;
      button.addEventListener("click", () => fill(map.getCenter()));
    }
    for (const button of document.querySelectorAll("[data-pin-clear='" + el.id + "']")) {
      button.hidden = false;
      button.addEventListener("click", () => {
        lat.value = ""; lon.value = "";
        if (pin) { pin.remove(); pin = null; }
        say(el.dataset.clearedText || "");
      });
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const el of document.querySelectorAll("[data-map]")) setUp(el);
  });
})();
