// The live map on real tiles: Leaflet (served by the gateway from its installed package)
// over the tile server the gateway's config names. Riders are coloured by status with their
// heading and a short trail of their last fixes; fences are drawn with their names. When the
// tile server cannot be reached the map says so over itself, and riders and fences stay drawn.
//
// It has the same methods as the plain plot (map.js), so the page uses either.

import {formatSpeed, hasFix, inDrawOrder, isMoving, replayAnimation} from "./format.js";
import * as L from "./vendor/leaflet/leaflet-src.esm.js";

const TRAIL_FIXES = 10;
const FIT_PADDING_PX = 28;
// Fitting to one rider or a small fleet stops at street level, not at the tiles' deepest zoom.
const FIT_MAX_ZOOM = 16;
// Dubai, shown before any rider or fence has arrived.
const DEFAULT_BOUNDS = [[25.0, 55.1], [25.33, 55.42]];
const FENCE_STYLE = {
  zone: {color: "#2563eb", weight: 1.5, dashArray: "6 4", fillOpacity: 0.07},
  depot: {color: "#0d9488", weight: 1.5, fillOpacity: 0.16},
  no_go: {color: "#dc2626", weight: 2, fillOpacity: 0.12},
};

/** Text for Leaflet's attribution box, which takes markup. */
function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export class TileMap {
  /**
   * @param {HTMLElement} root the element the map fills
   * @param {{url: string, attribution: string, maxZoom: number}} tiles
   * @param {{onSelect?: (riderId: string) => void}} options
   */
  constructor(root, tiles, {onSelect} = {}) {
    this.root = root;
    this.onSelect = onSelect;
    this.maxZoom = tiles.maxZoom;
    this.riders = new Map();
    this.fences = new Map();
    this.markers = new Map();
    this.trails = new Map(); // riderId -> [[lat, lon], ...], the newest last
    this.trailLines = new Map();
    this.fenceLayers = new Map();
    this.alerting = new Set();
    // The view follows the fleet until the user moves it; "Fit to fleet" follows again.
    this.following = true;
    this.map = L.map(root, {maxZoom: tiles.maxZoom, zoomSnap: 1});
    this.map.attributionControl.setPrefix(false);
    this.tiles = L.tileLayer(tiles.url, {
      maxZoom: tiles.maxZoom, attribution: escapeHtml(tiles.attribution)}).addTo(this.map);
    this.fenceGroup = L.layerGroup().addTo(this.map);
    this.trailGroup = L.layerGroup().addTo(this.map);
    this.watchTiles(new URL(tiles.url.replaceAll(/\{[^}]*\}/g, "0")).host);
    this.map.on("dragstart", () => { this.following = false; });
    this.map.on("zoomend moveend", () => { root.dataset.zoom = String(this.map.getZoom()); });
    new ResizeObserver(() => this.map.invalidateSize()).observe(root);
    this.map.fitBounds(DEFAULT_BOUNDS);
  }

  /** A message over the map while none of the view's tiles load; gone once one does. */
  watchTiles(host) {
    const problem = document.createElement("p");
    problem.className = "tile-problem";
    problem.setAttribute("role", "alert");
    problem.hidden = true;
    problem.textContent = `The map tiles from ${host} cannot be loaded: riders and fences `
      + "are drawn without the map.";
    this.root.parentElement.append(problem);
    this.tileProblem = problem;
    let loaded = 0, failed = 0;
    this.tiles.on("loading", () => { loaded = 0; failed = 0; });
    this.tiles.on("tileload", () => {
      loaded += 1;
      problem.hidden = true;
      this.root.dataset.tiles = "ok";
    });
    this.tiles.on("tileerror", () => {
      failed += 1;
      if (loaded === 0) {
        problem.hidden = false;
        this.root.dataset.tiles = "failed";
      }
    });
  }

  // -- data ------------------------------------------------------------------------

  setFences(fences) {
    this.fences = new Map(fences.map((fence) => [fence.id, fence]));
    this.drawFences();
    this.fit({follow: false});
  }

  upsertFence(fence) {
    this.fences.set(fence.id, fence);
    this.drawFences();
  }

  deleteFence(id) {
    this.fences.delete(id);
    this.drawFences();
  }

  /** Every rider, replacing what was shown (a snapshot). */
  setRiders(riders) {
    for (const marker of this.markers.values()) marker.remove();
    this.markers.clear();
    this.trails.clear();
    this.trailGroup.clearLayers();
    this.trailLines.clear();
    this.riders = new Map(riders.map((rider) => [rider.riderId, rider]));
    for (const rider of this.riders.values()) this.drawRider(rider);
    this.fit({follow: false});
  }

  /** Riders that moved or changed status (a batch). */
  updateRiders(riders) {
    let outside = false;
    const view = this.map.getBounds();
    for (const update of riders) {
      const rider = {...this.riders.get(update.riderId), ...update};
      this.riders.set(rider.riderId, rider);
      this.drawRider(rider);
      if (hasFix(rider) && !view.contains([rider.latitude, rider.longitude])) outside = true;
    }
    if (outside && this.following) this.fit({follow: false});
  }

  /** Riders with an open critical alert are ringed. */
  setAlerting(riderIds) {
    this.alerting = new Set(riderIds);
    for (const [id, marker] of this.markers) {
      marker.getElement()?.classList.toggle("alerting", this.alerting.has(id));
    }
  }

  /** A rider crossed a fence: the fence flashes. */
  flashFence(fenceId) {
    const node = this.fenceLayers.get(fenceId)?.getElement();
    if (node) replayAnimation(node, "flash");
  }

  clear() {
    this.fences.clear();
    this.drawFences();
    this.setRiders([]);
  }

  /** Fit the view around every fence and rider (and follow the fleet again). */
  fit({follow = true} = {}) {
    if (follow) this.following = true;
    const points = [];
    for (const rider of this.riders.values()) {
      if (hasFix(rider)) points.push([rider.latitude, rider.longitude]);
    }
    for (const layer of this.fenceLayers.values()) {
      const bounds = layer.getBounds();
      points.push(bounds.getSouthWest(), bounds.getNorthEast());
    }
    if (!points.length) return;
    this.map.fitBounds(L.latLngBounds(points), {
      padding: [FIT_PADDING_PX, FIT_PADDING_PX],
      maxZoom: Math.min(FIT_MAX_ZOOM, this.maxZoom), animate: false});
  }

  // -- drawing ---------------------------------------------------------------------

  drawRider(rider) {
    if (!hasFix(rider)) return;
    const id = rider.riderId;
    const at = [rider.latitude, rider.longitude];
    let marker = this.markers.get(id);
    if (!marker) {
      const icon = L.divIcon({
        className: "rider rider-marker", iconSize: [24, 24],
        html: '<span class="heading"></span><span class="dot"></span>'});
      marker = L.marker(at, {icon, title: id, riseOnHover: true, keyboard: true}).addTo(this.map);
      marker.on("click", () => this.onSelect?.(id));
      this.markers.set(id, marker);
    } else {
      marker.setLatLng(at);
    }
    const node = marker.getElement();
    const status = rider.status || "online";
    for (const name of ["online", "stale", "offline"]) {
      node.classList.toggle(`status-${name}`, name === status);
    }
    node.classList.toggle("alerting", this.alerting.has(id));
    node.dataset.riderId = id;
    node.dataset.status = status;
    node.dataset.latitude = String(rider.latitude);
    node.dataset.longitude = String(rider.longitude);
    const moving = isMoving(rider);
    const heading = node.querySelector(".heading");
    heading.hidden = !moving;
    if (moving) heading.style.transform = `rotate(${rider.heading}deg)`;
    const parts = [id, status, formatSpeed(rider.speed)].filter(Boolean);
    node.setAttribute("aria-label", parts.join(", "));
    this.drawTrail(id, at, status);
  }

  drawTrail(id, at, status) {
    const trail = this.trails.get(id) || [];
    const last = trail[trail.length - 1];
    if (!last || last[0] !== at[0] || last[1] !== at[1]) trail.push(at);
    trail.splice(0, Math.max(0, trail.length - TRAIL_FIXES));
    this.trails.set(id, trail);
    let line = this.trailLines.get(id);
    if (!line) {
      // Ten points need no simplifying, and each fix stays a vertex of the line.
      line = L.polyline(trail, {className: "trail", weight: 3, opacity: 0.5, smoothFactor: 0,
        interactive: false});
      line.addTo(this.trailGroup);
      this.trailLines.set(id, line);
    } else {
      line.setLatLngs(trail);
    }
    line.getElement()?.setAttribute("data-rider-id", id);
    line.getElement()?.setAttribute("data-status", status);
  }

  drawFences() {
    this.fenceGroup.clearLayers();
    this.fenceLayers.clear();
    for (const fence of inDrawOrder(this.fences.values())) {
      const style = {...(FENCE_STYLE[fence.kind] || FENCE_STYLE.zone),
        className: `fence fence-${fence.kind}`};
      let layer;
      if (fence.circle) {
        const {latitude, longitude, radius} = fence.circle;
        layer = L.circle([latitude, longitude], {...style, radius});
      } else if (fence.polygon?.length) {
        layer = L.polygon(fence.polygon.map((p) => [p.latitude, p.longitude]), style);
      } else {
        continue;
      }
      layer.bindTooltip(fence.name, {permanent: true, direction: "center",
        className: `fence-label fence-label-${fence.kind}`});
      layer.addTo(this.fenceGroup);
      layer.getElement()?.setAttribute("data-fence-id", fence.id);
      this.fenceLayers.set(fence.id, layer);
    }
  }
}
