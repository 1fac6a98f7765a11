// Uploads files one request each with XMLHttpRequest (fetch cannot report upload progress),
// showing a row per file with a <progress> bar, a percentage and the outcome.
//
// The interface is `new Uploader({list, folderId, onUploaded}).add(fileList)`, so a resumable
// (tus) uploader can replace this module later without touching the pages.

import { API_ROOT, csrfToken, errorFromBody } from "./files-api.js";
import { humanSize, t } from "./files-format.js";

const PARALLEL_UPLOADS = 3;

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
      xhr: null,
    };
    row.status.textContent = t("uploadQueued");
    row.cancel.setAttribute("aria-label", t("cancelUploadOf", file.name));
    row.cancel.onclick = () => {
      row.cancelled = true;
      if (row.xhr) row.xhr.abort();
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
    row.status.textContent = message;
    row.xhr = null;
  }

  send({ file, row }) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      row.xhr = xhr;
      row.element.dataset.state = "uploading";
      row.status.textContent = t("uploadUploading");
      this.setProgress(row, 0);

      // Small fields first: a streaming server knows where the file goes before its bytes.
      const form = new FormData();
      if (this.folderId) form.append("folder", this.folderId);
      form.append("on_conflict", "rename");
      form.append("file", file, file.name);

      xhr.upload.onprogress = (event) => {
        if (!event.lengthComputable) return;
        this.setProgress(row, event.loaded / event.total);
        if (event.loaded >= event.total) row.status.textContent = t("uploadSaving");
      };
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          this.setProgress(row, 1);
          let saved = null;
          try {
            saved = JSON.parse(xhr.responseText);
          } catch {
            saved = null;
          }
          const message =
            saved && saved.name && saved.name !== file.name
              ? t("uploadDoneAs", saved.name)
              : t("uploadDone");
          this.finish(row, "done", message);
          this.onUploaded(saved);
        } else {
          this.finish(row, "error", errorFromBody(xhr.status, xhr.responseText).detail);
        }
        resolve();
      };
      xhr.onerror = () => {
        this.finish(row, "error", t("uploadNetworkError"));
        resolve();
      };
      xhr.onabort = () => {
        this.finish(row, "cancelled", t("uploadCancelled"));
        resolve();
      };
      // The folder also goes in the query string, so the server checks it before any byte.
      const target = this.folderId ? `?folder=${encodeURIComponent(this.folderId)}` : "";
      xhr.open("POST", `${API_ROOT}files/${target}`);
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.send(form);
    });
  }
}
