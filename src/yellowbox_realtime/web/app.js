// The operations dashboard: signs in with a token, reads one SSE stream of every channel it
// shows, and acknowledges alerts through the HTTP API.

import {el, formatSpeed, formatTime, formatTotals, humanize} from "./format.js";
import {Alarm} from "./alarm.js";
import {AlertFeed, ExpenseFeed, alertOrder, alertState} from "./feeds.js";
import {FleetMap} from "./map.js";
import {clearMetrics, renderMetrics} from "./metrics.js";
import {describeToken, forgetToken, storedToken, storeToken, takeTokenFromFragment} from "./session.js";
import {LiveStream, SignInRequired} from "./stream.js";

const CHANNELS = ["dashboard", "fleet", "alerts", "expense_updates", "geofences"];

const $ = (id) => document.getElementById(id);
const metrics = $("metrics");
const settings = await loadSettings();
const map = await makeMap(settings.tiles);
const alerts = new AlertFeed($("alerts"), $("alerts-empty"), {act: changeAlert, onChange: alertsChanged});
const alarm = new Alarm($("alarm"));
const expenses = new ExpenseFeed($("expenses"), $("expenses-empty"));

let token = null;
let stream = null;
let countdown = null;
// Whether the alert counts shown are the gateway's (all alerts) or the feed's own.
let countsFromGateway = false;

// -- the map -----------------------------------------------------------------------------

/** The gateway's settings for this page; without them, the plain plot. */
async function loadSettings() {
  try {
    const response = await fetch("settings.json");
    if (response.ok) return await response.json();
  } catch {
    // The page still works without tiles.
  }
  return {tiles: null};
}

/** Riders on tiles when the gateway names a tile server, on the plain plot otherwise. */
async function makeMap(tiles) {
  if (!tiles) return new FleetMap($("map"), {onSelect: showRider});
  document.head.append(el("link", {rel: "stylesheet", href: "vendor/leaflet/leaflet.css"}));
  const {TileMap} = await import("./tilemap.js");
  $("map").remove();
  $("tile-map").hidden = false;
  return new TileMap($("tile-map"), tiles, {onSelect: showRider});
}

// -- rider details -----------------------------------------------------------------------

let selectedRider = null;
let detailsTimer = null;

function showRider(riderId) {
  selectedRider = riderId;
  clearInterval(detailsTimer);
  // The fix's age goes on counting while the details are open.
  detailsTimer = setInterval(renderRider, 1000);
  renderRider();
  $("rider-details-close").focus();
}

function hideRider() {
  selectedRider = null;
  clearInterval(detailsTimer);
  detailsTimer = null;
  $("rider-details").hidden = true;
}

