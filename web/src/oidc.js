// OpenID Connect sign-in for the dashboard: Authorization Code with PKCE (RFC 7636, S256)
// against the club's Cognito user pool, as a public client (no secret in the browser).
// Dependency-free ES module: bundled by the dashboard, and usable loaded directly.
//
//   const {oidc} = await loadAuthConfig();            // null: no OpenID sign-in configured
//   await beginSignIn(oidc, '/leden');                // leaves the page for the issuer's login
//   const result = await completeSignIn(oidc);        // on the redirect_uri page: null or
//                                                     // {token, expiresAt, returnTo}; throws on failure
//   const logoutUrl = signOut(oidc);                  // clears sessionStorage; the issuer's
//                                                     // end-session URL, or null
//
// Tokens never go into a URL or localStorage: the code comes back in the redirect, the token
// from a POST to the token endpoint, and the caller keeps it in memory or sessionStorage. Only
// the PKCE verifier, state, nonce and returnTo wait in sessionStorage during the round trip,
// and they are used once.

const PENDING_KEY = 'memberlake.oidc.pending';
const END_SESSION_KEY = 'memberlake.oidc.end_session_endpoint';
// The callback's parameters, removed from the address bar once read (RFC 9207 adds iss).
const CALLBACK_PARAMS = ['code', 'state', 'error', 'error_description', 'error_uri', 'iss', 'session_state'];

const discoveries = new Map();  // issuer -> discovery document, for this page load

export async function loadAuthConfig() {
  let response;
  try {
    response = await fetch('/api/auth/config', { headers: { Accept: 'application/json' }, cache: 'no-store' });
  } catch {
    throw new Error('De server is niet bereikbaar: de aanmeldinstellingen konden niet worden opgehaald.');
  }
  if (!response.ok) throw new Error(`De aanmeldinstellingen konden niet worden opgehaald (HTTP ${response.status}).`);
  const body = await response.json().catch(() => {
    throw new Error('De server gaf onleesbare aanmeldinstellingen terug.');
  });
  return { oidc: body && body.oidc ? body.oidc : null };
}

export async function beginSignIn(oidcConfig, returnTo) {
  const doc = await discover(oidcConfig.issuer);
  const verifier = randomText(32);
  const pending = {
    state: randomText(16),
    nonce: randomText(16),
    verifier,
    returnTo: safeReturnTo(returnTo ?? currentPlace()),
    issuer: oidcConfig.issuer,
  };
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  const url = new URL(doc.authorization_endpoint);
  const params = {
    response_type: 'code',
    client_id: oidcConfig.client_id,
    redirect_uri: oidcConfig.redirect_uri,
    scope: oidcConfig.scopes || 'openid',
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: await sha256Base64Url(verifier),
    code_challenge_method: 'S256',
  };
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  window.location.assign(url.toString());
}

