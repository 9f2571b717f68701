// A module's debug stream: start / stop, a minimum level, pause (lines are held) and clear.

import { clock, h, uid } from "./dom.js";

export const LEVELS = ["trace", "debug", "info", "notice", "warn", "error", "fatal"];
/** Lines kept (displayed or held); the oldest go first. */
export const MAX_LINES = 2000;

const rank = (level) => {
  const i = LEVELS.indexOf(level);
  return i < 0 ? LEVELS.indexOf("info") : i;
};

export class DebugLog {
  constructor(socket, sysId, moduleId, index, announce) {
    Object.assign(this, { socket, sysId, moduleId, index, announce });
    this.detach = null;
    this.paused = false;
    this.lines = []; // {level, text, time, li}
    this.held = 0;
    this.headingId = uid("debug-heading");
    this.toggle = h("button", {
      type: "button",
      class: "primary",
      text: "Start debug",
      onclick: () => this.#toggle(),
    });
    this.level = h(
      "select",
      { id: uid("debug-level"), onchange: () => this.#applyFilter() },
      LEVELS.map((level) => h("option", { value: level, selected: level === "debug" }, level)),
    );
    this.pause = h("button", {
      type: "button",
      "aria-pressed": "false",
      text: "Pause",
      onclick: () => this.#togglePause(),
    });
    this.clear = h("button", { type: "button", text: "Clear", onclick: () => this.#clear() });
    this.count = h("span", { class: "meta" });
    this.list = h("ol", { class: "log", tabindex: "0", "aria-label": "Debug lines" });
    this.element = h(
      "section",
      { class: "panel debug", "aria-labelledby": this.headingId },
      h("div", { class: "panel-head" }, h("h3", { id: this.headingId, text: "Debug log" })),
      h(
        "div",
        { class: "toolbar" },
        this.toggle,
        h("label", { for: this.level.id, text: "Minimum level" }),
        this.level,
        this.pause,
        this.clear,
        this.count,
      ),
      this.list,
    );
    this.#updateCount();
  }

  #toggle() {
    if (this.detach) {
      this.detach();
      this.detach = null;
      this.toggle.textContent = "Start debug";
      this.announce("Debug stream stopped.");
    } else {
      this.detach = this.socket.debug(this.sysId, this.moduleId, this.index, (level, msg) =>
        this.#add(level, msg),
      );
      this.toggle.textContent = "Stop debug";
      this.announce("Debug stream started.");
    }
  }

  #togglePause() {
    this.paused = !this.paused;
    this.pause.setAttribute("aria-pressed", String(this.paused));
    this.pause.textContent = this.paused ? "Resume" : "Pause";
    if (!this.paused) {
      for (const line of this.lines) if (!line.li.isConnected) this.list.append(line.li);
      this.held = 0;
      this.#scroll();
    }
    this.#updateCount();
  }

  #clear() {
    this.lines = [];
    this.held = 0;
    this.list.replaceChildren();
    this.#updateCount();
  }

  #add(level, text) {
    const li = h(
      "li",
      { class: `line level-${LEVELS.includes(level) ? level : "info"}`, dataset: { level } },
      h("time", { text: clock() }),
      h("span", { class: "level", text: level }),
      h("span", { class: "msg", text }),
    );
    li.hidden = rank(level) < rank(this.level.value);
    this.lines.push({ level, li });
    if (this.lines.length > MAX_LINES) this.lines.shift().li.remove();
    if (this.paused) this.held += 1;
    else {
      this.list.append(li);
      this.#scroll();
    }
    this.#updateCount();
  }

  #scroll() {
    this.list.scrollTop = this.list.scrollHeight;
  }

  #applyFilter() {
    const minimum = rank(this.level.value);
    for (const line of this.lines) line.li.hidden = rank(line.level) < minimum;
    this.#updateCount();
  }

  #updateCount() {
    const minimum = rank(this.level.value);
    const shown = this.lines.filter((l) => rank(l.level) >= minimum).length;
    this.count.textContent =
      `${shown} of ${this.lines.length} lines shown` +
      (this.held ? `, ${this.held} held while paused` : "");
  }

  dispose() {
    if (this.detach) this.detach();
    this.detach = null;
  }
}
