// What every page does (loaded by base.html): times in the visitor's language and time zone,
// and keyboard focus that goes back where it came from when a menu or a dialog closes.

import { localizeTimes } from "./files-format.js";

localizeTimes();

// The language switch (top bar): with JavaScript, choosing a language is enough; without it the
// form's button sends it. The server keeps it (a cookie, and the profile when logged in).
const languageSwitch = document.getElementById("language-switch");
if (languageSwitch) {
  languageSwitch.querySelector("button").hidden = true;
  // Back to this page after the switch. Filled here, not by the server, so that a page's bytes
  // do not depend on its path (a 404 answers alike whatever was asked); without JavaScript the
  // view falls back to the Referer, then to the home page.
  languageSwitch.querySelector("input[name=next]").value = location.pathname + location.search;
  languageSwitch.querySelector("select").addEventListener("change", () => languageSwitch.submit());
}

// A control inside a closed <details> menu cannot hold focus: its menu's <summary> stands for it.
function focusable(element) {
  if (!element || !element.isConnected) return null;
  const menu = element.closest("details");
  if (menu && !menu.open && element.tagName !== "SUMMARY") return menu.querySelector("summary");
  return element;
}

// A listing re-rendered while a dialog was open replaced the row; find the new row's menu.
function stillThere(opener) {
  if (opener.element.isConnected) return focusable(opener.element);
  if (!opener.rowId) return null;
  const row = document.querySelector(`[data-id="${CSS.escape(opener.rowId)}"]`);
  return row && row.querySelector("details summary");
}

function restore(opener) {
  const active = document.activeElement;
  if (active && active !== document.body && active.isConnected && !active.closest("dialog:not([open])")) return;
  const target = stillThere(opener);
  if (target) target.focus();
}

// Dialogs: remember the control that opened one, and give focus back to it on close (also when
// the dialog is removed from the page as it closes, so no "close" event reaches the document).
const openers = new WeakMap();
const showModal = HTMLDialogElement.prototype.showModal;
const close = HTMLDialogElement.prototype.close;
HTMLDialogElement.prototype.showModal = function (...args) {
  const element = focusable(document.activeElement);
  if (element && element !== document.body) {
    // Focused first, so the browser's own "back to where focus was" lands on it too.
    element.focus();
    const row = element.closest("[data-id]");
    openers.set(this, { element, rowId: row ? row.dataset.id : null });
  }
  return showModal.apply(this, args);
};
HTMLDialogElement.prototype.close = function (...args) {
  const result = close.apply(this, args);
  const opener = openers.get(this);
  if (opener) restore(opener);
  return result;
};
document.addEventListener(
  "close",
  (event) => {
    const opener = event.target instanceof HTMLDialogElement && openers.get(event.target);
    if (opener) restore(opener);
  },
  true,
);

// Menus (<details>): Escape closes the open one around the focus and focuses its <summary>.
window.addEventListener(
  "keydown",
  (event) => {
    if (event.key !== "Escape" || document.querySelector("dialog[open]")) return;
    const menu = document.activeElement && document.activeElement.closest("details[open]");
    if (!menu) return;
    menu.open = false;
    menu.querySelector("summary").focus();
  },
  true,
);
