// Quick send: choose or drop files, give them a title (the API's `label`: the recipient sees
// it), and send them with the share options to /api/v1/send/ in one request (the server keeps
// all or nothing). Each file's row shows its own progress and percentage, worked out from the
// bytes sent (the files go in the body one after another, after the small fields). Once sent,
// the link is shown and "Send more files" starts again.
import { sizeText, wireDrop } from "./drop-zone.js";
import { fill as say } from "./files-format.js";
import { postForm } from "./form-upload.js";

const form = document.getElementById("send-form");
const input = document.getElementById("send-files");
const list = document.getElementById("send-list");
const result = document.getElementById("send-result");
const chosen = []; // {file, row, bar, percent}

function addFiles(files, folders = []) {
  const errorList = document.getElementById("send-file-errors");
  errorList.textContent = "";
  for (const name of folders) {
    const item = document.createElement("li");
    item.textContent = say(form.dataset.msgFolder, name);
    errorList.append(item);
  }
  for (const file of files) {
    const row = document.createElement("li");
    row.className = "send-file";
    const name = document.createElement("span");
    name.className = "send-name";
    name.textContent = file.name; // names are text, never markup
    const size = document.createElement("span");
    size.className = "muted send-size";
    size.textContent = sizeText(file.size);
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", say(form.dataset.msgProgressOf, file.name));
    const percent = document.createElement("span");
    percent.className = "send-percent";
    percent.textContent = "0 %";
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "link send-remove";
    remove.textContent = form.dataset.msgRemove;
    remove.setAttribute("aria-label", say(form.dataset.msgRemoveOf, file.name));
    const entry = { file, row, bar, percent };
    remove.addEventListener("click", () => {
      chosen.splice(chosen.indexOf(entry), 1);
      row.remove();
      input.focus();
    });
    row.append(name, " ", size, " ", bar, " ", percent, " ", remove);
    list.append(row);
    chosen.push(entry);
  }
  list.hidden = chosen.length === 0;
}

function showErrors(data) {
  const errors = (data && data.errors) || {};
  let placed = false;
  for (const [key, messages] of Object.entries(errors)) {
    const field = key === "expires_at" ? "expires_in" : key;
    const errorList = document.getElementById(`send-${field}-errors`);
    if (errorList) {
      const item = document.createElement("li");
      item.textContent = [].concat(messages)[0];
      errorList.append(item);
      placed = true;
    }
  }
  if (!placed) {
    document.getElementById("send-errors").textContent =
      (data && data.detail) || form.dataset.msgFailed;
  }
}

function showProgress(loaded, total) {
  // Bytes of the body that are file content, in the order the files were appended.
  const content = chosen.reduce((sum, entry) => sum + entry.file.size, 0);
  const overhead = Math.max(0, total - content);
  let sent = Math.max(0, loaded - overhead);
  for (const entry of chosen) {
    const part = Math.min(entry.file.size, sent);
    sent -= part;
    const value = entry.file.size ? Math.floor((100 * part) / entry.file.size) : 100;
    entry.bar.value = value;
    entry.percent.textContent = `${value} %`;
  }
}

function startAgain() {
  form.reset();
  chosen.length = 0;
  list.replaceChildren();
  list.hidden = true;
  form.classList.remove("sending");
  result.hidden = true;
  form.hidden = false;
  input.focus();
}

if (form) {
  input.addEventListener("change", () => {
    addFiles(Array.from(input.files));
    input.value = ""; // the list holds them; the same file may be chosen again
  });
  wireDrop({ zone: document.getElementById("send-drop"), onFiles: addFiles });
  document.getElementById("send-another").addEventListener("click", startAgain);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const errorList of form.querySelectorAll(".errorlist")) errorList.textContent = "";
    const body = new FormData();
    // Small fields first: the server reads them before the files stream in.
    const title = document.getElementById("send-title").value.trim();
    if (title) body.append("label", title);
    body.append("expires_in", document.getElementById("send-expires").value);
    const max = document.getElementById("send-max").value;
    if (max) body.append("max_downloads", max);
    const password = document.getElementById("send-password").value;
    if (password) body.append("password", password);
    body.append("keep", document.getElementById("send-keep").checked ? "true" : "false");
    for (const entry of chosen) body.append("file", entry.file, entry.file.name);
    const button = document.getElementById("send-submit");
    button.disabled = true;
    form.classList.add("sending");
    const request = postForm("/api/v1/send/", body, {
      headers: { "X-CSRFToken": form.dataset.csrf },
      onProgress: showProgress,
    });
    const outcome = await request.done;
    button.disabled = false;
    if (outcome.status !== 201 || !outcome.data) {
      form.classList.remove("sending");
      showErrors(outcome.data);
      return;
    }
    for (const entry of chosen) {
      entry.bar.value = 100;
      entry.percent.textContent = "100 %";
    }
    form.hidden = true;
    const names = chosen.map((entry) => entry.file.name).join(", ");
    document.getElementById("send-summary").textContent = title
      ? say(form.dataset.msgSentTitled, title, names)
      : say(form.dataset.msgSent, names);
    document.getElementById("send-url").value = outcome.data.url;
    result.hidden = false;
    document.getElementById("send-url").focus();
  });
}
