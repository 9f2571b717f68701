// One form field per command parameter, chosen from the parameter's JSON schema.
//
// enum -> select; boolean -> checkbox (a select when null is allowed); integer / number ->
// number input; string -> text input; arrays, objects and anything else -> JSON text, parsed
// and type-checked before sending. A parameter without a `default` is required.

import { h, uid } from "./dom.js";

/** A value a field refuses; the message names the parameter. */
export class FieldError extends Error {}

const OMIT = Symbol("omit");
export { OMIT };

/** The schema a parameter's schema stands for: `$ref` resolved, `null` split off. */
export function resolveSchema(schema) {
  const defs = schema.$defs || {};
  const deref = (s) => {
    if (s && typeof s.$ref === "string") {
      const name = s.$ref.split("/").pop();
      return { ...(defs[name] || {}), $defs: defs };
    }
    return s || {};
  };
  let base = deref(schema);
  let nullable = base.type === "null";
  const union = base.anyOf || base.oneOf;
  if (Array.isArray(union)) {
    const parts = union.map(deref);
    const nonNull = parts.filter((p) => p.type !== "null");
    nullable = nonNull.length < parts.length;
    base = nonNull.length === 1 ? nonNull[0] : { anyOf: nonNull };
  }
  if (Array.isArray(base.type)) {
    nullable = nullable || base.type.includes("null");
    const types = base.type.filter((t) => t !== "null");
    base = { ...base, type: types.length === 1 ? types[0] : undefined };
  }
  return { base, nullable };
}

/** Which control a schema gets. */
export function fieldKind(schema) {
  const { base, nullable } = resolveSchema(schema);
  if (Array.isArray(base.enum) || "const" in base) return "select";
  switch (base.type) {
    case "boolean":
      return nullable ? "tristate" : "checkbox";
    case "integer":
      return "integer";
    case "number":
      return "number";
    case "string":
      return "text";
    default:
      return "json";
  }
}

function describeType(schema, kind) {
  const title = schema.title && schema.title !== "Any" ? schema.title : null;
  if (kind === "json") {
    const { base } = resolveSchema(schema);
    const shape =
      base.type === "array" ? "JSON array" : base.type === "object" ? "JSON object" : "JSON";
    return title ? `${title}, as ${shape}` : shape;
  }
  return title || kind;
}

/**
 * Build the field of parameter `name`. Returns `{element, read, snapshot, restore, control}`;
 * `read()` gives the value to send, `OMIT` to leave the parameter out, or throws FieldError.
 */
export function buildField(name, schema, formId) {
  const kind = fieldKind(schema);
  const { base, nullable } = resolveSchema(schema);
  const required = !("default" in schema);
  const id = uid(`${formId}-${name}`);
  const hintId = `${id}-hint`;
  const hint = h("span", {
    class: "hint",
    id: hintId,
    text:
      describeType(schema, kind) +
      (required ? " · required" : ` · default ${JSON.stringify(schema.default)}`),
  });
  const common = { id, name, "aria-describedby": hintId, dataset: { param: name } };
  let control;
  let read;

  if (kind === "select") {
    const values = Array.isArray(base.enum) ? base.enum : [base.const];
    const options = [];
    if (!required)
      options.push(h("option", { value: "" }, `(default: ${JSON.stringify(schema.default)})`));
    else if (nullable) options.push(h("option", { value: "null" }, "null"));
    for (const value of values) {
      options.push(h("option", { value: JSON.stringify(value) }, String(value)));
    }
    control = h("select", common, options);
    read = () => (control.value === "" ? OMIT : JSON.parse(control.value));
  } else if (kind === "tristate") {
    const options = [];
    if (!required)
      options.push(h("option", { value: "" }, `(default: ${JSON.stringify(schema.default)})`));
    options.push(h("option", { value: "true" }, "true"), h("option", { value: "false" }, "false"));
    options.push(h("option", { value: "null" }, "null"));
    control = h("select", common, options);
    read = () => (control.value === "" ? OMIT : JSON.parse(control.value));
  } else if (kind === "checkbox") {
    control = h("input", { ...common, type: "checkbox", checked: schema.default === true });
    read = () => control.checked;
  } else if (kind === "integer" || kind === "number") {
    control = h("input", {
      ...common,
      type: "number",
      inputmode: kind === "integer" ? "numeric" : "decimal",
      step: kind === "integer" ? "1" : "any",
      min: base.minimum ?? base.exclusiveMinimum,
      max: base.maximum ?? base.exclusiveMaximum,
      placeholder: required ? null : JSON.stringify(schema.default),
    });
    read = () => {
      const text = control.value.trim();
      if (text === "") return emptyValue(name, required, nullable);
      const value = Number(text);
      if (!Number.isFinite(value)) throw new FieldError(`${name}: not a number`);
      if (kind === "integer" && !Number.isSafeInteger(value)) {
        throw new FieldError(`${name}: must be a whole number`);
      }
      return value;
    };
  } else if (kind === "text") {
    control = h("input", {
      ...common,
      type: "text",
      autocomplete: "off",
      spellcheck: "false",
      maxlength: base.maxLength,
      placeholder:
        base.format === "date-time"
          ? "2026-01-31T09:00:00Z"
          : required
            ? null
            : JSON.stringify(schema.default),
    });
    read = () => (control.value === "" ? emptyValue(name, required, nullable) : control.value);
  } else {
    const wanted = base.type;
    control = h("textarea", {
      ...common,
      rows: 3,
      spellcheck: "false",
      placeholder: required
        ? wanted === "array"
          ? "[]"
          : wanted === "object"
            ? "{}"
            : "JSON"
        : JSON.stringify(schema.default),
    });
    read = () => {
      const text = control.value.trim();
      if (text === "") return emptyValue(name, required, nullable);
      let value;
      try {
        value = JSON.parse(text);
      } catch (error) {
        throw new FieldError(`${name}: not valid JSON (${error.message})`);
      }
      if (value === null && nullable) return null;
      if (wanted === "array" && !Array.isArray(value))
        throw new FieldError(`${name}: must be a JSON array`);
      if (
        wanted === "object" &&
        (value === null || typeof value !== "object" || Array.isArray(value))
      ) {
        throw new FieldError(`${name}: must be a JSON object`);
      }
      return value;
    };
  }

  const label = h("label", { for: id, text: name });
  const element =
    kind === "checkbox"
      ? h("div", { class: "field field-check" }, control, label, hint)
      : h("div", { class: "field" }, label, control, hint);
  const snapshot = () => (kind === "checkbox" ? control.checked : control.value);
  const restore = (raw) => {
    if (kind === "checkbox" && typeof raw === "boolean") control.checked = raw;
    else if (kind !== "checkbox" && typeof raw === "string") {
      control.value = raw;
      if (control.value !== raw) control.selectedIndex = 0; // an option that no longer exists
    }
  };
  // `mark`: flag the control as invalid (only when the user tried to send or copy)
  const wrappedRead = (mark = true) => {
    try {
      const value = read();
      control.removeAttribute("aria-invalid");
      return value;
    } catch (error) {
      if (mark) control.setAttribute("aria-invalid", "true");
      throw error;
    }
  };
  return { name, kind, element, control, read: wrappedRead, snapshot, restore };
}

function emptyValue(name, required, nullable) {
  if (!required) return OMIT;
  if (nullable) return null;
  throw new FieldError(`${name}: required`);
}
