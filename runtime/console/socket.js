// The control WebSocket: one connection, re-opened with backoff, bindings and debug re-sent.
//
// Several parts of the page may listen to the same status; the server keeps one binding per
// (sys, mod, index, name) per connection, so this client does too and fans values out locally.

import { authQuery } from "./api.js";

export const CONTROL_PATH = "api/engine/v2/systems/control";
/** First reconnect delay (ms); doubles on each failed attempt up to RECONNECT_MAX_MS. */
export const RECONNECT_BASE_MS = 500;
export const RECONNECT_MAX_MS = 30000;
/** Send a text `ping` this often (ms); without any frame for PONG_TIMEOUT_MS the link is dead. */
export const PING_INTERVAL_MS = 20000;
export const PONG_TIMEOUT_MS = 10000;

export const State = Object.freeze({
  CONNECTING: "connecting",
  OPEN: "open",
  WAITING: "waiting",
  STOPPED: "stopped",
});

const keyOf = (...parts) => JSON.stringify(parts);

export class ControlSocket extends EventTarget {
  constructor(credential) {
    super();
    this.credential = credential;
    this.state = State.STOPPED;
    this.retryAt = 0;
    this.attempt = 0;
    this.ws = null;
    this.nextId = 1;
    this.bindings = new Map(); // key -> {sys, mod, index, name, listeners, value, hasValue}
    this.debugs = new Map(); // key -> {sys, mod, index, listeners}
    this.routes = new Map(); // request id -> binding or debug entry (for notify / debug frames)
    this.retryTimer = null;
    this.pingTimer = null;
    this.lastFrameAt = 0;
  }

  url() {
    const url = new URL(CONTROL_PATH, document.baseURI);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.search = authQuery(this.credential);
    return url.href;
  }

  start() {
    if (this.state !== State.STOPPED) return;
    this.#open();
  }

  stop() {
    this.#setState(State.STOPPED);
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close(1000, "signed out");
      this.ws = null;
    }
  }

  /** Reconnect now instead of waiting for the backoff timer. */
  retryNow() {
    if (this.state === State.WAITING) {
      clearTimeout(this.retryTimer);
      this.#open();
    }
  }

  #setState(state) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, retryAt: this.retryAt } }));
  }

  #open() {
    this.#setState(State.CONNECTING);
    let opened = false;
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.onopen = () => {
      opened = true;
      this.attempt = 0;
      this.lastFrameAt = Date.now();
      this.routes.clear();
      this.#setState(State.OPEN);
      for (const binding of this.bindings.values()) this.#sendBind(binding);
      for (const debug of this.debugs.values()) this.#sendDebug(debug);
      this.pingTimer = setInterval(() => this.#heartbeat(), PING_INTERVAL_MS / 4);
      this.dispatchEvent(new Event("open"));
    };
    ws.onmessage = (event) => this.#receive(event.data);
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      clearInterval(this.pingTimer);
      this.ws = null;
      this.attempt += 1;
      const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** (this.attempt - 1));
      const delay = Math.round(ceiling * (0.5 + Math.random() * 0.5));
      this.retryAt = Date.now() + delay;
      this.#setState(State.WAITING);
      this.dispatchEvent(
        new CustomEvent("closed", { detail: { opened, code: event.code, delay } }),
      );
      this.retryTimer = setTimeout(() => this.#open(), delay);
    };
  }

  #heartbeat() {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const silent = Date.now() - this.lastFrameAt;
    if (silent > PING_INTERVAL_MS + PONG_TIMEOUT_MS) {
      ws.close(4000, "no reply to ping");
      // a dead link may never deliver the close event promptly: drop it ourselves
      ws.onclose({ code: 4000 });
      return;
    }
    if (silent >= PING_INTERVAL_MS) ws.send("ping");
  }

  #send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  #receive(data) {
    this.lastFrameAt = Date.now();
    if (data === "pong") return;
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    const route = this.routes.get(frame.id);
    if (frame.type === "notify" && route && route.listeners && "name" in route) {
      route.value = frame.value;
      route.hasValue = true;
      for (const listener of route.listeners) listener(frame.value);
    } else if (frame.type === "debug" && route) {
      for (const listener of route.listeners) listener(frame.level, frame.msg);
    } else if (frame.type === "error") {
      // a refused bind or debug request: say which status or module it was for
      const what = route
        ? "name" in route
          ? `status ${route.name}`
          : `debug of ${route.mod}`
        : null;
      this.dispatchEvent(new CustomEvent("frame-error", { detail: { ...frame, what } }));
    }
  }

  #sendBind(binding) {
    const id = this.nextId++;
    this.routes.set(id, binding);
    const { sys, mod, index, name } = binding;
    this.#send({ id, cmd: "bind", sys, mod, index, name });
  }

  #sendDebug(debug) {
    const id = this.nextId++;
    this.routes.set(id, debug);
    this.#send({
      id,
      cmd: "debug",
      sys: debug.sys,
      mod: debug.mod,
      index: debug.index,
      name: "debug",
    });
  }

  /** Listen to one status; `listener(value)` gets each value (null: deleted). Returns an unbind. */
  bind(sys, mod, index, name, listener) {
    const key = keyOf(sys, mod, index, name);
    let binding = this.bindings.get(key);
    if (!binding) {
      binding = { sys, mod, index, name, listeners: new Set(), value: undefined, hasValue: false };
      this.bindings.set(key, binding);
      this.#sendBind(binding);
    } else if (binding.hasValue) {
      listener(binding.value);
    }
    binding.listeners.add(listener);
    return () => {
      binding.listeners.delete(listener);
      if (binding.listeners.size === 0 && this.bindings.get(key) === binding) {
        this.bindings.delete(key);
        for (const [id, route] of this.routes) if (route === binding) this.routes.delete(id);
        this.#send({ id: this.nextId++, cmd: "unbind", sys, mod, index, name });
      }
    };
  }

  /** Attach to a module's debug stream (`mod` is the module id). Returns a detach. */
  debug(sys, mod, index, listener) {
    const key = keyOf(sys, mod, index);
    let debug = this.debugs.get(key);
    if (!debug) {
      debug = { sys, mod, index, listeners: new Set() };
      this.debugs.set(key, debug);
      this.#sendDebug(debug);
    }
    debug.listeners.add(listener);
    return () => {
      debug.listeners.delete(listener);
      if (debug.listeners.size === 0 && this.debugs.get(key) === debug) {
        this.debugs.delete(key);
        for (const [id, route] of this.routes) if (route === debug) this.routes.delete(id);
        this.#send({ id: this.nextId++, cmd: "ignore", sys, mod, index, name: "debug" });
      }
    };
  }
}
