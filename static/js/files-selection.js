// Selecting several items of the listing and acting on them at once (docs/web-ui.md,
// "Selecting several items"): a checkbox on each row or tile, shift-click for a range, "Select
// all" for the page, a count and an action bar with Download (one streamed ZIP, through a plain
// form post so the browser saves it as it arrives), Share (one selection link), Move and Delete,
// each one call of POST /api/v1/files/batch/ or /api/v1/shares/.

import { API_ROOT, api, csrfToken } from "./files-api.js";
import { confirmAction, pickFolder } from "./files-dialogs.js";
import { announce, t } from "./files-format.js";
import { openShareDialog } from "./sharing-dialog.js";

const BATCH = "files/batch/";

export class Selection {
  // `items` is the page's Map id -> {kind, data}; `reload()` lists the folder again.
  constructor({ body, items, folderId, mode, reload }) {
    this.body = body;
    this.items = items;
    this.folderId = folderId;
    this.mode = mode;
    this.reload = reload;
    this.selected = new Set();
    this.anchor = null; // the id last clicked without shift: one end of a shift-click range
    this.bar = document.getElementById("selection-bar");
    this.count = document.getElementById("selection-count");
    this.all = document.getElementById("select-all");
    body.addEventListener("click", (event) => this.onClick(event));
    if (this.all) this.all.addEventListener("change", () => this.selectAll(this.all.checked));
    if (this.bar) {
      for (const button of this.bar.querySelectorAll("[data-batch]")) {
        button.addEventListener("click", () => this.run(button.dataset.batch));
      }
    }
  }

  boxes() {
    return Array.from(this.body.querySelectorAll("input.item-select"));
  }

  // After the listing is drawn again: keep what is still on the page selected.
  refresh() {
    for (const id of Array.from(this.selected)) {
      if (!this.items.has(id)) this.selected.delete(id);
    }
    for (const box of this.boxes()) box.checked = this.selected.has(box.value);
    if (!this.items.has(this.anchor)) this.anchor = null;
    this.show();
  }

  onClick(event) {
    const box = event.target.closest("input.item-select");
    if (!box) return;
    const boxes = this.boxes();
    if (event.shiftKey && this.anchor !== null) {
      // Everything between the last box clicked and this one takes this one's state.
      const from = boxes.findIndex((other) => other.value === this.anchor);
      const to = boxes.indexOf(box);
      if (from !== -1) {
        const [low, high] = from < to ? [from, to] : [to, from];
        for (const other of boxes.slice(low, high + 1)) {
          other.checked = box.checked;
          this.mark(other.value, box.checked);
        }
      }
    }
    this.mark(box.value, box.checked);
    this.anchor = box.value;
    this.show();
  }

  mark(id, on) {
    if (on) this.selected.add(id);
    else this.selected.delete(id);
    const row = this.body.querySelector(`tr[data-id="${CSS.escape(id)}"]`);
    if (row) row.classList.toggle("selected", on);
  }

  selectAll(on) {
    for (const box of this.boxes()) {
      box.checked = on;
      this.mark(box.value, on);
    }
    this.show();
  }

  clear() {
    this.selectAll(false);
    this.anchor = null;
  }

  show() {
    const total = this.boxes().length;
    const n = this.selected.size;
    if (this.all) {
      this.all.checked = total > 0 && n === total;
      this.all.indeterminate = n > 0 && n < total;
      this.all.disabled = total === 0;
    }
    if (!this.bar) return;
    this.bar.hidden = n === 0;
    this.count.textContent = n === 1 ? t("selectedOne") : t("selectedMany", n);
  }

  picked() {
    const files = [];
    const folders = [];
    for (const id of this.selected) {
      const item = this.items.get(id);
      if (item) (item.kind === "folder" ? folders : files).push(id);
    }
    return { files, folders };
  }

  async run(action) {
    if (action === "clear") {
      this.clear();
      return;
    }
    const { files, folders } = this.picked();
    const n = files.length + folders.length;
    if (!n) return;
    if (action === "download") this.download(files, folders);
    else if (action === "delete") await this.remove(files, folders, n);
    else if (action === "move") await this.move(files, folders, n);
    else if (action === "share") await this.share(files, folders, n);
  }

  // A form post (not fetch): the browser streams the ZIP to disk as it arrives.
  download(files, folders) {
    const form = document.createElement("form");
    form.method = "post";
    form.action = `${API_ROOT}${BATCH}`;
    form.hidden = true;
    const field = (name, value) => {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = value;
      form.append(input);
    };
    field("csrfmiddlewaretoken", csrfToken());
    field("action", "zip");
    for (const id of files) field("files", id);
    for (const id of folders) field("folders", id);
    document.body.append(form);
    form.submit();
    form.remove();
  }

  async remove(files, folders, n) {
    const ok = await confirmAction({ message: t("batchDeleteConfirm", n), confirmLabel: t("batchDelete") });
    if (!ok) return;
    try {
      const done = await api(BATCH, { method: "POST", body: { action: "delete", files, folders } });
      announce(done.detail);
      this.clear();
    } catch (error) {
      announce(error.message, { error: true });
    }
    this.reload();
  }

  async move(files, folders, n) {
    const saved = await pickFolder({
      title: t("batchMoveTitle", n),
      startId: this.mode === "folder" ? this.folderId : null,
      excludeId: folders,
      save: (target) => api(BATCH, { method: "POST", body: { action: "move", files, folders, target } }),
    });
    if (saved) {
      announce(saved.detail);
      this.clear();
      this.reload();
    }
  }

  async share(files, folders, n) {
    const share = await openShareDialog({
      kind: "selection",
      name: n === 1 ? t("selectedOne") : t("selectedMany", n),
      target: { files, folders },
    });
    if (share) announce(t("batchShared", n));
  }
}
