// Drives the published @placeos/ts-client (4.7.7) against a running runtime and reports what it saw.
//
// Environment:
//   COMPAT_HOST    host:port of the runtime (required)
//   COMPAT_API_KEY API key of the runtime (required)
//   COMPAT_AUTH    "api-key" (setAPI_Key) or "bearer" (setToken with the API key as the token)
//   COMPAT_SYS     system id (default "sys-compat")
//   COMPAT_MODULE  module as ts-client addresses it, e.g. "Display" or "Display_2"
//   COMPAT_SECURE  "1" to connect with https:// and wss:// (e.g. through a TLS proxy; trust its
//                  CA with NODE_EXTRA_CA_CERTS)
//
// Prints one line `COMPAT_RESULT <json>` and exits. The script observes and records; the pytest
// test (test_ts_client.py) judges. The API key is replaced by "<api-key>" everywhere it reports.

import { WebSocket as NodeWebSocket } from 'ws';

const HOST = process.env.COMPAT_HOST;
const API_KEY = process.env.COMPAT_API_KEY;
const AUTH = process.env.COMPAT_AUTH || 'api-key';
const SYS = process.env.COMPAT_SYS || 'sys-compat';
const MODULE = process.env.COMPAT_MODULE || 'Display';
const SECURE = process.env.COMPAT_SECURE === '1';
const SCHEME = SECURE ? 'https' : 'http';
const STEP_TIMEOUT_MS = 5000;
const WATCHDOG_MS = 15000;
const UNDEFINED = '<undefined>';

const started = Date.now();
const result = {
    auth: AUTH,
    module: MODULE,
    urls: [],
    extensions: [],
    frames: [],
    http: [],
    steps: {},
    failure: null,
};

function redact(text) {
    return API_KEY ? String(text).split(API_KEY).join('<api-key>') : String(text);
}

function report(exitCode) {
    result.elapsed_ms = Date.now() - started;
    process.stdout.write(`COMPAT_RESULT ${redact(JSON.stringify(result))}\n`, () =>
        process.exit(exitCode),
    );
}

if (!HOST || !API_KEY) {
    result.failure = 'COMPAT_HOST and COMPAT_API_KEY must be set';
    report(2);
}

// -- browser globals the client reads (see placeos-protocol.md §5.8) ---------------------------

