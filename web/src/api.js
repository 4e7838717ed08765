// Every call to the server goes through here: the credential is added, and every failure
// becomes an ApiError with a Dutch message a volunteer understands (never a blank page).
// A 401 also fires "memberlake:signin" so the app shows the sign-in and comes back afterwards.
import { authHeaders, clearCredential } from "./auth.js";

export class ApiError extends Error {
  constructor(status, message, detail = "", kind = "") {
    super(message);
    this.status = status;  // 0: no connection
    this.detail = detail;  // the server's own message (English), shown small
    this.kind = kind;      // what failed, where the server says (POST /api/ask: error.kind)
  }
}

export function messageFor(status) {
  if (status === 0) return "Geen verbinding met de server. Controleer je netwerk en probeer het opnieuw.";
  if (status === 401) return "Je bent niet (meer) ingelogd: je sessie is verlopen of je sleutel is ongeldig. Log opnieuw in.";
  if (status === 403) return "Je hebt geen toestemming voor deze gegevens of handeling.";
  if (status === 404) return "Niet gevonden: dit bestaat niet (meer) of valt buiten jouw regio.";
  if (status === 409 || status === 412) return "Iemand anders heeft dit lid intussen gewijzigd.";
  if (status === 400) return "De server weigert de invoer.";
  if (status === 413) return "De invoer is te groot.";
  if (status === 503) return "De server is tijdelijk niet beschikbaar. Probeer het zo opnieuw.";
  if (status >= 500) return "Er ging iets mis op de server. Probeer het later opnieuw; blijft het misgaan, meld het de beheerder.";
  return `Onverwacht antwoord van de server (${status}).`;
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value === undefined || value === null || value === "") continue;
    for (const v of Array.isArray(value) ? value : [value]) search.append(key, v);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

// Returns the Response (ok) or throws an ApiError.
export async function request(path, { method = "GET", params, body, headers = {}, signal } = {}) {
  const init = { method, headers: { ...authHeaders(), ...headers }, signal, cache: "no-store" };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(path + query(params), init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, messageFor(0), String(error.message || error));
  }
  if (response.ok) return response;
  let detail = "";
  let kind = "";
  try {
    const error = (await response.json())?.error;
    detail = error?.message || "";
    kind = error?.kind || "";
  } catch { /* not JSON */ }
  if (response.status === 401) {
    clearCredential();
    window.dispatchEvent(new CustomEvent("memberlake:signin", { detail: { message: messageFor(401) } }));
  }
  throw new ApiError(response.status, messageFor(response.status), detail, kind);
}

export async function getJson(path, options) {
  const response = await request(path, options);
  return response.json();
}

export function sendJson(method, path, body, headers) {
  return request(path, { method, body, headers }).then((r) => (r.status === 204 ? null : r.json()));
}

// A file download with the credential (a plain link could not send it): fetched, then saved
// from a blob under the server's file name (Content-Disposition) or `fallbackName`.
export async function download(path, params, fallbackName) {
  const response = await request(path, { params });
  const blob = await response.blob();
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="?([^";]+)"?/.exec(disposition);
  const name = match ? match[1] : fallbackName;
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return { name, bytes: blob.size };
}
