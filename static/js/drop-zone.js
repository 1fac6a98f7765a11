// Files dropped anywhere on the page go to `onFiles`, never to the browser (which would open
// the file in place of the page). While files are dragged over the page, `zone` gets the
// `dragging` class so it can show where they will go.
//
// `wireDrop({zone, onFiles})`; onFiles(files, folders) gets an array of File and the names of
// the folders that were dropped (their entries are not files: a page that cannot take a folder
// says so instead of sending an empty "file"). With `onTree`, a drop holding a folder goes to
// onTree(promise of {files: [{file, dir}], emptyDirs}) instead (folder-entries.js).
import { droppedEntries } from "./folder-entries.js";

function carriesFiles(event) {
  return Boolean(event.dataTransfer) && Array.from(event.dataTransfer.types || []).includes("Files");
}

export function wireDrop({ zone, onFiles, onTree }) {
  let depth = 0;
  const leave = () => {
    depth = 0;
    zone.classList.remove("dragging");
  };
  document.addEventListener("dragenter", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth += 1;
    zone.classList.add("dragging");
  });
  document.addEventListener("dragover", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault(); // without it the drop would open the file
    event.dataTransfer.dropEffect = "copy";
  });
  document.addEventListener("dragleave", (event) => {
    if (!carriesFiles(event)) return;
    depth = Math.max(0, depth - 1);
    if (!depth) leave();
  });
  document.addEventListener("drop", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    leave();
    const tree = onTree ? droppedEntries(event.dataTransfer) : null;
    if (tree) {
      onTree(tree);
      return;
    }
    const files = [];
    const folders = [];
    for (const item of Array.from(event.dataTransfer.items || [])) {
      if (item.kind !== "file") continue;
      const entry = item.webkitGetAsEntry ? item.webkitGetAsEntry() : null;
      if (entry && entry.isDirectory) folders.push(entry.name);
      else files.push(item.getAsFile());
    }
    onFiles(files, folders);
  });
}

// Sizes as every page writes them: the one formatter of the site (files-format.js, binary units
// with IEC names, as locker/formats.py on the server).
export { humanSize as sizeText } from "./files-format.js";
