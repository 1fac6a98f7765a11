// The file browser (a folder's page) and the search page. The server renders the shell: the
// breadcrumb, the toolbar, the dialogs and <template>s; this module fetches the listing from the
// API and wires sorting, pagination, the item actions and uploads.

import { ApiError, api, apiAll, urls } from "./files-api.js";
import { askName, pickFolder } from "./files-dialogs.js";
import { announce, humanSize, t } from "./files-format.js";
import { fileRow, folderRow, messageRow } from "./files-listing.js";
import { Selection } from "./files-selection.js";
import { Uploader, chosenEntries, droppedEntries } from "./files-upload.js";
import { openShareDialog } from "./sharing-dialog.js";
import { openViewer, viewerKind } from "./viewer.js";

const ORDERINGS = ["name", "-name", "size", "-size", "modified_at", "-modified_at"];
const COLUMNS = 7;

const root = document.getElementById("browser");
const mode = root.dataset.mode; // "folder" or "search"
const folderId = root.dataset.folderId || null;
const query = root.dataset.query || "";
const body = document.getElementById("listing-body");
const items = new Map(); // id -> {kind, data}
const selection = new Selection({ body, items, folderId, mode, reload: () => load() });

const params = new URLSearchParams(window.location.search);
const state = {
  ordering: ORDERINGS.includes(params.get("ordering")) ? params.get("ordering") : "name",
  page: Math.max(1, Number.parseInt(params.get("page"), 10) || 1),
};

function remember() {
  const next = new URLSearchParams();
  if (mode === "search") next.set("q", query);
  if (state.ordering !== "name") next.set("ordering", state.ordering);
  if (state.page > 1) next.set("page", String(state.page));
  const search = next.toString();
  history.replaceState(null, "", search ? `?${search}` : window.location.pathname);
}

function sortFolders(folders) {
  const field = state.ordering.replace(/^-/, "");
  const direction = state.ordering.startsWith("-") ? -1 : 1;
  const byName = (a, b) => a.name.localeCompare(b.name, undefined, { sensitivity: "base" });
  return folders.sort((a, b) => {
    if (field === "modified_at") {
      const diff = Date.parse(a.modified_at || 0) - Date.parse(b.modified_at || 0);
      return (diff || byName(a, b)) * direction;
    }
    // Folders have no size: sorting by size keeps them in name order.
    return field === "size" ? byName(a, b) : byName(a, b) * direction;
  });
}

function showSortState() {
  for (const header of document.querySelectorAll("th[data-sort]")) {
    const field = header.dataset.sort;
    let sort = "none";
    if (state.ordering === field) sort = "ascending";
    if (state.ordering === `-${field}`) sort = "descending";
    header.setAttribute("aria-sort", sort);
  }
}

let loading = 0;

async function load() {
  const ticket = ++loading;
  body.setAttribute("aria-busy", "true");
  showSortState();
  remember();
  try {
    const fileParams = { ordering: state.ordering, page: state.page };
    if (mode === "search") fileParams.search = query;
    else fileParams.parent = folderId;
    // Folders are few and have no size: all of them come first, on the first page only.
    let folders = Promise.resolve([]);
    if (state.page === 1 && mode === "folder") folders = apiAll(urls.folders(), { parent: folderId });
    if (state.page === 1 && mode === "search" && query) folders = apiAll(urls.folders(), { search: query });
    const [folderList, files] = await Promise.all([
      folders,
      mode === "search" && !query ? Promise.resolve(null) : api(urls.files(), { params: fileParams }),
    ]);
    if (ticket !== loading) return;
    render(folderList, files);
    showQuota();
  } catch (error) {
    if (ticket !== loading) return;
    if (error instanceof ApiError && error.status === 404 && state.page > 1) {
      // The page emptied under us (deletions): go back to the first page.
      state.page = 1;
      load();
      return;
    }
    body.replaceChildren(messageRow(error.message || t("requestFailed"), COLUMNS));
  } finally {
    if (ticket === loading) body.removeAttribute("aria-busy");
  }
}

