// "Send the link by e-mail" on a share link's page: the same form as in the Share dialog
// (sharing-dialog.js), for a link made earlier. Needs {% sharing_dialog_strings %} on the page
// and <section id="share-email" data-share-id="<the link's id>">.
import { emailSection, strings } from "./sharing-dialog.js";

const holder = document.getElementById("share-email");
if (holder) holder.append(emailSection({ id: holder.dataset.shareId }, strings()));