export async function completeSignIn(oidcConfig) {
  const here = new URL(window.location.href);
  const params = new URLSearchParams(here.search);  // a copy: the address bar's are removed below
  const redirect = new URL(oidcConfig.redirect_uri, here);
  const atRedirect = here.origin === redirect.origin && here.pathname === redirect.pathname;
  if (!atRedirect || !(params.has('code') || params.has('error'))) return null;

  const pendingText = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);  // used once, whatever happens next
  // The code is single-use and short-lived, but it has no business in the history or a bookmark.
  for (const name of CALLBACK_PARAMS) here.searchParams.delete(name);
  window.history.replaceState(window.history.state, '', here.pathname + here.search + here.hash);

  if (params.has('error')) {
    const error = params.get('error');
    if (error === 'access_denied') throw new Error('Inloggen is geannuleerd of geweigerd door de clubaccount-dienst.');
    const detail = params.get('error_description');
    throw new Error(`Inloggen is mislukt bij de clubaccount-dienst (${error}${detail ? `: ${detail}` : ''}).`);
  }
  let pending = null;
  try {
    pending = pendingText ? JSON.parse(pendingText) : null;
  } catch {
    pending = null;
  }
  if (!pending || !params.get('state') || params.get('state') !== pending.state) {
    throw new Error('Het inlogantwoord hoort niet bij deze inlogpoging (state klopt niet). Log opnieuw in.');
  }
  if (params.has('iss') && params.get('iss') !== oidcConfig.issuer) {
    throw new Error('Het inlogantwoord komt van een andere clubaccount-dienst dan verwacht. Log opnieuw in.');
  }

  const doc = await discover(oidcConfig.issuer);
  const form = new URLSearchParams({
    grant_type: 'authorization_code',
    code: params.get('code'),
    redirect_uri: oidcConfig.redirect_uri,
    client_id: oidcConfig.client_id,
    code_verifier: pending.verifier,
  });
  let response;
  try {
    response = await fetch(doc.token_endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: form,
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch {
    throw new Error('De clubaccount-dienst is niet bereikbaar: de inlogcode kon niet worden ingewisseld.');
  }
  const tokens = await response.json().catch(() => ({}));
  if (!response.ok) {
    const reason = tokens.error ? `: ${tokens.error}` : '';
    throw new Error(`De inlogcode kon niet worden ingewisseld (HTTP ${response.status}${reason}). Log opnieuw in.`);
  }
  // The ID token, not the access token, is what the dashboard sends: Cognito's ID token carries
  // cognito:groups (the roles) and aud = the client id, which the server checks; the access
  // token has no aud and is meant for Cognito's own APIs.
  const token = tokens.id_token;
  if (typeof token !== 'string' || token.split('.').length !== 3) {
    throw new Error('De clubaccount-dienst gaf geen ID-token terug. Vraag de beheerder om de scope "openid".');
  }
  // The server verifies the signature; here only what ties the token to this attempt.
  const claims = decodePayload(token);
  if (!claims || claims.nonce !== pending.nonce) {
    throw new Error('Het ID-token hoort niet bij deze inlogpoging (nonce klopt niet). Log opnieuw in.');
  }
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (claims.iss !== oidcConfig.issuer || !audiences.includes(oidcConfig.client_id)) {
    throw new Error('Het ID-token is niet voor dit dashboard uitgegeven. Log opnieuw in.');
  }
  if (typeof claims.exp !== 'number') throw new Error('Het ID-token heeft geen vervaltijd.');
  return { token, expiresAt: claims.exp * 1000, returnTo: safeReturnTo(pending.returnTo) };
}

export function signOut(oidcConfig) {
  const endSession = sessionStorage.getItem(END_SESSION_KEY)
    || (oidcConfig && discoveries.get(oidcConfig.issuer)?.end_session_endpoint) || null;
  sessionStorage.clear();
  if (!endSession || !oidcConfig) return null;
  // client_id rather than id_token_hint: a token never goes into a URL.
  const url = new URL(endSession);
  url.searchParams.set('client_id', oidcConfig.client_id);
  url.searchParams.set('post_logout_redirect_uri', oidcConfig.redirect_uri);
  return url.toString();
}

async function discover(issuer) {
  if (discoveries.has(issuer)) return discoveries.get(issuer);
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  let doc;
  try {
    const response = await fetch(url, { headers: { Accept: 'application/json' } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    doc = await response.json();
  } catch (error) {
    throw new Error(`De clubaccount-dienst is niet bereikbaar (${error.message}). Probeer het later opnieuw.`);
  }
  // OpenID Connect Discovery §4.3: the document must be the issuer's own.
  if (!doc || doc.issuer !== issuer || !doc.authorization_endpoint || !doc.token_endpoint) {
    throw new Error('De clubaccount-dienst gaf onjuiste instellingen terug (discovery). Meld dit bij de beheerder.');
  }
  discoveries.set(issuer, doc);
  if (doc.end_session_endpoint) sessionStorage.setItem(END_SESSION_KEY, doc.end_session_endpoint);
  return doc;
}

function currentPlace() {
  return window.location.pathname + window.location.search + window.location.hash;
}

// Only a place on this site: a path ("/x", not "//host"), a query or a fragment.
function safeReturnTo(place) {
  if (typeof place !== 'string') return '/';
  if ((place.startsWith('/') && !place.startsWith('//') && !place.startsWith('/\\')) || /^[?#]/.test(place)) return place;
  return '/';
}

function requireSubtle() {
  if (!globalThis.crypto || !globalThis.crypto.subtle) {
    throw new Error('Deze browser kan niet veilig inloggen (Web Crypto ontbreekt; open het dashboard via https).');
  }
  return globalThis.crypto;
}

function base64Url(bytes) {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomText(byteCount) {
  return base64Url(requireSubtle().getRandomValues(new Uint8Array(byteCount)));
}

async function sha256Base64Url(text) {
  const digest = await requireSubtle().subtle.digest('SHA-256', new TextEncoder().encode(text));
  return base64Url(new Uint8Array(digest));
}

function decodePayload(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const binary = atob(part + '='.repeat((4 - (part.length % 4)) % 4));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
  } catch {
    return null;
  }
}
