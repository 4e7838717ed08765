// Vraag stellen: a question about the membership, answered by a language model from the
// caller's scoped, suppressed aggregates (POST /api/ask, docs/ai.md). For transparency the
// page shows every query the model had run, with what it returned, and the tokens used, so a
// volunteer can check the numbers. Shown only when GET /api/me says `ask` (AI enabled on the
// server and a role that reads member data).
import { ApiError, sendJson } from "../api.js";
import { clear, field, h, statusLine } from "../dom.js";
import { date, num } from "../format.js";
import { errorBox, heading, table } from "../ui.js";

const MAX_CHARS = 2000;  // the server's limit (ai.max_question_chars)

// A Dutch message for each way a question can fail (the server's error.kind, else the status).
export function askErrorMessage(error) {
  if (!(error instanceof ApiError)) return null;
  switch (error.kind) {
    case "not_configured":
      return "Er is op de server geen API-sleutel voor het taalmodel ingesteld. Vraag de beheerder de sleutel in te stellen.";
    case "token_budget":
      return "Je dagbudget voor vragen is op. Morgen kun je weer vragen stellen: het budget begint om middernacht opnieuw.";
    case "rate_limited":
      return "De aanbieder van het taalmodel krijgt nu te veel vragen. Probeer het over een halve minuut opnieuw.";
    case "provider_auth":
      return "De aanbieder van het taalmodel weigert de sleutel van de server. Meld het de beheerder.";
    case "timeout":
      return "Het taalmodel gaf niet op tijd antwoord. Probeer het later opnieuw, of stel een eenvoudigere vraag.";
    case "tool_rounds":
      return "Het taalmodel bleef om gegevens vragen zonder tot een antwoord te komen. Stel de vraag korter of eenvoudiger.";
    case "provider_error":
    case "unreachable":
      return "Het taalmodel is niet bereikbaar of gaf een onbruikbaar antwoord. Probeer het later opnieuw; blijft het misgaan, meld het de beheerder.";
    default:
      break;
  }
  if (error.status === 404) return "Vragen stellen is op deze server niet ingeschakeld.";
  if (error.status === 400) return `De vraag wordt geweigerd: hij is leeg of langer dan ${num(MAX_CHARS)} tekens.`;
  if (error.status === 429) return "Te veel vragen achter elkaar. Wacht even en probeer het opnieuw.";
  if (error.status === 502) return "Het taalmodel gaf een onbruikbaar antwoord. Probeer het later opnieuw.";
  if (error.status === 504) return "Het taalmodel gaf niet op tijd antwoord. Probeer het later opnieuw.";
  return null;  // the general message of api.js
}

const QUERY_PARTS = [["report", "Rapport"], ["where", "Filter"], ["group_by", "Gegroepeerd op"],
  ["aggregates", "Berekend"], ["order_by", "Volgorde"], ["params", "Instellingen"]];

function describe(value) {
  if (Array.isArray(value)) return value.map(describe).join(", ");
  if (value && typeof value === "object") return Object.entries(value).map(([k, v]) => `${k}=${describe(v)}`).join(", ");
  return String(value);
}

// What ran, in words: "Filter: status=Actief · Gegroepeerd op: regio · Berekend: count".
function queryText(run) {
  const query = run.query && typeof run.query === "object" ? run.query : null;
  if (!query) return `${run.tool}: ${run.arguments || ""}`;
  const parts = QUERY_PARTS.filter(([key]) => query[key] !== undefined && query[key] !== null &&
    !(Array.isArray(query[key]) && query[key].length === 0) && query[key] !== "")
    .map(([key, label]) => `${label}: ${describe(query[key])}`);
  return parts.length ? parts.join(" · ") : "alle leden, geteld";
}

function resultTable(result, caption, index) {
  const columns = result.columns || [];
  const rows = (result.rows || []).map((row) => Object.fromEntries(columns.map((c, i) => [`c${i}`, row[i]])));
  const numeric = columns.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[`c${i}`] === "number" || r[`c${i}`] === null));
  const suppressed = result.suppressed_groups || 0;
  return [
    rows.length ? table(rows, columns.map((c, i) => [`c${i}`, c, { numeric: numeric[i] }]), { caption, testid: `ask-result-${index}` })
      : h("p", { class: "meta" }, "Geen rijen (alles weggelaten of niets gevonden)."),
    h("p", { class: "meta" }, suppressed
      ? `${num(suppressed)} ${suppressed === 1 ? "groep" : "groepen"} van minder dan ${num(result.k)} leden weggelaten.`
      : `Geen groepen weggelaten (elke groep telt minstens ${num(result.k)} leden).`),
  ];
}

