// A small tus 1.0.0 client (https://tus.io) for Locker's own pages: creation, PATCH chunks with
// upload progress, pause/resume, retry with backoff on network errors, and resume after a page
// reload. The upload URL is remembered in localStorage under the file's name, size and
// lastModified (and the endpoint and folder), so choosing the same file again continues where
// the server stands (HEAD) instead of starting over. No dependency, no build step.

export const TUS_THRESHOLD = 8 * 1024 * 1024; // files above this size go through tus
const CHUNK_SIZE = 8 * 1024 * 1024;
const RETRY_DELAYS = [1000, 2000, 4000, 8000, 15000, 30000];
const STORE_PREFIX = "locker-tus:";

export class TusError extends Error {
  constructor(message, status = 0, body = "") {
    super(message);
    this.status = status;
    this.body = body;
  }
}

class Paused extends Error {}

function encodeMetadata(metadata) {
  return Object.entries(metadata)
    .filter(([, value]) => value !== null && value !== undefined && value !== "")
    .map(([key, value]) => {
      const bytes = new TextEncoder().encode(String(value));
      let binary = "";
      for (const byte of bytes) binary += String.fromCharCode(byte);
      return `${key} ${btoa(binary)}`;
    })
    .join(",");
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function storage() {
  try {
    return window.localStorage;
  } catch {
    return null; // private mode or disabled: no resuming across reloads, uploads still work
  }
}

export class TusUpload {
  // options: endpoint, headers, metadata, storageKey (extra text for the fingerprint),
  // onProgress(sent, total), onStatus(kind, detail) with kind in
  // "resumed" | "retrying" | "paused" | "uploading" | "finishing".
  constructor(file, options) {
    this.file = file;
    this.endpoint = options.endpoint;
    this.headers = options.headers || {};
    this.metadata = options.metadata || {};
    this.chunkSize = options.chunkSize || CHUNK_SIZE;
    this.onProgress = options.onProgress || (() => {});
    this.onStatus = options.onStatus || (() => {});
    this.key = `${STORE_PREFIX}${this.endpoint}|${options.storageKey || ""}|${file.name}|${file.size}|${file.lastModified}`;
    this.url = null;
    this.offset = 0;
    this.resumedAt = null;
    this.fileId = null;
    this.paused = false;
    this.stopped = false;
    this.xhr = null;
    this.wake = null;
  }

  request(method, url, { body = null, headers = {}, onProgress = null } = {}) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      this.xhr = xhr;
      xhr.open(method, url);
      xhr.setRequestHeader("Tus-Resumable", "1.0.0");
      for (const [name, value] of Object.entries({ ...this.headers, ...headers })) {
        xhr.setRequestHeader(name, value);
      }
      if (onProgress) xhr.upload.onprogress = (event) => onProgress(event.loaded);
      xhr.onload = () => {
        this.xhr = null;
        resolve(xhr);
      };
      xhr.onerror = () => {
        this.xhr = null;
        reject(new TusError("network", 0));
      };
      xhr.onabort = () => {
        this.xhr = null;
        reject(this.paused ? new Paused() : new TusError("aborted", 0));
      };
      xhr.send(body);
    });
  }

  fail(xhr) {
    let detail = "";
    try {
      detail = JSON.parse(xhr.responseText).detail || "";
    } catch {
      detail = "";
    }
    return new TusError(detail || `HTTP ${xhr.status}`, xhr.status, xhr.responseText);
  }

  async serverOffset(url) {
    const xhr = await this.request("HEAD", url);
    if (xhr.status !== 200) throw this.fail(xhr);
    this.fileId = xhr.getResponseHeader("Locker-File-Id");
    return Number(xhr.getResponseHeader("Upload-Offset"));
  }

  async create() {
    const xhr = await this.request("POST", this.endpoint, {
      headers: {
        "Upload-Length": String(this.file.size),
        "Upload-Metadata": encodeMetadata(this.metadata),
      },
    });
    if (xhr.status !== 201) throw this.fail(xhr);
    return new URL(xhr.getResponseHeader("Location"), window.location.href).href;
  }

  // Resolves with the new file's id (Locker-File-Id) once the server has every byte.
  async start() {
    const store = storage();
    const remembered = store && store.getItem(this.key);
    if (remembered) {
      try {
        this.offset = await this.serverOffset(remembered);
        this.url = remembered;
        this.resumedAt = this.offset;
        this.onStatus("resumed", this.offset);
      } catch (error) {
        if (error.status === 0) throw error; // offline: keep the URL for the next try
        store.removeItem(this.key); // expired, finished or unknown: start over
      }
    }
    if (!this.url) {
      this.url = await this.create();
      this.offset = 0;
      if (store) store.setItem(this.key, this.url);
    }
    await this.sendAll();
    if (store) store.removeItem(this.key);
    return this.fileId;
  }

  async sendAll() {
    let attempt = 0;
    while (this.offset < this.file.size) {
      if (this.stopped) throw new TusError("aborted", 0);
      if (this.paused) await new Promise((resolve) => (this.wake = resolve));
      try {
        if (attempt > 0) this.offset = await this.serverOffset(this.url);
        if (this.offset >= this.file.size) break;
        await this.sendChunk();
        attempt = 0;
      } catch (error) {
        if (error instanceof Paused) {
          attempt = Math.max(attempt, 1); // ask the server where it stands before going on
          continue;
        }
        if (error.status === 409 || error.status === 423 || error.status === 0) {
          if (this.stopped) throw error;
          const delay = RETRY_DELAYS[Math.min(attempt, RETRY_DELAYS.length - 1)];
          attempt += 1;
          if (error.status === 0) this.onStatus("retrying", Math.round(delay / 1000));
          await sleep(delay);
          continue;
        }
        throw error;
      }
    }
  }

  async sendChunk() {
    const start = this.offset;
    const end = Math.min(start + this.chunkSize, this.file.size);
    this.onStatus("uploading", start);
    const xhr = await this.request("PATCH", this.url, {
      body: this.file.slice(start, end),
      headers: {
        "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": String(start),
      },
      onProgress: (loaded) => this.onProgress(Math.min(start + loaded, end), this.file.size),
    });
    if (xhr.status !== 204) throw this.fail(xhr);
    this.offset = Number(xhr.getResponseHeader("Upload-Offset"));
    this.fileId = xhr.getResponseHeader("Locker-File-Id") || this.fileId;
    this.onProgress(this.offset, this.file.size);
    if (this.offset >= this.file.size) this.onStatus("finishing", this.offset);
  }

  pause() {
    this.paused = true;
    this.onStatus("paused", this.offset);
    if (this.xhr) this.xhr.abort();
  }

  resume() {
    this.paused = false;
    if (this.wake) {
      const wake = this.wake;
      this.wake = null;
      wake();
    }
  }

  // Stop for good and let the server reclaim the bytes (termination).
  async cancel() {
    this.stopped = true;
    this.paused = false;
    if (this.xhr) this.xhr.abort();
    if (this.wake) this.wake();
    const store = storage();
    if (store) store.removeItem(this.key);
    if (this.url) {
      try {
        await this.request("DELETE", this.url);
      } catch {
        // the server's expiry reclaims it
      }
    }
  }
}
