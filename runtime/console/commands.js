// The Commands panel: one form per command of the functions listing, run over REST.

import { baseUrl } from "./api.js";
import { curlCommand, execCommand, positionalArgs } from "./copy.js";
import { clock, h, pretty, replaceChildren, uid } from "./dom.js";
import { buildField, FieldError, OMIT } from "./schema-form.js";

export class CommandsPanel {
  /** `ctx`: {api, credential, sysId, slug, announce(text), onExecuted(command)} */
  constructor(ctx) {
    this.ctx = ctx;
    this.forms = new Map(); // command name -> {form, fields, ...}
    this.headingId = uid("commands-heading");
    this.filter = h("input", {
      type: "search",
      "aria-label": "Filter commands",
      placeholder: "Filter commands",
      oninput: () => this.#applyFilter(),
    });
    this.note = h("p", { class: "note", "aria-live": "polite" });
    this.list = h("div", { class: "command-list" });
    this.element = h(
      "section",
      { class: "panel commands", "aria-labelledby": this.headingId },
      h(
        "div",
        { class: "panel-head" },
        h("h3", { id: this.headingId, text: "Commands" }),
        this.filter,
      ),
      this.note,
      this.list,
    );
  }

  /** Show the commands of a functions listing; typed values survive where the field does. */
  update(functions, reason) {
    const saved = new Map();
    for (const [name, entry] of this.forms) {
      saved.set(name, new Map(entry.fields.map((f) => [f.name, f.snapshot()])));
    }
    const focused = document.activeElement;
    const focusKey =
      focused && this.list.contains(focused)
        ? [focused.closest("form")?.dataset.command, focused.dataset.param, focused.textContent]
        : null;
    this.forms.clear();
    const names = Object.keys(functions).sort();
    const forms = names.map((name) => this.#buildForm(name, functions[name], saved.get(name)));
    replaceChildren(
      this.list,
      forms.length ? forms : h("p", { text: "No commands available to you." }),
    );
    this.#applyFilter();
    if (focusKey) this.#restoreFocus(...focusKey);
    if (reason) {
      this.note.textContent = `Commands updated at ${clock()} (${reason}).`;
    }
  }

  #restoreFocus(command, param, text) {
    const entry = this.forms.get(command);
    if (!entry) return;
    const target = param
      ? entry.fields.find((f) => f.name === param)?.control
      : [...entry.form.querySelectorAll("button")].find((b) => b.textContent === text);
    (target || entry.form.querySelector("input, select, textarea, button"))?.focus();
  }

