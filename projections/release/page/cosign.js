// cosign.js: witness cosignatures (C2SP tlog-cosignature, Ed25519 "cosignature/v1") on
// the release's checkpoint, checked against keys the reader trusts: vkeys pasted one a
// line, or a C2SP tlog-policy file (witness, group and quorum lines).
//
// Where the manifest carries them: `checkpoint.note` holds the checkpoint as a C2SP signed
// note (origin, tree size, base64 root, then a blank line and the signature lines). A
// cosignature line is "— <name> base64(key ID || u64 timestamp || Ed25519 signature)"
// over "cosignature/v1\ntime <timestamp>\n" followed by the note's body.

const COSIGNATURE_TYPE = 0x04;
const COSIGNATURE_BYTES = 4 + 8 + 64;

class PolicyError extends Error {}

/** A vkey "<name>+<hex key ID>+base64(0x04 || 32-byte key)", its key ID recomputed. */
async function parseVkey(text) {
  // Names hold no "+", so the first two split; base64 may hold more of them.
  const m = /^([^+]+)\+([^+]*)\+(.*)$/.exec(text);
  const parts = m ? m.slice(1) : [];
  if (!m || !/^[0-9a-f]{8}$/.test(parts[1])) {
    throw new PolicyError(`not a vkey: ${text}`);
  }
  const material = fromBase64Strict(parts[2]);
  if (!material || material.length !== 33 || material[0] !== COSIGNATURE_TYPE) {
    throw new PolicyError(`not an Ed25519 cosignature/v1 vkey: ${parts[0]}`);
  }
  const keyId = (await sha256(concatBytes(utf8(parts[0] + "\n"), material))).subarray(0, 4);
  if (toHex(keyId) !== parts[1]) throw new PolicyError(`the key ID of ${parts[0]} is wrong`);
  return { name: parts[0], keyId, key: material.subarray(1) };
}

/** Witness names and vkeys, groups and the quorum; bare vkeys mean "all of these". */
async function parsePolicy(text) {
  const witnesses = new Map(), groups = new Map();
  let quorum = null;
  for (const raw of text.split("\n")) {
    const words = raw.trim().split(/[ \t]+/);
    if (!words[0] || words[0].startsWith("#") || words[0] === "log") continue;
    if (words[0] === "witness" && words.length >= 3) {
      witnesses.set(words[1], await parseVkey(words[2]));
    } else if (words[0] === "group" && words.length >= 4) {
      const members = words.slice(3);
      const known = (m) => witnesses.has(m) || groups.has(m);
      if (!members.every(known)) throw new PolicyError(`group ${words[1]}: unknown member`);
      const k = words[2] === "all" ? members.length : words[2] === "any" ? 1 : Number(words[2]);
      if (!(k >= 1 && k <= members.length)) throw new PolicyError(`group ${words[1]}: bad k`);
      groups.set(words[1], { k, members });
    } else if (words[0] === "quorum" && words.length === 2) {
      quorum = words[1];
    } else if (words.length === 1 && words[0].includes("+")) {
      const vkey = await parseVkey(words[0]);
      witnesses.set(vkey.name, vkey);
    } else {
      throw new PolicyError(`cannot read the policy line: ${raw.trim()}`);
    }
  }
  if (quorum === null && witnesses.size) {
    groups.set("(all pasted keys)", { k: witnesses.size, members: [...witnesses.keys()] });
    quorum = "(all pasted keys)";
  }
  return { witnesses, groups, quorum };
}

/** Body and cosignature lines of a signed note; null when there is no note at all. */
function splitNote(note) {
  if (typeof note !== "string") return null;
  const cut = note.lastIndexOf("\n\n");
  if (cut < 0) return { body: note, lines: [] };
  const lines = note.slice(cut + 2).split("\n").filter(Boolean).map((line) => {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    const sig = m && fromBase64Strict(m[2]);
    return sig && sig.length === COSIGNATURE_BYTES ? { name: m[1], sig } : null;
  }).filter(Boolean);
  return { body: note.slice(0, cut + 1), lines };
}

async function noteMatches(body, checkpoint) {
  const lines = body.split("\n");
  const root = fromBase64Strict(lines[2] || "");
  return lines.length >= 4 && lines[1] === String(checkpoint.tree_size) && root !== null &&
    toHex(root) === checkpoint.root;
}

/** "cosigned", "bad" or "absent" for one trusted witness, with its timestamp. */
async function checkWitness(vkey, note) {
  const mine = note.lines.filter((l) => l.name === vkey.name &&
                                        equalBytes(l.sig.subarray(0, 4), vkey.keyId));
  if (!mine.length) return { status: "absent" };
  const key = await crypto.subtle.importKey("raw", vkey.key, { name: "Ed25519" }, false,
                                            ["verify"]);
  let time = null;
  for (const line of mine) {
    time = new DataView(line.sig.buffer, line.sig.byteOffset + 4, 8).getBigUint64(0);
    const message = utf8(`cosignature/v1\ntime ${time}\n` + note.body);
    if (!await crypto.subtle.verify({ name: "Ed25519" }, key, line.sig.subarray(12), message)) {
      return { status: "bad" };
    }
  }
  return { status: "cosigned", time: Number(time) };
}

function quorumMet(policy, cosigned, name) {
  if (name === "none") return true;
  if (policy.witnesses.has(name)) return cosigned.has(name);
  const group = policy.groups.get(name);
  if (!group) throw new PolicyError(`the quorum names ${name}, which is not defined`);
  return group.members.filter((m) => quorumMet(policy, cosigned, m)).length >= group.k;
}

/**
 * Witness report: {state, failures, rows}. state is "not witnessed" (no cosignatures in
 * the manifest), "not checked" (no trusted keys given), "witnessed" or "failed".
 */
async function checkCosignatures(manifest, policyText) {
  const note = splitNote((manifest.checkpoint || {}).note);
  const count = note ? note.lines.length : 0;
  if (!count) {
    // A policy that asks for witnesses is not met by a release that has none.
    const required = policyText.trim() && (await parsePolicy(policyText)).quorum !== "none";
    return { state: "not witnessed", failures: required ? [say("unwitnessed")] : [], rows: [],
             count };
  }
  if (!policyText.trim()) return { state: "not checked", failures: [], rows: [], count };
  const policy = await parsePolicy(policyText);
  if (!await noteMatches(note.body, manifest.checkpoint)) {
    return { state: "failed", failures: [say("note_mismatch")], rows: [], count };
  }
  const failures = [], rows = [], cosigned = new Set();
  for (const [name, vkey] of policy.witnesses) {
    const result = await checkWitness(vkey, note);
    rows.push({ name, keyName: vkey.name, status: result.status, time: result.time });
    if (result.status === "bad") failures.push(say("cosignature", { witness: vkey.name }));
    if (result.status === "cosigned") cosigned.add(name);
  }
  if (policy.quorum !== null && !quorumMet(policy, cosigned, policy.quorum)) {
    failures.push(say("quorum", { verified: cosigned.size }));
  }
  return { state: failures.length ? "failed" : "witnessed", failures, rows, count };
}
