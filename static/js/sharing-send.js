// Quick send: upload the chosen files with the share options to /api/v1/send/ (one request,
// with a progress bar) and show the link it returns.
import { postForm } from "./form-upload.js";
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
  form.addEventListener("submit", async (event) => {
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
    const request = postForm("/api/v1/send/", body, {
      headers: { "X-CSRFToken": form.dataset.csrf },
      onProgress: (loaded, total) => {
        progress.value = Math.round((loaded / total) * 100);
      },
    });
    const outcome = await request.done;
    button.disabled = false;
    if (outcome.status !== 201 || !outcome.data) {
      showErrors(outcome.data);
      return;
    }
    form.hidden = true;
    document.getElementById("send-url").value = outcome.data.url;
    document.getElementById("send-result").hidden = false;
  });
}

wireCopyButtons();
