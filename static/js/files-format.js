// Strings and formatting shared by the file pages. Translated strings come from the page
// (data-* attributes on #files-i18n, rendered with Django's {% translate %}), so there is no
// JavaScript catalogue to load.

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

// A translated template with its %s filled in order (the pages' strings use %s, not names).
export function fill(template, ...values) {
  let text = template;
  for (const value of values) text = text.replace("%s", String(value));
  return text;
}

export function t(key, ...args) {
  const holder = document.getElementById("files-i18n");
  return fill((holder && holder.dataset[key]) || key, ...args);
}

export function humanSize(bytes) {
  if (bytes === null || bytes === undefined || Number.isNaN(Number(bytes))) return "—";
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  const number = new Intl.NumberFormat(language(), {
    maximumFractionDigits: digits,
  }).format(value);
  return `${number} ${UNITS[unit]}`;
}

// Sizes and times read the same as on the server-rendered pages (locker/formats.py): binary
// units with IEC names (1 KiB = 1024 bytes), times relative to now with the exact time on hover.
const language = () => document.documentElement.lang || undefined;

export function formatDate(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return new Intl.DateTimeFormat(language(), { dateStyle: "medium", timeStyle: "short" }).format(date);
}

// The same steps as locker.formats.relative_time_text: "now", "5 minutes ago", "in 3 days".
const STEPS = [
  [45 * 60, 60, "minute"],
  [22 * 3600, 3600, "hour"],
  [26 * 86400, 86400, "day"],
  [320 * 86400, 30.44 * 86400, "month"],
  [Infinity, 365.25 * 86400, "year"],
];

export function relativeTime(iso, now = Date.now()) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const seconds = (date.getTime() - now) / 1000;
  const format = new Intl.RelativeTimeFormat(language(), { numeric: "always" });
  if (Math.abs(seconds) < 45) {
    return new Intl.RelativeTimeFormat(language(), { numeric: "auto" }).format(0, "second");
  }
  const [, length, unit] = STEPS.find(([limit]) => Math.abs(seconds) < limit);
  const count = Math.max(1, Math.round(Math.abs(seconds) / length));
  return format.format(seconds < 0 ? -count : count, unit);
}

// Fills a <time> element: relative text, the exact time on hover; textContent only, never markup.
export function fillTime(element, iso) {
  element.textContent = relativeTime(iso);
  element.title = formatDate(iso);
  if (iso) element.dateTime = iso;
}

// Re-renders the server's <time data-relative> elements in the visitor's language and time zone.
export function localizeTimes(root = document) {
  for (const element of root.querySelectorAll("time[data-relative][datetime]")) {
    fillTime(element, element.getAttribute("datetime"));
  }
}

export function stateBadge(state) {
  const badge = document.createElement("span");
  badge.className = "badge";
  if (state === "ready") badge.classList.add("ok");
  if (state === "infected" || state === "error") badge.classList.add("danger");
  const key = `state${String(state || "").charAt(0).toUpperCase()}${String(state || "").slice(1)}`;
  const label = t(key);
  badge.textContent = label === key ? String(state || "") : label;
  return badge;
}

// Shows a short sentence in the page's status region (role="status", read by screen readers).
export function announce(message, { error = false } = {}) {
  const region = document.getElementById("page-status");
  if (!region) return;
  region.textContent = message;
  region.classList.toggle("error", error);
  region.hidden = !message;
}
