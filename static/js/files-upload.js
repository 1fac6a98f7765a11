// Uploads files one request each (form-upload.js, which reports upload progress), showing a
// row per file with a <progress> bar, a percentage and the outcome.
//
// Files above TUS_THRESHOLD go through the resumable tus endpoint instead (tus-client.js): the
// same row gets a pause/resume button, retries on network errors, and picks up where it stopped
// when the same file is chosen again after a reload.
//
// The interface is `new Uploader({list, folderId, onUploaded}).add(fileList)`.
//
// Folders (a folder chooser or dropped directories) come as `addTree(entries, emptyDirs)`, each
// entry `{file, dir}` with `dir` relative to this page's folder ("Trip/Day 1"): every folder is
// made (or found) once through POST /api/v1/folders/ with `path` (created where missing, reused
// where it exists, the server's name rules and depth cap per folder), then the file goes into it
// as any upload does, renamed "name (1).ext" when its name is taken. A total line sums the
// files and bytes of everything added.

import { API_ROOT, api, csrfToken, errorFromBody, urls } from "./files-api.js";
import { humanSize, t } from "./files-format.js";
import { postForm } from "./form-upload.js";
import { TUS_THRESHOLD, TusUpload } from "./tus-client.js";

const PARALLEL_UPLOADS = 3;
const FINISHED = new Set(["done", "error", "cancelled"]);

export class Uploader {
  constructor({ list, folderId = null, onUploaded = () => {} }) {
    this.list = list;
    this.folderId = folderId;
    this.onUploaded = onUploaded;
    this.queue = [];
    this.running = 0;
    this.folders = new Map(); // relative path -> Promise of the folder's id
    this.totals = { files: 0, done: 0, bytes: 0 };
    this.rows = [];
  }

  add(files) {
    this.addTree(Array.from(files).map((file) => ({ file, dir: "" })));
  }

  addTree(entries, emptyDirs = []) {
    for (const { file, dir } of entries) {
      const row = this.createRow(file, dir);
      this.queue.push({ file, row, dir });
    }
    for (const dir of emptyDirs) {
      this.folderFor(dir).catch((error) => announceFolderError(dir, error));
    }
    this.pump();
  }

  // The id of the folder at `dir` below this page's folder, made once per path.
  folderFor(dir) {
    if (!dir) return Promise.resolve(this.folderId);
    if (!this.folders.has(dir)) {
      const made = api(urls.folders(), { method: "POST", body: { parent: this.folderId, path: dir } });
      const id = made.then((folder) => folder.id);
      id.catch(() => this.folders.delete(dir)); // a later try asks again
      this.folders.set(dir, id);
    }
    return this.folders.get(dir);
  }

  showTotals() {
    const box = document.getElementById("upload-total");
    if (!box) return;
    const loaded = this.rows.reduce((sum, row) => sum + (row.loaded || 0), 0);
    const fraction = this.totals.bytes ? loaded / this.totals.bytes : 1;
    box.hidden = this.totals.files < 2;
    document.getElementById("upload-total-bar").value = Math.floor(fraction * 100);
    document.getElementById("upload-total-text").textContent = t(
      "uploadTotal",
      this.totals.done,
      this.totals.files,
      humanSize(loaded),
      humanSize(this.totals.bytes),
    );
  }

  pump() {
    while (this.running < PARALLEL_UPLOADS && this.queue.length) {
      const job = this.queue.shift();
      if (job.row.cancelled) continue;
      this.running += 1;
      this.send(job).finally(() => {
        this.running -= 1;
        this.pump();
      });
    }
  }

  createRow(file, dir = "") {
    const template = document.getElementById("upload-row-template");
    const item = template.content.firstElementChild.cloneNode(true);
    item.dataset.state = "queued";
    item.querySelector(".upload-name").textContent = dir ? `${dir}/${file.name}` : file.name;
    item.querySelector(".upload-size").textContent = humanSize(file.size);
    const bar = item.querySelector("progress");
    bar.value = 0;
    bar.setAttribute("aria-label", t("uploadProgressOf", file.name));
    const row = {
      element: item,
      bar,
      percent: item.querySelector(".upload-percent"),
      status: item.querySelector(".upload-status"),
      cancel: item.querySelector(".upload-cancel"),
      cancelled: false,
      request: null,
      size: file.size,
      loaded: 0,
    };
    this.rows.push(row);
    this.totals.files += 1;
    this.totals.bytes += file.size;
    row.status.textContent = t("uploadQueued");
    row.cancel.setAttribute("aria-label", t("cancelUploadOf", file.name));
    row.pause = item.querySelector(".upload-pause");
    row.cancel.onclick = () => {
      row.cancelled = true;
      if (row.tus) row.tus.cancel();
      else if (row.request) row.request.abort();
      else this.finish(row, "cancelled", t("uploadCancelled"));
    };
    item.querySelector(".upload-dismiss").onclick = () => item.remove();
    this.list.append(item);
    this.list.hidden = false;
    this.showTotals();
    return row;
  }

  setProgress(row, fraction) {
    const percent = Math.max(0, Math.min(100, Math.floor(fraction * 100)));
    row.bar.value = percent;
    row.percent.textContent = `${percent} %`;
    row.loaded = Math.min(1, Math.max(0, fraction)) * row.size;
    this.showTotals();
  }

