// The console's entry point: sign-in, routing, the connection indicator and sign-out.

import { Api, RefusedError } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { ModuleView } from "./module-view.js";
import { ControlSocket, State } from "./socket.js";
import { renderSystem, renderSystems } from "./systems-view.js";

const STORAGE_KEY = "runtime-console-credential";
const KIND_LABELS = { key: "API key", token: "Bearer token" };
const KIND_CHOICES = { key: "Key", token: "Token (JWT)" };

const main = document.getElementById("main");
const connection = document.getElementById("connection");
const connectionText = document.getElementById("connection-text");
const retryText = document.getElementById("retry-text");
const retryButton = document.getElementById("retry");
const signOutButton = document.getElementById("sign-out");
const who = document.getElementById("who");
const announcer = document.getElementById("announcer");

let session = null; // {credential, api, socket}
let view = null;
let countdown = null;

function announce(text) {
  announcer.textContent = "";
  setTimeout(() => {
    announcer.textContent = text;
  }, 50);
}

function loadCredential() {
  try {
    const stored = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
    return stored && KIND_LABELS[stored.kind] && stored.value ? stored : null;
  } catch {
    return null;
  }
}

// -- sign-in ---------------------------------------------------------------------------------

function showSignIn(message = "") {
  const alert = h("div", { class: "problem", role: "alert", id: "sign-in-alert" });
  const input = h("input", {
    id: "credential",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    "aria-describedby": "credential-hint",
  });
  const label = h("label", { for: "credential", text: KIND_LABELS.key });
  const hint = h("p", {
    id: "credential-hint",
    class: "hint",
    text: "Kept in this tab only (session storage) until you sign out.",
  });
  const kinds = Object.entries(KIND_CHOICES).map(([kind, choice]) =>
    h(
      "label",
      { class: "choice" },
      h("input", {
        type: "radio",
        name: "kind",
        value: kind,
        checked: kind === "key",
        onchange: () => {
          label.textContent = KIND_LABELS[kind];
        },
      }),
      ` ${choice}`,
    ),
  );
  const form = h(
    "form",
    {
      class: "panel sign-in",
      "aria-labelledby": "sign-in-title",
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        const kind = form.elements.kind.value;
        const value = input.value.trim();
        if (!value) {
          alert.textContent = `Enter ${kind === "key" ? "an API key" : "a bearer token"} first.`;
          input.focus();
          return;
        }
        alert.textContent = "";
        await signIn({ kind, value }, alert, input);
      },
    },
    h("h2", { id: "sign-in-title", class: "view-title", tabindex: "-1", text: "Sign in" }),
    h("fieldset", {}, h("legend", { text: "Sign in with" }), kinds),
    h("div", { class: "field" }, label, input, hint),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary", text: "Sign in" }),
    ),
    alert,
  );
  setSignedIn(false);
  replaceChildren(main, form);
  if (message) alert.textContent = message;
  input.focus();
}

async function signIn(credential, alert, input) {
  const api = new Api(credential);
  try {
    await api.systems();
  } catch (error) {
    alert.textContent =
      error instanceof RefusedError
        ? `Refused: the runtime did not accept this ${KIND_LABELS[credential.kind]} (${error.message}).`
        : `Cannot reach the runtime: ${error.message}`;
    input.select();
    input.focus();
    return;
  }
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(credential));
  start(credential);
}

function signOut(message = "") {
  sessionStorage.removeItem(STORAGE_KEY);
  if (view) view.dispose?.();
  view = null;
  if (session) session.socket.stop();
  session = null;
  showConnection({ state: State.STOPPED });
  if (location.hash && location.hash !== "#/") history.replaceState(null, "", "#/");
  showSignIn(message);
}

function setSignedIn(signedIn, credential) {
  signOutButton.hidden = !signedIn;
  who.textContent = signedIn
    ? `Signed in with ${credential.kind === "key" ? "an API key" : "a bearer token"}`
    : "";
}

// -- session ---------------------------------------------------------------------------------

function start(credential) {
  const api = new Api(credential, (error) =>
    signOut(`Your ${KIND_LABELS[credential.kind]} was refused (${error.message}); sign in again.`),
  );
  const socket = new ControlSocket(credential);
  session = { credential, api, socket };
  socket.addEventListener("state", (event) => showConnection(event.detail));
  socket.addEventListener("closed", (event) => {
    // a refused upgrade looks like any failed connection: ask REST whether the key still works
    if (!event.detail.opened) api.systems().catch(() => {});
  });
  setSignedIn(true, credential);
  socket.start();
  route();
}

function showConnection({ state, retryAt }) {
  clearInterval(countdown);
  connection.dataset.state = state;
  retryButton.hidden = state !== State.WAITING;
  retryText.textContent = "";
  const texts = {
    [State.CONNECTING]: "Connecting…",
    [State.OPEN]: "Connected",
    [State.WAITING]: "Disconnected",
    [State.STOPPED]: "Signed out",
  };
  connectionText.textContent = texts[state];
  if (state === State.WAITING) {
    const tick = () => {
      const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
      retryText.textContent = `— retrying in ${seconds} s`;
    };
    tick();
    countdown = setInterval(tick, 1000);
  }
}

// -- routing ---------------------------------------------------------------------------------

async function route() {
  if (!session) return;
  if (view) view.dispose?.();
  view = null;
  const parts = location.hash
    .replace(/^#\/?/, "")
    .split("/")
    .filter(Boolean)
    .map(decodeURIComponent);
  const current = session;
  replaceChildren(main, h("p", { class: "meta", text: "Loading…" }));
  try {
    let element;
    if (parts[0] === "systems" && parts.length >= 3) {
      const moduleView = new ModuleView({ ...current, announce }, parts[1], parts[2]);
      view = moduleView;
      await moduleView.load();
      element = moduleView.element;
    } else if (parts[0] === "systems" && parts.length === 2) {
      element = await renderSystem(current.api, parts[1]);
    } else {
      element = await renderSystems(current.api);
    }
    if (session !== current) return;
    replaceChildren(main, element);
    document.title = `${parts.slice(1).join(" / ") || "Systems"} — Runtime console`;
    main.querySelector(".view-title")?.focus();
  } catch (error) {
    if (error instanceof RefusedError || session !== current) return;
    replaceChildren(
      main,
      h("h2", { class: "view-title", tabindex: "-1", text: "Cannot show this page" }),
      h("p", { class: "problem", role: "alert", text: error.message }),
      h("p", {}, h("a", { href: "#/", text: "Back to the systems" })),
    );
    main.querySelector(".view-title").focus();
  }
}

window.addEventListener("hashchange", route);
signOutButton.addEventListener("click", () => signOut());
retryButton.addEventListener("click", () => session?.socket.retryNow());

const stored = loadCredential();
if (stored) start(stored);
else showSignIn();

document.querySelector(".skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  (main.querySelector(".view-title") || main).focus();
});
