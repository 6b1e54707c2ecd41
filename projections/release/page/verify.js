// verify.js: the checks of `dermledger release verify DIR` (projections/release/verify.py), in
// the same order and with the same sentences: the manifest's signature, every file's size
// and SHA-256, no missing or extra file, sorted paths, every inclusion proof of
// provenance.jsonl against the manifest's checkpoint, every released image proven.

// Format 2 adds metadata.csv's file_name column; format 1 releases stay verifiable.
const FORMAT_1 = "dermledger-release/1";
const FORMATS = [FORMAT_1, "dermledger-release/2"];
const MANIFEST = "manifest.json";
const PROOF_BATCH = 256;
const HASHING_WORKERS = 8; // files read and hashed at once

/** Thrown when the folder cannot be read as a release at all (the CLI's exit 1). */
class NotARelease extends Error {}

async function readText(source) {
  return UTF8.decode(await (await source.blob()).arrayBuffer());
}

async function loadManifest(files, folderName) {
  const source = files.get(MANIFEST);
  if (!source) throw new NotARelease(say("no_manifest", { folder: folderName }));
  let manifest;
  try {
    manifest = JSON.parse(await readText(source));
  } catch {
    throw new NotARelease(say("manifest_not_json"));
  }
  if (!isObject(manifest) || !FORMATS.includes(manifest.format)) {
    throw new NotARelease(say("manifest_format", { format: FORMATS.join(", ") }));
  }
  return manifest;
}

/** The signer checks: key_id is the hash of the key, and the signature verifies. */
async function checkSignature(manifest) {
  const signer = manifest.signer || {};
  let publicKey;
  try {
    publicKey = fromHex(field(signer, "public_key"));
  } catch {
    return [say("public_key")];
  }
  const failures = [];
  if (toHex(await sha256(publicKey)) !== signer.key_id) failures.push(say("key_id"));
  const signature = fromBase64Strict(manifest.signature ?? "");
  let valid = false;
  try {
    const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false,
                                              ["verify"]);
    valid = signature !== null &&
      await crypto.subtle.verify({ name: "Ed25519" }, key, signature, await manifestDigest(manifest));
  } catch {
    valid = false;
  }
  if (!valid) failures.push(say("signature"));
  return failures;
}

/** Missing, extra and altered files; `progress(done, total)` counts bytes hashed. */
async function checkFiles(manifest, files, progress) {
  const entries = Array.isArray(manifest.files) ? manifest.files : [];
  const listed = new Map(entries.map((e) => [field(e, "path"), e]));
  const present = new Set([...files.keys()].filter((p) => p.split("/").pop() !== MANIFEST));
  const sorted = (items) => [...items].sort(byCodePoint);
  const failures = [];
  for (const path of sorted([...listed.keys()].filter((p) => !present.has(p)))) {
    failures.push(say("missing", { path }));
  }
  for (const path of sorted([...present].filter((p) => !listed.has(p)))) {
    failures.push(say("extra", { path }));
  }
  const both = sorted([...present].filter((p) => listed.has(p)));
  const altered = await hashAll(both, listed, files, progress);
  for (const path of both) if (altered.has(path)) failures.push(say("bytes", { path }));
  const paths = entries.map((e) => e.path);
  if (paths.some((p, i) => i > 0 && byCodePoint(paths[i - 1], p) > 0)) {
    failures.push(say("unsorted"));
  }
  return failures;
}

/** Hash the files a few at a time; return the paths whose size or SHA-256 differ. */
async function hashAll(paths, listed, files, progress) {
  const total = paths.reduce((n, p) => n + files.get(p).size, 0);
  const altered = new Set();
  let done = 0, next = 0;
  async function worker() {
    while (next < paths.length) {
      const path = paths[next++], entry = listed.get(path), source = files.get(path);
      if (source.size !== entry.bytes) {
        altered.add(path);
      } else {
        const data = await (await source.blob()).arrayBuffer();
        if (data.byteLength !== entry.bytes || toHex(await sha256(data)) !== entry.sha256) {
          altered.add(path);
        }
      }
      done += source.size;
      progress(done, total);
    }
  }
  await Promise.all(Array.from({ length: HASHING_WORKERS }, worker));
  return altered;
}

