// A small client for Locker's REST API, used with the browser's session cookie.
// Every write sends Django's CSRF token, read from the page (data-csrf) or the csrftoken cookie.

export const API_ROOT = "/api/v1/";

export class ApiError extends Error {
  constructor(status, detail, errors) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.errors = errors || null;
  }

  // The message to show next to a field: the field's own error when the API gives one.
  fieldMessage(field) {
    const own = this.errors && this.errors[field];
    if (Array.isArray(own) && own.length) return String(own[0]);
    if (typeof own === "string") return own;
    return this.detail;
  }
}

export function csrfToken() {
  const holder = document.querySelector("[data-csrf]");
  if (holder && holder.dataset.csrf) return holder.dataset.csrf;
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

// Set once this page starts leaving (the log-out form was sent, a link followed): a request
// answered 401 meanwhile must not replace that navigation with the log-in page. A navigation that
// turns into a download leaves the page where it is, so the flag only defers, never drops.
let leaving = false;
window.addEventListener("beforeunload", () => {
  leaving = true;
});
window.addEventListener("pageshow", () => {
  leaving = false;
});

// The session ended (logged out in another tab, expired): log in again, then come back here.
export function sendToLogin() {
  const holder = document.querySelector("[data-login-url]");
  if (!holder) return;
  if (leaving) {
    setTimeout(() => {
      leaving = false;
      sendToLogin();
    }, 3000);
    return;
  }
  const next = window.location.pathname + window.location.search;
  window.location.assign(`${holder.dataset.loginUrl}?next=${encodeURIComponent(next)}`);
}

export function fallbackMessage(status) {
  const strings = document.getElementById("files-i18n");
  const generic = strings ? strings.dataset.requestFailed : "The request failed.";
  return status ? `${generic} (HTTP ${status})` : generic;
}

// Turns an XHR or fetch response body into an ApiError carrying the server's sentence.
export function errorFromBody(status, text) {
  let detail = "";
  let errors = null;
  try {
    const data = JSON.parse(text);
    if (data && typeof data.detail === "string") detail = data.detail;
    if (data && data.errors && typeof data.errors === "object") errors = data.errors;
  } catch {
    // Not JSON (a proxy's error page, say): fall back to a generic sentence.
  }
  return new ApiError(status, detail || fallbackMessage(status), errors);
}

export async function api(path, { method = "GET", body, params } = {}) {
  // Relative paths are under the API root; absolute ones (a page's `next` link) are kept.
  const url = new URL(path, window.location.origin + API_ROOT);
  if (params) {
    for (const [key, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
    }
  }
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, fallbackMessage(0));
  }
  const text = await response.text();
  if (response.status === 401) sendToLogin();
  if (!response.ok) throw errorFromBody(response.status, text);
  return text ? JSON.parse(text) : null;
}

// Follows `next` links to collect every item of a paginated listing (used for folder lists).
export async function apiAll(path, params) {
  const items = [];
  let data = await api(path, { params });
  for (;;) {
    items.push(...(Array.isArray(data) ? data : data.results));
    if (Array.isArray(data) || !data.next) return items;
    data = await api(data.next);
  }
}

export const urls = {
  folders: () => "folders/",
  folder: (id) => `folders/${encodeURIComponent(id)}/`,
  folderZip: (id) => `${API_ROOT}folders/${encodeURIComponent(id)}/download/`,
  files: () => "files/",
  file: (id) => `files/${encodeURIComponent(id)}/`,
  fileContent: (id) => `${API_ROOT}files/${encodeURIComponent(id)}/content/`,
  trash: () => "trash/",
  trashRestore: (id) => `trash/${encodeURIComponent(id)}/restore/`,
  trashItem: (id) => `trash/${encodeURIComponent(id)}/`,
  me: () => "me/",
  folderPage: (id) => (id ? `/folders/${encodeURIComponent(id)}/` : "/"),
  uploadLinkNew: (id) => `/shares/uploads/new?folder=${encodeURIComponent(id)}`,
};
