// Small DOM helpers: elements are built with textContent, never from HTML strings.

/**
 * Create an element. `attrs` keys starting with "on" add listeners; `class`, `text`, `hidden`
 * and `dataset` are handled specially; others become attributes (false/null/undefined skip).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "text") {
      el.textContent = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "hidden") {
      el.hidden = true;
    } else if (key === "checked" || key === "value" || key === "selected") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace every child of `el`. */
export function replaceChildren(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

let uniqueCounter = 0;

/** A document-unique id with a readable prefix. */
export function uid(prefix) {
  uniqueCounter += 1;
  return `${prefix.replace(/[^A-Za-z0-9_-]/g, "-")}-${uniqueCounter}`;
}

/** JSON pretty-printed for display (two-space indent). */
export function pretty(value) {
  return value === undefined ? "" : JSON.stringify(value, null, 2);
}

/** Local wall-clock time of `date` as HH:MM:SS.mmm. */
export function clock(date = new Date()) {
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(
    date.getMilliseconds(),
    3,
  )}`;
}
