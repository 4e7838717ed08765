// Charts as SVG with Observable Plot: bars for counts, violins (the server's KDE points) with
// quartiles for distributions. Each chart has a text alternative; the table next to it holds
// the same figures for screen readers and print.
import * as Plot from "@observablehq/plot";
import { h } from "./dom.js";

const nl = new Intl.NumberFormat("nl-NL");

function width(container) {
  // the figure's padding and border (1 rem + 2 px) fit inside the container
  const available = (container?.clientWidth || document.getElementById("main")?.clientWidth || 800) - 40;
  return Math.max(300, Math.min(1100, available));
}

// The chart is one image for assistive technology, described in words (the table beside it
// holds the figures): Plot's labels on its inner groups are dropped (not allowed on a <g>
// without a role). Focusable, because narrow screens scroll it sideways.
function figure(chart, description) {
  for (const el of chart.querySelectorAll("[aria-label], [aria-description]")) {
    el.removeAttribute("aria-label");
    el.removeAttribute("aria-description");
  }
  chart.setAttribute("role", "img");
  chart.setAttribute("aria-label", description);
  return h("figure", { class: "chart", tabindex: "0" }, chart);
}

// rows: [{label, value, group?}]: horizontal bars (stacked by group when given).
export function bars(rows, { description, container, groupLabel = "" } = {}) {
  const grouped = rows.some((r) => r.group !== undefined);
  const labels = [...new Set(rows.map((r) => r.label))];
  const svg = Plot.plot({
    width: width(container),
    height: 40 + labels.length * 28,
    marginLeft: 140,
    x: { grid: true, label: "Aantal leden", tickFormat: (d) => nl.format(d) },
    y: { label: null, domain: labels },
    color: grouped ? { legend: true, label: groupLabel, scheme: "tableau10" } : undefined,
    marks: [
      Plot.barX(rows, Plot.stackX({ x: "value", y: "label", fill: grouped ? "group" : "#1f5f8b",
        title: (d) => `${d.label}${grouped ? ` · ${d.group}` : ""}: ${nl.format(d.value)}` })),
      Plot.ruleX([0]),
    ],
  });
  return figure(svg, description);
}

// groups: [{name, kde_x, kde_y, p25, p50, p75, n}] -> one violin per group, quartile ticks.
export function violins(groups, { description, unit, container } = {}) {
  const points = [];
  for (const g of groups) {
    const peak = Math.max(...g.kde_y, 1e-12);
    g.kde_x.forEach((x, i) => points.push({ name: g.name, x, d: g.kde_y[i] / peak }));
  }
  const quartiles = groups.flatMap((g) => [
    { name: g.name, y: g.p25, q: "25%" }, { name: g.name, y: g.p50, q: "mediaan" }, { name: g.name, y: g.p75, q: "75%" }]);
  const svg = Plot.plot({
    width: width(container),
    height: 360,
    marginBottom: 80,
    marginLeft: 85,  // room for the first rotated regio name
    fx: { label: null, domain: groups.map((g) => g.name), tickRotate: -30 },
    x: { axis: null, domain: [-1.05, 1.05] },
    y: { grid: true, label: unit },
    marks: [
      Plot.areaX(points, { fx: "name", y: "x", x1: (d) => -d.d, x2: (d) => d.d, fill: "#8fb8d8", stroke: "#1f5f8b", curve: "basis" }),
      Plot.tickY(quartiles, { fx: "name", y: "y", stroke: (d) => (d.q === "mediaan" ? "#111" : "#444"),
        strokeWidth: (d) => (d.q === "mediaan" ? 3 : 1.5), strokeDasharray: (d) => (d.q === "mediaan" ? null : "4,2"),
        title: (d) => `${d.name} ${d.q}: ${nl.format(d.y)}` }),
    ],
  });
  return figure(svg, description);
}