/** One provenance line, as _check_proof_lines reads it: "ok", "malformed" or "proof". */
async function checkProofLine(line, size, root) {
  let record, events, id;
  try {
    record = JSON.parse(line);
    id = field(record, "image_id");
    events = [];
    for (const event of pyIter(field(record, "events"))) {
      const seq = pyInt(field(event, "seq"));
      const treeSize = pyInt(size);
      const leaf = await hashLeaf(fromHex(field(event, "hash")));
      const proof = pyIter(field(event, "proof")).map(fromHex);
      await verifyInclusion(seq - 1, treeSize, leaf, proof, fromHex(root));
      events.push(event);
    }
    if (id !== null && typeof id === "object") throw new Malformed("unhashable image_id");
  } catch (error) {
    if (error instanceof ProofFailure) return { status: "proof", record };
    if (error instanceof Malformed || error instanceof SyntaxError) {
      return { status: "malformed", record };
    }
    throw error;
  }
  return { status: "ok", record, id };
}

/** Every proof line and every released image (_check_provenance). */
async function checkProvenance(manifest, files) {
  const provenance = files.get("provenance.jsonl");
  const lines = [];
  if (!provenance) return { failures: [], lines };
  const checkpoint = manifest.checkpoint || {};
  const size = checkpoint.tree_size ?? null, root = checkpoint.root ?? "";
  const failures = [], proven = new Set();
  const all = textLines(await readText(provenance));
  // Lines are independent: a batch at a time keeps the awaits from serialising them.
  for (let start = 0; start < all.length; start += PROOF_BATCH) {
    const batch = all.slice(start, start + PROOF_BATCH);
    lines.push(...await Promise.all(batch.map((line) => checkProofLine(line, size, root))));
  }
  lines.forEach((result, i) => {
    if (result.status === "ok") { if (typeof result.id === "string") proven.add(result.id); }
    else failures.push(say(result.status, { line: i + 1 }));
  });
  const metadata = files.get("metadata.csv");
  if (metadata) {
    const rows = csvRecords(await readText(metadata));
    const idOf = (r) => (Object.hasOwn(r, "image_id") ? pyStr(r.image_id) : "");
    const released = new Set(rows.map(idOf));
    for (const id of [...released].filter((i) => !proven.has(i)).sort(byCodePoint)) {
      failures.push(say("unproven", { image_id: id }));
    }
    const misplaced = manifest.format === FORMAT_1 ? [] : rows
      .filter((r) => r.file_name !== `images/${r.filename ?? "None"}`).map(idOf);
    for (const id of misplaced.sort(byCodePoint)) failures.push(say("file_name", { image_id: id }));
  }
  return { failures, lines };
}

/**
 * Everything `release verify` checks. `files` maps release-relative paths to sources.
 * Returns {manifest, failures, lines}; throws NotARelease where the CLI stops early.
 */
async function verifyRelease(files, folderName, progress) {
  const t0 = performance.now();
  const manifest = await loadManifest(files, folderName);
  const failures = await checkSignature(manifest);
  failures.push(...await checkFiles(manifest, files, progress));
  const t1 = performance.now();
  const provenance = await checkProvenance(manifest, files);
  failures.push(...provenance.failures);
  const timings = { files: t1 - t0, proofs: performance.now() - t1 };
  return { manifest, failures, lines: provenance.lines, timings };
}

/** The verdict line, as the CLI prints it. */
function verdictLine(manifest, failures) {
  if (failures.length) return say("fails", { name: manifest.name, count: failures.length });
  return say("ok", { name: manifest.name, files: manifest.files.length,
                     tree_size: manifest.checkpoint.tree_size });
}
