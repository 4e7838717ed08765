// The signed-in credential: an API key (local use) or a bearer token from OpenID Connect.
// Kept in sessionStorage only (gone with the tab; never in localStorage, a cookie or a URL),
// sent as X-API-Key or Authorization: Bearer. Sign-out removes it.
const STORAGE_KEY = "memberlake.credential";

export function credential() {
  try {
    const stored = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
    if (!stored || typeof stored.value !== "string") return null;
    if (stored.expiresAt && Date.now() >= stored.expiresAt) {
      clearCredential();
      return null;
    }
    return stored;
  } catch {
    return null;
  }
}

export function useApiKey(key) {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ kind: "apikey", value: key.trim() }));
}

// expiresAt: milliseconds since the epoch (or seconds: both are accepted).
export function useBearer(token, expiresAt) {
  let expires = Number(expiresAt) || null;
  if (expires && expires < 1e12) expires *= 1000;
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ kind: "bearer", value: token, expiresAt: expires }));
}

export function clearCredential() {
  sessionStorage.removeItem(STORAGE_KEY);
}

export function authHeaders() {
  const c = credential();
  if (!c) return {};
  return c.kind === "apikey" ? { "X-API-Key": c.value } : { Authorization: `Bearer ${c.value}` };
}
