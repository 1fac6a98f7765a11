// Copy-to-clipboard buttons: <button data-copy-target="input-id" data-msg-copied="Copied">.
export function wireCopyButtons(root = document) {
  for (const button of root.querySelectorAll("[data-copy-target]")) {
    button.addEventListener("click", async () => {
      const input = document.getElementById(button.dataset.copyTarget);
      if (!input) return;
      input.select();
      try {
        // A browser that neither writes nor refuses (a permission never asked, a page without
        // focus) must not leave the button hanging: after a second, copy the old way.
        await Promise.race([
          navigator.clipboard.writeText(input.value),
          new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), 1000)),
        ]);
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
