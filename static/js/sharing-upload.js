// The upload-link page (/r/<token>): files chosen or dropped anywhere on the page are checked
// against the link's limits before any byte is sent (size per file, files left), listed, and
// sent one after another when the visitor presses Upload: one request per file (form-upload.js),
// or the link's resumable tus endpoint above TUS_THRESHOLD (tus-client.js: pause/resume,
// retries, resuming after a reload when the same file is chosen again). The page shows the
// total progress, keeps "files still accepted" up to date after each file (from the server's
// answer), marks refused and failed rows apart from received ones, and ends with a summary of
// what was received.
//
// Folders (the folder chooser, or dropped): each file keeps its folder relative to what was
// chosen ("Trip/Day 1") and is sent in one request with `path` and the page's `batch` token;
// the server recreates the tree inside a new folder for this visit ("Upload <date time> …"),
// never in an existing folder. Trees deeper than the link's folder allows are refused here.
import { sizeText, wireDrop } from "./drop-zone.js";
import { fill as say } from "./files-format.js";
import { chosenEntries } from "./folder-entries.js";
import { postForm } from "./form-upload.js";
import { TUS_THRESHOLD, TusUpload } from "./tus-client.js";

const form = document.getElementById("upload-form");
const results = document.getElementById("upload-results");
const m = form ? form.dataset : {};
const maxSize = Number(m.maxFileSize || 0);
const maxDepth = Number(m.maxPathDepth || 0);
let filesLeft = m.filesLeft === "" || m.filesLeft === undefined ? null : Number(m.filesLeft);
const waiting = []; // rows accepted and not sent yet
const received = []; // {name, size} of every file the server took, on this page
let failures = 0;
let sending = false;

function row(file, dir = "") {
  const item = document.createElement("li");
  item.className = "upload-row waiting";
  const name = document.createElement("span");
  name.className = "upload-name";
  name.textContent = dir ? `${dir}/${file.name}` : file.name; // names are text, never markup
  const size = document.createElement("span");
  size.className = "muted upload-size";
  size.textContent = sizeText(file.size);
  const progress = document.createElement("progress");
  progress.max = 100;
  progress.value = 0;
  progress.setAttribute("aria-label", file.name);
  const status = document.createElement("span");
  status.className = "upload-status";
  status.textContent = m.msgWaiting;
  const pause = document.createElement("button");
  pause.type = "button";
  pause.className = "link upload-pause";
  pause.hidden = true;
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "link upload-remove";
  remove.textContent = m.msgRemove;
  item.append(name, " ", size, " ", progress, " ", status, " ", pause, " ", remove);
  results.append(item);
  const ui = { file, dir, item, progress, status, pause, remove, size };
  remove.addEventListener("click", () => {
    waiting.splice(waiting.indexOf(ui), 1);
    item.remove();
  });
  return ui;
}

function settle(ui, ok, message) {
  ui.item.classList.remove("waiting", "sending");
  ui.item.classList.add(ok ? "done" : "failed");
  ui.status.textContent = message;
  ui.pause.hidden = true;
  ui.remove.remove();
  if (ok) {
    ui.progress.value = 100;
    received.push({ name: ui.dir ? `${ui.dir}/${ui.file.name}` : ui.file.name, size: ui.file.size });
  } else {
    failures += 1;
  }
}

function showFilesLeft() {
  const line = document.getElementById("upload-files-left");
  if (!line || filesLeft === null) return;
  line.textContent = filesLeft > 0 ? say(m.msgFilesLeft, filesLeft) : m.msgFull;
  if (filesLeft <= 0) {
    document.getElementById("upload-file").disabled = true;
    document.getElementById("upload-folder").disabled = true;
    document.getElementById("upload-drop").classList.add("closed");
  }
}

// Checked here, before any byte is sent; the server checks again (it decides). `files` are
// File objects or {file, dir} entries of a folder tree.
function add(files, folders = []) {
  for (const name of folders) {
    const ui = row({ name, size: 0 });
    ui.size.textContent = "";
    settle(ui, false, m.msgFolder);
    ui.item.classList.add("refused");
  }
  for (const entry of files) {
    const file = entry instanceof File ? entry : entry.file;
    const dir = entry instanceof File ? "" : entry.dir;
    const ui = row(file, dir);
    const levels = dir ? dir.split("/").length : 0;
    if (levels > maxDepth) {
      settle(ui, false, say(m.msgTooDeep, levels, maxDepth));
      ui.item.classList.add("refused");
    } else if (maxSize && file.size > maxSize) {
      settle(ui, false, say(m.msgTooLarge, sizeText(file.size), m.maxFileSizeText));
      ui.item.classList.add("refused");
    } else if (filesLeft !== null && waiting.length >= filesLeft) {
      settle(ui, false, say(m.msgNoMoreFiles, Math.max(0, filesLeft)));
      ui.item.classList.add("refused");
    } else {
      waiting.push(ui);
    }
  }
}

