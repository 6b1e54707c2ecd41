// merkle.js: RFC 6962 / 9162 inclusion proofs, ported from ledger/merkle.py with the same
// rejections: an index outside the tree, a leaf or proof element that is not 32 bytes, a
// proof too long or too short for (index, size) -> ProofError; a well-formed proof that
// leads elsewhere -> RootMismatch. Both are "does not verify" for the release check.

class ProofFailure extends Error {}

const HASH_SIZE = 32;

// Node hashes are 65-byte inputs, a hundred thousand of them for a thousand images: an
// await per WebCrypto digest cost more than the hashing, so they use this small
// synchronous SHA-256 (FIPS 180-4); files and signatures stay with WebCrypto. The proof
// vectors in tests/browser/test_page_parts.py hold both to the same answers.
const K256 = Uint32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

function sha256Sync(data) {
  const padded = new Uint8Array(Math.ceil((data.length + 9) / 64) * 64);
  padded.set(data);
  padded[data.length] = 0x80;
  new DataView(padded.buffer).setUint32(padded.length - 4, data.length * 8);
  const h = Uint32Array.from([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                              0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const w = new Uint32Array(64), view = new DataView(padded.buffer);
  const rotr = (x, n) => (x >>> n) | (x << (32 - n));
  for (let block = 0; block < padded.length; block += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(block + 4 * i);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    let [a, b, c, d, e, f, g, k] = h;
    for (let i = 0; i < 64; i++) {
      const t1 = (k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) +
                  K256[i] + w[i]) | 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      k = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    [a, b, c, d, e, f, g, k].forEach((v, i) => { h[i] = (h[i] + v) | 0; });
  }
  const out = new Uint8Array(32);
  h.forEach((v, i) => new DataView(out.buffer).setUint32(4 * i, v));
  return out;
}

async function hashLeaf(data) {
  return sha256Sync(concatBytes(Uint8Array.of(0), data));
}

async function hashChildren(left, right) {
  return sha256Sync(concatBytes(Uint8Array.of(1), left, right));
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
