// The upload-link page: send each chosen file with its own progress bar, one request per file
// (form-upload.js);
// files above TUS_THRESHOLD go through the link's resumable tus endpoint (tus-client.js), with
// pause/resume, retries, and resuming after a reload when the same file is chosen again.
import { humanSize } from "./files-format.js";
import { postForm } from "./form-upload.js";
import { TUS_THRESHOLD, TusUpload } from "./tus-client.js";

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
  const pause = document.createElement("button");
  pause.type = "button";
  pause.className = "link upload-pause";
  pause.hidden = true;
  item.append(label, " ", progress, " ", status, " ", pause);
  results.append(item);
  return { item, progress, status, pause };
}

// The one size formatter of the site (files-format.js), as on every other page.
const sizeText = humanSize;

async function sendResumable(file, ui) {
  const messages = form.dataset;
  const upload = new TusUpload(file, {
    endpoint: messages.tusUrl,
    metadata: { filename: file.name, filetype: file.type },
    onProgress: (sent, total) => {
      ui.progress.value = Math.floor((sent / total) * 100);
    },
    onStatus: (kind, detail) => {
      if (kind === "resumed") {
        ui.item.dataset.resumedAt = String(detail);
        ui.status.textContent = messages.msgResumedAt.replace("%s", sizeText(detail));
      } else if (kind === "retrying") {
        ui.status.textContent = messages.msgRetrying.replace("%s", String(detail));
      } else if (kind === "paused") {
        ui.status.textContent = messages.msgPaused;
      }
    },
  });
  ui.pause.hidden = false;
  ui.pause.textContent = messages.msgPause;
  ui.pause.addEventListener("click", () => {
    if (upload.paused) {
      upload.resume();
      ui.pause.textContent = messages.msgPause;
      ui.status.textContent = "";
    } else {
      upload.pause();
      ui.pause.textContent = messages.msgResume;
    }
  });
  try {
    await upload.start();
    ui.progress.value = 100;
    ui.status.textContent = messages.msgDone;
    ui.item.classList.add("done");
    return true;
  } catch (error) {
    ui.status.textContent = error.status
      ? `${messages.msgFailed}: ${error.message}`
      : messages.msgFailed;
    ui.item.classList.add("failed");
    return false;
  } finally {
    ui.pause.hidden = true;
  }
}

async function send(file, ui) {
  const body = new FormData();
  body.append("file", file, file.name);
  const request = postForm(form.dataset.uploadUrl, body, {
    onProgress: (loaded, total) => {
      ui.progress.value = Math.round((loaded / total) * 100);
    },
  });
  const outcome = await request.done;
  if (outcome.status === 0) {
    ui.status.textContent = form.dataset.msgFailed;
    ui.item.classList.add("failed");
    return false;
  }
  const detail = (outcome.data && outcome.data.detail) || "";
  const ok = outcome.status === 201;
  ui.progress.value = ok ? 100 : ui.progress.value;
  ui.status.textContent = ok ? form.dataset.msgDone : `${form.dataset.msgFailed}: ${detail}`;
  ui.item.classList.add(ok ? "done" : "failed");
  return ok;
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
      if (file.size > TUS_THRESHOLD) await sendResumable(file, ui);
      else await send(file, ui);
    }
    input.value = "";
    button.disabled = false;
  });
}
