// Copy-to-clipboard buttons: <button data-copy-target="input-id" data-msg-copied="Copied">.
// The input may be a visible read-only field or a hidden one (the list of links).

function copyTheOldWay(text) {
  // Older browsers, or no clipboard permission: copy from a selected field. A hidden input
  // cannot be selected, so a throwaway one is used.
  const field = document.createElement("textarea");
  field.value = text;
  field.setAttribute("readonly", "");
  field.className = "visually-hidden";
  document.body.append(field);
  field.select();
  document.execCommand("copy");
  field.remove();
}

export function wireCopyButtons(root = document) {
  for (const button of root.querySelectorAll("[data-copy-target]")) {
    button.addEventListener("click", async () => {
      const input = document.getElementById(button.dataset.copyTarget);
      if (!input) return;
      if (input.type !== "hidden") input.select();
      try {
        // A browser that neither writes nor refuses (a permission never asked, a page without
        // focus) must not leave the button hanging: after a second, copy the old way.
        await Promise.race([
          navigator.clipboard.writeText(input.value),
          new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), 1000)),
        ]);
      } catch {
        if (input.type === "hidden") copyTheOldWay(input.value);
        else document.execCommand("copy");
      }
      const label = button.textContent;
      button.textContent = button.dataset.msgCopied || label;
      setTimeout(() => { button.textContent = label; }, 2000);
    });
  }
}

wireCopyButtons();
