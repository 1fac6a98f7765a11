// The colour theme switch (system / light / dark) in the top bar. The server draws every page
// in the saved theme (<html data-theme>, from the user's profile or the `locker_theme` cookie),
// so nothing flashes on load; this module only changes it: at once on the page, in the cookie
// (for visitors who are not logged in, and for the next page) and, when
// logged in, in the profile through PATCH /api/v1/me/ (so it follows the user to other
// browsers and across log-ins).

const THEMES = ["system", "light", "dark"];
const select = document.getElementById("theme-switch");

function remember(theme) {
  const secure = window.location.protocol === "https:" ? "; secure" : "";
  document.cookie = `locker_theme=${theme}; path=/; max-age=31536000; samesite=lax${secure}`;
}

if (select) {
  const current = document.documentElement.dataset.theme;
  select.value = THEMES.includes(current) ? current : "system";
  document.getElementById("theme-switch-label").hidden = false;
  select.addEventListener("change", async () => {
    const theme = THEMES.includes(select.value) ? select.value : "system";
    document.documentElement.dataset.theme = theme;
    remember(theme);
    const url = select.dataset.saveUrl;
    if (!url) return;
    try {
      await fetch(url, {
        method: "PATCH",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-CSRFToken": select.dataset.csrf || "",
        },
        body: JSON.stringify({ theme }),
      });
    } catch {
      // Offline: the cookie keeps the choice in this browser.
    }
  });
}
