// DermLedger reading station: keys made and kept in this browser (WebCrypto Ed25519,
// non-extractable, in IndexedDB), sign-in by a signed challenge, and judgements signed
// here after the page has recomputed the event hash from exactly what it shows.
"use strict";

const CSRF = document.body.dataset.csrf;
const ME = document.body.dataset.me;
const ED = { name: "Ed25519" };
const enc = new TextEncoder();

function $(id) { return document.getElementById(id); }
function say(text) { const s = $("status"); if (s) s.textContent = text; }
function toHex(buf) { return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join(""); }
function fromHex(hex) { return new Uint8Array(hex.match(/../g).map((h) => parseInt(h, 16))); }
function toB64(buf) { return btoa(String.fromCharCode(...new Uint8Array(buf))); }

async function api(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF },
    body: JSON.stringify(body || {}),
  });
  const data = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

// ------------------------------------------------------------------ keys (IndexedDB)

function openKeys() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open("dermledger-keys", 1);
    request.onupgradeneeded = () => request.result.createObjectStore("keys");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function keyStore(mode, action) {
  const db = await openKeys();
  return new Promise((resolve, reject) => {
    const tx = db.transaction("keys", mode);
    const request = action(tx.objectStore("keys"));
    tx.oncomplete = () => resolve(request.result);
    tx.onerror = () => reject(tx.error);
  });
}

const saveKey = (name, pair) => keyStore("readwrite", (s) => s.put(pair, name));
const loadKey = (name) => keyStore("readonly", (s) => s.get(name));

async function cryptoWorks() {
  try {
    await crypto.subtle.generateKey(ED, false, ["sign", "verify"]);
    return true;
  } catch (e) {
    return false;
  }
}

async function signDigest(name, digest) {
  const pair = await loadKey(name);
  if (!pair) throw new Error(`this browser holds no key for ${name}; enrol it first`);
  return toB64(await crypto.subtle.sign(ED, pair.privateKey, digest));
}

// ------------------------------------------------------- what is signed (RFC 8785)

function jcs(value) {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(jcs).join(",")}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${jcs(value[k])}`).join(",")}}`;
}

// Sign a prepared event only if its fields hash to the hash we are asked to sign, are
// ours, and say what the person chose (`expect`: payload members that must match).
async function signPrepared(prepared, expect) {
  const fields = prepared.fields;
  if (fields.actor !== ME) throw new Error("the prepared event is not yours; nothing signed");
  for (const [key, value] of Object.entries(expect)) {
    if (JSON.stringify(fields.payload[key]) !== JSON.stringify(value)) {
      throw new Error(`the prepared event changed its ${key}; nothing signed`);
    }
  }
  const digest = await crypto.subtle.digest("SHA-256", enc.encode(jcs(fields)));
  if (toHex(digest) !== prepared.hash) throw new Error("the hash does not match what is shown; nothing signed");
  return signDigest(ME, digest);
}

// Complete a prepared event; if the stream moved, the server seals the same content on
// the new head and we sign again without asking (the content checks still apply).
async function signAndComplete(prepared, expect) {
  for (let attempt = 0; attempt < 5; attempt++) {
    const signature = await signPrepared(prepared, expect);
    const done = await api("/api/sign/complete", { token: prepared.token, signature });
    if (done.saved) return done.saved;
    prepared = done.resign;
  }
  throw new Error("the ledger stayed busy; try again");
}

// --------------------------------------------------------------------------- pages

async function enrolPage() {
  $("enrol-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = $("enrol-name").value.trim();
    try {
      if (await loadKey(name)) throw new Error(`this browser already holds a key for ${name}`);
      const pair = await crypto.subtle.generateKey(ED, false, ["sign", "verify"]);
      await saveKey(name, pair);
      const hex = toHex(await crypto.subtle.exportKey("raw", pair.publicKey));
      $("public-key").textContent = hex;
      $("enrol-command").textContent =
        `dermledger actor add ${name} --role ${$("enrol-role").value} --public-key ${hex}`;
      $("enrol-result").hidden = false;
      say("Key made and kept in this browser.");
    } catch (e) {
      say(e.message);
    }
  });
}

async function signinPage() {
  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const actor = $("signin-name").value.trim();
    try {
      const { nonce, ledger_id: ledgerId } = await api("/api/signin/challenge", { actor });
      const text = `dermledger sign-in v1\n${ledgerId}\n${actor}\n${nonce}`;
      const digest = await crypto.subtle.digest("SHA-256", enc.encode(text));
      const signature = await signDigest(actor, digest);
      const { next } = await api("/api/signin", { signature });
      window.location.assign(next);
    } catch (e) {
      say(e.message);
    }
  });
}

async function queuePage() {
  const button = $("draw-seed");
  if (!button) return;
  button.addEventListener("click", async () => {
    try {
      const prepared = await api("/api/seed/prepare");
      await signAndComplete(prepared, { actor: ME });
      window.location.reload();
    } catch (e) {
      say(e.message);
    }
  });
}

