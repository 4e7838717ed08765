// The dashboard's entry: sign-in (API key, or OpenID Connect through oidc.js), the shell with
// the navigation the caller's roles allow (GET /api/me), and a hash router (#/leden?...), so
// every page has its own address and a sign-in returns to it.
import { ApiError, getJson, messageFor } from "./api.js";
import { clearCredential, credential, useApiKey, useBearer } from "./auth.js";
import { clear, field, h, statusLine } from "./dom.js";
import { beginSignIn, completeSignIn, loadAuthConfig, signOut as endProviderSession } from "./oidc.js";
import { capabilities } from "./roles.js";
import { errorBox } from "./ui.js";
import { VIEWS } from "./views/index.js";

const app = document.getElementById("app");
let session = null;  // {me, caps}
let authConfig = { oidc: null };
let renderToken = 0;
let moveFocus = false;  // after a navigation the new page's content gets the focus (screen readers announce it)

function currentRoute() {
  const hash = location.hash.startsWith("#/") ? location.hash.slice(1) : "/";
  const [path, search = ""] = hash.split("?");
  return { path, parts: path.split("/").filter(Boolean), params: new URLSearchParams(search) };
}

// ---- sign-in ----

function showSignIn(message) {
  session = null;
  const returnTo = location.hash.startsWith("#/") ? location.hash : "#/";
  const input = h("input", { type: "password", name: "apikey", autocomplete: "off", required: true,
    spellcheck: "false", "data-testid": "apikey" });
  const status = h("div", { "aria-live": "polite" }, message ? statusLine(message, "error") : null);
  const form = h("form", { class: "card signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Inloggen"),
    h("p", {}, "Ledenadministratie van de H-DCN. Log in om de leden van jouw regio te zien."),
    status);
  if (authConfig.oidc) {
    form.append(h("button", { type: "button", class: "primary", onclick: () => beginSignIn(authConfig.oidc, returnTo)
      .catch((e) => clear(status, statusLine(`Inloggen met clubaccount lukt niet: ${e.message}`, "error"))) },
    "Inloggen met clubaccount"), h("p", { class: "or" }, "of, voor lokaal gebruik:"));
  }
  form.append(field("API-sleutel", input, "De sleutel die je van de beheerder (of scripts/quickstart.sh) kreeg. Hij blijft alleen in dit tabblad bewaard."),
    h("button", { type: "submit", class: authConfig.oidc ? "" : "primary" }, "Inloggen met sleutel"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!input.value.trim()) return;
    useApiKey(input.value);
    clear(status, statusLine("Bezig met inloggen…"));
    try {
      moveFocus = true;  // the form goes away: the page's content takes the focus
      await startSession(returnTo);
    } catch (error) {
      clearCredential();
      clear(status, statusLine(error.status === 401 ? "Deze sleutel wordt niet geaccepteerd. Controleer hem en probeer opnieuw." : error.message, "error"));
      input.focus();
    }
  });
  clear(app, h("main", { id: "main", class: "signin-page" }, form));
  document.title = "Inloggen – Ledenadministratie";
  input.focus();
}

async function startSession(returnTo) {
  const me = await getJson("/api/me");
  session = { me, caps: capabilities(me) };
  renderShell();
  if (returnTo && returnTo !== location.hash) location.hash = returnTo;
  else renderRoute();
}

function signOut() {
  const viaProvider = credential()?.kind === "bearer" && authConfig.oidc;
  clearCredential();
  session = null;
  if (viaProvider) {
    // The provider's session ends too (its logout page, then back here); no token in the URL.
    const logout = endProviderSession(authConfig.oidc);
    if (logout) {
      location.assign(logout);
      return;
    }
  }
  location.hash = "#/";
  showSignIn("Je bent uitgelogd.");
}

// ---- shell ----

