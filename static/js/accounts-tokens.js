// A "Copy" button for the new API token's secret, shown only where the clipboard API exists.
for (const button of document.querySelectorAll("[data-copy-target]")) {
  const source = document.getElementById(button.dataset.copyTarget);
  if (!source || !navigator.clipboard) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    await navigator.clipboard.writeText(source.textContent.trim());
    button.textContent = button.dataset.copiedLabel;
  });
}
