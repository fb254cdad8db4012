// The live map, drawn from coordinates into an SVG (no tiles can be fetched here): fences
// and riders, with the area they cover fitted to the view.
//
// The projection is equirectangular around the area's middle latitude, which at city scale
// keeps distances and circles true to within a fraction of a percent. The fitted area only
// grows while data streams in (a rider leaving it widens it), so dots do not jitter as the
// fleet moves; "Fit to fleet" or a fresh snapshot fits it tightly again.

import {
  formatSpeed, formatTime, hasFix, humanize, inDrawOrder, isMoving, replayAnimation, svg,
} from "./format.js";

const METRES_PER_DEGREE = 111_320;
const PADDING_PX = 28;
const GROW_MARGIN = 0.15; // of the area's size, added when a rider falls outside it
const LABELS_UP_TO = 40; // riders; more and the labels hide (the tooltips stay)
// A rider label's box, estimated (measuring text would force a layout per rider).
const LABEL_CHAR_PX = 6.2;
const LABEL_HEIGHT_PX = 12;
// Dubai, shown before any rider or fence has arrived.
const DEFAULT_AREA = {south: 25.0, north: 25.33, west: 55.1, east: 55.42};

function fenceArea(fence) {
  if (fence.circle) {
    const {latitude, longitude, radius} = fence.circle;
    const dLat = radius / METRES_PER_DEGREE;
    const dLon = dLat / Math.max(0.01, Math.cos(latitude * Math.PI / 180));
    return {south: latitude - dLat, north: latitude + dLat,
            west: longitude - dLon, east: longitude + dLon};
  }
  const points = fence.polygon || [];
  if (points.length === 0) return null;
  return {
    south: Math.min(...points.map((p) => p.latitude)),
    north: Math.max(...points.map((p) => p.latitude)),
    west: Math.min(...points.map((p) => p.longitude)),
    east: Math.max(...points.map((p) => p.longitude)),
  };
}

function union(a, b) {
  if (!a) return b;
  if (!b) return a;
  return {south: Math.min(a.south, b.south), north: Math.max(a.north, b.north),
          west: Math.min(a.west, b.west), east: Math.max(a.east, b.east)};
}

function contains(area, lat, lon) {
  return lat >= area.south && lat <= area.north && lon >= area.west && lon <= area.east;
}

function grown(area, by) {
  const dLat = Math.max(area.north - area.south, 0.002) * by;
  const dLon = Math.max(area.east - area.west, 0.002) * by;
  return {south: area.south - dLat, north: area.north + dLat,
          west: area.west - dLon, east: area.east + dLon};
}

/** A round grid step (degrees) giving a handful of lines across `span`. */
function gridStep(span) {
  const raw = span / 6;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const factor of [1, 2, 5, 10]) if (raw <= factor * power) return factor * power;
  return 10 * power;
}

/** A round distance (metres) for the scale bar, at most `max`. */
function scaleLength(max) {
  const power = 10 ** Math.floor(Math.log10(max));
  for (const factor of [5, 2, 1]) if (factor * power <= max) return factor * power;
  return power;
}

export class FleetMap {
  /**
   * @param {SVGSVGElement} root
   * @param {{onSelect?: (riderId: string) => void}} options called when a rider is clicked
   */
  constructor(root, {onSelect} = {}) {
    this.root = root;
    const select = (event) => {
      const node = event.target.closest?.(".rider");
      if (node) onSelect?.(node.dataset.riderId);
    };
    root.addEventListener("click", select);
    root.addEventListener("keydown", (event) => { if (event.key === "Enter") select(event); });
    this.fences = new Map();
    this.riders = new Map();
    this.riderNodes = new Map();
    this.drawnAt = new Map(); // riderId -> [x, y] in px
    this.alerting = new Set();
    this.area = null;
    this.width = 0;
    this.height = 0;
    this.grid = root.appendChild(svg("g", {class: "grid", "aria-hidden": "true"}));
    this.fenceLayer = root.appendChild(svg("g", {class: "fences"}));
    this.riderLayer = root.appendChild(svg("g", {class: "riders"}));
    this.scale = root.appendChild(svg("g", {class: "scale", "aria-hidden": "true"}));
    this.empty = root.appendChild(svg("text", {class: "empty", "text-anchor": "middle"}));
    this.empty.textContent = "Waiting for riders…";
    new ResizeObserver(() => this.resize()).observe(root);
    this.resize();
  }

  // -- data ------------------------------------------------------------------------

  setFences(fences) {
    this.fences = new Map(fences.map((fence) => [fence.id, fence]));
    this.fit();
  }

  upsertFence(fence) {
    this.fences.set(fence.id, fence);
    this.area = union(this.area, fenceArea(fence));
    this.draw();
  }

  deleteFence(id) {
    this.fences.delete(id);
    this.drawFences();
  }