  finish(row, state, message) {
    row.element.dataset.state = state;
    if (row.pause) row.pause.hidden = true;
    row.status.textContent = message;
    row.request = null;
    if (state === "done") this.totals.done += 1;
    this.showTotals();
  }

  async send(job) {
    if (job.dir) {
      try {
        job.folderId = await this.folderFor(job.dir);
      } catch (error) {
        this.finish(job.row, "error", t("uploadFolderFailed", job.dir, error.message));
        return;
      }
      if (job.row.cancelled) {
        this.finish(job.row, "cancelled", t("uploadCancelled"));
        return;
      }
    } else {
      job.folderId = this.folderId;
    }
    if (job.file.size > TUS_THRESHOLD) await this.sendResumable(job);
    else await this.sendOnce(job);
  }

  async sendResumable({ file, row, folderId }) {
    row.element.dataset.state = "uploading";
    row.status.textContent = t("uploadUploading");
    this.setProgress(row, 0);
    const upload = new TusUpload(file, {
      endpoint: `${API_ROOT}tus/`,
      headers: { "X-CSRFToken": csrfToken() },
      metadata: { filename: file.name, filetype: file.type, parent: folderId },
      storageKey: folderId || "root",
      onProgress: (sent, total) => this.setProgress(row, total ? sent / total : 1),
      onStatus: (kind, detail) => {
        if (kind === "resumed") {
          row.element.dataset.resumedAt = String(detail);
          row.status.textContent = t("uploadResumedAt", humanSize(detail));
        } else if (kind === "retrying") {
          row.status.textContent = t("uploadRetrying", detail);
        } else if (kind === "paused") {
          row.status.textContent = t("uploadPaused");
        } else if (kind === "finishing") {
          // Every byte is sent: nothing left to pause while the server stores the file.
          if (row.pause) row.pause.hidden = true;
          row.status.textContent = t("uploadSaving");
        } else if (kind === "uploading" && row.element.dataset.resumedAt === undefined) {
          row.status.textContent = t("uploadUploading");
        }
      },
    });
    row.tus = upload;
    if (row.pause) {
      row.pause.hidden = false;
      row.pause.textContent = t("uploadPause");
      row.pause.onclick = () => {
        if (FINISHED.has(row.element.dataset.state)) return; // a finished upload has no pause
        if (upload.paused) {
          upload.resume();
          row.pause.textContent = t("uploadPause");
          row.element.dataset.state = "uploading";
          row.status.textContent = t("uploadUploading");
        } else {
          upload.pause();
          row.pause.textContent = t("uploadResume");
          row.element.dataset.state = "paused";
        }
      };
    }
    try {
      const fileId = await upload.start();
      if (row.pause) row.pause.hidden = true;
      this.setProgress(row, 1);
      let saved = null;
      try {
        const response = await fetch(`${API_ROOT}files/${fileId}/`, {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
        });
        saved = response.ok ? await response.json() : null;
      } catch {
        saved = null;
      }
      const message =
        saved && saved.name && saved.name !== file.name
          ? t("uploadDoneAs", saved.name)
          : t("uploadDone");
      this.finish(row, "done", message);
      this.onUploaded(saved);
    } catch (error) {
      if (row.pause) row.pause.hidden = true;
      if (row.cancelled) this.finish(row, "cancelled", t("uploadCancelled"));
      else if (error.status) this.finish(row, "error", errorFromBody(error.status, error.body).detail);
      else this.finish(row, "error", t("uploadNetworkError"));
    }
  }

  async sendOnce({ file, row, folderId }) {
    row.element.dataset.state = "uploading";
    row.status.textContent = t("uploadUploading");
    this.setProgress(row, 0);

    // Small fields first: a streaming server knows where the file goes before its bytes.
    const form = new FormData();
    if (folderId) form.append("parent", folderId);
    form.append("on_conflict", "rename");
    form.append("file", file, file.name);

    // The folder also goes in the query string, so the server checks it before any byte.
    const target = folderId ? `?folder=${encodeURIComponent(folderId)}` : "";
    row.request = postForm(`${API_ROOT}files/${target}`, form, {
      headers: { "X-CSRFToken": csrfToken() },
      onProgress: (loaded, total) => {
        this.setProgress(row, loaded / total);
        if (loaded >= total) row.status.textContent = t("uploadSaving");
      },
    });
    const outcome = await row.request.done;
    if (outcome.aborted) {
      this.finish(row, "cancelled", t("uploadCancelled"));
    } else if (outcome.networkError) {
      this.finish(row, "error", t("uploadNetworkError"));
    } else if (outcome.status >= 200 && outcome.status < 300) {
      this.setProgress(row, 1);
      const saved = outcome.data;
      const message =
        saved && saved.name && saved.name !== file.name
          ? t("uploadDoneAs", saved.name)
          : t("uploadDone");
      this.finish(row, "done", message);
      this.onUploaded(saved);
    } else {
      this.finish(row, "error", errorFromBody(outcome.status, outcome.text).detail);
    }
  }
}

function announceFolderError(dir, error) {
  const status = document.getElementById("page-status");
  if (!status) return;
  status.textContent = t("uploadFolderFailed", dir, error.message);
  status.hidden = false;
}

// Folder trees (dropped or chosen) are read by folder-entries.js, shared with the upload-link page.
export { chosenEntries, droppedEntries } from "./folder-entries.js";
