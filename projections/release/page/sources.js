// sources.js: what the reader hands over, as one list of {path, size, blob()} relative
// to the release folder: a folder picked with <input webkitdirectory>, a folder or a zip
// dropped on the page, or a zip picked with the file input.

/** The release's own files: drop the one folder every path starts with, if any. */
function relativeToRelease(entries) {
  if (entries.some((e) => e.path === "manifest.json")) return entries;
  const tops = new Set(entries.map((e) => e.path.split("/")[0]));
  if (tops.size !== 1 || entries.some((e) => !e.path.includes("/"))) return entries;
  const prefix = [...tops][0] + "/";
  return entries.map((e) => ({ ...e, path: e.path.slice(prefix.length) }));
}

function fromFile(path, file) {
  return { path, size: file.size, blob: async () => file };
}

/** Files from <input webkitdirectory>: webkitRelativePath starts with the folder's name. */
function fromPickedFolder(fileList) {
  return relativeToRelease(
    Array.from(fileList, (f) => fromFile(f.webkitRelativePath || f.name, f)));
}

function readAllEntries(reader) {
  return new Promise((resolve, reject) => {
    const all = [];
    const more = () => reader.readEntries((batch) => {
      if (!batch.length) resolve(all);
      else { all.push(...batch); more(); }
    }, reject);
    more();
  });
}

async function walkEntry(entry, prefix, out) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    out.push(fromFile(prefix + entry.name, file));
  } else if (entry.isDirectory) {
    for (const child of await readAllEntries(entry.createReader())) {
      await walkEntry(child, prefix + entry.name + "/", out);
    }
  }
}

/** A drop: one zip file, or folders and files (walked with the entries API). */
async function fromDrop(dataTransfer) {
  const files = Array.from(dataTransfer.files);
  if (files.length === 1 && /\.zip$/i.test(files[0].name)) return fromZip(files[0]);
  const entries = Array.from(dataTransfer.items, (item) => item.webkitGetAsEntry?.())
    .filter(Boolean);
  if (!entries.length) return relativeToRelease(files.map((f) => fromFile(f.name, f)));
  const out = [];
  for (const entry of entries) await walkEntry(entry, "", out);
  return relativeToRelease(out);
}

async function fromZip(file) {
  return relativeToRelease(await readZip(file));
}
