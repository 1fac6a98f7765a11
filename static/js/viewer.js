// The in-page viewer: images (a gallery with previous/next and the arrow keys), PDF (the
// browser's own viewer in an <iframe>), video and audio (the browser seeks with Range
// requests), and plain text (only the first `data-text-cap` bytes, fetched with a Range, so a
// big log file costs no more than that). The dialog is rendered by the server
// (templates/files/_viewer.html); everything user-supplied goes in as text or attributes.
//
// An entry is {name, kind, url, download}: `url` serves the content inline (the owner's
// `…/content?inline=1`, a share's `…/preview`), `download` the attachment (null: none).

import { fill, humanSize } from "./files-format.js";

// The types the server shows inline (files/responses.py), by viewer kind. SVG and HTML are
// never shown: the server sends them as attachments.
const IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/avif"];

export function viewerKind(contentType) {
  const type = String(contentType || "").split(";")[0].trim().toLowerCase();
  if (IMAGE_TYPES.includes(type)) return "image";
  if (type === "application/pdf") return "pdf";
  if (type === "text/plain") return "text";
  if (type.startsWith("video/")) return "video";
  if (type.startsWith("audio/")) return "audio";
  return "";
}

const dialog = document.getElementById("viewer");
let entries = [];
let index = 0;
let opener = null;
let loadTicket = 0;

function say(key, ...args) {
  return fill(dialog.dataset[key] || key, ...args);
}

function note(text) {
  const element = document.getElementById("viewer-note");
  element.textContent = text || "";
  element.hidden = !text;
}

async function showText(stage, entry, ticket) {
  const cap = Number(dialog.dataset.textCap) || 262144;
  const pre = document.createElement("pre");
  pre.className = "viewer-text";
  pre.tabIndex = 0; // scrollable with the keyboard
  stage.append(pre);
  try {
    const response = await fetch(entry.url, {
      headers: { Range: `bytes=0-${cap - 1}` },
      credentials: "same-origin",
    });
    if (ticket !== loadTicket) return;
    if (!response.ok) throw new Error(String(response.status));
    // Read at most `cap` bytes even from a server that ignored the Range.
    const reader = response.body.getReader();
    const chunks = [];
    let received = 0;
    while (received < cap) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      received += value.length;
    }
    reader.cancel().catch(() => {});
    const bytes = new Uint8Array(Math.min(received, cap));
    let offset = 0;
    for (const chunk of chunks) {
      const part = chunk.subarray(0, Math.max(0, bytes.length - offset));
      bytes.set(part, offset);
      offset += part.length;
    }
    const range = response.headers.get("Content-Range");
    const total = range ? Number(range.split("/")[1]) : Number(response.headers.get("Content-Length"));
    const cut = Number.isFinite(total) && total > bytes.length;
    // `stream: true` keeps a character cut in half at the end out of the text.
    if (ticket !== loadTicket) return;
    pre.textContent = new TextDecoder("utf-8").decode(bytes, { stream: cut });
    if (cut) note(say("textTruncated", humanSize(bytes.length), humanSize(total)));
  } catch {
    if (ticket === loadTicket) note(say("failed"));
  }
}

function show(position) {
  index = (position + entries.length) % entries.length;
  const entry = entries[index];
  const ticket = ++loadTicket;
  const stage = document.getElementById("viewer-stage");
  stage.replaceChildren();
  stage.dataset.kind = entry.kind;
  note("");
  document.getElementById("viewer-title").textContent = entry.name;
  document.getElementById("viewer-position").textContent =
    entries.length > 1 ? say("position", index + 1, entries.length) : "";
  const download = document.getElementById("viewer-download");
  download.hidden = !entry.download;
  if (entry.download) download.href = entry.download;
  else download.removeAttribute("href");
  for (const id of ["viewer-previous", "viewer-next"]) {
    document.getElementById(id).hidden = entries.length < 2;
  }

  if (entry.kind === "image") {
    const image = document.createElement("img");
    image.alt = entry.name;
    image.addEventListener("error", () => note(say("failed")));
    image.src = entry.url;
    stage.append(image);
  } else if (entry.kind === "pdf") {
    const frame = document.createElement("iframe");
    frame.title = entry.name;
    frame.src = entry.url;
    stage.append(frame);
    const link = document.createElement("a");
    link.className = "viewer-pdf-link";
    link.href = entry.url;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    link.textContent = say("pdfFallback");
    stage.append(link);
  } else if (entry.kind === "video" || entry.kind === "audio") {
    const media = document.createElement(entry.kind);
    media.controls = true;
    media.preload = "metadata";
    media.addEventListener("error", () => note(say("failed")));
    media.src = entry.url;
    media.setAttribute("aria-label", entry.name);
    stage.append(media);
  } else if (entry.kind === "text") {
    showText(stage, entry, ticket);
  }
}

function stopMedia() {
  loadTicket += 1;
  for (const media of dialog.querySelectorAll("video, audio")) media.pause();
  document.getElementById("viewer-stage").replaceChildren();
}

// Opens the viewer on `list[start]`; closing it (Escape, the Close button) gives the focus
// back to `from` (the name that was clicked).
export function openViewer(list, start, { from = null } = {}) {
  if (!dialog || !list.length) return;
  entries = list;
  opener = from || document.activeElement;
  show(start);
  if (!dialog.open) dialog.showModal();
  document.getElementById("viewer-close").focus();
}

if (dialog) {
  document.getElementById("viewer-close").addEventListener("click", () => dialog.close());
  document.getElementById("viewer-previous").addEventListener("click", () => show(index - 1));
  document.getElementById("viewer-next").addEventListener("click", () => show(index + 1));
  dialog.addEventListener("keydown", (event) => {
    // The arrows belong to a focused video/audio (seeking) or text box (scrolling).
    if (event.target.closest("video, audio, pre, iframe")) return;
    if (entries.length < 2) return;
    if (event.key === "ArrowRight") {
      event.preventDefault();
      show(index + 1);
    } else if (event.key === "ArrowLeft") {
      event.preventDefault();
      show(index - 1);
    }
  });
  dialog.addEventListener("close", () => {
    stopMedia();
    if (opener && opener.isConnected) opener.focus();
    opener = null;
  });
  // A click on the backdrop (outside the box) closes too.
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close();
  });
}
