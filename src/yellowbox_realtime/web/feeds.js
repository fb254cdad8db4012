// The alert and expense feeds: newest first, each item keyed by its id so an update
// (acknowledged, approved) changes the item in place instead of adding another.

import {el, formatMoney, formatTime, humanize} from "./format.js";

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

export class AlertFeed extends Feed {
  /**
   * @param {(alert: object) => Promise<object>} acknowledge POSTs the acknowledgement and
   *   resolves to the acknowledged alert
   * @param {() => void} onChange called whenever the set of open alerts may have changed
   */
  constructor(list, empty, {acknowledge, onChange}) {
    super(list, empty, (alert) => String(alert.id));
    this.acknowledge = acknowledge;
    this.onChange = onChange;
  }

  changed() {
    super.changed();
    this.onChange?.();
  }

  open() {
    return [...this.items.values()].filter((alert) => !alert.acknowledged);
  }

  render(alert) {
    const severity = alert.severity || "info";
    const where = [alert.riderId, alert.fenceName,
      Number.isFinite(alert.speed) ? `${Math.round(alert.speed * 3.6)} km/h` : null]
      .filter(Boolean).join(" · ");
    const item = el("li", {
      class: `alert severity-${severity}${alert.acknowledged ? " acknowledged" : ""}`,
      "data-alert-id": alert.id, "data-kind": alert.kind,
      "aria-label": `${humanize(severity)} ${humanize(alert.kind)} alert`},
      el("div", {class: "item-head"},
        el("span", {class: `badge severity-${severity}`}, humanize(severity)),
        el("strong", {class: "kind"}, humanize(alert.kind)),
        el("time", {datetime: alert.at}, formatTime(alert.at))),
      alert.message ? el("p", {class: "message"}, alert.message) : null);
    const foot = item.appendChild(el("div", {class: "item-foot"},
      el("p", {class: "meta"}, where)));
    if (alert.acknowledged) {
      const by = alert.acknowledgedBy ? ` by ${alert.acknowledgedBy}` : "";
      const when = alert.acknowledgedAt ? ` at ${formatTime(alert.acknowledgedAt)}` : "";
      item.append(el("p", {class: "acknowledged-note", role: "status"}, `Acknowledged${by}${when}`));
      return item;
    }
    const button = el("button", {
      type: "button", class: "ack",
      "aria-label": `Acknowledge ${humanize(alert.kind)} alert${alert.riderId ? ` for ${alert.riderId}` : ""}`,
    }, "Acknowledge");
    const problem = el("p", {class: "problem", role: "alert", hidden: true});
    button.addEventListener("click", async () => {
      button.disabled = true;
      button.textContent = "Acknowledging…";
      problem.hidden = true;
      try {
        const acknowledged = await this.acknowledge(alert);
        this.upsert(acknowledged, {toTop: false});
      } catch (error) {
        problem.textContent = `Not acknowledged: ${error.message}`;
        problem.hidden = false;
        button.disabled = false;
        button.textContent = "Acknowledge";
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
