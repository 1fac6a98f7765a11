// Copy-to-clipboard buttons: <button data-copy-target="input-id" data-msg-copied="Copied">.
export function wireCopyButtons(root = document) {
  for (const button of root.querySelectorAll("[data-copy-target]")) {
    button.addEventListener("click", async () => {
      const input = document.getElementById(button.dataset.copyTarget);
      if (!input) return;
      input.select();
      try {
        await navigator.clipboard.writeText(input.value);
      } catch {
        document.execCommand("copy"); // older browsers, or no clipboard permission
      }
      const label = button.textContent;
      button.textContent = button.dataset.msgCopied || label;
      setTimeout(() => { button.textContent = label; }, 2000);
    });
  }
}

wireCopyButtons();
