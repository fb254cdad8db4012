// The metric cards across the top, filled from `dashboard_metrics` / `dashboard_update`.
// Anything the server did not send shows as "—" rather than a made-up zero.

import {el, formatCount, toDate} from "./format.js";

function set(root, name, text) {
  const node = root.querySelector(`[data-metric="${name}"]`);
  if (node) node.textContent = text;
}

const amount = new Intl.NumberFormat(undefined, {minimumFractionDigits: 2, maximumFractionDigits: 2});

/** Totals by currency, the currency code set small so the amounts fit a card. */
function setTotals(root, name, totals) {
  const node = root.querySelector(`[data-metric="${name}"]`);
  if (!node) return;
  if (totals === undefined || totals === null) {
    node.textContent = "—";
    return;
  }
  const entries = Object.entries(totals);
  if (entries.length === 0) entries.push(["AED", 0]);
  node.replaceChildren(...entries.flatMap(([currency, value], index) => [
    index ? " · " : "", amount.format(Number(value) || 0), el("span", {class: "unit"}, currency)]));
  node.title = entries.map(([currency, value]) => `${currency} ${amount.format(Number(value) || 0)}`).join(", ");
}

export function renderMetrics(root, metrics) {
  const riders = metrics.riders || {};
  const online = riders.online ?? riders.active;
  set(root, "riders.active", formatCount(riders.active ?? online));
  set(root, "riders.total", riders.total === undefined ? "" : `of ${formatCount(riders.total)} known`);
  set(root, "riders.online", formatCount(online));
  set(root, "riders.stale", formatCount(riders.stale));
  set(root, "riders.offline", formatCount(riders.offline));
  const bar = root.querySelector(".state-bar");
  if (bar) {
    const counts = {online: Number(online) || 0, stale: Number(riders.stale) || 0,
                    offline: Number(riders.offline) || 0};
    const total = counts.online + counts.stale + counts.offline;
    for (const [state, count] of Object.entries(counts)) {
      const part = bar.querySelector(`.${state}`);
      if (part) part.style.flexGrow = String(total ? count / total : 0);
    }
  }

  const expenses = metrics.expenses || {};
  set(root, "expenses.pending", formatCount(expenses.pending));
  setTotals(root, "expenses.approvedTotal", expenses.approvedTotal);

  const revenue = metrics.revenue || {};
  setTotals(root, "revenue.total", revenue.total);
  set(root, "revenue.deliveredOrders", revenue.deliveredOrders === undefined ? ""
    : `${formatCount(revenue.deliveredOrders)} delivered order${revenue.deliveredOrders === 1 ? "" : "s"}`);

  set(root, "alerts.open", formatCount(metrics.alerts?.open));
  root.querySelector('[data-card="alerts"]')
    ?.classList.toggle("attention", Number(metrics.alerts?.open) > 0);

  const connections = metrics.connections || {};
  const kinds = ["websocket", "polling", "sse"].map((kind) => Number(connections[kind]) || 0);
  set(root, "connections.total", metrics.connections ? formatCount(kinds[0] + kinds[1] + kinds[2]) : "—");
  set(root, "connections.detail", metrics.connections
    ? `${kinds[0]} WS · ${kinds[1]} poll · ${kinds[2]} SSE` : "");

  set(root, "eventsPerSecond", formatCount(metrics.eventsPerSecond, {fraction: true}));
  const at = toDate(metrics.at);
  set(root, "at", at ? `updated ${at.toLocaleTimeString(undefined, {hour12: false})}` : "");
}

export function clearMetrics(root) {
  for (const node of root.querySelectorAll("[data-metric]")) node.textContent = "—";
  for (const node of root.querySelectorAll(".sub[data-metric]")) node.textContent = "";
  for (const part of root.querySelectorAll(".state-bar span")) part.style.flexGrow = "0";
  root.querySelector('[data-card="alerts"]')?.classList.remove("attention");
}
