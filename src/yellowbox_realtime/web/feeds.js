// The alert and expense feeds, each item keyed by its id so an update (acknowledged,
// approved) changes the item in place instead of adding another. Expenses are newest first;
// alerts are the worst first (an open SOS above everything), then the newest.

import {el, formatMoney, formatSpeed, formatTime, humanize} from "./format.js";

const MAX_ITEMS = 200;

class Feed {
  constructor(list, empty, key) {
    this.list = list;
    this.empty = empty;
    this.key = key;
    this.items = new Map();
    this.nodes = new Map();
  }

  /** Replace everything (a snapshot, newest first). */
  set(items) {
    this.items = new Map(items.map((item) => [this.key(item), item]));
    this.nodes.clear();
    this.list.replaceChildren(...items.map((item) => this.node(item)));
    this.changed();
  }

  clear() {
    this.set([]);
  }

  /** A new item goes on top; a known one is updated where it is. */
  upsert(item, {toTop = true} = {}) {
    const id = this.key(item);
    const merged = {...this.items.get(id), ...item};
    this.items.set(id, merged);
    const old = this.nodes.get(id);
    const node = this.node(merged);
    if (old && !toTop) {
      old.replaceWith(node);
    } else {
      old?.remove();
      node.classList.add("fresh");
      this.list.prepend(node);
    }
    while (this.list.children.length > MAX_ITEMS) {
      const last = this.list.lastElementChild;
      this.items.delete(last.dataset.id);
      this.nodes.delete(last.dataset.id);
      last.remove();
    }
    this.changed();
  }

  node(item) {
    const node = this.render(item);
    node.dataset.id = this.key(item);
    this.nodes.set(this.key(item), node);
    return node;
  }

  changed() {
    this.empty.hidden = this.items.size > 0;
  }
}

const SEVERITY_RANK = {critical: 0, warning: 1, info: 2};
const STATES = ["open", "acknowledged", "resolved"];

/** An alert's state, also for events from before alerts had one. */
export function alertState(alert) {
  if (STATES.includes(alert.state)) return alert.state;
  if (alert.resolvedAt) return "resolved";
  return alert.acknowledged ? "acknowledged" : "open";
}

function seenAt(alert) {
  return Date.parse(alert.lastSeen || alert.at) || 0;
}

/** Sorts alerts: an open SOS first, unresolved before resolved, the worst, the newest. */
export function alertOrder(a, b) {
  const rank = (alert) => [
    alert.kind === "sos" && alertState(alert) === "open" ? 0 : 1,
    alertState(alert) === "resolved" ? 1 : 0,
    SEVERITY_RANK[alert.severity] ?? 3,
    -seenAt(alert)];
  const left = rank(a), right = rank(b);
  for (let i = 0; i < left.length; i++) {
    if (left[i] !== right[i]) return left[i] - right[i];
  }
  return String(b.id).localeCompare(String(a.id));
}

export class AlertFeed extends Feed {
  /**
   * @param {(alert: object, action: "ack" | "resolve") => Promise<object>} act POSTs the
   *   acknowledgement or resolution and resolves to the alert as it is now
   * @param {() => void} onChange called whenever the set of open alerts may have changed
   */
  constructor(list, empty, {act, onChange}) {
    super(list, empty, (alert) => String(alert.id));
    this.act = act;
    this.onChange = onChange;
    // What the panel shows: "active" is open and acknowledged; "" is any.
    this.filter = {kind: "", severity: "", state: "active"};
  }

  set(items) {
    super.set(items);
    this.arrange();
  }

  /** A new alert or a step of a known one; the feed keeps its order either way. */
  upsert(item) {
    const id = this.key(item);
    const known = this.items.get(id);
    const merged = {...known, ...item};
    this.items.set(id, merged);
    const node = this.node(merged);
    const old = this.list.querySelector(`:scope > li[data-id="${CSS.escape(id)}"]`);
    if (old) old.replaceWith(node);
    else this.list.append(node);
    if (!known || seenAt(merged) > seenAt(known)) node.classList.add("fresh");
    this.arrange();
  }

  setFilter(filter) {
    this.filter = {...this.filter, ...filter};
    this.arrange();
  }

  /** Put the items in order, show the ones the filter chooses, keep at most MAX_ITEMS. */
  arrange() {
    const ordered = [...this.items.values()].sort(alertOrder);
    for (const gone of ordered.splice(MAX_ITEMS)) {
      const id = this.key(gone);
      this.items.delete(id);
      this.nodes.get(id)?.remove();
      this.nodes.delete(id);
    }
    let shown = 0;
    for (const alert of ordered) {
      const node = this.nodes.get(this.key(alert));
      node.hidden = !this.chosen(alert);
      if (!node.hidden) shown += 1;
      this.list.append(node);
    }
    this.shown = shown;
    this.changed();
  }

