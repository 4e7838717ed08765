// Exports of every report the caller may run, in every format it offers: CSV (Dutch Excel),
// XLSX, Parquet, and PDF address labels for the reports with addresses. Downloads go through
// fetch with the credential, then a blob (no credential in a link).
import { getJson } from "../api.js";
import { clear, field, h, select } from "../dom.js";
import { MONTHS } from "../format.js";
import { downloadButton, heading } from "../ui.js";

const TITLES = {
  "regional-stats": "Actieve leden per regio en lidmaatschap", "address-stickers": "Adresetiketten clubblad (papier)",
  "email-list": "E-maillijst clubblad (digitaal)", birthdays: "Verjaardagen in een maand", "member-overview": "Alle leden met lidmaatschapsgegevens",
  "motor-view": "Motoren van actieve leden", "financial-view": "Betaalgegevens (vertrouwelijk)",
  "age-distribution": "Leeftijdsverdeling per regio", "membership-distribution": "Lidmaatschapsduur per regio",
  "alv-candidates": "ALV-jubilea (certificaten en spelden)",
};
const WITH_LABELS = new Set(["address-stickers", "birthdays", "alv-candidates"]);
const FORMATS = [["csv", "CSV"], ["xlsx", "Excel (XLSX)"], ["parquet", "Parquet"]];

export async function render(main, ctx) {
  const { reports } = await getJson("/api/reports");
  if (!ctx.isCurrent()) return;
  const visible = reports.filter((r) => r.export && (ctx.caps.members || r.audience === "communication")
    && (ctx.caps.restricted || r.name !== "financial-view"));
  const thisYear = new Date().getFullYear();
  const items = visible.map((report) => {
    const paramControls = {};
    const params = () => Object.fromEntries(Object.entries(paramControls).map(([k, c]) => [k, c.value]));
    const controls = [];
    if (report.params.includes("month")) {
      paramControls.month = select(MONTHS.map((m, i) => [i + 1, m]), new Date().getMonth() + 1, { name: "month" });
      controls.push(field("Maand", paramControls.month));
    }
    if (report.name === "alv-candidates") {
      const years = [];
      for (let y = thisYear - 3; y <= thisYear + 3; y++) years.push([y, String(y)]);
      paramControls.year = select(years, thisYear, { name: "year" });
      controls.push(field("Jaar", paramControls.year));
    }
    const formats = [...FORMATS, ...(WITH_LABELS.has(report.name) ? [["pdf", "PDF-etiketten"]] : [])];
    const buttons = h("div", { class: "actions" });
    for (const [format, text] of formats) {
      buttons.append(downloadButton(text, `/api/reports/${report.name}`, () => ({ ...params(), format }),
        `${report.name}.${format}`, { "aria-label": `${TITLES[report.name] || report.name} als ${text}`, "data-format": format }));
    }
    return h("li", { class: "card export", "data-report": report.name },
      h("h2", {}, TITLES[report.name] || report.name),
      TITLES[report.name] ? null : h("p", { class: "meta" }, report.description),  // the catalogue's text is English
      controls.length ? h("div", { class: "toolbar" }, controls) : null, buttons);
  });
  clear(main, heading("Exporteren"),
    h("p", {}, "CSV opent goed in Nederlandse Excel (puntkomma, decimale komma). Elk bestand bevat alleen de leden van jouw regio's."),
    h("ul", { class: "exports" }, items));
}
