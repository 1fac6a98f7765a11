// The upload-link page: send each chosen file with its own progress bar, one request per file.
const form = document.getElementById("upload-form");
const results = document.getElementById("upload-results");

function row(name) {
  const item = document.createElement("li");
  const label = document.createElement("span");
  label.textContent = name; // names are text, never markup
  const progress = document.createElement("progress");
  progress.max = 100;
  progress.value = 0;
  const status = document.createElement("span");
  status.className = "muted upload-status";
  item.append(label, " ", progress, " ", status);
  results.append(item);
  return { item, progress, status };
}

function send(file, ui) {
  return new Promise((resolve) => {
    const body = new FormData();
    body.append("file", file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.dataset.uploadUrl);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) ui.progress.value = Math.round((event.loaded / event.total) * 100);
    });
    xhr.addEventListener("load", () => {
      let detail = "";
      try { detail = JSON.parse(xhr.responseText).detail || ""; } catch { detail = ""; }
      const ok = xhr.status === 201;
      ui.progress.value = ok ? 100 : ui.progress.value;
      ui.status.textContent = ok ? form.dataset.msgDone : `${form.dataset.msgFailed}: ${detail}`;
      ui.item.classList.add(ok ? "done" : "failed");
      resolve(ok);
    });
    xhr.addEventListener("error", () => {
      ui.status.textContent = form.dataset.msgFailed;
      ui.item.classList.add("failed");
      resolve(false);
    });
    xhr.send(body);
  });
}

if (form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = document.getElementById("upload-file");
    const max = Number(form.dataset.maxFileSize || 0);
    const button = document.getElementById("upload-submit");
    button.disabled = true;
    for (const file of input.files) {
      const ui = row(file.name);
      if (max && file.size > max) {
        ui.status.textContent = `${form.dataset.msgFailed}: ${form.dataset.msgTooLarge}`;
        ui.item.classList.add("failed");
        continue;
      }
      await send(file, ui);
    }
    input.value = "";
    button.disabled = false;
  });
}
