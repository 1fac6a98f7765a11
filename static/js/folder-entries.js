// The files of a folder tree, each with its folder relative to what was dropped or chosen
// ("Trip/Day 1"; "" for a loose file): for the Files page and the upload-link page.

// What a drop holds, directories walked (DataTransferItem.webkitGetAsEntry): files with their
// folder relative to the drop, and the folders that hold nothing. Entries must be taken while
// the drop event runs; reading them may come later. null when the drop holds no directory.
export function droppedEntries(dataTransfer) {
  const roots = Array.from(dataTransfer.items || [])
    .filter((item) => item.kind === "file" && item.webkitGetAsEntry)
    .map((item) => item.webkitGetAsEntry())
    .filter(Boolean);
  if (!roots.some((entry) => entry.isDirectory)) return null;
  return walkEntries(roots);
}

async function walkEntries(roots) {
  const files = [];
  const emptyDirs = [];
  const readAll = (reader) =>
    new Promise((resolve, reject) => {
      const found = [];
      // readEntries answers in batches (100 in Chromium) until an empty one.
      const next = () =>
        reader.readEntries((batch) => {
          if (!batch.length) resolve(found);
          else {
            found.push(...batch);
            next();
          }
        }, reject);
      next();
    });
  const fileOf = (entry) => new Promise((resolve, reject) => entry.file(resolve, reject));
  const visit = async (entry, dir) => {
    if (entry.isFile) {
      files.push({ file: await fileOf(entry), dir });
      return;
    }
    const path = dir ? `${dir}/${entry.name}` : entry.name;
    const children = await readAll(entry.createReader());
    if (!children.length) emptyDirs.push(path);
    for (const child of children) await visit(child, path);
  };
  for (const root of roots) await visit(root, "");
  return { files, emptyDirs };
}

// Files of a folder chooser (<input webkitdirectory>): each with the folder of its
// webkitRelativePath ("Trip/Day 1/a.jpg" -> "Trip/Day 1").
export function chosenEntries(fileList) {
  return Array.from(fileList).map((file) => {
    const path = file.webkitRelativePath || file.name;
    const cut = path.lastIndexOf("/");
    return { file, dir: cut > 0 ? path.slice(0, cut) : "" };
  });
}
