// A command run, written out as a shell command: curl against REST, or the runtime's own CLI.
// Credentials are never written out: the commands read them from environment variables.

import { execPath } from "./api.js";

/** The CLI the copied `exec` command runs (the project's virtualenv, as its README sets up). */
export const PYTHON = ".venv/bin/python";
export const KEY_VARIABLE = "RUNTIME_API_KEY";
export const TOKEN_VARIABLE = "RUNTIME_TOKEN";

/** `text` quoted for a POSIX shell (left bare when that is safe). */
export function shellQuote(text) {
  if (/^[A-Za-z0-9_\-.,:/@%+=]+$/.test(text)) return text;
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

export function curlCommand(origin, sysId, slug, method, named, credential) {
  const auth =
    credential.kind === "key"
      ? `"X-API-Key: $${KEY_VARIABLE}"`
      : `"Authorization: Bearer $${TOKEN_VARIABLE}"`;
  return [
    "curl -sS -X POST",
    shellQuote(`${origin}/${execPath(sysId, slug, method)}`),
    `-H ${auth}`,
    "-H 'Content-Type: application/json'",
    `--data ${shellQuote(JSON.stringify(named))}`,
  ].join(" ");
}

/**
 * Named arguments as the positional list `exec` takes: up to the last one given, with the
 * schema default standing in for any skipped before it.
 */
export function positionalArgs(order, params, named) {
  let last = -1;
  order.forEach((name, i) => {
    if (name in named) last = i;
  });
  return order
    .slice(0, last + 1)
    .map((name) => (name in named ? named[name] : params[name].default));
}

export function execCommand(origin, sysId, slug, method, positional, credential) {
  const auth =
    credential.kind === "key" ? `--api-key "$${KEY_VARIABLE}"` : `--token "$${TOKEN_VARIABLE}"`;
  const parts = [`${PYTHON} -m runtime exec --url ${shellQuote(origin)} ${auth}`];
  parts.push(shellQuote(sysId), shellQuote(slug), shellQuote(method));
  if (positional.length) {
    parts.push("--", ...positional.map((value) => shellQuote(JSON.stringify(value))));
  }
  return parts.join(" ");
}
