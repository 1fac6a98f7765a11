// Uploads files one request each (form-upload.js, which reports upload progress), showing a
// row per file with a <progress> bar, a percentage and the outcome.
//
// Files above TUS_THRESHOLD go through the resumable tus endpoint instead (tus-client.js): the
// same row gets a pause/resume button, retries on network errors, and picks up where it stopped
// when the same file is chosen again after a reload.
//
// The interface is `new Uploader({list, folderId, onUploaded}).add(fileList)`.

import { API_ROOT, csrfToken, errorFromBody } from "./files-api.js";
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
  }

  add(files) {
    for (const file of Array.from(files)) {
      const row = this.createRow(file);
      this.queue.push({ file, row });
    }
    this.pump();
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

  createRow(file) {
    const template = document.getElementById("upload-row-template");
    const item = template.content.firstElementChild.cloneNode(true);
    item.dataset.state = "queued";
    item.querySelector(".upload-name").textContent = file.name;
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
    };
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
    return row;
  }

  setProgress(row, fraction) {
    const percent = Math.max(0, Math.min(100, Math.floor(fraction * 100)));
    row.bar.value = percent;
    row.percent.textContent = `${percent} %`;
  }

  finish(row, state, message) {
    row.element.dataset.state = state;
    if (row.pause) row.pause.hidden = true;
    row.status.textContent = message;
    row.request = null;
  }

  send(job) {
    if (job.file.size > TUS_THRESHOLD) return this.sendResumable(job);
    return this.sendOnce(job);
  }

  async sendResumable({ file, row }) {
    row.element.dataset.state = "uploading";
    row.status.textContent = t("uploadUploading");
    this.setProgress(row, 0);
    const upload = new TusUpload(file, {
      endpoint: `${API_ROOT}tus/`,
      headers: { "X-CSRFToken": csrfToken() },
      metadata: { filename: file.name, filetype: file.type, folder: this.folderId },
      storageKey: this.folderId || "root",
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

  async sendOnce({ file, row }) {
    row.element.dataset.state = "uploading";
    row.status.textContent = t("uploadUploading");
    this.setProgress(row, 0);

    // Small fields first: a streaming server knows where the file goes before its bytes.
    const form = new FormData();
    if (this.folderId) form.append("folder", this.folderId);
    form.append("on_conflict", "rename");
    form.append("file", file, file.name);

    // The folder also goes in the query string, so the server checks it before any byte.
    const target = this.folderId ? `?folder=${encodeURIComponent(this.folderId)}` : "";
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
