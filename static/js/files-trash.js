// The trash page: lists deleted items with a restore button each, and empties the trash after
// a confirmation.

import { api, urls } from "./files-api.js";
import { confirmAction } from "./files-dialogs.js";
import { announce, fillTime, humanSize, t } from "./files-format.js";

const body = document.getElementById("trash-body");
const emptyButton = document.getElementById("empty-trash");
const COLUMNS = 6;
let page = 1;

function messageRow(text) {
  const row = document.createElement("tr");
  row.className = "listing-message";
  const cell = document.createElement("td");
  cell.colSpan = COLUMNS;
  cell.textContent = text;
  row.append(cell);
  return row;
}

function trashRow(item) {
  const row = document.getElementById("trash-row-template").content.firstElementChild.cloneNode(true);
  row.dataset.id = item.id;
  row.dataset.kind = item.type;
  row.querySelector(".item-icon").classList.add(item.type === "folder" ? "icon-folder" : "icon-file");
  row.querySelector(".item-name").textContent = item.name;
  row.querySelector(".col-type").textContent = item.type === "folder" ? t("typeFolder") : t("typeFile");
  row.querySelector(".col-size").textContent =
    item.type === "folder" && (item.size === null || item.size === undefined) ? "—" : humanSize(item.size);
  fillTime(row.querySelector("time"), item.deleted_at);
  // Where it was: "My files/Photos/2024" (the API's path, "/" for the top level).
  const location = item.location || "/";
  row.querySelector(".col-location").textContent =
    location === "/" ? t("locationRoot") : `${t("locationRoot")}${location}`;
  const purge = row.querySelector(".action-purge");
  purge.setAttribute("aria-label", t("deleteForGoodName", item.name));
  purge.addEventListener("click", async () => {
    const confirmed = await confirmAction({
      message: t("deleteForGoodConfirm", item.name),
      confirmLabel: t("deleteForGood"),
    });
    if (!confirmed) {
      purge.focus();
      return;
    }
    purge.disabled = true;
    try {
      const result = await api(urls.trashItem(item.id), { method: "DELETE" });
      announce(result?.detail || t("deletedForGood", item.name));
    } catch (error) {
      announce(error.message, { error: true });
    }
    await load();
    emptyButton.focus();
  });
  const restore = row.querySelector(".action-restore");
  restore.setAttribute("aria-label", t("restoreName", item.name));
  restore.addEventListener("click", async () => {
    restore.disabled = true;
    try {
      await api(urls.trashRestore(item.id), { method: "POST" });
      announce(t("restored", item.name));
    } catch (error) {
      announce(error.message, { error: true });
    }
    load();
  });
  return row;
}

async function load() {
  body.setAttribute("aria-busy", "true");
  try {
    const data = await api(urls.trash(), { params: { page } });
    const results = Array.isArray(data) ? data : data.results;
    const rows = results.map(trashRow);
    if (!rows.length) rows.push(messageRow(t("trashEmpty")));
    body.replaceChildren(...rows);
    emptyButton.disabled = results.length === 0 && page === 1;
    const previous = document.getElementById("page-previous");
    const next = document.getElementById("page-next");
    previous.disabled = Array.isArray(data) || !data.previous;
    next.disabled = Array.isArray(data) || !data.next;
    document.getElementById("pager").hidden = previous.disabled && next.disabled;
  } catch (error) {
    if (error.status === 404 && page > 1) {
      page = 1;
      load();
      return;
    }
    body.replaceChildren(messageRow(error.message));
  } finally {
    body.removeAttribute("aria-busy");
  }
}

emptyButton.addEventListener("click", async () => {
  const confirmed = await confirmAction({
    message: t("emptyTrashConfirm"),
    confirmLabel: t("emptyTrash"),
  });
  if (!confirmed) return;
  try {
    const result = await api(urls.trash(), { method: "DELETE" });
    // 202: a big trash goes on emptying in the background, and the answer says so.
    announce(result?.detail || t("trashEmptied"));
  } catch (error) {
    announce(error.message, { error: true });
  }
  page = 1;
  load();
});
document.getElementById("page-previous").addEventListener("click", () => {
  page = Math.max(1, page - 1);
  load();
});
document.getElementById("page-next").addEventListener("click", () => {
  page += 1;
  load();
});

load();
