// Asks before a revoke (share links, upload links, API tokens) is sent: a form marked
// `data-confirm="<sentence>"` opens the page's #revoke-dialog (templates/_revoke_dialog.html)
// instead of submitting; "Revoke" sends it with confirm=yes, Escape or "Keep it" sends nothing
// and puts the focus back on the button that was pressed.
//
// Without JavaScript the form posts without `confirm` and the server answers a confirmation
// page (templates/confirm_revoke.html), so a revoke is never one unconfirmed click.

const dialog = document.getElementById("revoke-dialog");

function ask(form, opener) {
  document.getElementById("revoke-dialog-message").textContent = form.dataset.confirm;
  dialog.returnValue = "";
  dialog.onclose = () => {
    if (dialog.returnValue === "confirm") {
      const field = document.createElement("input");
      field.type = "hidden";
      field.name = "confirm";
      field.value = "yes";
      form.append(field);
      form.submit();
    } else if (opener) {
      opener.focus();
    }
  };
  dialog.showModal();
  // The safe choice first: Enter right after opening keeps the item.
  document.getElementById("revoke-dialog-cancel").focus();
}

if (dialog) {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (form.querySelector("input[name=confirm]")) return;
      event.preventDefault();
      ask(form, event.submitter || form.querySelector("[type=submit]"));
    });
  }
}
