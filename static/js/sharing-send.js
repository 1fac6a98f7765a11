// Quick send: upload the chosen files with the share options to /api/v1/send/ (one request,
// with a progress bar) and show the link it returns.
import { wireCopyButtons } from "./sharing-copy.js";

const form = document.getElementById("send-form");

function showErrors(data) {
  const errors = (data && data.errors) || {};
  let placed = false;
  for (const [key, messages] of Object.entries(errors)) {
    const list = document.getElementById(`send-${key === "expires_at" ? "expires_in" : key}-errors`);
    if (list) {
      const item = document.createElement("li");
      item.textContent = [].concat(messages)[0];
      list.append(item);
      placed = true;
    }
  }
  if (!placed) {
    document.getElementById("send-errors").textContent =
      (data && data.detail) || form.dataset.msgFailed;
  }
}

if (form) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    for (const list of form.querySelectorAll(".errorlist")) list.textContent = "";
    const body = new FormData();
    for (const file of document.getElementById("send-files").files) body.append("file", file, file.name);
    body.append("expires_in", document.getElementById("send-expires").value);
    const max = document.getElementById("send-max").value;
    if (max) body.append("max_downloads", max);
    const password = document.getElementById("send-password").value;
    if (password) body.append("password", password);
    body.append("keep", document.getElementById("send-keep").checked ? "true" : "false");
    const progress = document.getElementById("send-progress");
    const button = document.getElementById("send-submit");
    progress.hidden = false;
    button.disabled = true;
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/send/");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRFToken", form.dataset.csrf);
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) progress.value = Math.round((e.loaded / e.total) * 100);
    });
    xhr.addEventListener("load", () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { data = null; }
      button.disabled = false;
      if (xhr.status !== 201 || !data) {
        showErrors(data);
        return;
      }
      form.hidden = true;
      document.getElementById("send-url").value = data.url;
      document.getElementById("send-result").hidden = false;
    });
    xhr.addEventListener("error", () => {
      button.disabled = false;
      showErrors(null);
    });
    xhr.send(body);
  });
}

wireCopyButtons();
