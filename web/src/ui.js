// Pieces every view uses: error boxes, tables, pagers, charts' containers, download buttons.
import { ApiError, download } from "./api.js";
import { cell } from "./format.js";
import { clear, h, statusLine } from "./dom.js";

export function errorBox(error, retry) {
  const text = error instanceof ApiError ? error.message : `Er ging iets mis in het dashboard: ${error.message || error}`;
  return h("div", { class: "notice error", role: "alert" }, h("p", {}, text),
    error.detail ? h("p", { class: "detail" }, `Melding van de server: ${error.detail}`) : null,
    retry ? h("button", { type: "button", onclick: () => retry() }, "Opnieuw proberen") : null);
}

// A table of rows; columns: [[key, heading, {numeric, render}]].
export function table(rows, columns, { caption, testid } = {}) {
  return h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption || "Tabel" },
    h("table", { "data-testid": testid },
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, columns.map(([, title, opts]) =>
        h("th", { scope: "col", class: opts?.numeric ? "num" : null }, title)))),
      h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([key, , opts]) =>
        h("td", { class: opts?.numeric ? "num" : null }, opts?.render ? opts.render(row) : cell(row[key], key))))))));
}

// Rows shown a page at a time on the client (reports are answered whole).
export function pagedTable(rows, columns, options = {}, pageSize = 50) {
  const holder = h("div", {});
  let page = 0;
  const pages = Math.max(1, Math.ceil(rows.length / pageSize));
  const draw = () => {
    const slice = rows.slice(page * pageSize, (page + 1) * pageSize);
    clear(holder, table(slice, columns, options),
      rows.length > pageSize ? pager(page, pages, rows.length, (p) => { page = p; draw(); }) : null);
  };
  draw();
  return holder;
}

export function pager(page, pages, total, go) {
  return h("nav", { class: "pager", "aria-label": "Pagina's" },
    h("button", { type: "button", disabled: page <= 0, onclick: () => go(page - 1) }, "‹ Vorige"),
    h("span", { "aria-live": "polite" }, `Pagina ${page + 1} van ${new Intl.NumberFormat("nl-NL").format(pages)} (${new Intl.NumberFormat("nl-NL").format(total)} rijen)`),
    h("button", { type: "button", disabled: page >= pages - 1, onclick: () => go(page + 1) }, "Volgende ›"));
}

// A button that downloads path?params with the credential; shows progress and the outcome.
// `params` is an object or a function giving it when clicked (pickers next to the button).
export function downloadButton(label, path, params, fallbackName, attrs = {}) {
  const status = h("span", { class: "dl-status", "aria-live": "polite" });
  const button = h("button", { type: "button", ...attrs }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    status.textContent = " Bezig…";
    try {
      const { name } = await download(path, typeof params === "function" ? params() : params, fallbackName);
      status.textContent = ` Gedownload: ${name}`;
    } catch (error) {
      if (error.status !== 401) clear(status, " ", statusLine(error.message, "error"));
    } finally {
      button.disabled = false;
    }
  });
  return h("span", { class: "dl" }, button, status);
}

export function heading(title, ...extra) {
  return h("div", { class: "view-head" }, h("h1", {}, title), ...extra);
}

export function provenance(data) {
  if (!data || !data.source) return null;
  const source = { snapshot: "snapshot", hybrid: "snapshot + live wijzigingen", live: "live ledenbestand" }[data.source] || data.source;
  return h("p", { class: "provenance" }, `Bron: ${source}`, data.snapshot_id ? ` · snapshot ${data.snapshot_id}` : "",
    ` · data_version ${cell(data.data_version)}`, data.as_of ? ` · peildatum ${cell(data.as_of)}` : "");
}

export function loadingLine() {
  return statusLine("Laden…");
}