function render(folders, files) {
  items.clear();
  const rows = [];
  for (const folder of sortFolders(folders)) {
    items.set(folder.id, { kind: "folder", data: folder });
    rows.push(folderRow(folder));
  }
  const results = files ? files.results : [];
  for (const file of results) {
    items.set(file.id, { kind: "file", data: file });
    rows.push(fileRow(file, { showLocation: mode === "search" }));
  }
  if (!rows.length) {
    let empty = t("emptyFolder");
    if (mode === "search") empty = query ? t("noResults", query) : t("searchPrompt");
    rows.push(messageRow(empty, COLUMNS));
  }
  body.replaceChildren(...rows);
  selection.refresh();
  watchProcessing(results);

  const pager = document.getElementById("pager");
  const previous = document.getElementById("page-previous");
  const next = document.getElementById("page-next");
  previous.disabled = !(files && files.previous);
  next.disabled = !(files && files.next);
  pager.hidden = previous.disabled && next.disabled;
  document.getElementById("page-info").textContent = files
    ? t("pageInfo", state.page, files.count)
    : "";
}

// --- Storage used and quota ------------------------------------------------------------------

const quota = document.getElementById("quota");

function fillQuota(used, limit) {
  const bar = quota.querySelector(".quota-bar");
  const fill = quota.querySelector(".quota-fill");
  const text = quota.querySelector(".quota-text");
  if (limit > 0) {
    const percent = Math.min(100, Math.round((used / limit) * 100));
    text.textContent = t("quotaUsed", humanSize(used), humanSize(limit));
    bar.hidden = false;
    bar.setAttribute("aria-valuenow", String(percent));
    bar.setAttribute("aria-valuetext", text.textContent);
    fill.style.width = `${percent}%`;
    quota.classList.toggle("quota-high", percent >= 90);
  } else {
    text.textContent = t("quotaUsedUnlimited", humanSize(used));
    bar.hidden = true;
  }
}

// Refreshed after every listing load (uploads, deletes and restores change the usage).
async function showQuota() {
  if (!quota) return;
  try {
    const me = await api(urls.me());
    fillQuota(me.used, me.quota);
  } catch {
    // The bar keeps what it showed; the listing reports errors itself.
  }
}
if (quota) fillQuota(Number(quota.dataset.used), Number(quota.dataset.quota));

// --- Processing (scan, thumbnails) and the grid view ------------------------------------------

let polls = 0;
let pollTimer = null;

// While a worker still processes files on this page, look again now and then (a bounded number
// of times: an outage must not make the page poll forever).
function watchProcessing(files) {
  clearTimeout(pollTimer);
  if (!files.some((file) => file.processing)) {
    polls = 0;
    return;
  }
  if (polls >= 150) return;
  polls += 1;
  pollTimer = setTimeout(() => {
    if (!document.hidden && !document.querySelector("details.menu[open], dialog[open]")) load();
    else watchProcessing(files);
  }, Math.min(1000 + polls * 200, 5000));
}

const viewToggle = document.getElementById("view-toggle");
function showView(grid) {
  root.classList.toggle("grid", grid);
  viewToggle.setAttribute("aria-pressed", String(grid));
  viewToggle.textContent = grid ? t("listView") : t("gridView");
}
if (viewToggle) {
  showView(localStorage.getItem("locker.view") === "grid");
  viewToggle.addEventListener("click", () => {
    const grid = !root.classList.contains("grid");
    localStorage.setItem("locker.view", grid ? "grid" : "list");
    showView(grid);
  });
}

// --- Sorting and pagination -------------------------------------------------------------------

