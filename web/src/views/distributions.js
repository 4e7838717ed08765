// Age and membership length per regio: violin plots from the server's kernel density points,
// with the quartiles, and the figures as a table.
import { getJson } from "../api.js";
import { violins } from "../charts.js";
import { clear, h } from "../dom.js";
import { num } from "../format.js";
import { heading, provenance, table } from "../ui.js";

const REPORTS = [
  ["age-distribution", "Leeftijd van actieve leden per regio", "Leeftijd (jaren)"],
  ["membership-distribution", "Lidmaatschapsduur van actieve leden per regio", "Jaren lid"],
];

export async function render(main, ctx) {
  const results = await Promise.all(REPORTS.map(([name]) => getJson(`/api/reports/${name}`)));
  if (!ctx.isCurrent()) return;
  clear(main, heading("Leeftijd en lidmaatschap"));
  results.forEach((data, i) => {
    const [name, title, unit] = REPORTS[i];
    const groups = data.rows.filter((r) => r.n > 0 && Array.isArray(r.kde_x)).map((r) => ({ ...r, name: r.regio }));
    const chart = h("div", {});
    main.append(h("section", { "aria-labelledby": `h-${name}`, "data-testid": name },
      h("h2", { id: `h-${name}` }, title), chart,
      table(data.rows, [["regio", "Regio"], ["n", "Aantal", { numeric: true }], ["min", "Min", { numeric: true }],
        ["p25", "25%", { numeric: true }], ["p50", "Mediaan", { numeric: true }], ["p75", "75%", { numeric: true }],
        ["max", "Max", { numeric: true }], ["mean", "Gemiddeld", { numeric: true }]], { caption: `${title}: kwartielen` })));
    if (groups.length) {
      chart.append(violins(groups, { unit, container: main,
        description: `Vioolplot: ${title.toLowerCase()}, met de kwartielen (25%, mediaan, 75%) als streepjes` }));
    }
  });
  main.append(provenance(results[0]));
}
