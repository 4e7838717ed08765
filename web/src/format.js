// Dutch (nl-NL) number and date formats, one place for every view.
const numberFormat = new Intl.NumberFormat("nl-NL");
const decimalFormat = new Intl.NumberFormat("nl-NL", { maximumFractionDigits: 1 });
const dateFormat = new Intl.DateTimeFormat("nl-NL", { day: "numeric", month: "long", year: "numeric", timeZone: "Europe/Amsterdam" });
const dateTimeFormat = new Intl.DateTimeFormat("nl-NL", { dateStyle: "medium", timeStyle: "short", timeZone: "Europe/Amsterdam" });

export const MONTHS = ["januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
  "september", "oktober", "november", "december"];

export function num(value) {
  if (value === null || value === undefined || value === "") return "–";
  return typeof value === "number" ? (Number.isInteger(value) ? numberFormat.format(value) : decimalFormat.format(value)) : String(value);
}

// A date "2026-01-07" (no time): shown as 7 januari 2026; anything else as itself.
export function date(value) {
  if (typeof value !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return value ?? "–";
  const [y, m, d] = value.split("-").map(Number);
  return dateFormat.format(new Date(Date.UTC(y, m - 1, d, 12)));
}

export function dateTime(value) {
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? String(value ?? "–") : dateTimeFormat.format(d);
}

// "3 uur geleden", "2 dagen geleden": the age of a snapshot.
export function age(value, now = Date.now()) {
  const then = new Date(value).getTime();
  if (Number.isNaN(then)) return "onbekend";
  const minutes = Math.max(0, Math.round((now - then) / 60000));
  if (minutes < 1) return "zojuist";
  if (minutes < 60) return `${minutes} ${minutes === 1 ? "minuut" : "minuten"} geleden`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} uur geleden`;
  return `${numberFormat.format(Math.round(hours / 24))} dagen geleden`;
}

// Numbers that name something (a member number, a year): no thousands separator.
const IDENTIFIERS = new Set(["lidnummer", "bouwjaar", "aanmeldingsjaar", "seq"]);

// A cell of a table: numbers and dates in Dutch, the rest as text.
export function cell(value, key) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return IDENTIFIERS.has(key) ? String(value) : num(value);
  if (typeof value === "boolean") return value ? "ja" : "nee";
  if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}$/.test(value)) return date(value);
  return String(value);
}
