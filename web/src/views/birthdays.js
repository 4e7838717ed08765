// Birthdays (a month picker) and ALV jubilee candidates (a year picker). Both reports are
// answered whole by the server; the table shows them a page at a time.
import { getJson } from "../api.js";
import { clear, field, h, select } from "../dom.js";
import { MONTHS, num } from "../format.js";
import { downloadButton, errorBox, heading, pagedTable, provenance } from "../ui.js";

function pickerView(main, ctx, { title, label, options, current, param, load }) {
  const picker = select(options, current, { name: param });
  const results = h("div", { "aria-live": "polite" });
  const show = async () => {
    const value = picker.value;
    const params = new URLSearchParams(ctx.route.params);
    params.set(param, value);
    history.replaceState(null, "", `#${ctx.route.path}?${params}`);
    clear(results, h("p", { class: "loading", role: "status" }, "Laden…"));
    try {
      await load(value, results);
    } catch (error) {
      if (error.status !== 401) clear(results, errorBox(error, show));
    }
  };
  picker.addEventListener("change", show);
  clear(main, heading(title), h("form", { class: "toolbar", onsubmit: (e) => { e.preventDefault(); show(); } }, field(label, picker)), results);
  return show();
}

export function renderBirthdays(main, ctx) {
  const month = Number(ctx.route.params.get("maand")) || new Date().getMonth() + 1;
  return pickerView(main, ctx, {
    title: "Verjaardagen", label: "Maand", param: "maand", current: month,
    options: MONTHS.map((m, i) => [i + 1, m]),
    load: async (value, results) => {
      const data = await getJson("/api/reports/birthdays", { params: { month: value } });
      const columns = [["korte_naam", "Naam"], ["verjaardag", "Verjaardag"], ["leeftijd", "Leeftijd", { numeric: true }],
        ["woonplaats", "Woonplaats"], ["regio", "Regio"]];
      clear(results, h("p", {}, `${num(data.rows.length)} actieve leden jarig in ${MONTHS[value - 1]}.`),
        ctx.caps.export ? h("p", { class: "actions" },
          downloadButton("Adresetiketten (PDF)", "/api/reports/birthdays", { month: value, format: "pdf" }, `verjaardagen-${value}.pdf`),
          downloadButton("CSV", "/api/reports/birthdays", { month: value, format: "csv" }, `verjaardagen-${value}.csv`)) : null,
        pagedTable(data.rows, columns, { caption: `Verjaardagen in ${MONTHS[value - 1]}`, testid: "birthdays-table" }),
        provenance(data));
    },
  });
}

export function renderJubilee(main, ctx) {
  const thisYear = new Date().getFullYear();
  const year = Number(ctx.route.params.get("jaar")) || thisYear;
  const years = [];
  for (let y = thisYear - 3; y <= thisYear + 3; y++) years.push([y, String(y)]);
  return pickerView(main, ctx, {
    title: "ALV-jubilea", label: "Jaar", param: "jaar", current: year, options: years,
    load: async (value, results) => {
      const data = await getJson("/api/reports/alv-candidates", { params: { year: value } });
      const columns = [["lidnummer", "Lidnummer", { numeric: true }], ["korte_naam", "Naam"], ["regio", "Regio"],
        ["ingangsdatum", "Lid sinds"], ["jaren_op_alv", "Jaren lid op de ALV", { numeric: true }], ["onderscheiding", "Onderscheiding"]];
      clear(results, h("p", {}, `${num(data.rows.length)} kandidaten voor een certificaat of speld op de ALV van ${value}.`),
        ctx.caps.export ? h("p", { class: "actions" },
          downloadButton("Adresetiketten (PDF)", "/api/reports/alv-candidates", { year: value, format: "pdf" }, `alv-${value}.pdf`),
          downloadButton("Excel (XLSX)", "/api/reports/alv-candidates", { year: value, format: "xlsx" }, `alv-${value}.xlsx`)) : null,
        pagedTable(data.rows, columns, { caption: `ALV-jubilea ${value}`, testid: "jubilee-table" }),
        provenance(data));
    },
  });
}
