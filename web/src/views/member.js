// One member: the detail page, the edit form (all fields, or only `status` for
// Members_Status_Approve), a new member, and deletion. Writes carry the version read
// (If-Match); when someone else changed the member meanwhile the server answers 409/412 and
// the page says so and offers to reload.
import { getJson, request } from "../api.js";
import fields from "virtual:fields";
import { clear, field, h, select, statusLine } from "../dom.js";
import { cell } from "../format.js";
import { errorBox, heading } from "../ui.js";

const GROUPS = [["identity", "Lidnummer"], ["personal", "Persoonlijk"], ["address", "Adres"], ["membership", "Lidmaatschap"],
  ["motor", "Motor"], ["financial", "Financieel"], ["administrative", "Administratie"]];
const LABELS = { lidnummer_toelichting: "Toelichting lidnummer", minderjarigNaam: "Naam ouder/voogd (minderjarige)",
  email: "E-mail", wiewatwaar: "Hoe bij de club gekomen", bankrekeningnummer: "IBAN", datum_ondertekening: "Datum ondertekening",
  welcome_pack_status: "Welkomstpakket", welcome_pack_sent_date: "Welkomstpakket verstuurd op",
  welcome_pack_sent_by: "Welkomstpakket verstuurd door", ingangsdatum: "Lid sinds", clubblad: "Clubblad",
  tijdstempel: "Aangemeld op", created_at: "Aangemaakt", updated_at: "Gewijzigd" };
const NOT_EDITABLE = new Set(["member_id", "tijdstempel", "created_at", "updated_at"]);

export const label = (name) => LABELS[name] || (name.charAt(0).toUpperCase() + name.slice(1)).replace(/_/g, " ");
const editable = (caps) => fields.filter((f) => !NOT_EDITABLE.has(f.name) && (caps.restricted || f.sensitivity !== "restricted"));
const memberId = (ctx) => decodeURIComponent(ctx.route.parts[1]);

