// One module: its state, live status table, command forms and debug log.
//
// Status names are learnt from the REST status map when the view opens, again every
// STATUS_REFRESH_MS while the page is visible (new names get bound, deleted ones dropped), after
// each command run from the console, when a status turns null (deleted?), after a reconnect, and
// whenever the runtime's `$interface` status says the driver's code changed; then the command
// forms are rebuilt from the functions listing too.

import { CommandsPanel } from "./commands.js";
import { DebugLog } from "./debug-log.js";
import { h, replaceChildren } from "./dom.js";
import { StatusTable } from "./status-table.js";
import { breadcrumb, slugOf, stateBadge, systemHref } from "./systems-view.js";

export const STATUS_REFRESH_MS = 10000;
export const INTERFACE_STATUS = "$interface";

/** `Name_3` -> ["Name", 3]; a slug without an index is index 1. */
export function parseSlug(slug) {
  const match = /^(.*)_(\d+)$/.exec(slug);
  return match ? [match[1], Number(match[2])] : [slug, 1];
}

export class ModuleView {
  constructor(ctx, sysId, slug) {
    this.ctx = ctx;
    this.sysId = sysId;
    this.slug = slug;
    [this.name, this.index] = parseSlug(slug);
    this.disposers = [];
    this.interfaceDigest = undefined;
    this.refreshing = null;
    this.pending = null;
    this.info = h("dl", { class: "module-info" });
    this.problem = h("div", { class: "problem", role: "alert" });
    this.refusals = h("p", { class: "problem" });
    this.element = h(
      "div",
      { class: "view module-view" },
      breadcrumb([
        ["Systems", "#/"],
        [sysId, systemHref(sysId)],
        [slug, null],
      ]),
      h("h2", { class: "view-title", tabindex: "-1" }, h("code", { text: slug })),
      this.info,
      this.problem,
      this.refusals,
    );
  }

  /** Fetch the module and build its panels; throws when it cannot be shown. */
  async load() {
    const { api, socket } = this.ctx;
    const module = await this.#describe();
    if (!module) {
      this.problem.textContent = `No module ${this.slug} in system ${this.sysId}.`;
      return;
    }
    const [functions, statusMap] = await Promise.all([
      api.functions(this.sysId, this.slug),
      api.statusMap(this.sysId, this.slug),
    ]);
    this.table = new StatusTable(socket, this.sysId, this.name, this.index, () =>
      this.refresh(null, { commands: false }),
    );
    this.commands = new CommandsPanel({
      ...this.ctx,
      sysId: this.sysId,
      slug: this.slug,
      // a command may have created statuses: bind them now rather than at the next refresh
      onExecuted: () => this.refresh(null, { commands: false }),
    });
    this.debug = new DebugLog(socket, this.sysId, module.id, this.index, this.ctx.announce);
    this.table.setKeys(statusMap);
    this.commands.update(functions);
    this.element.append(
      h(
        "div",
        { class: "module-grid" },
        h("div", { class: "column" }, this.table.element, this.debug.element),
        this.commands.element,
      ),
    );
    // the digest the forms were built from; any other value means the commands changed
    this.interfaceDigest =
      INTERFACE_STATUS in statusMap ? JSON.parse(statusMap[INTERFACE_STATUS]) : null;
    const unbind = socket.bind(this.sysId, this.name, this.index, INTERFACE_STATUS, (digest) => {
      if (digest === this.interfaceDigest) return;
      this.interfaceDigest = digest;
      if (digest !== null) this.refresh("the driver was reloaded");
    });
    const onOpen = () => this.refresh();
    socket.addEventListener("open", onOpen);
    const refused = new Set();
    const onError = (event) => {
      const { what, msg } = event.detail;
      if (!what) return;
      refused.add(what);
      this.refusals.textContent = `The runtime refused ${[...refused].join(", ")}: ${msg}`;
    };
    socket.addEventListener("frame-error", onError);
    const timer = setInterval(() => {
      if (document.visibilityState === "visible") this.refresh(null, { commands: false });
    }, STATUS_REFRESH_MS);
    this.disposers.push(
      unbind,
      () => socket.removeEventListener("open", onOpen),
      () => socket.removeEventListener("frame-error", onError),
      () => clearInterval(timer),
    );
  }

  async #describe() {
    const system = await this.ctx.api.system(this.sysId).catch((error) => {
      if (error.name === "RefusedError") throw error;
      return null;
    });
    const module = system && (system.module_data || []).find((m) => slugOf(m) === this.slug);
    replaceChildren(
      this.info,
      module
        ? [
            h("dt", { text: "Module id" }),
            h("dd", {}, h("code", { text: module.id })),
            h("dt", { text: "Driver" }),
            h("dd", {}, h("code", { text: module.driver })),
            h("dt", { text: "State" }),
            h("dd", {}, stateBadge(module)),
            module.error
              ? [
                  h("dt", { text: "Load error" }),
                  h("dd", { class: "load-error", text: module.error }),
                ]
              : null,
          ]
        : [],
    );
    this.problem.textContent = module
      ? ""
      : `Module ${this.slug} is not in system ${this.sysId} (any more).`;
    return module;
  }

  /** Re-read the module, its status names and (unless told not to) its commands. */
  refresh(reason = null, { commands = true } = {}) {
    if (this.refreshing) {
      // one more refresh after this one covers every request made meanwhile
      const pending = this.pending || { reason: null, commands: false };
      this.pending = { reason: reason ?? pending.reason, commands: commands || pending.commands };
      return this.refreshing;
    }
    const { api } = this.ctx;
    this.refreshing = (async () => {
      try {
        await this.#describe();
        const [functions, statusMap] = await Promise.all([
          commands ? api.functions(this.sysId, this.slug) : null,
          api.statusMap(this.sysId, this.slug),
        ]);
        this.table?.setKeys(statusMap);
        if (functions) this.commands?.update(functions, reason);
      } catch (error) {
        if (error.name !== "RefusedError")
          this.problem.textContent = `Could not refresh: ${error.message}`;
      } finally {
        this.refreshing = null;
        const pending = this.pending;
        this.pending = null;
        if (pending) this.refresh(pending.reason, { commands: pending.commands });
      }
    })();
    return this.refreshing;
  }

  dispose() {
    for (const dispose of this.disposers) dispose();
    this.table?.dispose();
    this.debug?.dispose();
  }
}