class MemoryStorage {
    #items = new Map();
    get length() {
        return this.#items.size;
    }
    key(n) {
        return [...this.#items.keys()][n] ?? null;
    }
    getItem(k) {
        return this.#items.has(k) ? this.#items.get(k) : null;
    }
    setItem(k, v) {
        this.#items.set(k, String(v));
    }
    removeItem(k) {
        this.#items.delete(k);
    }
    clear() {
        this.#items.clear();
    }
}

/** The `ws` WebSocket, recording the URL and every text frame in both directions. */
class RecordingWebSocket extends NodeWebSocket {
    constructor(url, protocols) {
        super(url, protocols);
        result.urls.push(redact(url));
        this.addEventListener('open', () => result.extensions.push(this.extensions));
        this.addEventListener('message', (event) => record('in', event.data));
    }
    send(data, ...rest) {
        record('out', data);
        return super.send(data, ...rest);
    }
}

function record(direction, data) {
    const text = typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
    let frame = text;
    try {
        frame = JSON.parse(text);
    } catch {
        // text such as `ping` / `pong` is kept as it is
    }
    result.frames.push({ dir: direction, t: Date.now() - started, frame });
}

globalThis.localStorage = new MemoryStorage();
globalThis.sessionStorage = new MemoryStorage();
globalThis.window = globalThis;
globalThis.location = {
    protocol: `${SCHEME}:`,
    host: HOST,
    href: `${SCHEME}://${HOST}/`,
    hash: '',
    search: '',
    pathname: '/',
};
globalThis.WebSocket = RecordingWebSocket;

/** Node's fetch, recording each request's method, URL and which credential header it carried. */
const nodeFetch = globalThis.fetch;
globalThis.fetch = (url, init = {}) => {
    const headers = new Headers(init.headers || {});
    const authorization = headers.get('authorization') || '';
    result.http.push({
        method: init.method || 'GET',
        url: redact(url),
        credential: headers.has('x-api-key')
            ? 'X-API-Key'
            : authorization.startsWith('Bearer ')
              ? 'Authorization: Bearer'
              : null,
        credential_is_key: headers.get('x-api-key') === API_KEY || authorization === `Bearer ${API_KEY}`,
    });
    return nodeFetch(url, init);
};

// -- helpers -----------------------------------------------------------------------------------

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(predicate, what, ms = STEP_TIMEOUT_MS) {
    const deadline = Date.now() + ms;
    while (!predicate()) {
        if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
        await sleep(5);
    }
}

function plain(value) {
    return value === undefined ? UNDEFINED : value;
}

/** Settle a promise into {ok, value} / {ok:false, error}, bounded in time. */
async function settle(promise, ms = STEP_TIMEOUT_MS) {
    const timer = sleep(ms).then(() => ({ ok: false, error: `no answer within ${ms} ms` }));
    const outcome = promise.then(
        (value) => ({ ok: true, value: plain(value) }),
        async (error) => ({ ok: false, error: await describeError(error) }),
    );
    return Promise.race([outcome, timer]);
}

async function describeError(error) {
    if (error && typeof error === 'object' && typeof error.status === 'number' && error.headers) {
        // an HTTP helper rejects with the fetch Response
        let body = null;
        try {
            body = await error.json();
        } catch {
            body = null;
        }
        return { http_status: error.status, body };
    }
    if (error instanceof Error) return { exception: `${error.name}: ${error.message}` };
    return error;
}

/** First value of an rxjs Observable as a Promise. */
function firstValue(observable) {
    return new Promise((resolve, reject) => {
        const subscription = observable.subscribe({
            next: (value) => {
                resolve(value);
                queueMicrotask(() => subscription?.unsubscribe());
            },
            error: reject,
            complete: () => reject(new Error('completed without a value')),
        });
    });
}

const incoming = () => result.frames.filter((f) => f.dir === 'in').map((f) => f.frame);
const outgoing = () => result.frames.filter((f) => f.dir === 'out').map((f) => f.frame);

function answered(requestId) {
    return incoming().some(
        (f) => typeof f === 'object' && f.id === requestId && (f.type === 'success' || f.type === 'error'),
    );
}

function lastRequest(cmd, name) {
    const sent = outgoing().filter((f) => typeof f === 'object' && f.cmd === cmd && f.name === name);
    return sent[sent.length - 1];
}

// -- scenario ----------------------------------------------------------------------------------

async function scenario() {
    const pc = await import('@placeos/ts-client/dist/index.es.js');
    const steps = result.steps;

    await pc.setup({
        host: HOST,
        secure: SECURE,
        auth_uri: `${SCHEME}://${HOST}/auth/oauth/authorize`,
        token_uri: `${SCHEME}://${HOST}/auth/token`,
        redirect_uri: `${SCHEME}://${HOST}/oauth-resp.html`,
        scope: 'public',
        handle_login: false,
        token_header: true,
    });
    if (AUTH === 'bearer') {
        pc.setToken(API_KEY, Date.now() + 3600 * 1000);
    } else {
        pc.setAPI_Key(API_KEY);
    }
    steps.websocket_route = pc.websocketRoute();

    const mod = pc.getModule(SYS, MODULE);
    steps.module = { name: mod.name, index: mod.index, id: mod.id };
    const address = { sys: SYS, mod: mod.name, index: mod.index };

    // bind before the socket exists: the first request opens the connection
    const power = mod.variable('power');
    const powerValues = [];
    power.subscribe((value) => powerValues.push(plain(value)));
    power.bind();
    await waitFor(() => powerValues.length >= 2, 'the current value of power');
    steps.bind_initial = { values: [...powerValues] };
    await waitFor(() => pc.is_connected(), 'the connection');
    // the client re-sends pending binds ~100 ms after connecting; let that settle
    await sleep(250);
    await waitFor(
        () => outgoing().filter((f) => f.cmd === 'bind').every((f) => answered(f.id)),
        'every bind to be answered',
    );
    steps.power_bind_count = power.count;

    // an exec whose driver changes the bound status
    steps.exec_power = await settle(mod.execute('power', [true]));
    await waitFor(() => powerValues[powerValues.length - 1] === true, 'the notify after exec');
    steps.power_values_after_exec = [...powerValues];
    steps.value_helper = plain(pc.value({ ...address, name: 'power' }));

    steps.exec_volume = await settle(mod.execute('volume', [42]));
    steps.exec_no_args = await settle(mod.execute('nothing'));
    steps.exec_unknown = await settle(mod.execute('nope', []));
    steps.exec_raises = await settle(mod.execute('fail', ['boom']));
    steps.exec_admin_only = await settle(mod.execute('admin_only'));

    // a bind while connected, to a status that already has a value
    const volume = mod.variable('volume0');
    const volumeValues = [];
    volume.subscribe((value) => volumeValues.push(plain(value)));
    volume.bind();
    await waitFor(() => volumeValues.includes(42), 'the current value of volume0');
    steps.volume_bind_values = [...volumeValues];

    // unbind, then change the status: nothing more may arrive for power
    power.unbind();
    await waitFor(() => lastRequest('unbind', 'power') !== undefined, 'the unbind request');
    const unbindId = lastRequest('unbind', 'power').id;
    await waitFor(() => answered(unbindId), 'the unbind reply');
    const framesBefore = result.frames.length;
    steps.exec_after_unbind = await settle(mod.execute('power', [false]));
    steps.exec_set_status_after_unbind = await settle(mod.execute('set_status', ['power', 'standby']));
    // a notify of either change would have come before the exec's reply (one ordered stream)
    steps.power_notifies_after_unbind = result.frames
        .slice(framesBefore)
        .filter((f) => f.dir === 'in' && f.frame.type === 'notify' && f.frame.meta?.name === 'power')
        .map((f) => f.frame);
    steps.power_values_final = [...powerValues];
    steps.power_count_after_unbind = power.count;

    // HTTP helpers (REST routes, same credential)
    steps.http_function_list = await settle(firstValue(pc.functionList(SYS, mod.name, mod.index)));
    steps.http_execute = await settle(
        firstValue(pc.executeOnSystem(SYS, 'volume', mod.name, mod.index, [7])),
    );
    steps.http_state = await settle(
        firstValue(pc.lookupSystemModuleState(SYS, mod.name, mod.index, 'volume0')),
    );
    steps.http_execute_raises = await settle(
        firstValue(pc.executeOnSystem(SYS, 'fail', mod.name, mod.index, ['http boom'])),
    );
}

if (result.failure === null) {
    setTimeout(() => {
        result.failure = `watchdog: scenario still running after ${WATCHDOG_MS} ms`;
        report(3);
    }, WATCHDOG_MS).unref();
    scenario().then(
        () => report(0),
        (error) => {
            result.failure =
                error instanceof Error ? `${error.name}: ${error.message}` : String(error);
            report(1);
        },
    );
}
