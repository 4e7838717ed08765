// Regions: the regional-stats report (active members per regio and lidmaatschap) as a
// stacked bar chart and a table with totals.
import { getJson } from "../api.js";
import { bars } from "../charts.js";
import { clear, h } from "../dom.js";
import { num } from "../format.js";
import { heading, provenance, table } from "../ui.js";

export async function render(main, ctx) {
  const data = await getJson("/api/reports/regional-stats");
  if (!ctx.isCurrent()) return;
  const memberships = [...new Set(data.rows.map((r) => r.lidmaatschap))];
  const byRegion = new Map();
  for (const r of data.rows) {
    const row = byRegion.get(r.regio) || { regio: r.regio, totaal: 0 };
    row[r.lidmaatschap] = r.count;
    row.totaal += r.count;
    byRegion.set(r.regio, row);
  }
  const rows = [...byRegion.values()];
  const total = rows.reduce((s, r) => s + r.totaal, 0);
  const chart = h("div", {});
  clear(main, heading("Regio's"),
    h("p", {}, `${num(total)} actieve leden in ${num(rows.length)} ${rows.length === 1 ? "regio" : "regio's"}.`),
    chart,
    table(rows, [["regio", "Regio"], ...memberships.map((m) => [m, m, { numeric: true }]), ["totaal", "Totaal", { numeric: true }]],
      { caption: "Actieve leden per regio en lidmaatschap", testid: "regions-table" }),
    provenance(data));
  chart.append(bars(data.rows.map((r) => ({ label: r.regio, value: r.count, group: r.lidmaatschap })),
    { description: `Staafdiagram: actieve leden per regio, gestapeld per lidmaatschap (${num(total)} in totaal)`, container: main, groupLabel: "Lidmaatschap" }));
}
