// The public share pages (a file, a folder): names with a preview open the in-page viewer,
// a gallery of this page's viewable files. The server decides which files have a preview
// (sharing.views.viewer_kind: none on links with a download limit) and renders each as
// <a class="share-view" href="…/preview" data-view-kind data-name [data-download]>.

import { openViewer } from "./viewer.js";

const links = Array.from(document.querySelectorAll("a.share-view"));
const entries = links.map((link) => ({
  name: link.dataset.name,
  kind: link.dataset.viewKind,
  url: link.getAttribute("href"),
  download: link.dataset.download || null,
}));

links.forEach((link, position) => {
  link.addEventListener("click", (event) => {
    if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    openViewer(entries, position, { from: link });
  });
});