async function loadMember(id) {
  const response = await request(`/api/members/${encodeURIComponent(id)}`);
  const member = await response.json();
  const tag = (response.headers.get("ETag") || "").replace(/"/g, "");
  return { member, version: member._version ?? tag };
}

export async function renderDetail(main, ctx) {
  const { caps } = ctx;
  const id = memberId(ctx);
  const { member, version } = await loadMember(id);
  if (!ctx.isCurrent()) return;
  const name = [member.voornaam, member.tussenvoegsel, member.achternaam].filter(Boolean).join(" ") || "(zonder naam)";
  const sections = GROUPS.map(([group, title]) => {
    const items = fields.filter((f) => f.group === group && f.name !== "member_id" && member[f.name] !== undefined);
    if (!items.length) return null;
    return h("section", { class: "card" }, h("h2", {}, title),
      h("dl", { class: "facts" }, items.flatMap((f) => [h("dt", {}, label(f.name)), h("dd", {}, cell(member[f.name], f.name) || "–")])));
  });
  const actions = h("div", { class: "actions" },
    caps.update || caps.updateStatus ? h("a", { class: "button primary", href: `#/leden/${encodeURIComponent(id)}/bewerken` },
      caps.update ? "Bewerken" : "Status wijzigen") : null,
    caps.remove ? h("button", { type: "button", class: "danger", onclick: () => confirmDelete(actions, id, version, name) }, "Verwijderen") : null);
  clear(main, h("p", {}, h("a", { href: "#/leden" }, "‹ Terug naar de ledenlijst")),
    heading(name), h("p", { class: "meta" }, `Versie ${version}`), actions, h("div", { class: "grid" }, sections));
}

function confirmDelete(actions, id, version, name) {
  const box = h("div", { class: "notice warn", role: "alertdialog", "aria-labelledby": "del-q" },
    h("p", { id: "del-q" }, `Weet je zeker dat je ${name} wilt verwijderen? Dit kan niet ongedaan worden gemaakt.`));
  const yes = h("button", { type: "button", class: "danger" }, "Ja, verwijderen");
  const no = h("button", { type: "button" }, "Annuleren");
  box.append(yes, no);
  no.addEventListener("click", () => box.remove());
  yes.addEventListener("click", async () => {
    yes.disabled = true;
    try {
      await request(`/api/members/${encodeURIComponent(id)}`, { method: "DELETE", headers: { "If-Match": `"${version}"` } });
      location.hash = "#/leden";
    } catch (error) {
      if (error.status === 409 || error.status === 412) clear(box, conflictBox(() => window.dispatchEvent(new HashChangeEvent("hashchange"))));
      else if (error.status !== 401) clear(box, errorBox(error));
    }
  });
  actions.after(box);
  no.focus();
}

export function conflictBox(reload) {
  return h("div", { class: "notice error", role: "alert", "data-testid": "conflict" },
    h("p", {}, "Iemand anders heeft dit lid gewijzigd nadat jij het opende. Jouw wijzigingen zijn niet opgeslagen."),
    h("button", { type: "button", class: "primary", onclick: reload }, "Opnieuw laden (met de nieuwste gegevens)"));
}

function control(f, value, caps) {
  const attrs = { name: f.name };
  if (f.type === "enum") {
    let values = f.values;
    if (f.name === "regio" && !caps.allRegions) values = caps.regions;
    const options = f.required ? [] : [["", "(leeg)"]];
    return select([...options, ...values.map((v) => [v, v])], value ?? (f.required ? values[0] : ""), attrs);
  }
  const type = f.type === "date" ? "date" : f.type === "integer" ? "number" : f.format === "email" ? "email" : "text";
  if (f.name === "notities") return h("textarea", { ...attrs, rows: 3 }, value ?? "");
  return h("input", { ...attrs, type, value: value ?? "", required: f.required && f.name !== "lidnummer" });
}

function memberForm(ctx, member, onSave) {
  const { caps } = ctx;
  // Only an all-regions administrator may choose a member number (the server refuses others).
  const list = caps.updateStatus && member ? fields.filter((f) => f.name === "status")
    : editable(caps).filter((f) => caps.allRegions || !["lidnummer", "lidnummer_toelichting"].includes(f.name));
  const controls = new Map();
  const sections = GROUPS.map(([group, title]) => {
    const items = list.filter((f) => f.group === group);
    if (!items.length) return null;
    return h("fieldset", { class: "card" }, h("legend", {}, title), items.map((f) => {
      const c = control(f, member ? member[f.name] : undefined, caps);
      controls.set(f.name, { f, c, before: member ? (member[f.name] ?? "") : "" });
      return field(label(f.name) + (f.required ? " *" : ""), c);
    }));
  });
  const status = h("div", { "aria-live": "assertive" });
  const save = h("button", { type: "submit", class: "primary" }, "Opslaan");
  const form = h("form", { class: "member-form", novalidate: true }, h("div", { class: "grid" }, sections), status,
    h("div", { class: "actions" }, save, h("a", { class: "button", href: member ? `#/leden/${encodeURIComponent(member.member_id)}` : "#/leden" }, "Annuleren")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {};
    for (const [name, { f, c, before }] of controls) {
      const raw = c.value.trim();
      if (member && raw === String(before)) continue;
      if (!member && raw === "") continue;  // a new member: the server's defaults
      body[name] = raw === "" ? null : f.type === "integer" ? Number(raw) : raw;
    }
    save.disabled = true;
    clear(status, statusLine("Bezig met opslaan…"));
    try {
      await onSave(body, status);
    } catch (error) {
      if (error.status === 409 || error.status === 412) clear(status, conflictBox(() => ctx.rerender()));
      else if (error.status !== 401) clear(status, errorBox(error));
    } finally {
      save.disabled = false;
    }
  });
  return form;
}

export async function renderEdit(main, ctx) {
  const id = memberId(ctx);
  const { member, version } = await loadMember(id);
  if (!ctx.isCurrent()) return;
  const name = [member.voornaam, member.tussenvoegsel, member.achternaam].filter(Boolean).join(" ");
  const form = memberForm(ctx, member, async (body, status) => {
    if (!Object.keys(body).length) {
      clear(status, statusLine("Er is niets gewijzigd."));
      return;
    }
    await request(`/api/members/${encodeURIComponent(id)}`, { method: "PATCH", body, headers: { "If-Match": `"${version}"` } });
    location.hash = `#/leden/${encodeURIComponent(id)}`;
  });
  clear(main, h("p", {}, h("a", { href: `#/leden/${encodeURIComponent(id)}` }, "‹ Terug naar het lid")),
    heading(`${ctx.caps.update ? "Bewerken" : "Status wijzigen"}: ${name}`), h("p", { class: "meta" }, `Versie ${version}`), form);
}

export async function renderCreate(main, ctx) {
  const form = memberForm(ctx, null, async (body) => {
    const response = await request("/api/members", { method: "POST", body });
    const created = await response.json();
    location.hash = `#/leden/${encodeURIComponent(created.member_id)}`;
  });
  clear(main, heading("Nieuw lid"), h("p", {}, "Velden met * zijn verplicht. Lidnummer en id kiest de server."), form);
}