function queryList(queries) {
  if (!queries.length) return h("p", {}, "Het model heeft geen gegevens opgevraagd.");
  return h("ol", { class: "ask-queries", "data-testid": "ask-queries" }, queries.map((run, i) =>
    h("li", { class: "card" },
      h("h3", {}, `${run.tool === "run_report" ? "Rapport" : "Query"} ${i + 1}`),
      h("p", {}, h("code", {}, queryText(run))),
      run.error
        ? h("p", { class: "notice warn" }, `Geweigerd: ${run.error}`)
        : resultTable(run.result || {}, `Resultaat van ${run.tool === "run_report" ? "rapport" : "query"} ${i + 1}`, i + 1))));
}

function seconds(ms) {
  return ms < 1000 ? `${num(ms || 0)} ms` : `${num(ms / 1000)} s`;
}

function answerView(data) {
  const t = data.tokens || {};
  return h("section", { "aria-labelledby": "ask-answer-title", "data-testid": "ask-answer" },
    h("h2", { id: "ask-answer-title" }, "Antwoord"),
    h("div", { class: "card ask-text" }, data.answer),
    h("p", { class: "meta", "data-testid": "ask-meta" },
      `Model ${data.model} · ${data.scope === "all" ? "alle regio's" : `regio ${data.scope}`} · peildatum ${date(data.as_of)}`,
      ` · groepen kleiner dan ${num(data.k)} weggelaten · ${num(data.rounds)} ${data.rounds === 1 ? "aanroep" : "aanroepen"} van het model`,
      ` · ${seconds(data.elapsed_ms)}`),
    h("p", { class: "meta", "data-testid": "ask-tokens" },
      `Tokens: ${num(t.prompt)} in de vragen aan het model, ${num(t.completion)} in zijn antwoorden, ${num(t.total)} samen`,
      t.counted !== t.total ? ` (${num(t.counted)} geteld voor je dagbudget)` : " (geteld voor je dagbudget)"),
    h("h2", {}, `Opgevraagde gegevens (${num((data.queries || []).length)})`),
    h("p", { class: "meta" }, "Alles wat het model te zien kreeg: per query wat er is uitgevoerd en het resultaat. Controleer hier de cijfers uit het antwoord."),
    queryList(data.queries || []));
}

export async function render(main, ctx) {
  const scope = ctx.caps.allRegions ? "alle regio's" : ctx.caps.regions.join(", ");
  const input = h("textarea", { name: "question", rows: 3, maxlength: MAX_CHARS, required: true,
    placeholder: "Bijvoorbeeld: hoeveel actieve leden hebben we per lidmaatschap?", "data-testid": "ask-question" });
  const button = h("button", { type: "submit", class: "primary" }, "Vraag stellen");
  const status = h("div", { "aria-live": "polite" });
  const output = h("div", {});
  const form = h("form", { class: "card ask-form" },
    field("Je vraag", input, `Over de leden van ${scope}. Hoogstens ${num(MAX_CHARS)} tekens.`),
    h("div", { class: "actions" }, button), status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = input.value.trim();
    if (!question) {
      clear(status, statusLine("Typ eerst een vraag.", "error"));
      input.focus();
      return;
    }
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    clear(output);
    clear(status, statusLine("Het taalmodel zoekt het uit… Dit kan tot een minuut duren."));
    try {
      const data = await sendJson("POST", "/api/ask", { question });
      if (!ctx.isCurrent()) return;
      clear(status, statusLine("Antwoord ontvangen.", "ok"));
      clear(output, answerView(data));
      output.querySelector("h2")?.setAttribute("tabindex", "-1");
      output.querySelector("h2")?.focus();
    } catch (error) {
      if (!ctx.isCurrent() || error.status === 401) return;
      const message = askErrorMessage(error);
      clear(status);
      clear(output, message
        ? h("div", { class: "notice error", role: "alert", "data-testid": "ask-error" }, h("p", {}, message),
          error.detail ? h("p", { class: "detail" }, `Melding van de server: ${error.detail}`) : null)
        : errorBox(error));
    } finally {
      button.disabled = false;
      form.removeAttribute("aria-busy");
    }
  });
  clear(main, heading("Vraag stellen"),
    h("p", {}, "Stel een vraag over het ledenbestand. Een taalmodel zoekt het antwoord in getelde en samengevatte cijfers: ",
      "het ziet geen namen, adressen of andere persoonsgegevens, alleen groepen van minstens enkele leden. ",
      "Onder het antwoord staat alles wat het model heeft opgevraagd, zodat je de cijfers kunt nagaan."),
    form, output);
}
