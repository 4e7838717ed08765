// The member list: search (name, e-mail, postcode, woonplaats), filters, sorting and paging,
// each page asked from the server (GET /api/members with limit/offset), never all rows. The
// state lives in the address (#/leden?q=...&p=2), so back, reload and sign-in keep it.
import { getJson } from "../api.js";
import fields from "virtual:fields";
import { clear, field, h, select } from "../dom.js";
import { cell, num } from "../format.js";
import { downloadButton, heading, pager, provenance } from "../ui.js";

const PAGE = 25;
const COLUMNS = [["lidnummer", "Lidnr."], ["korte_naam", "Naam"], ["postcode", "Postcode"], ["woonplaats", "Woonplaats"],
  ["regio", "Regio"], ["status", "Status"], ["lidmaatschap", "Lidmaatschap"]];
const SORTABLE = { lidnummer: "lidnummer", korte_naam: "achternaam", postcode: "postcode", woonplaats: "woonplaats",
  regio: "regio", status: "status", lidmaatschap: "lidmaatschap" };
const SEARCH_IN = [["naam", "Achternaam"], ["voornaam", "Voornaam"], ["email", "E-mail"], ["postcode", "Postcode"], ["woonplaats", "Woonplaats"]];

const enumValues = (name) => fields.find((f) => f.name === name)?.values || [];

// The server matches a prefix exactly: the text is put in the form the store keeps it in.
export function searchFilter(where, text) {
  let value = text.trim();
  if (!value) return null;
  if (where === "email") return `email^=${value.toLowerCase()}`;
  if (where === "postcode") {
    value = value.toUpperCase().replace(/\s+/g, "");
    if (value.length > 4) value = `${value.slice(0, 4)} ${value.slice(4)}`;
    return `postcode^=${value}`;
  }
  value = value.charAt(0).toUpperCase() + value.slice(1);
  return `${where === "naam" ? "achternaam" : where}^=${value}`;
}

export async function render(main, ctx) {
  const { caps, route } = ctx;
  const p = route.params;
  const state = {
    q: p.get("q") || "", in: p.get("in") || "naam", status: p.get("status") || "", lidmaatschap: p.get("lidmaatschap") || "",
    regio: p.get("regio") || "", sort: p.get("sort") || "lidnummer", desc: p.get("desc") === "1", page: Math.max(0, Number(p.get("p")) || 0),
  };
  const go = (changes) => {
    const next = { ...state, ...changes };
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries({ q: next.q, in: next.in === "naam" ? "" : next.in, status: next.status,
      lidmaatschap: next.lidmaatschap, regio: next.regio, sort: next.sort === "lidnummer" ? "" : next.sort,
      desc: next.desc ? "1" : "", p: next.page ? String(next.page) : "" })) if (v) params.set(k, v);
    const text = params.toString();
    location.hash = `#/leden${text ? `?${text}` : ""}`;
  };
  const where = [];
  const search = searchFilter(state.in, state.q);
  if (search) where.push(search);
  if (state.status) where.push(`status=${state.status}`);
  if (state.lidmaatschap) where.push(`lidmaatschap=${state.lidmaatschap}`);
  const orderBy = [`${SORTABLE[state.sort] || "lidnummer"}${state.desc ? ":desc" : ""}`, "member_id"];
  const params = { where, order_by: orderBy, region: state.regio, limit: PAGE, offset: state.page * PAGE,
    select: ["member_id", ...COLUMNS.map(([c]) => c)] };
  const data = await getJson("/api/members", { params });
  if (!ctx.isCurrent()) return;

  const q = h("input", { type: "search", name: "q", value: state.q, autocomplete: "off" });
  const inSel = select(SEARCH_IN, state.in, { name: "in" });
  const statusSel = select([["", "Alle"], ...enumValues("status").map((v) => [v, v])], state.status, { name: "status" });
  const lidSel = select([["", "Alle"], ...enumValues("lidmaatschap").map((v) => [v, v])], state.lidmaatschap, { name: "lidmaatschap" });
  const regionChoices = caps.allRegions ? enumValues("regio") : caps.regions;
  const regioSel = regionChoices.length > 1 ? select([["", "Alle"], ...regionChoices.map((v) => [v, v])], state.regio, { name: "regio" }) : null;
  const filtered = Boolean(state.status || state.lidmaatschap || state.regio);
  const form = h("form", { class: "toolbar", role: "search", "aria-label": "Leden zoeken" },
    field("Zoek", q, "Begin van de naam, het e-mailadres, de postcode of de woonplaats"), field("Zoek in", inSel),
    h("details", { class: "filters", open: filtered || window.innerWidth > 700 },
      h("summary", {}, filtered ? "Filters (actief)" : "Filters"),
      h("div", { class: "toolbar" }, field("Status", statusSel), field("Lidmaatschap", lidSel), regioSel ? field("Regio", regioSel) : null)),
    h("div", { class: "field buttons" }, h("button", { type: "submit", class: "primary" }, "Zoeken"),
      h("button", { type: "button", onclick: () => go({ q: "", status: "", lidmaatschap: "", regio: "", page: 0 }) }, "Wissen")));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    go({ q: q.value, in: inSel.value, status: statusSel.value, lidmaatschap: lidSel.value, regio: regioSel ? regioSel.value : "", page: 0 });
  });

  const header = h("tr", {}, COLUMNS.map(([key, title]) => {
    const active = state.sort === key;
    const sort = active ? (state.desc ? "descending" : "ascending") : "none";
    return h("th", { scope: "col", "aria-sort": sort },
      h("button", { type: "button", class: "sort", onclick: () => go({ sort: key, desc: active ? !state.desc : false, page: 0 }),
        "aria-label": `Sorteer op ${title}${active && !state.desc ? " (aflopend)" : ""}` },
      title, active ? (state.desc ? " ▼" : " ▲") : ""));
  }));
  const body = h("tbody", {}, data.rows.map((row) => h("tr", {}, COLUMNS.map(([key], i) => h("td", {},
    i === 1 ? h("a", { href: `#/leden/${encodeURIComponent(row.member_id)}` }, row.korte_naam || "(zonder naam)") 
    : cell(row[key], key))))));
  const pages = Math.max(1, Math.ceil(data.total / PAGE));
  const exportParams = { where, order_by: orderBy, region: state.regio };
  clear(main,
    heading("Leden", caps.create ? h("a", { class: "button primary", href: "#/leden/nieuw" }, "Nieuw lid") : null),
    form,
    h("p", { role: "status", "data-testid": "member-count" }, `${num(data.total)} ${data.total === 1 ? "lid" : "leden"} gevonden.`),
    h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Ledenlijst" },
      h("table", { "data-testid": "members-table" }, h("caption", { class: "sr-only" }, "Leden"), h("thead", {}, header), body)),
    pager(state.page, pages, data.total, (page) => go({ page })),
    caps.export ? h("p", { class: "actions" }, "Deze selectie exporteren: ",
      downloadButton("CSV", "/api/members", { ...exportParams, format: "csv" }, "leden.csv"),
      downloadButton("Excel", "/api/members", { ...exportParams, format: "xlsx" }, "leden.xlsx")) : null,
    provenance(data));
}
