// Operations: generate a snapshot now and follow the job (generate role, all regions), the
// snapshots in the caller's scope, and the audit trail (audit role), newest page last.
import { getJson, request } from "../api.js";
import { clear, h, statusLine } from "../dom.js";
import { dateTime, num } from "../format.js";
import { errorBox, heading, table } from "../ui.js";

const STAGES = { queued: "in de wachtrij", running: "bezig", succeeded: "klaar", failed: "mislukt" };

function generateSection(ctx) {
  const progress = h("progress", { max: "100", value: "0", "aria-label": "Voortgang van de generatie", hidden: true });
  const status = h("div", { "aria-live": "polite", "data-testid": "job-status" });
  const button = h("button", { type: "button", class: "primary" }, "Snapshot nu maken");
  button.addEventListener("click", async () => {
    button.disabled = true;
    progress.hidden = false;
    progress.value = 0;
    try {
      let job = await (await request("/api/generate", { method: "POST" })).json();
      while (job.state === "queued" || job.state === "running") {
        const pct = job.total ? Math.round((100 * job.done) / job.total) : 0;
        progress.value = pct;
        clear(status, statusLine(`Generatie ${STAGES[job.state] || job.state}${job.stage ? `: ${job.stage}` : ""}${job.total ? ` (${pct}%)` : ""}`));
        await new Promise((r) => setTimeout(r, 400));
        job = await getJson(`/api/jobs/${encodeURIComponent(job.job_id)}`);
      }
      progress.value = 100;
      if (job.state === "succeeded") {
        clear(status, statusLine(`Klaar: snapshot ${job.snapshot_id} met ${num(job.members)} leden (${num(job.quarantined)} in quarantaine).`, "ok"));
        if (ctx.isCurrent()) {
          refreshSnapshots(ctx);
          if (ctx.caps.audit) refreshAudit();
        }
      } else {
        clear(status, statusLine(`De generatie is mislukt: ${job.error || job.state}`, "error"));
      }
    } catch (error) {
      if (error.status !== 401) clear(status, errorBox(error));
    } finally {
      button.disabled = false;
    }
  });
  return h("section", { class: "card", "aria-labelledby": "gen" }, h("h2", { id: "gen" }, "Snapshot maken"),
    h("p", {}, "Maakt nu een nieuwe snapshot van het ledenbestand (anders gebeurt dat volgens het schema)."), button, progress, status);
}

const snapshotsHolder = h("div", {});

async function refreshSnapshots(ctx) {
  try {
    const data = await getJson("/api/snapshots");
    const rows = [...data.snapshots].reverse().slice(0, 50);
    const columns = [["snapshot_id", "Snapshot"], ["generated_at", "Gemaakt", { render: (r) => dateTime(r.generated_at) }],
      ["data_version", "data_version", { numeric: true }],
      // all-regions callers get the dataset's total; others the rows of their regions' files
      ["members", "Leden", { numeric: true, render: (r) => num(r.members ?? r.members_in_scope) }],
      ["current", "Actueel"]];
    if (ctx.caps.allRegions) columns.push(["quarantined", "Quarantaine", { numeric: true }]);
    clear(snapshotsHolder, table(rows, columns, { caption: "Snapshots (nieuwste eerst)", testid: "snapshots-table" }));
  } catch (error) {
    if (error.status !== 401) clear(snapshotsHolder, errorBox(error));
  }
}

const auditHolder = h("div", {});
const auditState = { after: 0 };

async function refreshAudit() {
  try {
    const data = await getJson("/api/audit", { params: { after: auditState.after, limit: 50 } });
    const entries = data.entries || [];
    const columns = [["seq", "#", { numeric: true }], ["time", "Tijd", { render: (r) => dateTime(r.time) }], ["actor", "Wie"],
      ["action", "Handeling"], ["target", "Doel"], ["outcome", "Uitkomst"], ["rows", "Rijen", { numeric: true }]];
    const next = entries.length === 50 ? h("button", { type: "button", onclick: () => {
      auditState.after = entries[entries.length - 1].seq;
      refreshAudit();
    } }, "Volgende 50") : null;
    const first = auditState.after ? h("button", { type: "button", onclick: () => { auditState.after = 0; refreshAudit(); } }, "Terug naar het begin") : null;
    clear(auditHolder, table(entries, columns, { caption: "Audit trail (oudste eerst)", testid: "audit-table" }),
      h("div", { class: "actions" }, first, next));
  } catch (error) {
    if (error.status !== 401) clear(auditHolder, errorBox(error));
  }
}

export async function render(main, ctx) {
  const { caps } = ctx;
  const parts = [heading("Beheer")];
  if (caps.generate) parts.push(generateSection(ctx));
  if (caps.members) {
    await refreshSnapshots(ctx);
    parts.push(h("section", { class: "card", "aria-labelledby": "snaps" }, h("h2", { id: "snaps" }, "Snapshots"), snapshotsHolder));
  }
  if (caps.audit) {
    auditState.after = 0;
    await refreshAudit();
    parts.push(h("section", { class: "card", "aria-labelledby": "audit" }, h("h2", { id: "audit" }, "Audit trail"), auditHolder));
  }
  if (!ctx.isCurrent()) return;
  clear(main, ...parts);
}