  /** Every rider, replacing what was shown (a snapshot). */
  setRiders(riders) {
    this.riders = new Map(riders.map((rider) => [rider.riderId, rider]));
    for (const node of this.riderNodes.values()) node.remove();
    this.riderNodes.clear();
    this.drawnAt.clear();
    this.fit();
  }

  /** Riders that moved or changed status (a batch). */
  updateRiders(riders) {
    let outside = false;
    for (const rider of riders) {
      this.riders.set(rider.riderId, {...this.riders.get(rider.riderId), ...rider});
      if (this.area && !contains(this.area, rider.latitude, rider.longitude)) outside = true;
    }
    if (outside || !this.area) {
      this.area = grown(this.tightArea(), GROW_MARGIN);
      this.draw();
      return;
    }
    const p = this.projection();
    for (const rider of riders) this.drawRider(this.riders.get(rider.riderId), p);
    this.declutter();
    this.drawEmpty();
  }

  /** Riders with an open critical alert are ringed. */
  setAlerting(riderIds) {
    this.alerting = new Set(riderIds);
    for (const [id, node] of this.riderNodes) node.classList.toggle("alerting", this.alerting.has(id));
    this.declutter();
  }

  /** A rider crossed a fence: the fence flashes. */
  flashFence(fenceId) {
    const node = this.fenceLayer.querySelector(`[data-fence-id="${CSS.escape(fenceId)}"]`);
    if (node) replayAnimation(node, "flash");
  }

  clear() {
    this.fences.clear();
    this.setRiders([]);
  }

  /** Fit the view tightly around every fence and rider. */
  fit() {
    this.area = this.tightArea();
    this.draw();
  }

  tightArea() {
    let area = null;
    for (const fence of this.fences.values()) area = union(area, fenceArea(fence));
    for (const r of this.riders.values()) {
      area = union(area, {south: r.latitude, north: r.latitude, west: r.longitude, east: r.longitude});
    }
    return area ? grown(area, 0.04) : DEFAULT_AREA;
  }

  // -- projection ------------------------------------------------------------------

  resize() {
    const box = this.root.getBoundingClientRect();
    this.width = Math.max(1, box.width);
    this.height = Math.max(1, box.height);
    this.root.setAttribute("viewBox", `0 0 ${this.width} ${this.height}`);
    this.draw();
  }

  projection() {
    const area = this.area || DEFAULT_AREA;
    const middle = (area.south + area.north) / 2;
    const kx = Math.cos(middle * Math.PI / 180);
    const spanY = Math.max(area.north - area.south, 1e-4);
    const spanX = Math.max((area.east - area.west) * kx, 1e-4);
    const innerW = Math.max(1, this.width - 2 * PADDING_PX);
    const innerH = Math.max(1, this.height - 2 * PADDING_PX);
    const scale = Math.min(innerW / spanX, innerH / spanY); // px per degree of latitude
    const offsetX = (this.width - spanX * scale) / 2;
    const offsetY = (this.height - spanY * scale) / 2;
    return {
      scale, area, kx,
      x: (lon) => offsetX + (lon - area.west) * kx * scale,
      y: (lat) => offsetY + (area.north - lat) * scale,
      lon: (x) => area.west + (x - offsetX) / (kx * scale),
      lat: (y) => area.north - (y - offsetY) / scale,
    };
  }

  // -- drawing ---------------------------------------------------------------------

  draw() {
    if (!this.width) return;
    this.drawGrid();
    this.drawFences();
    const p = this.projection();
    for (const rider of this.riders.values()) this.drawRider(rider, p);
    this.riderLayer.classList.toggle("no-labels", this.riders.size > LABELS_UP_TO);
    this.declutter();
    this.drawScale();
    this.drawEmpty();
  }

  drawEmpty() {
    this.empty.setAttribute("x", this.width / 2);
    this.empty.setAttribute("y", this.height / 2);
    this.empty.style.display = this.riders.size ? "none" : "";
  }

  drawGrid() {
    const p = this.projection();
    this.grid.replaceChildren();
    const west = p.lon(0), east = p.lon(this.width);
    const north = p.lat(0), south = p.lat(this.height);
    const step = gridStep(Math.max(north - south, east - west));
    const digits = Math.max(0, -Math.floor(Math.log10(step)));
    for (let lon = Math.ceil(west / step) * step; lon <= east; lon += step) {
      const x = p.x(lon);
      this.grid.append(svg("line", {x1: x, x2: x, y1: 0, y2: this.height}));
      const label = this.grid.appendChild(svg("text", {x: x + 3, y: this.height - 6}));
      label.textContent = `${lon.toFixed(digits)}°E`;
    }
    for (let lat = Math.ceil(south / step) * step; lat <= north; lat += step) {
      const y = p.y(lat);
      this.grid.append(svg("line", {x1: 0, x2: this.width, y1: y, y2: y}));
      const label = this.grid.appendChild(svg("text", {x: 4, y: y - 3}));
      label.textContent = `${lat.toFixed(digits)}°N`;
    }
  }

