// merkle.js: RFC 6962 / 9162 inclusion proofs, ported from ledger/merkle.py with the same
// rejections: an index outside the tree, a leaf or proof element that is not 32 bytes, a
// proof too long or too short for (index, size) -> ProofError; a well-formed proof that
// leads elsewhere -> RootMismatch. Both are "does not verify" for the release check.

class ProofFailure extends Error {}

const HASH_SIZE = 32;

async function hashLeaf(data) {
  return sha256(concatBytes(Uint8Array.of(0), data));
}

async function hashChildren(left, right) {
  return sha256(concatBytes(Uint8Array.of(1), left, right));
}

/** RFC 9162 2.1.3.2 without the final comparison (root_from_inclusion_proof). */
async function rootFromInclusionProof(index, size, leafHash, proof) {
  if (!(index >= 0 && index < size)) {
    throw new ProofFailure(`leaf index ${index} is outside a tree of size ${size}`);
  }
  if (leafHash.length !== HASH_SIZE) throw new ProofFailure("leaf hash is not 32 bytes");
  proof.forEach((p, i) => {
    if (p.length !== HASH_SIZE) throw new ProofFailure(`proof element ${i} is not 32 bytes`);
  });
  // BigInt: seq and size come from JSON and may exceed 2^31, where bit operators wrap.
  let fn = BigInt(index), sn = BigInt(size) - 1n, r = leafHash;
  for (const p of proof) {
    if (sn === 0n) throw new ProofFailure("inclusion proof is too long");
    if (fn & 1n || fn === sn) {
      r = await hashChildren(p, r);
      while (fn && !(fn & 1n)) { fn >>= 1n; sn >>= 1n; }
    } else {
      r = await hashChildren(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new ProofFailure("inclusion proof is too short");
  return r;
}

async function verifyInclusion(index, size, leafHash, proof, root) {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size)) {
    throw new ProofFailure("index or size out of range");
  }
  const calculated = await rootFromInclusionProof(index, size, leafHash, proof);
  if (!equalBytes(calculated, root)) throw new ProofFailure("root mismatch");
}