function renderShell() {
  const { me, caps } = session;
  const nav = h("ul", { class: "nav-list" });
  for (const view of VIEWS) {
    if (!view.nav || !view.allowed(caps)) continue;
    nav.append(h("li", {}, h("a", { href: `#${view.path}`, "data-view": view.id }, view.title)));
  }
  const toggle = h("button", { class: "menu-toggle", type: "button", "aria-expanded": "false", "aria-controls": "nav" }, "Menu");
  const navEl = h("nav", { id: "nav", "aria-label": "Hoofdmenu" }, nav);
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    navEl.classList.toggle("open", open);
  });
  nav.addEventListener("click", () => { toggle.setAttribute("aria-expanded", "false"); navEl.classList.remove("open"); });
  const regions = caps.allRegions ? "alle regio's" : me.regions.join(", ");
  clear(app,
    h("header", { class: "top" },
      h("div", { class: "brand" }, "H-DCN ledenadministratie"),
      toggle,
      h("div", { class: "user" },
        h("span", { class: "who" }, h("span", { class: "sr-only" }, "Ingelogd als "),
          h("strong", { "data-testid": "whoami" }, me.name || me.subject), h("span", { class: "scope" }, ` · ${regions}`)),
        h("button", { type: "button", onclick: signOut, "data-testid": "signout" }, "Uitloggen"))),
    navEl,
    h("div", { id: "banner", "aria-live": "assertive" }),
    h("main", { id: "main", tabindex: "-1" }));
}

async function renderRoute() {
  if (!session) return;
  const route = currentRoute();
  const view = VIEWS.find((v) => v.match(route)) || null;
  const main = document.getElementById("main");
  const token = ++renderToken;
  for (const link of document.querySelectorAll("nav a")) {
    const active = view && link.dataset.view === (view.navId || view.id);
    if (active) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  if (!view) {
    clear(main, h("h1", {}, "Pagina niet gevonden"), h("p", {}, h("a", { href: "#/" }, "Naar het overzicht")));
    main.setAttribute("data-ready", location.hash);
    return;
  }
  if (!view.allowed(session.caps)) {
    clear(main, h("h1", {}, view.title), statusLine(messageFor(403), "error"));
    main.setAttribute("data-ready", location.hash);
    return;
  }
  document.title = `${view.title} – Ledenadministratie`;
  clear(main, h("p", { class: "loading", role: "status" }, "Laden…"));
  main.setAttribute("aria-busy", "true");
  main.removeAttribute("data-ready");
  try {
    const ctx = { ...session, route, isCurrent: () => token === renderToken, rerender: renderRoute };
    await view.render(main, ctx);
  } catch (error) {
    if (token !== renderToken) return;
    if (error.status === 401) return;  // the sign-in is shown already
    clear(main, h("h1", {}, view.title), errorBox(error, renderRoute));
  } finally {
    if (token === renderToken) {
      main.removeAttribute("aria-busy");
      main.setAttribute("data-ready", location.hash || "#/");  // for tests and the benchmark: this view is done
      if (moveFocus && !main.contains(document.activeElement)) main.focus({ preventScroll: true });
      moveFocus = false;
    }
  }
}

function banner(text) {
  const el = document.getElementById("banner");
  if (el) clear(el, text ? statusLine(text, "error") : null);
}

// ---- start ----

window.addEventListener("hashchange", () => {
  if (!session || (location.hash && !location.hash.startsWith("#/"))) return;
  moveFocus = true;
  renderRoute();
});
// The skip link jumps to the content without touching the address (the router owns the hash).
document.addEventListener("click", (event) => {
  if (!event.target.closest?.(".skip")) return;
  event.preventDefault();
  document.getElementById("main")?.focus();
});
// A 401 during a session (expired token, revoked key): sign in again, then back to this page.
// Before a session exists the sign-in form reports the failure itself.
window.addEventListener("memberlake:signin", (event) => { if (session) showSignIn(event.detail?.message); });
window.addEventListener("offline", () => banner(messageFor(0)));
window.addEventListener("online", () => banner(null));
window.addEventListener("unhandledrejection", (event) => {
  if (event.reason?.status === 401) return;
  banner(event.reason instanceof ApiError ? event.reason.message : "Er ging iets mis in het dashboard. Laad de pagina opnieuw.");
});

async function boot() {
  try {
    authConfig = await loadAuthConfig();
  } catch {
    authConfig = { oidc: null };
  }
  if (authConfig?.oidc) {
    try {
      const done = await completeSignIn(authConfig.oidc);
      if (done) {
        useBearer(done.token, done.expiresAt);
        await startSession(done.returnTo || "#/");
        return;
      }
    } catch (error) {
      showSignIn(`Inloggen met clubaccount is mislukt: ${error.message}`);
      return;
    }
  }
  if (!credential()) {
    showSignIn();
    return;
  }
  try {
    await startSession(location.hash || "#/");
  } catch (error) {
    if (error.status === 401) {
      showSignIn(messageFor(401));
      return;
    }
    clear(app, h("main", { id: "main" }, h("h1", {}, "Ledenadministratie"), statusLine(error.message, "error"),
      h("button", { type: "button", onclick: () => location.reload() }, "Opnieuw proberen")));
  }
}

boot();