for (const header of document.querySelectorAll("th[data-sort]")) {
  header.querySelector("button").addEventListener("click", () => {
    const field = header.dataset.sort;
    state.ordering = state.ordering === field ? `-${field}` : field;
    state.page = 1;
    load();
  });
}
document.getElementById("page-previous").addEventListener("click", () => {
  state.page = Math.max(1, state.page - 1);
  load();
});
document.getElementById("page-next").addEventListener("click", () => {
  state.page += 1;
  load();
});

// --- Item actions -----------------------------------------------------------------------------

function closeMenus(except) {
  for (const menu of document.querySelectorAll("details.menu[open]")) {
    if (menu !== except) menu.open = false;
  }
}

document.addEventListener("click", (event) => {
  closeMenus(event.target.closest("details.menu"));
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") closeMenus(null);
});

const itemUrl = (item) => (item.kind === "folder" ? urls.folder(item.data.id) : urls.file(item.data.id));

async function renameItem(item) {
  const saved = await askName({
    title: t("renameTitle", item.data.name),
    submitLabel: t("rename"),
    initial: item.data.name,
    save: (name) => api(itemUrl(item), { method: "PATCH", body: { name } }),
  });
  if (saved) {
    announce(t("renamed", saved.name || ""));
    load();
  }
}

async function moveItem(item) {
  // A file's container is `parent`, as a folder's (`folder`, its former name, is deprecated).
  const saved = await pickFolder({
    title: t("moveTitle", item.data.name),
    startId: mode === "folder" ? folderId : item.data.parent || null,
    excludeId: item.kind === "folder" ? item.data.id : null,
    save: (destination) => api(itemUrl(item), { method: "PATCH", body: { parent: destination } }),
  });
  if (saved) {
    announce(t("moved", item.data.name));
    load();
  }
}

// After a delete, an "Undo" button stays for a few seconds (longer while it has the focus or
// the pointer): it restores the item from the trash through the trash API.
const UNDO_SECONDS = 8;
let undoTimer = null;

function offerUndo(item) {
  const bar = document.getElementById("undo-bar");
  const button = document.getElementById("undo-button");
  document.getElementById("undo-message").textContent = t("trashed", item.data.name);
  button.setAttribute("aria-label", t("undoDeleteOf", item.data.name));
  button.disabled = false;
  bar.hidden = false;
  const hide = () => {
    bar.hidden = true;
  };
  const schedule = () => {
    clearTimeout(undoTimer);
    undoTimer = setTimeout(() => {
      if (bar.contains(document.activeElement) || bar.matches(":hover")) schedule();
      else hide();
    }, UNDO_SECONDS * 1000);
  };
  schedule();
  button.onclick = async () => {
    button.disabled = true;
    clearTimeout(undoTimer);
    try {
      await api(urls.trashRestore(item.data.id), { method: "POST" });
      hide();
      announce(t("restored", item.data.name));
    } catch (error) {
      hide();
      announce(error.message, { error: true });
    }
    await load();
    // Back on the restored item's name, where the keyboard user was before the delete.
    const row = body.querySelector(`tr[data-id="${CSS.escape(item.data.id)}"] .item-name`);
    if (row) row.focus();
  };
  // The deleted row (and the menu that had the focus) is gone: the focus goes to Undo.
  button.focus();
}

async function deleteItem(item) {
  try {
    await api(itemUrl(item), { method: "DELETE" });
    announce("");
    offerUndo(item);
  } catch (error) {
    announce(error.message, { error: true });
  }
  load();
}

async function shareItem(item) {
  const share = await openShareDialog({ kind: item.kind, id: item.data.id, name: item.data.name });
  if (share) announce(t("shared", item.data.name));
}

