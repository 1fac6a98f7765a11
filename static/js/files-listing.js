// Renders folder and file rows into the listing table from API JSON. Every user-supplied value
// goes in through textContent or an attribute set by the DOM API, never through markup.

import { urls } from "./files-api.js";
import { fillTime, formatDate, humanSize, stateBadge, t } from "./files-format.js";

// Types the server agrees to show inline (the rest are always downloaded).
const INLINE_PREFIXES = ["image/", "audio/", "video/"];
const INLINE_TYPES = ["application/pdf", "text/plain"];
const NEVER_INLINE = ["image/svg+xml"];

export function canOpenInline(contentType) {
  const type = String(contentType || "").split(";")[0].trim().toLowerCase();
  if (NEVER_INLINE.includes(type)) return false;
  return INLINE_TYPES.includes(type) || INLINE_PREFIXES.some((prefix) => type.startsWith(prefix));
}

function cloneRow() {
  const template = document.getElementById("row-template");
  return template.content.firstElementChild.cloneNode(true);
}

function fillCommon(row, item, kind) {
  row.dataset.kind = kind;
  row.dataset.id = item.id;
  row.querySelector(".item-icon").classList.add(kind === "folder" ? "icon-folder" : "icon-file");
  row.querySelector(".menu summary").setAttribute("aria-label", t("actionsFor", item.name));
  fillTime(row.querySelector("time"), item.modified_at);
  const box = row.querySelector("input.item-select");
  box.value = item.id;
  box.setAttribute("aria-label", t("selectItem", item.name));
}

export function folderRow(folder) {
  const row = cloneRow();
  fillCommon(row, folder, "folder");
  const link = row.querySelector(".item-name");
  link.textContent = folder.name;
  link.href = urls.folderPage(folder.id);
  row.querySelector(".col-size").textContent = "—";
  row.querySelector(".col-type").textContent = t("typeFolder");
  const download = row.querySelector(".action-download");
  download.href = urls.folderZip(folder.id);
  download.textContent = t("downloadZip");
  row.querySelector(".action-upload-link").href = urls.uploadLinkNew(folder.id);
  row.querySelector(".action-open").remove();
  row.querySelector(".action-locate").remove();
  return row;
}

export function fileRow(file, { showLocation = false } = {}) {
  const row = cloneRow();
  fillCommon(row, file, "file");
  const link = row.querySelector(".item-name");
  link.textContent = file.name;
  link.href = urls.fileContent(file.id);
  row.querySelector(".col-size").textContent = humanSize(file.size);
  const type = row.querySelector(".col-type");
  type.textContent = file.content_type || "";
  type.title = file.content_type || "";
  const stateCell = row.querySelector(".col-state");
  stateCell.append(stateBadge(file.state));
  if (file.state_reason) {
    const reason = document.createElement("span");
    reason.className = "state-reason";
    reason.textContent = file.state_reason;
    stateCell.append(reason);
  }
  if (file.processing && file.processing_since) {
    // Processing is retried through outages; the owner sees how long a file has waited.
    const waiting = document.createElement("span");
    waiting.className = "state-reason processing-since";
    waiting.textContent = t("processingSince", formatDate(file.processing_since));
    stateCell.append(waiting);
  }
  row.dataset.state = file.state;
  if (file.thumbnail) {
    const thumb = document.createElement("img");
    thumb.className = "item-thumb";
    thumb.alt = "";
    thumb.loading = "lazy";
    thumb.src = `${file.thumbnail}?size=256`;
    row.querySelector(".item-icon").replaceWith(thumb);
  }
  const open = row.querySelector(".action-open");
  if (file.state === "infected") {
    // Nobody may download an infected file: no link, only delete.
    link.removeAttribute("href");
    row.querySelector(".action-download").remove();
    open.remove();
  } else {
    row.querySelector(".action-download").href = urls.fileContent(file.id);
    if (canOpenInline(file.content_type)) open.href = `${urls.fileContent(file.id)}?inline=1`;
    else open.remove();
  }
  row.querySelector(".action-upload-link").remove();
  const locate = row.querySelector(".action-locate");
  if (showLocation) {
    locate.href = urls.folderPage(file.parent);
    // Search results say which folder each file is in (from the same answer: no request a row).
    const where = document.createElement("span");
    where.className = "item-location";
    where.append(document.createTextNode(t("inFolder")), " ");
    const folderLink = document.createElement("a");
    folderLink.href = urls.folderPage(file.parent);
    folderLink.textContent = file.folder_name || t("myFiles");
    where.append(folderLink);
    row.querySelector(".col-name").append(where);
  } else locate.remove();
  return row;
}

export function messageRow(text, columns) {
  const row = document.createElement("tr");
  row.className = "listing-message";
  const cell = document.createElement("td");
  cell.colSpan = columns;
  cell.textContent = text;
  row.append(cell);
  return row;
}
