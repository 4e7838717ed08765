// The overview: members by status and lidmaatschap in the caller's scope (one aggregate query,
// never member rows), the snapshot's age and data_version, live changes not yet in a snapshot,
// and the quarantine for all-regions callers.
import { getJson } from "../api.js";
import { bars } from "../charts.js";
import { clear, h } from "../dom.js";
import { age, dateTime, num } from "../format.js";
import { heading, provenance, table } from "../ui.js";

function card(label, value, testid, note) {
  return h("div", { class: "card stat", "data-testid": testid },
    h("div", { class: "stat-label" }, label), h("div", { class: "stat-value" }, value),
    note ? h("div", { class: "stat-note" }, note) : null);
}

function snapshotTime(id) {
  const m = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})/.exec(id || "");
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z` : null;
}

export async function render(main, ctx) {
  const { caps, me } = ctx;
  const scope = caps.allRegions ? "alle regio's" : me.regions.join(", ");
  if (!caps.members) {
    clear(main, heading("Overzicht"),
      h("p", {}, `Welkom, ${me.subject}. Je rollen geven toegang tot de communicatieoverzichten voor ${scope}.`),
      caps.communication ? h("p", {}, h("a", { href: "#/verjaardagen" }, "Verjaardagen per maand")) : null,
      caps.audit ? h("p", {}, h("a", { href: "#/beheer" }, "Audit trail")) : null);
    return;
  }
  const [counts, snapshots] = await Promise.all([
    getJson("/api/query", { params: { group_by: ["status", "lidmaatschap"], agg: "count" } }),
    getJson("/api/snapshots").catch(() => null),
  ]);
  if (!ctx.isCurrent()) return;
  const rows = counts.rows;
  const total = rows.reduce((s, r) => s + r.count, 0);
  const byStatus = new Map();
  const memberships = [];
  for (const r of rows) {
    byStatus.set(r.status, (byStatus.get(r.status) || 0) + r.count);
    if (!memberships.includes(r.lidmaatschap)) memberships.push(r.lidmaatschap);
  }
  const current = snapshots?.snapshots?.find((s) => s.current);
  const generated = current?.generated_at || snapshotTime(counts.snapshot_id);
  const pending = counts.live_data_version && counts.data_version ? Math.max(0, counts.live_data_version - counts.data_version) : 0;
  const cards = h("div", { class: "cards" },
    card("Leden in jouw scope", num(total), "total-members", scope),
    card("Actieve leden", num(byStatus.get("Actief") || 0), "active-members"),
    card("Snapshot", generated ? age(generated) : "geen", "snapshot-age",
      generated ? `${dateTime(generated)} · data_version ${num(counts.data_version)}` : "nog geen snapshot gemaakt"),
    card("Live wijzigingen", num(pending), "live-changes", pending ? "nog niet in een snapshot (wel in de antwoorden)" : "alles zit in de snapshot"),
    current && current.quarantined !== undefined
      ? card("In quarantaine", num(current.quarantined), "quarantined", "records die de laatste generatie weigerde") : null);
  // status x lidmaatschap as a table (one row per status), plus the chart by status
  const statusRows = [...byStatus.entries()].sort((a, b) => b[1] - a[1]).map(([status, n]) => {
    const row = { status, totaal: n };
    for (const r of rows) if (r.status === status) row[r.lidmaatschap] = r.count;
    return row;
  });
  const chartHolder = h("div", {});
  clear(main, heading("Overzicht"), cards,
    h("section", { "aria-labelledby": "by-status" }, h("h2", { id: "by-status" }, "Leden per status en lidmaatschap"), chartHolder,
      table(statusRows, [["status", "Status"], ...memberships.map((m) => [m, m, { numeric: true }]), ["totaal", "Totaal", { numeric: true }]],
        { caption: "Aantal leden per status en soort lidmaatschap", testid: "status-table" })),
    provenance(counts));
  chartHolder.append(bars(rows.map((r) => ({ label: r.status, value: r.count, group: r.lidmaatschap })),
    { description: `Staafdiagram: ${num(total)} leden per status, gestapeld per lidmaatschap`, container: main, groupLabel: "Lidmaatschap" }));
}
