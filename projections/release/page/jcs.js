// jcs.js: RFC 8785 JSON Canonicalization Scheme for the values a manifest holds
// (objects, arrays, strings, numbers, booleans, null). Strings and numbers are written
// by ECMAScript's own JSON serializer, which is what RFC 8785 specifies; object members
// are sorted by their UTF-16 code units, which is JavaScript's default string order.

function jcs(value) {
  if (value === null || typeof value === "boolean" || typeof value === "string") {
    return JSON.stringify(value);
  }
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Malformed("JCS has no NaN or Infinity");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return "[" + value.map(jcs).join(",") + "]";
  const keys = Object.keys(value).sort();
  return "{" + keys.map((k) => JSON.stringify(k) + ":" + jcs(value[k])).join(",") + "}";
}

/** SHA-256 of JCS(manifest without `signature`): the digest release managers sign. */
async function manifestDigest(manifest) {
  const unsigned = Object.fromEntries(
    Object.entries(manifest).filter(([k]) => k !== "signature"));
  return sha256(utf8(jcs(unsigned)));
}