async function sendResumable(ui, onBytes) {
  const upload = new TusUpload(ui.file, {
    endpoint: m.tusUrl,
    metadata: { filename: ui.file.name, filetype: ui.file.type },
    onProgress: (sent, total) => {
      ui.progress.value = Math.floor((sent / total) * 100);
      onBytes(sent);
    },
    onStatus: (kind, detail) => {
      if (kind === "resumed") {
        ui.item.dataset.resumedAt = String(detail);
        ui.status.textContent = say(m.msgResumedAt, sizeText(detail));
      } else if (kind === "retrying") {
        ui.status.textContent = say(m.msgRetrying, detail);
      } else if (kind === "paused") {
        ui.status.textContent = m.msgPaused;
      } else if (kind === "finishing") {
        ui.pause.hidden = true; // every byte is sent: nothing left to pause
      }
    },
  });
  ui.pause.hidden = false;
  ui.pause.textContent = m.msgPause;
  ui.pause.addEventListener("click", () => {
    if (!ui.item.classList.contains("sending")) return;
    if (upload.paused) {
      upload.resume();
      ui.pause.textContent = m.msgPause;
      ui.status.textContent = "";
    } else {
      upload.pause();
      ui.pause.textContent = m.msgResume;
    }
  });
  try {
    await upload.start();
    if (filesLeft !== null) filesLeft -= 1;
    settle(ui, true, m.msgDone);
  } catch (error) {
    settle(ui, false, error.status ? say(m.msgFailedWhy, error.message) : m.msgFailed);
  }
}

async function sendOnce(ui, onBytes) {
  const body = new FormData();
  body.append("file", ui.file, ui.file.name);
  // In the query string: the server refuses a bad path before reserving any room.
  const url = ui.dir
    ? `${m.uploadUrl}?${new URLSearchParams({ batch: m.batch, path: ui.dir })}`
    : m.uploadUrl;
  const request = postForm(url, body, {
    onProgress: (loaded, total) => {
      ui.progress.value = Math.round((loaded / total) * 100);
      onBytes(Math.min(ui.file.size, Math.round((loaded / total) * ui.file.size)));
    },
  });
  const outcome = await request.done;
  const data = outcome.data || {};
  if (outcome.status === 201) {
    if ("files_left" in data) filesLeft = data.files_left;
    settle(ui, true, m.msgDone);
  } else {
    settle(ui, false, data.detail ? say(m.msgFailedWhy, data.detail) : m.msgFailed);
  }
}

function showSummary() {
  const summary = document.getElementById("upload-summary");
  const lines = [];
  if (received.length) {
    const bytes = received.reduce((sum, file) => sum + file.size, 0);
    const names = received.map((file) => file.name).join(", ");
    lines.push(say(m.msgSummary, received.length, sizeText(bytes), names));
  } else {
    lines.push(m.msgSummaryNone);
  }
  if (failures) lines.push(say(m.msgSummaryFailed, failures));
  summary.textContent = lines.join(" ");
  summary.classList.toggle("with-failures", failures > 0);
  summary.hidden = false;
}

async function sendAll() {
  if (sending || !waiting.length) return;
  sending = true;
  const button = document.getElementById("upload-submit");
  button.disabled = true;
  document.getElementById("upload-summary").hidden = true;
  const batch = waiting.splice(0);
  const total = batch.reduce((sum, ui) => sum + ui.file.size, 0);
  const bar = document.getElementById("upload-total-bar");
  const text = document.getElementById("upload-total-text");
  document.getElementById("upload-total").hidden = false;
  let doneBytes = 0;
  let doneFiles = 0;
  const show = (current) => {
    const sent = doneBytes + current;
    bar.value = total ? Math.floor((100 * sent) / total) : 100;
    text.textContent = say(m.msgTotal, doneFiles, batch.length, sizeText(sent), sizeText(total));
  };
  show(0);
  for (const ui of batch) {
    ui.item.classList.replace("waiting", "sending");
    ui.remove.hidden = true;
    ui.status.textContent = "";
    // A file of a folder goes in one request: the resumable endpoint takes no path.
    if (ui.file.size > TUS_THRESHOLD && !ui.dir) await sendResumable(ui, show);
    else await sendOnce(ui, show);
    doneBytes += ui.file.size;
    doneFiles += 1;
    show(0);
    showFilesLeft();
  }
  showSummary();
  sending = false;
  button.disabled = false;
}

if (form) {
  const input = document.getElementById("upload-file");
  input.addEventListener("change", () => {
    add(Array.from(input.files));
    input.value = ""; // the list holds them; the same file may be chosen again
  });
  const folderInput = document.getElementById("upload-folder");
  folderInput.addEventListener("change", () => {
    add(chosenEntries(folderInput.files));
    folderInput.value = "";
  });
  wireDrop({
    zone: document.getElementById("upload-drop"),
    onFiles: add,
    onTree: (tree) => tree.then(({ files }) => add(files)),
  });
  form.noValidate = true; // the list, not the input, holds the files
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sendAll();
  });
}
