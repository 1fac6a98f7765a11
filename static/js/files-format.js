// Strings and formatting shared by the file pages. Translated strings come from the page
// (data-* attributes on #files-i18n, rendered with Django's {% translate %}), so there is no
// JavaScript catalogue to load.

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

export function t(key, ...args) {
  const holder = document.getElementById("files-i18n");
  let text = (holder && holder.dataset[key]) || key;
  for (const arg of args) text = text.replace("%s", String(arg));
  return text;
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
  const number = new Intl.NumberFormat(document.documentElement.lang || undefined, {
    maximumFractionDigits: digits,
  }).format(value);
  return `${number} ${UNITS[unit]}`;
}

export function formatDate(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
    dateStyle: "medium",
    timeStyle: "short",
  }).format(date);
}

// Fills a <time> element; textContent only, never markup.
export function fillTime(element, iso) {
  element.textContent = formatDate(iso);
  if (iso) element.dateTime = iso;
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
