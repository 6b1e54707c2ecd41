// util.js: bytes, text and Python-compatible parsing helpers shared by every module.
// The release check must fail exactly where projections/release/verify.py fails, so the
// conversions it relies on (bytes.fromhex, int(), base64 with validate=True) are ported
// here with Python's rules, not the looser JavaScript ones.

/** Raised where Python would raise KeyError, ValueError or TypeError: "malformed". */
class Malformed extends Error {}

/** One sentence of the shared message table (projections/release/messages.py). */
function say(key, fields = {}) {
  return MESSAGES[key].replace(/\{(\w+)\}/g, (_, name) => pyStr(fields[name]));
}

/** str(value) as Python prints the JSON values a manifest can hold. */
function pyStr(value) {
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  return String(value);
}

/** Python's str ordering: by code point (JavaScript's default is by UTF-16 unit). */
function byCodePoint(a, b) {
  const x = Array.from(a, (c) => c.codePointAt(0));
  const y = Array.from(b, (c) => c.codePointAt(0));
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i] - y[i];
  }
  return x.length - y.length;
}

const HEX_DIGIT = /^[0-9a-fA-F]$/;
const PLAIN_HEX = /^[0-9a-fA-F]*$/;
const ASCII_SPACE = " \t\n\r\x0b\x0c";

/** bytes.fromhex: whitespace allowed between pairs, never inside one; else ValueError. */
function fromHex(text) {
  if (typeof text !== "string") throw new Malformed("fromhex() argument must be str");
  if (text.length % 2 === 0 && PLAIN_HEX.test(text)) { // the usual case, without spaces
    const out = new Uint8Array(text.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(2 * i, 2), 16);
    return out;
  }
  const out = [];
  for (let i = 0; i < text.length; ) {
    if (ASCII_SPACE.includes(text[i])) { i++; continue; }
    if (!HEX_DIGIT.test(text[i] || "") || !HEX_DIGIT.test(text[i + 1] || "")) {
      throw new Malformed("non-hexadecimal number found in fromhex() arg");
    }
    out.push(parseInt(text.slice(i, i + 2), 16));
    i += 2;
  }
  return new Uint8Array(out);
}

function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** base64.b64decode(text, validate=True); null where Python raises binascii.Error. */
function fromBase64Strict(text) {
  if (typeof text !== "string" || !STRICT_BASE64.test(text)) return null;
  const raw = atob(text);
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

function toBase64(bytes) {
  let raw = "";
  for (const b of bytes) raw += String.fromCharCode(b);
  return btoa(raw);
}

/** int(value) for a JSON value, as verify_release_dir applies it to seq and tree_size. */
function pyInt(value) {
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "number") return Math.trunc(value);
  if (typeof value === "string") {
    const m = /^[ \t\n\r\x0b\x0c]*([+-]?)(\d+(?:_\d+)*)[ \t\n\r\x0b\x0c]*$/.exec(value);
    if (!m) throw new Malformed("invalid literal for int()");
    return Number(m[1] + m[2].replaceAll("_", ""));
  }
  throw new Malformed("int() argument must be a string or a number");
}

/** Python's `for x in value` over a JSON value: lists, strings (code points), dict keys. */
function pyIter(value) {
  if (Array.isArray(value)) return value;
  if (typeof value === "string") return Array.from(value);
  if (isObject(value)) return Object.keys(value);
  throw new Malformed("object is not iterable");
}

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** value[key] on a JSON object, raising where Python raises KeyError or TypeError. */
function field(value, key) {
  if (!isObject(value) || !Object.hasOwn(value, key)) throw new Malformed(`no ${key}`);
  return value[key];
}

// UTF-8 as Python's open(encoding="utf-8") reads it: a BOM stays a character.
const UTF8 = new TextDecoder("utf-8", { ignoreBOM: true });
const UTF8_OUT = new TextEncoder();

function utf8(text) {
  return UTF8_OUT.encode(text);
}

/** Lines as Python's text mode yields them (universal newlines), terminators dropped. */
function textLines(text) {
  if (text === "") return [];
  const lines = text.split(/\r\n|\r|\n/);
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

function concatBytes(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** document.createElement with text and attributes; never parses HTML. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
  }
  return node;
}
