// REST client for the runtime's public API, with the signed-in credential in a header.

// Paths are relative to the page, so the console also works behind a proxy that adds a prefix.
export const API = "api/engine/v2/systems";

/** The runtime's base URL as this page reaches it (no trailing slash). */
export function baseUrl() {
  return new URL(".", document.baseURI).href.replace(/\/$/, "");
}

/** Raised when the runtime answers 401: the credential was refused. */
export class RefusedError extends Error {
  constructor(message) {
    super(message);
    this.name = "RefusedError";
  }
}

/** A credential: `{kind: "key" | "token", value}`. */
export function authHeaders(credential) {
  return credential.kind === "key"
    ? { "X-API-Key": credential.value }
    : { Authorization: `Bearer ${credential.value}` };
}

/** The query parameter a WebSocket upgrade carries the credential in (browsers send no headers). */
export function authQuery(credential) {
  const name = credential.kind === "key" ? "api-key" : "bearer_token";
  return `${name}=${encodeURIComponent(credential.value)}`;
}

export class Api {
  constructor(credential, onRefused = () => {}) {
    this.credential = credential;
    this.onRefused = onRefused;
  }

  async #fetch(path, init = {}) {
    const response = await fetch(path, {
      ...init,
      headers: { ...authHeaders(this.credential), ...(init.headers || {}) },
      credentials: "omit",
      cache: "no-store",
    });
    if (response.status === 401) {
      const body = await response.json().catch(() => ({}));
      const error = new RefusedError(body.error || "credential refused");
      this.onRefused(error);
      throw error;
    }
    return response;
  }

  async #json(path) {
    const response = await this.#fetch(path);
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const message = (body && (body.error || body.message)) || response.statusText;
      throw new Error(`${path}: HTTP ${response.status}: ${message}`);
    }
    return body;
  }

  systems() {
    return this.#json(API);
  }

  system(sysId) {
    return this.#json(`${API}/${encodeURIComponent(sysId)}`);
  }

  statusMap(sysId, slug) {
    return this.#json(`${API}/${encodeURIComponent(sysId)}/${encodeURIComponent(slug)}`);
  }

  functions(sysId, slug) {
    return this.#json(`${API}/${encodeURIComponent(sysId)}/functions/${encodeURIComponent(slug)}`);
  }

  /**
   * Run a command. Resolves to `{ok, status, value, ms}` where `value` is the result, or the
   * failure envelope `{error, message, backtrace, ...}` when `ok` is false.
   */
  async exec(sysId, slug, method, args) {
    const started = performance.now();
    const path = execPath(sysId, slug, method);
    const response = await this.#fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(args),
    });
    const text = await response.text();
    const ms = Math.round(performance.now() - started);
    let value;
    try {
      value = text ? JSON.parse(text) : null;
    } catch {
      value = { error: "unreadable reply", message: text.slice(0, 500), backtrace: null };
      return { ok: false, status: response.status, value, ms };
    }
    return { ok: response.ok, status: response.status, value, ms };
  }
}

export function execPath(sysId, slug, method) {
  return `${API}/${encodeURIComponent(sysId)}/${encodeURIComponent(slug)}/${encodeURIComponent(method)}`;
}
