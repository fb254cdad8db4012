// Small helpers shared by the views: building elements and formatting values for people.

/** An element with attributes (`class`, `data-*`, aria) and children (nodes or text). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.filter((child) => child !== undefined && child !== null));
  return node;
}

/** An SVG element; SVG needs its namespace, so `el` cannot make these. */
export function svg(tag, attributes = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null) node.setAttribute(name, String(value));
  }
  return node;
}

const clock = new Intl.DateTimeFormat(undefined, {
  hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false});
const dayAndClock = new Intl.DateTimeFormat(undefined, {
  month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false});

/** A wire time (ISO 8601) as the local clock time; today's times without the date. */
export function formatTime(iso) {
  if (!iso) return "";
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return String(iso);
  const sameDay = at.toDateString() === new Date().toDateString();
  return (sameDay ? clock : dayAndClock).format(at);
}

/** Seconds or milliseconds since the epoch, or ISO text, as a Date (null when unknown). */
export function toDate(value) {
  if (value === undefined || value === null || value === "") return null;
  if (typeof value === "number") return new Date(value < 1e12 ? value * 1000 : value);
  const at = new Date(value);
  return Number.isNaN(at.getTime()) ? null : at;
}

/** An amount of money, e.g. "AED 1,234.50". */
export function formatMoney(amount, currency = "AED") {
  const value = Number(amount);
  if (!Number.isFinite(value)) return "—";
  try {
    return new Intl.NumberFormat(undefined, {
      style: "currency", currency, currencyDisplay: "code", maximumFractionDigits: 2,
    }).format(value);
  } catch {
    // Not an ISO 4217 code the browser knows: still show something honest.
    return `${currency} ${value.toFixed(2)}`;
  }
}

/** `{"AED": 1234.5, "USD": 10}` as "AED 1,234.50 · USD 10.00"; "—" when empty. */
export function formatTotals(totals) {
  const entries = Object.entries(totals || {});
  if (entries.length === 0) return formatMoney(0);
  return entries.map(([currency, amount]) => formatMoney(amount, currency)).join(" · ");
}

const integer = new Intl.NumberFormat(undefined, {maximumFractionDigits: 0});
const decimal = new Intl.NumberFormat(undefined, {maximumFractionDigits: 1});

/** A count, or "—" when the server did not send it. */
export function formatCount(value, {fraction = false} = {}) {
  const number = Number(value);
  if (value === undefined || value === null || !Number.isFinite(number)) return "—";
  return (fraction ? decimal : integer).format(number);
}

/** "sos" -> "SOS", "geofence_breach" -> "Geofence breach". */
export function humanize(word) {
  const known = {sos: "SOS", no_go: "No-go area"};
  if (known[word]) return known[word];
  const text = String(word ?? "").replaceAll("_", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Whether a rider has a position to draw. */
export function hasFix(rider) {
  return Number.isFinite(rider?.latitude) && Number.isFinite(rider?.longitude);
}

/** Whether a rider moves fast enough for its heading to mean something. */
export function isMoving(rider) {
  return Number.isFinite(rider.heading) && (rider.speed ?? 0) > 0.5;
}

/** A speed in metres a second as people read it, or null when it is not known. */
export function formatSpeed(metresPerSecond) {
  return Number.isFinite(metresPerSecond) ? `${Math.round(metresPerSecond * 3.6)} km/h` : null;
}

// Zones under depots under no-go areas, so the most important outline is on top.
const FENCE_ORDER = {zone: 0, depot: 1, no_go: 2};

/** Fences in the order the maps draw them. */
export function inDrawOrder(fences) {
  return [...fences].sort((a, b) => (FENCE_ORDER[a.kind] ?? 0) - (FENCE_ORDER[b.kind] ?? 0));
}

/** Play a node's CSS animation (`className`) again, from the start. */
export function replayAnimation(node, className) {
  node.classList.remove(className);
  // Reading layout restarts the animation when the class comes back.
  void node.getBoundingClientRect();
  node.classList.add(className);
}