  drawFences() {
    const p = this.projection();
    this.fenceLayer.replaceChildren();
    for (const fence of inDrawOrder(this.fences.values())) {
      const group = svg("g", {class: `fence fence-${fence.kind}`, "data-fence-id": fence.id});
      let cx, cy;
      if (fence.circle) {
        cx = p.x(fence.circle.longitude);
        cy = p.y(fence.circle.latitude);
        const r = fence.circle.radius / METRES_PER_DEGREE * p.scale;
        group.append(svg("circle", {cx, cy, r: Math.max(r, 2)}));
      } else if (fence.polygon && fence.polygon.length) {
        const points = fence.polygon.map((pt) => [p.x(pt.longitude), p.y(pt.latitude)]);
        group.append(svg("polygon", {points: points.map((xy) => xy.join(",")).join(" ")}));
        cx = points.reduce((sum, xy) => sum + xy[0], 0) / points.length;
        cy = points.reduce((sum, xy) => sum + xy[1], 0) / points.length;
      } else {
        continue;
      }
      const title = svg("title");
      title.textContent = `${fence.name} (${humanize(fence.kind)})`;
      group.append(title);
      const label = svg("text", {x: cx, y: cy, "text-anchor": "middle", class: "fence-label"});
      label.textContent = fence.name;
      group.append(label);
      this.fenceLayer.append(group);
    }
  }

  drawRider(rider, p) {
    if (!hasFix(rider)) return;
    let node = this.riderNodes.get(rider.riderId);
    if (!node) {
      node = svg("g", {class: "rider", "data-rider-id": rider.riderId, role: "img", tabindex: 0});
      node.append(svg("circle", {class: "ring", r: 11}), svg("line", {class: "heading", x1: 0, y1: 0, x2: 0, y2: -13}),
                  svg("circle", {class: "dot", r: 5.5}), svg("title"));
      const label = svg("text", {class: "rider-label", x: 9, y: 4});
      label.textContent = rider.riderId;
      node.append(label);
      this.riderLayer.append(node);
      this.riderNodes.set(rider.riderId, node);
    }
    const status = rider.status || "online";
    node.setAttribute("class", `rider status-${status}`);
    node.classList.toggle("alerting", this.alerting.has(rider.riderId));
    node.dataset.status = status;
    // The fix itself, for tooling and tests; the transform is where it is drawn.
    node.dataset.latitude = String(rider.latitude);
    node.dataset.longitude = String(rider.longitude);
    const x = p.x(rider.longitude), y = p.y(rider.latitude);
    this.drawnAt.set(rider.riderId, [x, y]);
    node.setAttribute("transform", `translate(${x.toFixed(1)} ${y.toFixed(1)})`);
    const moving = isMoving(rider);
    const heading = node.querySelector(".heading");
    heading.style.display = moving ? "" : "none";
    if (moving) heading.setAttribute("transform", `rotate(${rider.heading})`);
    const parts = [rider.riderId, status, formatSpeed(rider.speed)].filter(Boolean);
    if (rider.timestamp) parts.push(`fix ${formatTime(rider.timestamp)}`);
    node.querySelector("title").textContent = parts.join(" · ");
    node.setAttribute("aria-label", parts.join(", "));
  }

  /** Hide labels that would overlap one already placed; riders in alert are placed first. */
  declutter() {
    if (this.riders.size > LABELS_UP_TO) return;
    const ids = [...this.drawnAt.keys()].sort((a, b) =>
      Number(this.alerting.has(b)) - Number(this.alerting.has(a)) || a.localeCompare(b));
    const placed = [];
    for (const id of ids) {
      const [x, y] = this.drawnAt.get(id);
      const box = {left: x + 8, right: x + 10 + id.length * LABEL_CHAR_PX,
                   top: y - LABEL_HEIGHT_PX + 4, bottom: y + 4};
      const overlaps = placed.some((other) => box.left < other.right && other.left < box.right
        && box.top < other.bottom && other.top < box.bottom);
      this.riderNodes.get(id)?.classList.toggle("label-hidden", overlaps);
      if (!overlaps) placed.push(box);
    }
  }

  drawScale() {
    const p = this.projection();
    this.scale.replaceChildren();
    const pxPerMetre = p.scale / METRES_PER_DEGREE;
    const metres = scaleLength(this.width * 0.2 / pxPerMetre);
    const length = metres * pxPerMetre;
    const x = this.width - PADDING_PX - length, y = this.height - 16;
    this.scale.append(svg("path", {d: `M${x},${y - 5} V${y} H${x + length} V${y - 5}`}));
    const label = this.scale.appendChild(svg("text", {x: x + length / 2, y: y - 8, "text-anchor": "middle"}));
    label.textContent = metres >= 1000 ? `${metres / 1000} km` : `${metres} m`;
  }
}
