// A module's status as a live table: one binding per status name, each change marked briefly.

import { clock, h, pretty, uid } from "./dom.js";

/** How long (ms) a changed row stays marked. */
export const CHANGE_MARK_MS = 2500;

export class StatusTable {
  /** `onNull()` is called when a status turns null: it may have been deleted, worth a look. */
  constructor(socket, sysId, name, index, onNull = () => {}) {
    Object.assign(this, { socket, sysId, name, index, onNull });
    this.rows = new Map(); // status name -> {row, valueCell, timeCell, encoded, unbind, timer}
    this.headingId = uid("status-heading");
    this.tbody = h("tbody");
    this.empty = h("tr", { class: "empty" }, h("td", { colspan: "3", text: "No status yet." }));
    this.tbody.append(this.empty);
    this.table = h(
      "table",
      { class: "status-table", "aria-labelledby": this.headingId },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col", text: "Name" }),
          h("th", { scope: "col", text: "Value" }),
          h("th", { scope: "col", text: "Updated" }),
        ),
      ),
      this.tbody,
    );
    this.staleNote = h("p", { class: "stale-note", hidden: true });
    this.element = h(
      "section",
      { class: "panel status", "aria-labelledby": this.headingId },
      h("div", { class: "panel-head" }, h("h3", { id: this.headingId, text: "Status" })),
      this.staleNote,
      h(
        "div",
        { class: "table-scroll", tabindex: "0", role: "group", "aria-label": "Status values" },
        this.table,
      ),
    );
    this.stateListener = (event) => this.#onState(event.detail.state);
    socket.addEventListener("state", this.stateListener);
    this.#onState(socket.state);
  }

  /** Say when the values shown are no longer live (the WebSocket is down). */
  #onState(state) {
    const live = state === "open";
    if (!live && this.staleNote.hidden) {
      this.staleNote.textContent = `Not live since ${clock()}: the connection is down; values may be out of date.`;
    }
    this.staleNote.hidden = live;
    this.table.classList.toggle("stale", !live);
  }

  /** Show exactly the statuses of `map` (name -> JSON text), binding new ones. */
  setKeys(map) {
    for (const [key, encoded] of Object.entries(map)) {
      if (!this.rows.has(key)) this.#addRow(key);
      this.#show(key, encoded, false);
    }
    for (const key of [...this.rows.keys()]) {
      if (!(key in map)) this.#removeRow(key);
    }
    this.empty.hidden = this.rows.size > 0;
  }

  #addRow(key) {
    const valueCell = h("pre", { class: "json" });
    const timeCell = h("td", { class: "time" });
    const row = h(
      "tr",
      { dataset: { status: key, changes: "0" } },
      h("th", { scope: "row" }, h("code", { text: key })),
      h("td", {}, valueCell),
      timeCell,
    );
    const entry = { row, valueCell, timeCell, encoded: undefined, timer: null, unbind: null };
    this.rows.set(key, entry);
    const after = [...this.rows.keys()].filter((k) => k > key).sort()[0];
    this.tbody.insertBefore(row, after ? this.rows.get(after).row : null);
    entry.unbind = this.socket.bind(this.sysId, this.name, this.index, key, (value) => {
      this.#show(key, JSON.stringify(value), true);
      if (value === null) this.onNull();
    });
  }

  #removeRow(key) {
    const entry = this.rows.get(key);
    this.rows.delete(key);
    clearTimeout(entry.timer);
    entry.unbind();
    entry.row.remove();
  }

  #show(key, encoded, live) {
    const entry = this.rows.get(key);
    if (!entry || entry.encoded === encoded) return;
    const changed = entry.encoded !== undefined;
    entry.encoded = encoded;
    let text;
    try {
      text = pretty(JSON.parse(encoded));
    } catch {
      text = encoded;
    }
    entry.valueCell.textContent = text;
    if (changed || live) entry.timeCell.textContent = clock();
    if (changed) {
      entry.row.dataset.changes = String(Number(entry.row.dataset.changes) + 1);
      entry.row.classList.add("changed");
      clearTimeout(entry.timer);
      entry.timer = setTimeout(() => entry.row.classList.remove("changed"), CHANGE_MARK_MS);
    }
  }

  dispose() {
    this.socket.removeEventListener("state", this.stateListener);
    for (const key of [...this.rows.keys()]) this.#removeRow(key);
  }
}
