// Systems and their modules: slug, module id, driver, and whether each runs or why it failed.

import { h, uid } from "./dom.js";

export const systemHref = (sysId) => `#/systems/${encodeURIComponent(sysId)}`;
export const moduleHref = (sysId, slug) => `${systemHref(sysId)}/${encodeURIComponent(slug)}`;
export const slugOf = (module) => `${module.name}_${module.index ?? 1}`;

/** A module's state as text and a badge class. */
export function stateBadge(module) {
  const state = module.state || (module.running ? "running" : "stopped");
  return h("span", { class: `badge state-${state}`, text: state });
}

export function systemSection(system, { headingLevel = "h2", linkHeading = true } = {}) {
  const headingId = uid(`system-${system.id}`);
  const title = linkHeading
    ? h("a", { href: systemHref(system.id) }, h("code", { text: system.id }), ` — ${system.name}`)
    : "Modules";
  const modules = system.module_data || [];
  const rows = modules.map((module) => {
    const slug = slugOf(module);
    return h(
      "tr",
      { dataset: { module: module.id } },
      h(
        "th",
        { scope: "row" },
        h("a", { href: moduleHref(system.id, slug) }, h("code", { text: slug })),
      ),
      h("td", {}, h("code", { text: module.id })),
      h("td", {}, h("code", { class: "driver", text: module.driver })),
      h("td", {}, stateBadge(module)),
      h("td", { class: "load-error", text: module.error || "" }),
    );
  });
  return h(
    "section",
    { class: "panel system", "aria-labelledby": headingId },
    h(headingLevel, { id: headingId }, title),
    system.description ? h("p", { class: "meta", text: system.description }) : null,
    modules.length
      ? h(
          "div",
          { class: "table-scroll" },
          h(
            "table",
            { class: "modules", "aria-label": `Modules of ${system.id}` },
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ["Module", "Module id", "Driver", "State", "Load error"].map((t) =>
                  h("th", { scope: "col", text: t }),
                ),
              ),
            ),
            h("tbody", {}, rows),
          ),
        )
      : h("p", { text: "No modules." }),
  );
}

/** Every system the caller can see, each with its modules. */
export async function renderSystems(api) {
  const systems = await api.systems();
  const detailed = await Promise.all(systems.map((s) => api.system(s.id)));
  return h(
    "div",
    { class: "view systems-view" },
    h("h2", { class: "view-title", tabindex: "-1", text: "Systems" }),
    detailed.length
      ? detailed.map((system) => systemSection(system, { headingLevel: "h3" }))
      : h("p", { text: "This runtime hosts no systems." }),
  );
}

export async function renderSystem(api, sysId) {
  const system = await api.system(sysId);
  return h(
    "div",
    { class: "view system-view" },
    breadcrumb([
      ["Systems", "#/"],
      [sysId, null],
    ]),
    h(
      "h2",
      { class: "view-title", tabindex: "-1" },
      h("code", { text: sysId }),
      ` — ${system.name}`,
    ),
    systemSection(system, { headingLevel: "h3", linkHeading: false }),
  );
}

export function breadcrumb(items) {
  return h(
    "nav",
    { class: "breadcrumb", "aria-label": "Breadcrumb" },
    h(
      "ol",
      {},
      items.map(([text, href]) =>
        h("li", {}, href ? h("a", { href, text }) : h("span", { "aria-current": "page", text })),
      ),
    ),
  );
}
