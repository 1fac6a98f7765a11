// The Share dialog: create a share link for a file or folder through the API, then show the
// link with a copy button (its owner can copy it again later). Any page can use it:
//
//   {% include "sharing/_dialog_strings.html" %}   (translated strings, once per page)
//   import { openShareDialog } from "/static/js/sharing-dialog.js";
//   openShareDialog({ kind: "file", id: "<file uuid>", name: "report.pdf" });
//
// It resolves with the created share's JSON (including `url`), or null when closed without one.
// Every user-supplied value is set as text, never as markup.

export function strings() {
  const holder = document.getElementById("sharing-i18n");
  return holder ? holder.dataset : {};
}

function csrfToken() {
  const holder = document.querySelector("[data-csrf]");
  if (holder && holder.dataset.csrf) return holder.dataset.csrf;
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function field(name, labelText, input, helpText = "") {
  input.id = `share-dialog-${name}`;
  input.name = name;
  const wrap = el("div", { class: "field" });
  const error = el("ul", { class: "errorlist", id: `share-dialog-${name}-errors` });
  if (input.type === "checkbox") {
    wrap.append(el("label", { class: "inline-check", for: input.id }, input, " ", labelText));
  } else {
    wrap.append(el("label", { for: input.id, text: labelText }), input);
  }
  if (helpText) {
    wrap.append(el("div", { class: "helptext", id: `${input.id}-help`, text: helpText }));
    input.setAttribute("aria-describedby", `${input.id}-help`);
  }
  wrap.append(error);
  return wrap;
}

export function openShareDialog({ kind, id, name, target = null }) {
  const t = strings();
  const dialog = el("dialog", { class: "share-dialog", id: "share-dialog" });
  const form = el("form", { method: "dialog", novalidate: "" });
  const expires = el("select");
  for (const pair of (t.expiryChoices || "7d|7d").split(";")) {
    const [value, label] = pair.split("|");
    const option = el("option", { value, text: label });
    if (value === (t.defaultExpiry || "7d")) option.selected = true;
    expires.append(option);
  }
  const maxDownloads = el("input", { type: "number", min: "1" });
  const password = el("input", { type: "password", autocomplete: "new-password" });
  const allowDownload = el("input", { type: "checkbox" });
  allowDownload.checked = true;
  const notify = el("input", { type: "checkbox" });
  const label = el("input", { type: "text", maxlength: "200" });
  const general = el("p", { class: "errorlist", id: "share-dialog-errors" });
  const create = el("button", { type: "submit", id: "share-dialog-create", text: t.create || "Create" });
  const cancel = el("button", { type: "button", class: "secondary", text: t.cancel || "Close" });
  form.append(
    el("h2", { text: (t.titleOf || "Share: %s").replace("%s", name) }),
    field("expires_in", t.expires || "Expires", expires),
    field("max_downloads", t.maxDownloads || "Max downloads", maxDownloads),
    field("password", t.password || "Password", password),
    field("allow_download", t.allowDownload || "Allow download", allowDownload, t.allowDownloadHelp),
    field("notify", t.notify || "Notify", notify),
    field("label", t.label || "Label", label),
    general,
    el("div", { class: "dialog-actions" }, cancel, create),
  );
  dialog.append(form);
  document.body.append(dialog);

  return new Promise((resolve) => {
    let created = null;
    const close = () => {
      dialog.close();
      dialog.remove();
      resolve(created);
    };
    cancel.addEventListener("click", close);
    dialog.addEventListener("cancel", (event) => { event.preventDefault(); close(); });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      for (const list of form.querySelectorAll(".errorlist")) list.textContent = "";
      const body = {
        // `target` ({files, folders}) makes one link over several items (a selection share).
        ...(target || { [kind]: id }),
        expires_in: expires.value,
        allow_download: allowDownload.checked,
        notify: notify.checked,
        label: label.value,
      };
      if (maxDownloads.value) body.max_downloads = Number(maxDownloads.value);
      if (password.value) body.password = password.value;
      create.disabled = true;
      try {
        const { ok, data } = await postJson("/api/v1/shares/", body);
        if (!ok) {
          showErrors(data, general, t.failed || "Failed", (key) => (key === "expires_at" ? "expires_in" : key));
          create.disabled = false;
          return;
        }
        created = data;
        showLink(form, data, t, close);
      } catch {
        general.textContent = t.failed || "Failed";
        create.disabled = false;
      }
    });
    dialog.showModal();
  });
}