// The newest working link of the item, copied again (the server keeps link tokens sealed and
// gives their `url` to their owner only). Links made before that have `url: null`.
async function copyLinkOfItem(item) {
  let page;
  try {
    page = await api("shares/", { params: { [item.kind]: item.data.id } });
  } catch (error) {
    announce(error.message, { error: true });
    return;
  }
  const active = (page.results || []).filter((share) => share.status === "active");
  const share = active.find((candidate) => candidate.url);
  if (!share) {
    announce(t(active.length ? "linkShownOnce" : "noLinkToCopy", item.data.name), { error: true });
    return;
  }
  try {
    await navigator.clipboard.writeText(share.url);
    announce(t("linkCopied", item.data.name));
  } catch {
    // No clipboard permission: show the link to copy by hand.
    window.prompt(t("linkCopyByHand", item.data.name), share.url);
  }
}

const ACTIONS = {
  share: shareItem,
  "copy-link": copyLinkOfItem,
  rename: renameItem,
  move: moveItem,
  delete: deleteItem,
};

// Clicking a file's name opens it in the viewer (a gallery of the viewable files of this page);
// the Download action stays in its menu and in the viewer's bar.
function viewable() {
  const list = [];
  for (const item of items.values()) {
    if (item.kind !== "file" || item.data.state === "infected") continue;
    const kind = viewerKind(item.data.content_type);
    if (!kind) continue;
    list.push({
      id: item.data.id,
      name: item.data.name,
      kind,
      url: `${urls.fileContent(item.data.id)}?inline=1`,
      download: urls.fileContent(item.data.id),
    });
  }
  return list;
}

// The menu's "Open" does the same for a viewable file (focus then returns to the ⋯ button);
// other types still open in a new tab.
body.addEventListener("click", (event) => {
  const link = event.target.closest("a.item-name, a.action-open");
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  const row = link.closest("tr");
  const list = viewable();
  const start = list.findIndex((entry) => entry.id === row.dataset.id);
  if (start < 0) return;
  event.preventDefault();
  const fromMenu = link.classList.contains("action-open");
  if (fromMenu) closeMenus(null);
  openViewer(list, start, { from: fromMenu ? row.querySelector("details.menu summary") : link });
});

body.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const row = button.closest("tr");
  const item = items.get(row.dataset.id);
  closeMenus(null);
  if (item) ACTIONS[button.dataset.action](item);
});

// --- New folder and uploads (folder pages only) -----------------------------------------------

if (mode === "folder") {
  document.getElementById("new-folder").addEventListener("click", async () => {
    const created = await askName({
      title: t("newFolderTitle"),
      submitLabel: t("create"),
      save: (name) =>
        api(urls.folders(), { method: "POST", body: { name, parent: folderId } }),
    });
    if (created) {
      announce(t("folderCreated", created.name));
      load();
    }
  });

  let refreshTimer = null;
  const uploader = new Uploader({
    list: document.getElementById("upload-list"),
    folderId,
    onUploaded: () => {
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(load, 250);
    },
  });
  const input = document.getElementById("upload-input");
  input.addEventListener("change", () => {
    uploader.add(input.files);
    input.value = "";
  });
  const folderInput = document.getElementById("upload-folder-input");
  folderInput.addEventListener("change", () => {
    uploader.addTree(chosenEntries(folderInput.files));
    folderInput.value = "";
  });

  // Drag and drop anywhere on the page.
  const hasFiles = (event) => event.dataTransfer && Array.from(event.dataTransfer.types).includes("Files");
  let depth = 0;
  document.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    depth += 1;
    document.body.classList.add("dragging");
  });
  document.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) document.body.classList.remove("dragging");
  });
  document.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  document.addEventListener("drop", (event) => {
    depth = 0;
    document.body.classList.remove("dragging");
    if (!event.dataTransfer || !event.dataTransfer.files.length) return;
    event.preventDefault();
    // Dropped folders are walked and recreated; plain files upload as they are.
    const tree = droppedEntries(event.dataTransfer);
    if (!tree) {
      uploader.add(event.dataTransfer.files);
      return;
    }
    tree
      .then(({ files, emptyDirs }) => uploader.addTree(files, emptyDirs))
      .catch(() => announce(t("requestFailed"), { error: true }));
  });
}

load();