  chosen(alert) {
    const {kind, severity, state} = this.filter;
    const current = alertState(alert);
    return (!kind || alert.kind === kind) && (!severity || alert.severity === severity)
      && (!state || (state === "active" ? current !== "resolved" : current === state));
  }

  changed() {
    this.empty.hidden = (this.shown ?? this.items.size) > 0;
    this.empty.textContent = this.items.size ? "No alerts match the filter." : "No alerts.";
    this.onChange?.();
  }

  open() {
    return [...this.items.values()].filter((alert) => alertState(alert) === "open");
  }

  render(alert) {
    const severity = alert.severity || "info";
    const state = alertState(alert);
    const where = [alert.riderId, alert.fenceName, formatSpeed(alert.speed)]
      .filter(Boolean).join(" · ");
    const repeats = alert.count > 1
      ? el("span", {class: "count", title: `last at ${formatTime(alert.lastSeen)}`}, `×${alert.count}`)
      : null;
    const item = el("li", {
      class: `alert severity-${severity} state-${state}${state !== "open" ? " acknowledged" : ""}`,
      "data-alert-id": alert.id, "data-kind": alert.kind, "data-state": state,
      "aria-label": `${humanize(severity)} ${humanize(alert.kind)} alert, ${state}`},
      el("div", {class: "item-head"},
        el("span", {class: `badge severity-${severity}`}, humanize(severity)),
        el("strong", {class: "kind"}, humanize(alert.kind)),
        repeats,
        el("time", {datetime: alert.lastSeen || alert.at}, formatTime(alert.lastSeen || alert.at))),
      alert.message ? el("p", {class: "message"}, alert.message) : null);
    const foot = item.appendChild(el("div", {class: "item-foot"},
      el("p", {class: "meta"}, where)));
    const notes = [];
    if (alert.acknowledged) {
      const by = alert.acknowledgedBy ? ` by ${alert.acknowledgedBy}` : "";
      const when = alert.acknowledgedAt ? ` at ${formatTime(alert.acknowledgedAt)}` : "";
      notes.push(`Acknowledged${by}${when}`);
    }
    if (state === "resolved") {
      const by = alert.resolvedBy === "system" ? " (the rider reported again)"
        : alert.resolvedBy ? ` by ${alert.resolvedBy}` : "";
      const when = alert.resolvedAt ? ` at ${formatTime(alert.resolvedAt)}` : "";
      notes.push(`Resolved${by}${when}`);
    }
    if (notes.length) {
      item.append(el("p", {class: "acknowledged-note", role: "status"}, notes.join(" · ")));
    }
    if (state === "resolved") return item;
    const [action, label, doing] = state === "open"
      ? ["ack", "Acknowledge", "Acknowledging…"] : ["resolve", "Resolve", "Resolving…"];
    const button = el("button", {
      type: "button", class: action,
      "aria-label": `${label} ${humanize(alert.kind)} alert${alert.riderId ? ` for ${alert.riderId}` : ""}`,
    }, label);
    const problem = el("p", {class: "problem", role: "alert", hidden: true});
    button.addEventListener("click", async () => {
      button.disabled = true;
      button.textContent = doing;
      problem.hidden = true;
      try {
        this.upsert(await this.act(alert, action));
      } catch (error) {
        problem.textContent = `Not ${action === "ack" ? "acknowledged" : "resolved"}: ${error.message}`;
        problem.hidden = false;
        button.disabled = false;
        button.textContent = label;
      }
    });
    foot.append(button);
    item.append(problem);
    return item;
  }
}
export class ExpenseFeed extends Feed {
  constructor(list, empty) {
    super(list, empty, (expense) => String(expense.expenseId));
  }

  render(expense) {
    const status = expense.status || "submitted";
    const who = [expense.riderId, expense.description]
      .filter(Boolean).join(" · ");
    return el("li", {class: `expense status-${status}`, "data-expense-id": expense.expenseId},
      el("div", {class: "item-head"},
        el("span", {class: `badge status-${status}`}, humanize(status)),
        el("strong", {class: "amount"}, formatMoney(expense.amount, expense.currency || "AED")),
        el("time", {datetime: expense.updatedAt}, formatTime(expense.updatedAt))),
      el("p", {class: "meta"}, el("span", {class: "expense-id"}, expense.expenseId),
        who ? ` · ${who}` : ""));
  }
}