function ageOf(iso) {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (!Number.isFinite(seconds)) return "";
  if (seconds < 90) return `${seconds} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

function renderRider() {
  const panel = $("rider-details");
  const rider = selectedRider === null ? null : map.riders.get(selectedRider);
  if (!rider) {
    panel.hidden = true;
    return;
  }
  panel.hidden = false;
  const detail = (name) => panel.querySelector(`[data-detail="${name}"]`);
  $("rider-details-title").textContent = rider.riderId;
  detail("status").textContent = humanize(rider.status || "online");
  detail("fix").textContent = rider.timestamp
    ? `${formatTime(rider.timestamp)} (${ageOf(rider.timestamp)})` : "none yet";
  detail("position").textContent = Number.isFinite(rider.latitude)
    ? `${rider.latitude.toFixed(5)}, ${rider.longitude.toFixed(5)}` : "unknown";
  detail("speed").textContent = formatSpeed(rider.speed) ?? "unknown";
  const open = [...alerts.items.values()].filter((alert) => alert.riderId === rider.riderId
    && alertState(alert) !== "resolved").sort(alertOrder);
  detail("alerts").replaceChildren(...(open.length ? open.map((alert) => el("li",
    {class: `severity-${alert.severity}`, "data-alert-id": alert.id},
    `${humanize(alert.kind)} (${alertState(alert)}): ${alert.message || ""}`))
    : [el("li", {class: "none"}, "None")]));
}

// -- signing in and out ------------------------------------------------------------------

function signIn(newToken) {
  stream?.stop();
  token = newToken;
  storeToken(token);
  const who = describeToken(token);
  $("who").textContent = who ? [who.uid, who.role].filter(Boolean).join(" · ") : "API token";
  document.body.classList.remove("signed-out");
  $("sign-in").hidden = true;
  clearViews();
  stream = new LiveStream({channels: CHANNELS, token: () => token, handlers, onState: showState});
  stream.start();
}

function signOut(reason) {
  stream?.stop();
  stream = null;
  token = null;
  forgetToken();
  clearViews();
  $("who").textContent = "";
  document.body.classList.add("signed-out");
  const problem = $("sign-in-reason");
  problem.textContent = reason || "";
  problem.hidden = !reason;
  $("sign-in").hidden = false;
  $("token").value = "";
  showState({state: "signed_out", reason});
  $("token").focus();
}

$("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = $("token").value.trim();
  if (value) signIn(value);
});
$("sign-out").addEventListener("click", () => signOut(""));
$("fit").addEventListener("click", () => map.fit());
$("rider-details-close").addEventListener("click", hideRider);
$("alert-filter").addEventListener("change", (event) => {
  alerts.setFilter({[event.target.name]: event.target.value});
});
$("sos-show").addEventListener("click", () => {
  const filter = $("alert-filter");
  for (const select of filter.elements) select.value = select.name === "state" ? "active" : "";
  alerts.setFilter({kind: "", severity: "", state: "active"});
  $("alerts").querySelector('li[data-kind="sos"][data-state="open"]')?.scrollIntoView({block: "nearest"});
});
window.addEventListener("hashchange", () => {
  const fromFragment = takeTokenFromFragment();
  if (fromFragment) signIn(fromFragment);
});

// -- the connection indicator ------------------------------------------------------------

function showState({state, reason, retryAt}) {
  const box = $("connection");
  box.dataset.state = state;
  clearInterval(countdown);
  countdown = null;
  const text = box.querySelector(".text");
  const describe = () => {
    if (state === "live") return "Live";
    if (state === "connecting") return "Connecting…";
    if (state === "reconnecting") {
      const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
      return `Reconnecting${seconds ? ` in ${seconds} s` : "…"}${reason ? ` (${reason})` : ""}`;
    }
    return reason ? `Signed out: ${reason}` : "Signed out";
  };
  text.textContent = describe();
  if (state === "reconnecting") countdown = setInterval(() => { text.textContent = describe(); }, 1000);
  if (state === "signed_out" && stream) signOut(reason);
}

// -- the stream's events -----------------------------------------------------------------

const handlers = {
  dashboard_metrics: (data) => showMetrics(data),
  dashboard_update: (data) => showMetrics(data),
  fleet_update: (data) => {
    if (data.type === "snapshot") map.setRiders(data.riders || []);
    else map.updateRiders(data.riders || (data.rider ? [data.rider] : []));
    mapSummary();
    if (selectedRider !== null) renderRider();
  },
  alerts_snapshot: (data) => alerts.set(data.alerts || []),
  alert: (alert) => alerts.upsert(alert),
  alert_acknowledged: (alert) => alerts.upsert(alert),
  alert_resolved: (alert) => alerts.upsert(alert),
  expenses_snapshot: (data) => {
    expenses.set(data.expenses || []);
    expenseSummary(data);
  },
  expense_status_change: (expense) => expenses.upsert(expense),
  geofences_snapshot: (data) => {
    map.setFences(data.fences || []);
    mapSummary();
  },
  geofence_update: (data) => {
    if (data.type === "delete") map.deleteFence(data.id);
    else if (data.fence) map.upsertFence(data.fence);
    mapSummary();
  },
  geofence_event: (crossing) => {
    map.flashFence(crossing.fenceId);
    const verb = crossing.kind === "enter" ? "entered" : "left";
    $("crossing").textContent = `${formatTime(crossing.at)} ${crossing.riderId} ${verb} `
      + `${crossing.fenceName} (${humanize(crossing.fenceKind)})`;
  },
  // What was missed is gone: drop what the snapshots that follow will bring back.
  stream_reset: () => clearViews(),
};

function showMetrics(data) {
  renderMetrics(metrics, data);
  if (data.alerts) alertCounts(data.alerts);
  // The feed's own summary came with its snapshot; the metrics keep it current.
  if (data.expenses) expenseSummary(data.expenses);
}

function clearViews() {
  countsFromGateway = false;
  hideRider();
  map.clear();
  alerts.clear();
  expenses.clear();
  clearMetrics(metrics);
  $("crossing").textContent = "";
  $("expenses-summary").textContent = "";
  mapSummary();
}

function mapSummary() {
  const riders = map.riders.size, fences = map.fences.size;
  $("map-summary").textContent = `${riders} rider${riders === 1 ? "" : "s"} · `
    + `${fences} fence${fences === 1 ? "" : "s"}`;
}

function expenseSummary({pending, approvedTotal}) {
  const parts = [];
  if (pending !== undefined) parts.push(`${pending} pending`);
  if (approvedTotal !== undefined) parts.push(`${formatTotals(approvedTotal)} approved`);
  $("expenses-summary").textContent = parts.join(" · ");
}

function alertsChanged() {
  const open = alerts.open();
  if (selectedRider !== null) renderRider();
  $("alerts-open").textContent = open.length ? `${open.length} open` : "";
  map.setAlerting(open.filter((alert) => alert.severity === "critical" && alert.riderId)
    .map((alert) => alert.riderId));
  // The gateway's counts come with the metrics; until they do, count what the feed holds.
  if (!countsFromGateway) {
    const counts = {critical: 0, warning: 0, info: 0};
    for (const alert of alerts.items.values()) {
      if (!alert.resolvedAt && alert.state !== "resolved" && alert.severity in counts) counts[alert.severity] += 1;
    }
    alertCounts(counts, false);
  }
  const sos = open.filter((alert) => alert.kind === "sos");
  const banner = $("sos-banner");
  banner.hidden = sos.length === 0;
  banner.querySelector(".sos-text").textContent = sos.length === 1
    ? `SOS from ${sos[0].riderId}: not acknowledged yet`
    : `${sos.length} SOS alerts not acknowledged yet`;
  document.title = (sos.length ? `(SOS ${sos.length}) ` : "") + "Yellow Box · Operations";
  alarm.sound(sos);
}

function alertCounts(counts, fromGateway = true) {
  countsFromGateway = countsFromGateway || fromGateway;
  for (const node of $("alert-counts").querySelectorAll("[data-count]")) {
    node.textContent = String(counts[node.dataset.count] ?? 0);
  }
}

// -- acknowledging and resolving ---------------------------------------------------------

async function changeAlert(alert, action) {
  let response;
  try {
    response = await fetch(`/api/v1/alerts/${encodeURIComponent(alert.id)}/${action}`, {
      method: "POST", headers: {Authorization: "Bearer " + token}});
  } catch {
    throw new Error("the gateway cannot be reached");
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    // An empty or non-JSON answer: the status decides below.
  }
  const message = body?.error?.message || `${response.status} ${response.statusText}`.trim();
  if (response.status === 401) {
    signOut(message);
    throw new SignInRequired(message);
  }
  if (!response.ok) throw new Error(message);
  return body.alert;
}

// -- start -------------------------------------------------------------------------------

const initial = takeTokenFromFragment() || storedToken();
if (initial) signIn(initial);
else signOut("");
