// Modal dialogs of the file pages: a name (new folder, rename), a destination folder (move) and
// a confirmation. The <dialog> markup is rendered by the server (templates/files/_dialogs.html);
// errors are shown next to the field they are about, with the API's own sentence.

import { ApiError, api, apiAll, urls } from "./files-api.js";
import { t } from "./files-format.js";

function showError(element, message) {
  element.textContent = message || "";
  element.hidden = !message;
}

function wireClose(dialog) {
  for (const button of dialog.querySelectorAll("[data-close]")) {
    button.onclick = () => dialog.close("cancel");
  }
}

function messageOf(error, field) {
  if (error instanceof ApiError) return error.fieldMessage(field);
  return t("requestFailed");
}

// Asks for a name and calls `save(name)`; the dialog stays open with the error until it works.
export function askName({ title, submitLabel, initial = "", save }) {
  const dialog = document.getElementById("name-dialog");
  const form = dialog.querySelector("form");
  const input = document.getElementById("name-input");
  const error = document.getElementById("name-error");
  const submit = form.querySelector("[type=submit]");
  document.getElementById("name-dialog-title").textContent = title;
  submit.textContent = submitLabel;
  input.value = initial;
  input.removeAttribute("aria-invalid");
  showError(error, "");
  wireClose(dialog);

  return new Promise((resolve) => {
    form.onsubmit = async (event) => {
      event.preventDefault();
      const name = input.value.trim();
      if (!name) {
        input.setAttribute("aria-invalid", "true");
        showError(error, t("nameRequired"));
        input.focus();
        return;
      }
      submit.disabled = true;
      try {
        const result = await save(name);
        dialog.close("done");
        resolve(result);
      } catch (failure) {
        input.setAttribute("aria-invalid", "true");
        showError(error, messageOf(failure, "name"));
        input.focus();
      } finally {
        submit.disabled = false;
      }
    };
    dialog.onclose = () => {
      form.onsubmit = null;
      if (dialog.returnValue !== "done") resolve(null);
    };
    dialog.returnValue = "";
    dialog.showModal();
    input.focus();
    // Select the name without its extension, as desktop file managers do.
    const dot = initial.lastIndexOf(".");
    input.setSelectionRange(0, dot > 0 ? dot : initial.length);
  });
}

// Lets the user walk the folder tree and calls `save(folderId)` (null is the root folder).
// `excludeId` (one id or a list) hides the folders being moved.
export function pickFolder({ title, startId = null, excludeId = null, save }) {
  const dialog = document.getElementById("move-dialog");
  const form = dialog.querySelector("form");
  const crumbs = document.getElementById("move-breadcrumb");
  const list = document.getElementById("move-folders");
  const error = document.getElementById("move-error");
  const submit = form.querySelector("[type=submit]");
  document.getElementById("move-dialog-title").textContent = title;
  showError(error, "");
  wireClose(dialog);
  let current = startId;

  function crumb(label, id, isCurrent) {
    const item = document.createElement("li");
    if (isCurrent) {
      const span = document.createElement("span");
      span.setAttribute("aria-current", "location");
      span.textContent = label;
      item.append(span);
    } else {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link";
      button.textContent = label;
      button.onclick = () => open(id);
      item.append(button);
    }
    return item;
  }

  async function open(folderId) {
    current = folderId;
    showError(error, "");
    list.replaceChildren();
    list.setAttribute("aria-busy", "true");
    try {
      const [folders, here] = await Promise.all([
        apiAll(urls.folders(), { parent: folderId }),
        folderId ? api(urls.folder(folderId)) : Promise.resolve(null),
      ]);
      const path = here ? folderPath(here) : [];
      const items = [crumb(t("myFiles"), null, path.length === 0)];
      path.forEach((entry, index) => {
        items.push(crumb(entry.name, entry.id, index === path.length - 1));
      });
      crumbs.querySelector("ol").replaceChildren(...items);
      const rows = folders
        .filter((folder) => ![].concat(excludeId).includes(folder.id))
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((folder) => {
          const item = document.createElement("li");
          const button = document.createElement("button");
          button.type = "button";
          button.className = "folder-choice";
          button.textContent = folder.name;
          button.onclick = () => open(folder.id);
          item.append(button);
          return item;
        });
      if (!rows.length) {
        const empty = document.createElement("li");
        empty.className = "muted";
        empty.textContent = t("noSubfolders");
        rows.push(empty);
      }
      list.replaceChildren(...rows);
    } catch (failure) {
      showError(error, messageOf(failure));
    } finally {
      list.removeAttribute("aria-busy");
    }
  }

  return new Promise((resolve) => {
    form.onsubmit = async (event) => {
      event.preventDefault();
      submit.disabled = true;
      try {
        const result = await save(current);
        dialog.close("done");
        resolve(result);
      } catch (failure) {
        showError(error, messageOf(failure));
      } finally {
        submit.disabled = false;
      }
    };
    dialog.onclose = () => {
      form.onsubmit = null;
      if (dialog.returnValue !== "done") resolve(null);
    };
    dialog.returnValue = "";
    dialog.showModal();
    open(startId);
  });
}

// The breadcrumb of a folder from the API: its `path` ({id, name} from the top), ending with
// the folder itself.
export function folderPath(folder) {
  const path = Array.isArray(folder.path) ? folder.path.filter((entry) => entry.name) : [];
  if (!path.length || path[path.length - 1].id !== folder.id) {
    path.push({ id: folder.id, name: folder.name });
  }
  return path;
}

export function confirmAction({ message, confirmLabel }) {
  const dialog = document.getElementById("confirm-dialog");
  const form = dialog.querySelector("form");
  document.getElementById("confirm-message").textContent = message;
  form.querySelector("[type=submit]").textContent = confirmLabel;
  wireClose(dialog);
  return new Promise((resolve) => {
    form.onsubmit = (event) => {
      event.preventDefault();
      dialog.close("confirm");
    };
    dialog.onclose = () => {
      form.onsubmit = null;
      resolve(dialog.returnValue === "confirm");
    };
    dialog.returnValue = "";
    dialog.showModal();
  });
}