function showLink(form, share, t, close) {
  const url = share.url;
  const input = el("input", { type: "text", readonly: "", id: "share-dialog-url" });
  input.value = url;
  const copy = el("button", { type: "button", class: "secondary", id: "share-dialog-copy", text: t.copy || "Copy" });
  copy.addEventListener("click", async () => {
    input.select();
    try { await navigator.clipboard.writeText(url); } catch { document.execCommand("copy"); }
    copy.textContent = t.copied || "Copied";
  });
  const done = el("button", { type: "button", text: t.cancel || "Close" });
  done.addEventListener("click", close);
  form.replaceChildren(
    el("p", { text: t.ready || "" }),
    el("div", { class: "share-url" }, input, copy),
    emailSection(share, t),
    el("div", { class: "dialog-actions" }, done),
  );
  input.select();
}

// POST a JSON body with the session's CSRF token; the answer's JSON ({} when it has none).
async function postJson(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(body),
  });
  return { ok: response.ok, data: await response.json().catch(() => ({})) };
}

// The API's field errors under their fields (`share-dialog-<field>-errors`); without any that
// fits, `detail` (or the fallback) in `general`.
function showErrors(data, general, fallback, fieldId = (key) => key) {
  let placed = false;
  for (const [key, messages] of Object.entries(data.errors || {})) {
    const list = document.getElementById(`share-dialog-${fieldId(key)}-errors`);
    const first = firstMessage(messages);
    if (list && first) {
      list.append(el("li", { text: first }));
      placed = true;
    }
  }
  if (!placed) general.textContent = data.detail || fallback;
}

// A field's first error: a list of sentences, or (for one item of a list) {index: [sentences]}.
function firstMessage(messages) {
  if (Array.isArray(messages)) return messages.length ? firstMessage(messages[0]) : "";
  if (messages && typeof messages === "object") return firstMessage(Object.values(messages)[0]);
  return messages ? String(messages) : "";
}

// "Send by e-mail": the server queues one e-mail per address (the worker sends them).
export function emailSection(share, t) {
  const recipients = el("input", {
    type: "text", autocomplete: "email", multiple: "", inputmode: "email",
  });
  const message = el("textarea", { maxlength: "2000", rows: "3" });
  const status = el("p", { class: "muted", id: "share-dialog-email-status", role: "status" });
  const general = el("p", { class: "errorlist", id: "share-dialog-email-errors" });
  const send = el("button", { type: "button", class: "secondary", id: "share-dialog-email-send", text: t.emailSend || "Send" });
  const section = el(
    "fieldset",
    { class: "share-email" },
    el("legend", { text: t.emailTitle || "Send the link by e-mail" }),
    field("recipients", t.emailRecipients || "To", recipients, t.emailRecipientsHelp),
    field("message", t.emailMessage || "Message (optional)", message),
    general,
    el("div", { class: "dialog-actions" }, send),
    status,
  );
  send.addEventListener("click", async () => {
    for (const list of section.querySelectorAll(".errorlist")) list.textContent = "";
    status.textContent = "";
    const addresses = recipients.value.split(/[\s,;]+/).filter(Boolean);
    send.disabled = true;
    try {
      const { ok, data } = await postJson(`/api/v1/shares/${encodeURIComponent(share.id)}/email/`, {
        recipients: addresses,
        message: message.value,
      });
      if (!ok) {
        showErrors(data, general, t.failed || "Failed");
        return;
      }
      status.textContent = (t.emailQueued || "Sending to %s address(es).").replace("%s", String(data.recipients));
      recipients.value = "";
      message.value = "";
    } catch {
      general.textContent = t.failed || "Failed";
    } finally {
      send.disabled = false;
    }
  });
  return section;
}
