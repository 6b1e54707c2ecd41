// zip.js: read a .zip of a release with no library: the end-of-central-directory record
// (and its Zip64 form), the central directory, and each entry's local header; stored
// entries are sliced, deflated ones inflated by the browser's DecompressionStream.

const ZIP_EOCD = 0x06054b50, ZIP64_LOCATOR = 0x07064b50, ZIP64_EOCD = 0x06064b50;
const ZIP_CENTRAL = 0x02014b50, ZIP_LOCAL = 0x04034b50;

class ZipError extends Error {}

function findEndOfDirectory(view) {
  const last = view.byteLength - 22;
  for (let at = last; at >= Math.max(0, last - 0xffff); at--) {
    if (view.getUint32(at, true) === ZIP_EOCD) return at;
  }
  throw new ZipError("this file is not a zip archive (no end of central directory)");
}

/** (entry count, central directory offset), from the Zip64 record when there is one. */
function directoryBounds(view, eocd) {
  let count = view.getUint16(eocd + 10, true);
  let offset = view.getUint32(eocd + 16, true);
  const locator = eocd - 20;
  if (locator >= 0 && view.getUint32(locator, true) === ZIP64_LOCATOR) {
    const record = Number(view.getBigUint64(locator + 8, true));
    if (view.getUint32(record, true) !== ZIP64_EOCD) throw new ZipError("bad Zip64 record");
    count = Number(view.getBigUint64(record + 32, true));
    offset = Number(view.getBigUint64(record + 48, true));
  }
  return { count, offset };
}

/** Sizes and offset from the Zip64 extra field, for the fields stored as 0xffffffff. */
function zip64Fields(view, at, end, entry) {
  while (at + 4 <= end) {
    const id = view.getUint16(at, true), size = view.getUint16(at + 2, true);
    if (id === 1) {
      let p = at + 4;
      for (const key of ["size", "compressedSize", "offset"]) {
        if (entry[key] === 0xffffffff) { entry[key] = Number(view.getBigUint64(p, true)); p += 8; }
      }
    }
    at += 4 + size;
  }
}

function readCentralEntry(view, bytes, at) {
  if (view.getUint32(at, true) !== ZIP_CENTRAL) throw new ZipError("bad central directory");
  const nameLength = view.getUint16(at + 28, true);
  const extraLength = view.getUint16(at + 30, true);
  const commentLength = view.getUint16(at + 32, true);
  const entry = {
    method: view.getUint16(at + 10, true),
    compressedSize: view.getUint32(at + 20, true),
    size: view.getUint32(at + 24, true),
    offset: view.getUint32(at + 42, true),
    name: UTF8.decode(bytes.subarray(at + 46, at + 46 + nameLength)),
  };
  zip64Fields(view, at + 46 + nameLength, at + 46 + nameLength + extraLength, entry);
  return { entry, next: at + 46 + nameLength + extraLength + commentLength };
}

/** The entry's bytes as a Blob: sliced when stored, inflated when deflated. */
async function zipEntryBlob(archive, view, entry) {
  const at = entry.offset;
  if (view.getUint32(at, true) !== ZIP_LOCAL) throw new ZipError(`bad local header: ${entry.name}`);
  const start = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
  const raw = archive.slice(start, start + entry.compressedSize);
  if (entry.method === 0) return raw;
  if (entry.method !== 8) throw new ZipError(`${entry.name}: compression ${entry.method} unsupported`);
  const stream = raw.stream().pipeThrough(new DecompressionStream("deflate-raw"));
  return new Response(stream).blob();
}

/** Every file entry of the archive (folders left out), each readable on demand. */
async function readZip(file) {
  const buffer = await file.arrayBuffer();
  const view = new DataView(buffer), bytes = new Uint8Array(buffer);
  const { count, offset } = directoryBounds(view, findEndOfDirectory(view));
  const archive = new Blob([buffer]);
  const entries = [];
  for (let i = 0, at = offset; i < count; i++) {
    const { entry, next } = readCentralEntry(view, bytes, at);
    at = next;
    if (!entry.name.endsWith("/")) {
      entries.push({ path: entry.name, size: entry.size,
                     blob: () => zipEntryBlob(archive, view, entry) });
    }
  }
  return entries;
}