  #applyFilter() {
    const words = this.filter.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    for (const [name, entry] of this.forms) {
      entry.form.hidden = !words.every((w) => name.toLowerCase().includes(w));
    }
  }

  #buildForm(name, spec, saved) {
    const formId = uid(`cmd-${name}`);
    const headingId = `${formId}-name`;
    const params = spec.params || {};
    const order = spec.order || Object.keys(params);
    const fields = order.map((param) => buildField(param, params[param] || {}, formId));
    if (saved)
      for (const field of fields) if (saved.has(field.name)) field.restore(saved.get(field.name));
    const result = h("div", { class: "result", role: "status" });
    const error = h("div", { class: "error", role: "alert" });
    const curlText = h("pre", { class: "cli" });
    const execText = h("pre", { class: "cli" });
    const entry = { name, form: null, fields, spec, result, error, runs: 0 };
    const copy = (kind) => this.#copy(entry, kind);
    const form = h(
      "form",
      {
        class: "command",
        "aria-labelledby": headingId,
        novalidate: true,
        dataset: { command: name },
        onsubmit: (event) => {
          event.preventDefault();
          this.#run(entry);
        },
        oninput: () => this.#showCommandLines(entry),
        onchange: () => this.#showCommandLines(entry),
      },
      h("h4", { id: headingId, class: "command-name", text: name }),
      fields.length
        ? fields.map((f) => f.element)
        : h("p", { class: "hint", text: "No parameters." }),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "submit", class: "primary", text: "Execute" }),
        h("button", { type: "button", text: "Copy as curl", onclick: () => copy("curl") }),
        h("button", { type: "button", text: "Copy as exec", onclick: () => copy("exec") }),
      ),
      result,
      error,
      h(
        "details",
        { class: "command-line" },
        h("summary", { text: "Command line" }),
        h("p", {
          class: "hint",
          text: "curl (credential from $RUNTIME_API_KEY or $RUNTIME_TOKEN):",
        }),
        curlText,
        h("p", { class: "hint", text: "runtime CLI:" }),
        execText,
      ),
    );
    Object.assign(entry, { form, curlText, execText });
    this.forms.set(name, entry);
    this.#showCommandLines(entry);
    return form;
  }

  /** The named arguments the form holds; throws FieldError listing every bad field. */
  #collect(entry) {
    const named = {};
    const problems = [];
    for (const field of entry.fields) {
      try {
        const value = field.read();
        if (value !== OMIT) named[field.name] = value;
      } catch (error) {
        if (!(error instanceof FieldError)) throw error;
        problems.push(error.message);
      }
    }
    if (problems.length) throw new FieldError(problems.join("; "));
    return named;
  }

  #commandLines(entry, named) {
    const { sysId, slug, credential } = this.ctx;
    const origin = baseUrl();
    const positional = positionalArgs(entry.spec.order || [], entry.spec.params || {}, named);
    return {
      curl: curlCommand(origin, sysId, slug, entry.name, named, credential),
      exec: execCommand(origin, sysId, slug, entry.name, positional, credential),
    };
  }

  #showCommandLines(entry) {
    let lines;
    try {
      lines = this.#commandLines(entry, this.#collectQuietly(entry));
    } catch {
      lines = { curl: "(fix the fields above first)", exec: "(fix the fields above first)" };
    }
    entry.curlText.textContent = lines.curl;
    entry.execText.textContent = lines.exec;
  }

  #collectQuietly(entry) {
    const named = {};
    for (const field of entry.fields) {
      const value = field.read(false);
      if (value !== OMIT) named[field.name] = value;
    }
    return named;
  }

  async #copy(entry, kind) {
    let named;
    try {
      named = this.#collect(entry);
    } catch (error) {
      this.#showInvalid(entry, error);
      return;
    }
    const text = this.#commandLines(entry, named)[kind];
    entry.form.querySelector("details").open = true;
    try {
      await navigator.clipboard.writeText(text);
      this.ctx.announce(`Copied the ${kind} command for ${entry.name}.`);
    } catch {
      this.ctx.announce(
        `Copying is not allowed here; the ${kind} command is shown under Command line.`,
      );
    }
  }

  #showInvalid(entry, error) {
    replaceChildren(
      entry.error,
      h("strong", { text: "Not sent" }),
      " ",
      h("span", { text: error.message }),
    );
    entry.result.replaceChildren();
    entry.fields.find((f) => f.control.getAttribute("aria-invalid") === "true")?.control.focus();
  }

  async #run(entry) {
    let named;
    try {
      named = this.#collect(entry);
    } catch (error) {
      this.#showInvalid(entry, error);
      return;
    }
    const run = ++entry.runs;
    entry.error.replaceChildren();
    entry.form.setAttribute("aria-busy", "true");
    replaceChildren(entry.result, h("p", { class: "meta", text: "Running…" }));
    let outcome;
    try {
      outcome = await this.ctx.api.exec(this.ctx.sysId, this.ctx.slug, entry.name, named);
    } catch (error) {
      outcome = {
        ok: false,
        status: 0,
        ms: 0,
        value: { error: "network error", message: error.message },
      };
    }
    if (run !== entry.runs) return; // a later run owns the output
    entry.form.removeAttribute("aria-busy");
    this.ctx.onExecuted?.(entry.name);
    const meta = `HTTP ${outcome.status || "—"} · ${outcome.ms} ms · ${clock()}`;
    if (outcome.ok) {
      replaceChildren(
        entry.result,
        h("p", { class: "meta", text: `Result · ${meta}` }),
        h("pre", {
          class: "json",
          tabindex: "0",
          "aria-label": `Result of ${entry.name}`,
          text: pretty(outcome.value),
        }),
      );
      return;
    }
    entry.result.replaceChildren();
    const failure = outcome.value && typeof outcome.value === "object" ? outcome.value : {};
    const backtrace = Array.isArray(failure.backtrace) ? failure.backtrace : null;
    replaceChildren(
      entry.error,
      h(
        "p",
        {},
        h("strong", { class: "error-code", text: failure.error || "error" }),
        ` · ${meta}`,
      ),
      h("p", { class: "error-message", text: failure.message ?? pretty(outcome.value) }),
      backtrace && backtrace.length
        ? h(
            "details",
            {},
            h("summary", { text: `Backtrace (${backtrace.length} frames)` }),
            h("pre", { class: "backtrace", tabindex: "0", text: backtrace.join("\n") }),
          )
        : null,
    );
  }
}