function viewer() {
  const box = $("viewer");
  const img = $("image");
  const view = { scale: 1, x: 0, y: 0 };
  const draw = () => { img.style.transform = `translate(${view.x}px, ${view.y}px) scale(${view.scale})`; };
  const zoom = (factor) => { view.scale = Math.min(16, Math.max(0.25, view.scale * factor)); draw(); };
  box.addEventListener("wheel", (e) => { e.preventDefault(); zoom(e.deltaY < 0 ? 1.15 : 1 / 1.15); }, { passive: false });
  let drag = null;
  box.addEventListener("pointerdown", (e) => { drag = { x: e.clientX - view.x, y: e.clientY - view.y }; box.setPointerCapture(e.pointerId); });
  box.addEventListener("pointermove", (e) => { if (drag) { view.x = e.clientX - drag.x; view.y = e.clientY - drag.y; draw(); } });
  box.addEventListener("pointerup", () => { drag = null; });
  const keys = {
    "+": () => zoom(1.25), "=": () => zoom(1.25), "-": () => zoom(0.8),
    "0": () => { Object.assign(view, { scale: 1, x: 0, y: 0 }); draw(); },
    ArrowLeft: () => { view.x += 40; draw(); }, ArrowRight: () => { view.x -= 40; draw(); },
    ArrowUp: () => { view.y += 40; draw(); }, ArrowDown: () => { view.y -= 40; draw(); },
    "/": () => { const d = $("diagnosis"); if (d) d.focus(); },
    n: () => { const next = $("next-link"); if (next) window.location.assign(next.href); },
  };
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT" || e.ctrlKey || e.metaKey || e.altKey) return;
    if (keys[e.key]) { e.preventDefault(); keys[e.key](); }
  });
}

async function fillLabels() {
  const response = await fetch("/vocabulary/diagnoses.json", { credentials: "same-origin" });
  const list = $("labels");
  for (const { label, category } of await response.json()) {
    const option = document.createElement("option");
    option.value = label;
    option.textContent = category;
    list.appendChild(option);
  }
}

// Prepare on submit, show what will be signed, sign on the person's click. `body()`
// gives the request; `keys` are the payload members that must be what was asked for.
function reviewThenSign(form, prepareUrl, body, keys, signButton, cancelButton) {
  let prepared = null;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      prepared = await api(prepareUrl, body());
      const summary = prepared.summary;
      $("c-image").textContent = summary.image_id;
      $("c-diagnosis").textContent = summary.diagnosis;
      if ($("c-details")) {
        $("c-details").textContent = summary.report_ref ||
          Object.entries(summary.structures || {}).map(([k, v]) => `${k}=${v}`).join(", ") || "none";
      }
      $("c-meaning").textContent = summary.meaning;
      $("c-hash").textContent = prepared.hash;
      $("c-fields").textContent = JSON.stringify(prepared.fields, null, 2);
      $("confirm").hidden = false;
      signButton.focus();
      say("");
    } catch (e) {
      say(e.message);
    }
  });
  cancelButton.addEventListener("click", () => { $("confirm").hidden = true; prepared = null; });
  signButton.addEventListener("click", async () => {
    if (!prepared) return;
    const expect = {};
    for (const key of keys) expect[key] = prepared.fields.payload[key];
    expect.image_id = document.querySelector(".reading").dataset.image;
    try {
      await signAndComplete(prepared, expect);
      form.hidden = true;
      $("confirm").hidden = true;
      say(`Recorded, signed as ${prepared.summary.meaning}.`);
    } catch (e) {
      say(e.message);
    }
  });
}

async function readPage() {
  viewer();
  const form = $("vote-form");
  if (!form) return;
  fillLabels();
  const imageId = document.querySelector(".reading").dataset.image;
  const body = () => ({ image_id: imageId, diagnosis: $("diagnosis").value });
  reviewThenSign(form, "/api/vote/prepare", body, ["diagnosis"], $("sign-vote"), $("cancel-vote"));
}

async function judgePage() {
  viewer();
  fillLabels();
  const reading = document.querySelector(".reading");
  const imageId = reading.dataset.image;
  const annotation = reading.dataset.kind === "annotation";
  const body = () => {
    const request = { image_id: imageId, diagnosis: $("diagnosis").value };
    if (annotation) {
      request.structures = [...document.querySelectorAll("select[data-structure]")]
        .filter((s) => s.value).map((s) => `${s.dataset.structure}=${s.value}`);
    } else {
      request.report_ref = $("report-ref").value;
      request.report_date = $("report-date").value || null;
    }
    return request;
  };
  const url = annotation ? "/api/annotation/prepare" : "/api/histology/prepare";
  const keys = annotation ? ["diagnosis", "structures"] : ["diagnosis", "report_ref", "report_date"];
  reviewThenSign($("judge-form"), url, body, keys, $("sign-judgement"), $("cancel-judgement"));
}

const PAGES = { enrol: enrolPage, signin: signinPage, queue: queuePage, read: readPage, judge: judgePage };

(async () => {
  const signout = $("signout");
  if (signout) {
    signout.addEventListener("click", async () => {
      const { next } = await api("/api/signout");
      window.location.assign(next);
    });
  }
  if (!(await cryptoWorks())) {
    $("no-crypto").hidden = false;
    document.querySelectorAll("form button, #draw-seed, #sign-vote, #sign-judgement").forEach((b) => { b.disabled = true; });
    return;
  }
  const page = PAGES[document.body.dataset.page];
  if (page) await page();
})();
